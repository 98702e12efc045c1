"""Worker threads: the one abstraction through which the GUI runs blocking calls.

A :class:`TaskQueue` owns one QThread that runs submitted callables one at a time, in
submission order (FIFO keeps ``typing:start`` from overtaking the message it precedes).
Results and errors come back to the GUI thread as queued signals and are dispatched to
the callbacks given at submission. A blocking ``requests`` call can't be interrupted, so
"cancel" means "ignore the result", and stale tasks (e.g. a typing call queued behind a
slow send) can be dropped before they start.

Every failed task is also reported through :attr:`TaskQueue.errorOccurred`; the app
routes that signal to one sink (:mod:`smooch_desktop.ui.task_errors`) that logs it and
shows the failures no callback handles.

Callbacks are dropped when the QObject they belong to has been deleted meanwhile (a
window closed and deleted while its lookup was still running): calling into a deleted
Qt object raises instead of doing anything useful. Tasks submitted with
``finish_at_stop=True`` (a ``typing:stop`` on quit) still run when the queue is stopped.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QMetaMethod, QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class Task:
    """A queued call. ``kind`` and ``key`` let the owner drop queued tasks by category.

    A plain class rather than a dataclass: this module is imported before the first paint,
    where a dataclass costs about 0.35 ms to define (and the ``dataclasses`` import more).
    """

    __slots__ = (
        "cancelled",
        "finish_at_stop",
        "fn",
        "id",
        "key",
        "kind",
        "max_age_s",
        "on_error",
        "on_result",
        "owner",
        "submitted_at",
    )

    def __init__(
        self,
        id: int,
        fn: Callable[[], Any],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        kind: str = "",
        key: str = "",
        submitted_at: float = 0.0,
        max_age_s: float | None = None,
        *,
        finish_at_stop: bool = False,
        owner: QObject | None = None,
    ) -> None:
        self.id = id
        self.fn = fn
        self.on_result = on_result
        self.on_error = on_error
        self.kind = kind
        self.key = key
        self.submitted_at = submitted_at
        self.max_age_s = max_age_s
        self.cancelled = False
        #: Still run by :meth:`TaskQueue.stop` (queued tasks without it are dropped there).
        self.finish_at_stop = finish_at_stop
        #: The QObject the callbacks belong to; once it is deleted they are not called.
        self.owner = owner

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return (
            f"<Task {self.id} {self.kind or 'task'}{(' ' + self.key) if self.key else ''}{state}>"
        )

    def cancel(self) -> None:
        """Drop the task if it hasn't started; ignore its result if it has."""
        self.cancelled = True


class _Runner(QThread):
    """Runs tasks from the queue until asked to stop. Never touches widgets."""

    finishedTask = Signal(int, bool, object)  # task id, ok, result or exception

    def __init__(self, name: str, queue: TaskQueue) -> None:
        super().__init__()
        self.setObjectName(name)
        self._queue = queue

    def run(self) -> None:
        while True:
            task = self._queue._next_task()
            if task is None:
                return
            try:
                result = task.fn()
            except BaseException as exc:  # every error is reported to the owner, none lost
                # SystemExit from a library too: letting it end the thread would leave the
                # queue busy for ever and every later task (sends included) unrun.
                self.finishedTask.emit(task.id, False, exc)
            else:
                self.finishedTask.emit(task.id, True, result)


class TaskQueue(QObject):
    """A FIFO of blocking calls on a dedicated thread.

    Signals:
        errorOccurred(str, object, bool): (task kind, exception, handled) for every failed
            task whose owner is still alive, just before its ``on_error`` callback runs;
            ``handled`` says whether there is one. Connected to the app's one error sink
            (:class:`smooch_desktop.ui.task_errors.TaskErrorSink`); a queue nobody listens
            to logs its unhandled failures itself, so none goes unnoticed.
    """

    errorOccurred = Signal(str, object, bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._cond = threading.Condition()
        self._pending: deque[Task] = deque()
        self._running: dict[int, Task] = {}
        self._ids = itertools.count(1)
        self._stopping = False
        self._runner = _Runner(f"{name}-thread", self)
        self._runner.finishedTask.connect(self._on_finished)
        self._runner.start()

    # GUI-thread API ----------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[[], Any],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        *,
        kind: str = "",
        key: str = "",
        max_age_s: float | None = None,
        finish_at_stop: bool = False,
        owner: QObject | None = None,
    ) -> Task:
        """Queue ``fn``; callbacks run on the GUI thread. ``max_age_s`` drops it if stale.

        ``owner`` (by default the QObject whose bound method ``on_result`` or ``on_error``
        is) ties the callbacks to that object's life. ``finish_at_stop`` keeps the task
        when :meth:`stop` drops the queue (for short calls that must go out on quit).
        """
        task = Task(
            next(self._ids),
            fn,
            on_result,
            on_error,
            kind,
            key,
            time.monotonic(),
            max_age_s,
            finish_at_stop=finish_at_stop,
            owner=owner if owner is not None else _owner_of(on_result, on_error),
        )
        with self._cond:
            if self._stopping:
                task.cancelled = True
                return task
            self._pending.append(task)
            self._running[task.id] = task
            self._cond.notify()
        return task

    def drop_pending(self, predicate: Callable[[Task], bool]) -> int:
        """Remove queued (not yet started) tasks matching ``predicate``."""
        with self._cond:
            keep = deque(t for t in self._pending if not predicate(t))
            dropped = [t for t in self._pending if predicate(t)]
            self._pending = keep
            for task in dropped:
                self._running.pop(task.id, None)
        return len(dropped)

    def pending_count(self, kind: str | None = None) -> int:
        """How many tasks (of ``kind``) wait to start; the running one is not counted."""
        with self._cond:
            return sum(1 for t in self._pending if kind is None or t.kind == kind)

    def is_busy(self) -> bool:
        """True until every task submitted so far has run (or was dropped) and been reported."""
        with self._cond:
            return bool(self._running)

    def stop(self, wait_ms: int = 5000) -> bool:
        """Finish the running task and those queued with ``finish_at_stop``, end the thread.

        Other queued tasks are dropped. Returns False if the calls did not finish in time;
        the thread object is then kept alive (never terminated) until they do.
        """
        with self._cond:
            self._stopping = True
            kept = deque(t for t in self._pending if t.finish_at_stop)
            for task in self._pending:
                if not task.finish_at_stop:
                    self._running.pop(task.id, None)
            self._pending = kept
            self._cond.notify_all()
        done = self._runner.wait(wait_ms)
        if not done:
            _ORPHANS.append(self._runner)
            log.warning("%s: a call was still running at shutdown", self.objectName())
        return bool(done)

    # Runner side -------------------------------------------------------------------------
    def _next_task(self) -> Task | None:
        with self._cond:
            while True:
                if self._stopping and not self._pending:
                    return None
                while self._pending:
                    task = self._pending.popleft()
                    stale = (
                        task.max_age_s is not None
                        and time.monotonic() - task.submitted_at > task.max_age_s
                    )
                    if task.cancelled or stale:
                        self._running.pop(task.id, None)
                        continue
                    return task
                if self._stopping:
                    return None
                self._cond.wait()

    @Slot(int, bool, object)
    def _on_finished(self, task_id: int, ok: bool, payload: object) -> None:
        with self._cond:
            task = self._running.pop(task_id, None)
        if task is None or task.cancelled:
            return
        if task.owner is not None and not shiboken6.isValid(task.owner):
            return  # its window (or panel) is gone: nobody is left to tell
        if ok:
            if task.on_result is not None:
                task.on_result(payload)
            return
        assert isinstance(payload, BaseException)
        handled = task.on_error is not None
        self.errorOccurred.emit(task.kind, payload, handled)
        if not handled and not self.isSignalConnected(QMetaMethod.fromSignal(self.errorOccurred)):
            from smooch_desktop.ui.task_errors import failure_text

            log.error("%s task failed: %s", task.kind or "unnamed", failure_text(payload))
        if task.on_error is not None:
            task.on_error(payload)


def _owner_of(*callbacks: Callable[..., Any] | None) -> QObject | None:
    """The QObject a bound-method callback belongs to, if any."""
    for callback in callbacks:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, QObject):
            return owner
    return None


#: Runners whose last call outlived shutdown; referenced so Qt never destroys them running.
_ORPHANS: list[QThread] = []


def wait_for_orphans(timeout_s: float) -> bool:
    """Give calls that outlived ``TaskQueue.stop`` up to ``timeout_s`` to finish.

    Returns False if one is still running: the caller must then leave the process
    without destroying those threads (Qt aborts on a running QThread's destruction).
    """
    deadline = time.monotonic() + timeout_s
    for thread in _ORPHANS:
        remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
        thread.wait(remaining_ms)
    return not any(thread.isRunning() for thread in _ORPHANS)
