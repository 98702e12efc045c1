"""Drives the pure TypingPolicy from the composer and sends its commands best effort."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from smooch_desktop.api.errors import ApiError
from smooch_desktop.core.typing_policy import TypingCommand, TypingPolicy
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from smooch_desktop.api.models import Sender
    from smooch_desktop.api.protocol import ConversationApi

log = logging.getLogger(__name__)

#: A ``typing:start`` still queued after this long is pointless; drop it instead of sending.
#: A ``typing:stop`` is never dropped as stale: late, it still ends an indicator sooner
#: than the Web Messenger's 10 s timeout would.
STALE_AFTER_S = 3.0


class TypingSender(QObject):
    """Turns composer edits into ``typing:start`` / ``typing:stop`` calls.

    Calls go on the API queue (FIFO, so a start never overtakes the message after it),
    are never retried, starts are dropped when stale, starts pause after a 429, and the
    stop sent on :meth:`shutdown` still goes out while the queue is being stopped.

    Signals:
        activitySent(str, str): (user_ref, activity) after the server accepted it.
        activityFailed(str): a short reason, for the status bar.
    """

    activitySent = Signal(str, str)
    activityFailed = Signal(str)

    def __init__(
        self,
        tasks: TaskQueue,
        api_getter: Callable[[], ConversationApi | None],
        sender_getter: Callable[[], Sender],
        *,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._api_getter = api_getter
        self._sender_getter = sender_getter
        self._clock = clock
        self.policy = TypingPolicy(clock)
        self._user_ref = ""
        #: The user's conversation typing is shown in ("" = their main one).
        self._conversation_id = ""
        #: The lookup said this user does not exist: typing to them would only get 404s.
        self._missing = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_tick)

    @property
    def user_ref(self) -> str:
        return self._user_ref

    @property
    def conversation_id(self) -> str:
        return self._conversation_id

    def set_user(self, user_ref: str, conversation_id: str = "") -> None:
        """Switching user or conversation: stop any indicator shown in the previous one."""
        if (user_ref, conversation_id) == (self._user_ref, self._conversation_id):
            return
        self._run(self.policy.target_changed())
        self._user_ref = user_ref
        self._conversation_id = conversation_id
        self._missing = False

    def set_missing(self, missing: bool) -> None:
        """The lookup says the current user does not exist (or, again, that they do).

        While missing, edits send nothing; an indicator already started is forgotten
        without a ``typing:stop`` (the server has no such user to show it to).
        """
        if missing == self._missing:
            return
        self._missing = missing
        if missing:
            key = self._key()
            self._tasks.drop_pending(lambda t: t.kind == "typing" and t.key == key)
            self.policy.target_changed()  # its STOP is dropped: there is nobody to stop
            self._timer.stop()

    @property
    def missing(self) -> bool:
        return self._missing

    def text_edited(self, text: str) -> None:
        if self._user_ref and not self._missing:
            self._run(self.policy.text_edited(text))

    def message_sent(self) -> None:
        """The message itself ends the indicator; drop queued typing calls for this user."""
        key = self._key()
        self._tasks.drop_pending(lambda t: t.kind == "typing" and t.key == key)
        self._run(self.policy.message_sent())

    def shutdown(self) -> None:
        self._timer.stop()
        self._run(self.policy.shutdown(), finish_at_stop=True)

    @Slot()
    def _on_tick(self) -> None:
        self._run(self.policy.tick())

    def _run(self, commands: list[TypingCommand], *, finish_at_stop: bool = False) -> None:
        for command in commands:
            self._send(command, finish_at_stop=finish_at_stop)
        deadline = self.policy.next_deadline()
        if deadline is None:
            self._timer.stop()
        else:
            self._timer.start(max(10, int((deadline - self._clock()) * 1000) + 10))

    def _key(self) -> str:
        """The task key of this target's typing calls (user and conversation)."""
        cid = self._conversation_id
        return f"{self._user_ref}\n{cid}" if cid else self._user_ref

    def _send(self, command: TypingCommand, *, finish_at_stop: bool = False) -> None:
        api = self._api_getter()
        user_ref = self._user_ref
        conversation_id = self._conversation_id
        if api is None or not user_ref:
            return
        activity = "typing:start" if command is TypingCommand.START else "typing:stop"
        sender = self._sender_getter() if command is TypingCommand.START else None
        send_activity = api.send_activity

        def call() -> tuple[str, str]:
            send_activity(user_ref, activity, sender, conversation_id=conversation_id)
            return user_ref, activity

        self._tasks.submit(
            call,
            self._on_sent,
            self._on_failed,
            kind="typing",
            key=self._key(),
            max_age_s=STALE_AFTER_S if command is TypingCommand.START else None,
            finish_at_stop=finish_at_stop,
        )

    def _on_sent(self, result: object) -> None:
        assert isinstance(result, tuple)
        self.activitySent.emit(result[0], result[1])

    def _on_failed(self, exc: BaseException) -> None:
        if isinstance(exc, ApiError) and exc.is_rate_limited:
            self._run(self.policy.rate_limited(exc.retry_after))
            self.activityFailed.emit("Typing indicator paused: rate limited by the server.")
            return
        reason = exc.user_message if isinstance(exc, ApiError) else str(exc)
        log.info("typing indicator call failed: %s", reason)
        self.activityFailed.emit(f"Typing indicator not shown: {reason}")
