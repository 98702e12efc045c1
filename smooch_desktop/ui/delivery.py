"""Runs the Qt-free delivery engine on the API worker thread and reports to the GUI.

The engine does one unit of work per ``step()``; this bridge queues steps on the API
TaskQueue (so a message and the typing calls around it keep their order), arms a timer
for the next due retry, and re-emits outbox changes on the GUI thread.

Files are uploaded on a second queue, ``uploads`` (one worker thread of its own): an
upload can take minutes, and on the API queue it would hold every typing indicator and
every other user's message behind it. The upload step only produces the ``mediaUrl``
(committed to the entry); the message itself is then sent by an ordinary step on the
API queue, so the exactly-once rules and the per-user order stay where they are
(``core/delivery.py``). Progress comes back as ``uploadProgress`` at most every 50 ms.

When the session changes, the old service is *retired*, not deleted at once: it starts
no more work, but a step already queued or running on the API thread still finishes and
reports through it (the engine's ``on_change`` emits one of its signals; emitting on a
deleted object would raise between ``mark_sending`` and the request and leave the
message stuck in ``sending``). The controller deletes it once the API thread has run
past it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from smooch_desktop.api.models import OutgoingMessage
from smooch_desktop.core.delivery import DeliveryEngine
from smooch_desktop.core.outbox import Attachment, Outbox, OutboxEntry, OutboxError
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from smooch_desktop.api.protocol import ConversationApi

log = logging.getLogger(__name__)

#: Steps per queued job, so typing calls queued meanwhile get a turn between messages.
_STEPS_PER_JOB = 3
#: An upload's progress is reported at most this often (and at its end).
PROGRESS_INTERVAL_S = 0.05
#: Start-up recovery that failed (a full disk) is tried again after this, doubling to the cap.
RECOVERY_RETRY_MS = 2_000
RECOVERY_RETRY_CAP_MS = 30_000


class DeliveryService(QObject):
    """The GUI's handle on the outbox and its delivery engine.

    Signals:
        entryChanged(object): an OutboxEntry changed state (emitted on the GUI thread).
        deliveryError(str): an unexpected error inside the engine (shown in the status bar).
        recoveryProblem(str): start-up recovery can't write the outbox (why, in words;
            retried until it works), or "" once it worked and delivery started.
        recovered(): start-up recovery is done (delivery runs from now on).
        uploadProgress(str, int, int): (client id, bytes sent, total) of a running upload.
    """

    entryChanged = Signal(object)
    deliveryError = Signal(str)
    recoveryProblem = Signal(str)
    recovered = Signal()
    uploadProgress = Signal(str, int, int)
    _changedFromWorker = Signal(object)
    _progressFromWorker = Signal(str, int, int)

    def __init__(
        self,
        outbox: Outbox,
        tasks: TaskQueue,
        profile: str,
        api: ConversationApi,
        parent: QObject | None = None,
        *,
        uploads: TaskQueue | None = None,
        recovery_retry_ms: int = RECOVERY_RETRY_MS,
        **engine_options: Any,
    ) -> None:
        """``uploads`` is the queue files are uploaded on (None: the API queue ``tasks``,
        for scripts and tests that have only one)."""
        super().__init__(parent)
        self.outbox = outbox
        self.profile = profile
        self._tasks = tasks
        self._uploads = uploads if uploads is not None else tasks
        self._step_queued = False
        self._kick_again = False
        self._upload_queued = False
        self._upload_again = False
        self._retired = False
        self._changedFromWorker.connect(self._relay)
        self._progressFromWorker.connect(self.uploadProgress)
        #: client id → monotonic time of its last progress report (upload thread only).
        self._reported: dict[str, float] = {}
        self.engine = DeliveryEngine(
            outbox, api, profile, on_change=self._emit_change, **engine_options
        )
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.kick)
        self._upload_timer = QTimer(self)
        self._upload_timer.setSingleShot(True)
        self._upload_timer.timeout.connect(self.kick_uploads)
        self._recovery_pending = False
        self._recovery_failed = False
        self._recovery_delay_ms = recovery_retry_ms
        self._recovery_timer = QTimer(self)
        self._recovery_timer.setSingleShot(True)
        self._recovery_timer.timeout.connect(self._try_start)

    @property
    def retired(self) -> bool:
        """True once :meth:`retire` was called: another service delivers from now on."""
        return self._retired

    def retire(self) -> None:
        """Start no more work: a newer session's service takes over from here.

        A step already queued on the API thread still runs and reports its changes
        through this object, so keep it alive until the queue has run past it (a
        barrier task), then delete it.
        """
        self._retired = True
        self._timer.stop()
        self._upload_timer.stop()
        self._recovery_timer.stop()
        self._recovery_pending = False
        # A running upload stops at its next block; the new service uploads the file
        # again with its own connection (an upload stores nothing the end user sees).
        self.engine.abandon_uploads()

    def abandon_uploads(self) -> None:
        """Stop running uploads at their next block, keeping their entries (app quit)."""
        self.engine.abandon_uploads()

    @property
    def recovery_pending(self) -> bool:
        """True while start-up recovery has not managed to run (nothing is delivered)."""
        return self._recovery_pending

    def start(self, *, recover: bool = True) -> list[OutboxEntry]:
        """Start delivering; with ``recover``, first resume what a previous run left.

        Recovery (sending → unknown, then verify) belongs to process start only: run again
        while a send is in flight it would mislabel that send. If it can't write the
        outbox (a full disk), nothing is sent — a message left ``sending`` must be checked
        before any resend — ``recoveryProblem`` says why, and it is retried until it works.
        """
        self._recovery_pending = recover
        return self._try_start()

    @Slot()
    def _try_start(self) -> list[OutboxEntry]:
        found: list[OutboxEntry] = []
        if self._recovery_pending:
            try:
                found = self.outbox.recover()
            except (sqlite3.Error, OSError, OutboxError) as exc:
                seconds = self._recovery_delay_ms / 1000
                self.recoveryProblem.emit(
                    f"Can't start sending: the outbox {self.outbox.path} can't be written "
                    f"({exc}). Messages are kept; trying again in {seconds:g} s, and "
                    "sending starts as soon as it works (free some disk space)."
                )
                self._recovery_failed = True
                self._recovery_timer.start(self._recovery_delay_ms)
                self._recovery_delay_ms = min(self._recovery_delay_ms * 2, RECOVERY_RETRY_CAP_MS)
                return []
            if self._recovery_failed:
                self._recovery_failed = False
                self.recoveryProblem.emit("")
            self._recovery_pending = False
            self._prune_old_sent()
            self.recovered.emit()
        self.kick()
        self.kick_uploads()
        return found

    def _prune_old_sent(self) -> None:
        """Once per start: forget replies delivered long ago (best effort; a full disk waits)."""
        try:
            self.outbox.prune_old_sent()
        except (sqlite3.Error, OSError, OutboxError) as exc:
            log.warning("old sent messages not pruned: %s", exc)
        try:
            self.outbox.prune_attachments()
        except (sqlite3.Error, OSError, OutboxError) as exc:
            log.warning("left-over attachment copies not pruned: %s", exc)

    def enqueue(
        self,
        user_ref: str,
        message: OutgoingMessage,
        *,
        conversation_id: str = "",
        attachment: Attachment | None = None,
    ) -> OutboxEntry:
        """Write the message durably to the outbox, then start delivering it.

        ``conversation_id`` is one of the user's conversations ("" = their main one); it is
        stored with the entry, so every attempt and check addresses that one.
        ``attachment`` is a file already copied into ``outbox.files``: it is uploaded
        first, on the upload queue.
        """
        entry = self.outbox.enqueue(
            self.profile,
            user_ref,
            message,
            conversation_id=conversation_id,
            attachment=attachment,
        )
        if not self._recovery_pending:
            self.kick()
            self.kick_uploads()
        return entry

    def cancel_upload(self, client_id: str) -> bool:
        """Cancel an attachment that is not sent yet: its upload stops, entry and copy go."""
        try:
            self.engine.cancel_upload(client_id)
        except OutboxError as exc:
            self.deliveryError.emit(f"Can't cancel that now: {exc}")
            return False
        self.kick()  # the user's next message may go now
        return True

    def is_uploading(self, client_id: str) -> bool:
        return self.engine.is_uploading(client_id)

    def entries_for(self, user_ref: str, conversation_id: str = "") -> list[OutboxEntry]:
        """The entries of one of the user's conversations ("" = the main one), by seq."""
        entries = self.outbox.entries_for(self.profile, user_ref)
        return [e for e in entries if e.conversation_id == conversation_id]

    def retry(self, client_id: str) -> bool:
        """User's Retry: a failed message is queued again (an unknown one re-checked)."""
        return self._act(self.engine.retry, client_id)

    def send_now(self, client_id: str) -> bool:
        """Skip the countdown of a message waiting for its next attempt."""
        return self._act(self.engine.send_now, client_id)

    def discard(self, client_id: str) -> bool:
        """Drop a message that was not sent (not possible while it is being sent)."""
        try:
            self.engine.discard(client_id)
        except OutboxError as exc:
            self.deliveryError.emit(f"Can't discard that message now: {exc}")
            return False
        return True

    def _act(self, action: Callable[[str], object], client_id: str) -> bool:
        try:
            action(client_id)
        except OutboxError as exc:
            self.deliveryError.emit(f"Can't do that now: {exc}")
            return False
        self._changed_now(client_id)
        self.kick()
        self.kick_uploads()
        return True

    def _changed_now(self, client_id: str) -> None:
        entry = self.outbox.get(client_id)
        if entry is not None:
            self.entryChanged.emit(entry)

    @Slot()
    def kick(self) -> None:
        """Queue a delivery step unless one is already waiting (or recovery is pending)."""
        if self._recovery_pending or self._retired:
            return
        if self._step_queued:
            # The job out there may have computed next_due before this new work existed.
            self._kick_again = True
            return
        self._step_queued = True
        self._kick_again = False
        self._tasks.submit(self._steps, self._on_steps_done, self._on_steps_failed, kind="deliver")

    def _steps(self) -> float | None:
        for _ in range(_STEPS_PER_JOB):
            if not self.engine.step():
                break
        return self.engine.next_due()

    def _on_steps_done(self, next_due: object) -> None:
        self._step_queued = False
        if self._retired:
            return
        if self._kick_again:
            self.kick()
            return
        self._schedule(next_due if isinstance(next_due, float | int) else None)

    def _on_steps_failed(self, exc: BaseException) -> None:
        self._step_queued = False
        if self._retired:
            return
        self.deliveryError.emit(f"Delivery stopped unexpectedly: {exc}")
        self._schedule(time.time() + 5.0)

    def _schedule(self, due: float | None) -> None:
        if due is None:
            self._timer.stop()
            return
        delay_ms = max(0, int((due - time.time()) * 1000))
        self._timer.start(min(delay_ms, 60_000))

    # Uploads ------------------------------------------------------------------------------

    @Slot()
    def kick_uploads(self) -> None:
        """Queue an upload step on the upload queue unless one is already waiting."""
        if self._recovery_pending or self._retired:
            return
        if self._upload_queued:
            self._upload_again = True
            return
        self._upload_queued = True
        self._upload_again = False
        self._uploads.submit(
            self._upload_step, self._on_upload_done, self._on_upload_failed, kind="upload"
        )

    def _upload_step(self) -> float | None:
        self.engine.upload_step(self._progress)
        return self.engine.next_upload_due()

    def _progress(self, client_id: str, sent: int, total: int) -> None:
        """On the upload thread: pass progress on, at most every PROGRESS_INTERVAL_S."""
        now = time.monotonic()
        last = self._reported.get(client_id)
        if sent < total and sent > 0 and last is not None and now - last < PROGRESS_INTERVAL_S:
            return
        self._reported[client_id] = now
        if sent >= total:
            self._reported.pop(client_id, None)
        with contextlib.suppress(RuntimeError):  # the service was deleted meanwhile
            self._progressFromWorker.emit(client_id, sent, total)

    def _on_upload_done(self, next_due: object) -> None:
        self._upload_queued = False
        if self._retired:
            return
        self.kick()  # an uploaded file's message is due on the API queue
        due = next_due if isinstance(next_due, float | int) else None
        if self._upload_again or (due is not None and due <= time.time()):
            self.kick_uploads()
            return
        if due is not None:
            delay_ms = max(0, int((due - time.time()) * 1000))
            self._upload_timer.start(min(delay_ms, 60_000))
        else:
            self._upload_timer.stop()

    def _on_upload_failed(self, exc: BaseException) -> None:
        self._upload_queued = False
        if self._retired:
            return
        self.deliveryError.emit(f"Uploading stopped unexpectedly: {exc}")
        self._upload_timer.start(5_000)

    def _emit_change(self, entry: OutboxEntry) -> None:
        """The engine's ``on_change``, on whichever thread changed the entry."""
        with contextlib.suppress(RuntimeError):  # the service was deleted meanwhile
            self._changedFromWorker.emit(entry)

    @Slot(object)
    def _relay(self, entry: object) -> None:
        self.entryChanged.emit(entry)
