"""Polls the followed conversations other than the open one, within a request budget.

:class:`InboxPoller` asks its :class:`~smooch_desktop.core.poll_budget.PollScheduler`
which conversation is next, runs that one ``history`` request on the API
:class:`~smooch_desktop.ui.workers.TaskQueue` (never more than one list request in
flight), applies the page to the :class:`~smooch_desktop.core.inbox.InboxStore` inside
the task (the store is thread-safe; the GUI thread only re-reads the list), reports the
outcome to the scheduler and sleeps on one single-shot timer until the scheduler's
``due_at``. No timer runs while nothing is due.

The open conversation keeps the window's own poll (``MainWindow``): the scheduler's
open lane is told it is open (so the list skips it) and its tickets are closed at once,
without a request.

A conversation's first page is the store's baseline, except what came in after this
poller started (the session's start): :meth:`InboxPoller.start_in_server_time` is that
instant in the server's time, a lower bound from the API's
:class:`~smooch_desktop.api.server_clock.ServerClock` (the ``Date`` of its answers
projected back along the monotonic clock, so a local clock minutes off changes nothing);
the local wall clock only when the server never said its time.

This module must not decide when to poll (the scheduler does) nor what is unread (the
store does).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from smooch_desktop.api.errors import ApiError
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.core.inbox import ConversationKey, HistoryUpdate, InboxRow, InboxStore
from smooch_desktop.core.poll_budget import DEFAULT_REQUESTS_PER_MINUTE, Lane, PollScheduler, Ticket
from smooch_desktop.ui.workers import TaskQueue

#: The longest single sleep (ms); a later due time is reached in several (QTimer's int).
_MAX_SLEEP_MS = 10 * 60 * 1000


class InboxPoller(QObject):
    """One session's list polling.

    Signals:
        applied(object, object): (ConversationKey, HistoryUpdate) after a page was applied.
    """

    applied = Signal(object, object)

    def __init__(
        self,
        store: InboxStore,
        tasks: TaskQueue,
        api: ConversationApi,
        *,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._tasks = tasks
        self._api = api
        self._clock = clock
        #: The scheduler (tests set its budget and read its state).
        self.scheduler: PollScheduler[ConversationKey] = PollScheduler(
            requests_per_minute=requests_per_minute, clock=clock
        )
        self._timer = QTimer(self)
        self._timer.setObjectName("inboxPollTimer")
        self._timer.setSingleShot(True)
        # Not coarse: a coarse timer may fire up to 5 % early, find nothing due yet and
        # wake the app again a few milliseconds later (twice the wake-ups when idle).
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._running = False
        #: Requests started, and the conversations of the latest ones (for tests).
        self.requests = 0
        self.recent: deque[ConversationKey] = deque(maxlen=64)
        self._started_wall = wall()  # only when the server never says its time
        #: The start on the monotonic clock (the time base of the API's ServerClock).
        self._started_mono = time.monotonic()

    def start_in_server_time(self) -> float:
        """When this poller started, in server seconds (thread-safe): what a first page
        holds from after it is new. A lower bound: never later than the real instant."""
        clock = getattr(self._api, "server_clock", None)
        bound = clock.lower_bound(self._started_mono) if clock is not None else None
        return self._started_wall if bound is None else bound

    def set_followed(self, rows: list[InboxRow]) -> None:
        """The rotation is exactly ``rows`` (the listed conversations)."""
        now = time.time()
        self.scheduler.set_followed(
            (row.key, max(0.0, now - row.preview.at) if row.preview.at else None) for row in rows
        )
        self._arm()

    def set_open(self, key: ConversationKey | None) -> None:
        self.scheduler.set_open(key)
        self._arm()

    def note_activity(self, key: ConversationKey) -> None:
        self.scheduler.note_activity(key)
        self._arm()

    def note_input(self) -> None:
        self.scheduler.note_input()

    def set_window_active(self, active: bool) -> None:
        self.scheduler.set_window_active(active)
        self._arm()

    def start(self) -> None:
        self._running = True
        self._arm()

    def stop(self) -> None:
        """No more requests (one in flight still reports, and is dropped)."""
        self._running = False
        self._timer.stop()

    @property
    def running(self) -> bool:
        return self._running

    def _arm(self) -> None:
        if not self._running:
            return
        due = self.scheduler.due_at()
        if math.isinf(due):
            self._timer.stop()
            return
        wait_ms = max(0, min(_MAX_SLEEP_MS, math.ceil((due - self._clock()) * 1000)))
        self._timer.start(wait_ms)

    @Slot()
    def _tick(self) -> None:
        if not self._running:
            return
        while (ticket := self.scheduler.next_request()) is not None:
            if ticket.lane is Lane.OPEN:
                # The window polls the open conversation itself.
                self.scheduler.succeeded(ticket)
                continue
            self._start(ticket)
            break
        self._arm()

    def _start(self, ticket: Ticket[ConversationKey]) -> None:
        store, api, key = self._store, self._api, ticket.key
        self.requests += 1
        self.recent.append(key)

        def run() -> HistoryUpdate:
            page = api.history(key.user_ref, conversation_id=key.conversation_id)
            return store.apply_history(key, page, new_after=self.start_in_server_time())

        self._tasks.submit(
            run,
            lambda update: self._done(ticket, update),
            lambda exc: self._failed(ticket, exc),
            kind="inbox-poll",
            owner=self,
        )

    def _done(self, ticket: Ticket[ConversationKey], update: object) -> None:
        assert isinstance(update, HistoryUpdate)
        self.scheduler.succeeded(ticket, new_activity=update.new_messages > 0)
        if update.changed:
            self.applied.emit(ticket.key, update)
        self._arm()

    def _failed(self, ticket: Ticket[ConversationKey], exc: BaseException) -> None:
        if isinstance(exc, ApiError):
            self.scheduler.finish_with_error(ticket, exc)
        else:
            self.scheduler.failed(ticket, lane_wide=True)
        self._arm()
