"""``ui/workers.py``: the TaskQueue every blocking call of the app runs through.

Real QThreads throughout (nothing of Qt is mocked). A :class:`Gate` task holds the
queue's one thread while a test arranges what is queued behind it, so each order,
drop and stop below is decided by the test, not by how fast the thread happens to be.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QObject, QThread
from pytestqt.qtbot import QtBot
from ui_stack import drain_deferred_deletes

from smooch_desktop.ui.workers import Task, TaskQueue, wait_for_orphans

WAIT_MS = 5_000


class Gate:
    """A task that holds the queue's thread until :meth:`open` (at most 10 s)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._release = threading.Event()

    def __call__(self) -> str:
        self.entered.set()
        assert self._release.wait(10), "the gate was never opened"
        return "gate"

    def open(self) -> None:
        self._release.set()


class Owner(QObject):
    """A receiver whose callbacks note what reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, object]] = []

    def on_result(self, result: object) -> None:
        self.got.append(("result", result))

    def on_error(self, exc: BaseException) -> None:
        self.got.append(("error", exc))


@pytest.fixture
def queue(qtbot: QtBot) -> Iterator[TaskQueue]:
    tasks = TaskQueue("workers-test")
    yield tasks
    tasks.stop(WAIT_MS)
    tasks.deleteLater()
    drain_deferred_deletes()


def hold(qtbot: QtBot, queue: TaskQueue) -> Gate:
    """Submit a gate and wait until the queue's thread is inside it."""
    gate = Gate()
    queue.submit(gate, kind="gate")
    qtbot.waitUntil(gate.entered.is_set, timeout=WAIT_MS)
    return gate


def settle(qtbot: QtBot, queue: TaskQueue) -> None:
    """Wait until every task so far has run (or was dropped) and reported back."""
    qtbot.waitUntil(lambda: not queue.is_busy(), timeout=WAIT_MS)


def fail(text: str) -> Callable[[], Any]:
    def raise_it() -> Any:
        raise ValueError(text)

    return raise_it


# Threads and order ----------------------------------------------------------------------------
def test_calls_run_on_the_queue_thread_and_callbacks_on_the_gui_thread(
    qtbot: QtBot, queue: TaskQueue
) -> None:
    gui = QThread.currentThread()
    ran_on: list[QThread] = []
    called_on: list[QThread] = []

    def work() -> int:
        ran_on.append(QThread.currentThread())
        return 42

    def on_result(result: object) -> None:
        assert result == 42
        called_on.append(QThread.currentThread())

    queue.submit(work, on_result)
    settle(qtbot, queue)
    assert called_on == [gui]
    assert len(ran_on) == 1 and ran_on[0] is not gui
    assert ran_on[0].objectName() == "workers-test-thread"


def test_tasks_run_and_report_strictly_in_submission_order(qtbot: QtBot, queue: TaskQueue) -> None:
    """FIFO across tasks; per task, errorOccurred comes just before its on_error."""
    ran: list[str] = []
    events: list[tuple[str, ...]] = []
    queue.errorOccurred.connect(
        lambda kind, exc, handled: events.append(("errorOccurred", kind, str(exc), str(handled)))
    )

    def call(name: str, *, fails: bool = False) -> Callable[[], str]:
        def run() -> str:
            ran.append(name)
            if fails:
                raise ValueError(name)
            return name

        return run

    def result(name: str) -> Callable[[object], None]:
        return lambda value: events.append(("result", name, str(value)))

    def error(name: str) -> Callable[[BaseException], None]:
        return lambda exc: events.append(("on_error", name, str(exc)))

    gate = hold(qtbot, queue)
    queue.submit(call("a"), result("a"), error("a"), kind="a")
    queue.submit(call("b", fails=True), result("b"), error("b"), kind="b")
    queue.submit(call("c", fails=True), kind="c")  # no on_error: the sink's to tell
    queue.submit(call("d"), kind="d")  # no callbacks at all
    queue.submit(call("e"), result("e"), kind="e")
    for n in range(20):
        queue.submit(call(f"n{n}"), result(f"n{n}"))
    assert queue.pending_count() == 25
    gate.open()
    settle(qtbot, queue)
    assert ran == ["a", "b", "c", "d", "e"] + [f"n{n}" for n in range(20)]
    assert events == [
        ("result", "a", "a"),
        ("errorOccurred", "b", "b", "True"),
        ("on_error", "b", "b"),
        ("errorOccurred", "c", "c", "False"),
        ("result", "e", "e"),
    ] + [("result", f"n{n}", f"n{n}") for n in range(20)]


def test_is_busy_until_the_last_result_is_delivered(qtbot: QtBot, queue: TaskQueue) -> None:
    assert not queue.is_busy()
    delivered: list[object] = []
    gate = hold(qtbot, queue)
    queue.submit(lambda: "done", delivered.append)
    assert queue.is_busy() and queue.pending_count() == 1
    gate.open()
    settle(qtbot, queue)
    assert delivered == ["done"]  # not busy means: every callback has run


# Failures nobody handles -------------------------------------------------------------------------
def test_an_unhandled_failure_is_logged_without_its_text_when_nobody_listens(
    qtbot: QtBot, queue: TaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    """The text of an arbitrary exception may quote a header or a secret: not logged."""
    with caplog.at_level(logging.ERROR, logger="smooch_desktop.ui.workers"):
        queue.submit(fail("Authorization: Basic c2VjcmV0"), kind="close")
        settle(qtbot, queue)
    assert [r.getMessage() for r in caplog.records] == ["close task failed: unexpected ValueError"]


def test_a_queue_with_a_listener_leaves_the_logging_to_it(
    qtbot: QtBot, queue: TaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []
    queue.errorOccurred.connect(lambda kind, _exc, _handled: heard.append(kind))
    with caplog.at_level(logging.DEBUG, logger="smooch_desktop.ui.workers"):
        queue.submit(fail("boom"), kind="close")
        settle(qtbot, queue)
    assert heard == ["close"]
    assert caplog.records == []


# Stale, cancelled and dropped tasks --------------------------------------------------------------
def test_a_task_older_than_its_max_age_is_dropped_before_it_starts(
    qtbot: QtBot, queue: TaskQueue
) -> None:
    """E.g. a typing:start stuck behind a slow send: it would only mislead by now."""
    ran: list[str] = []
    results: list[object] = []
    gate = hold(qtbot, queue)
    stale = queue.submit(lambda: ran.append("stale"), results.append, kind="typing", max_age_s=0.05)
    fresh = queue.submit(lambda: ran.append("fresh"), results.append, kind="typing", max_age_s=60)
    untimed = queue.submit(lambda: ran.append("untimed"), results.append, kind="typing")
    qtbot.waitUntil(lambda: time.monotonic() - stale.submitted_at > 0.05, timeout=WAIT_MS)
    gate.open()
    settle(qtbot, queue)
    assert ran == ["fresh", "untimed"]
    assert results == [None, None]  # the stale one reported nothing
    assert not any(t.cancelled for t in (stale, fresh, untimed))


def test_cancel_drops_a_queued_task_and_ignores_a_running_ones_result(
    qtbot: QtBot, queue: TaskQueue
) -> None:
    ran: list[str] = []
    reported: list[object] = []
    gate = Gate()
    running = queue.submit(gate, reported.append, reported.append)
    qtbot.waitUntil(gate.entered.is_set, timeout=WAIT_MS)
    queued = queue.submit(lambda: ran.append("queued"), reported.append, reported.append)
    queue.submit(lambda: ran.append("after"), reported.append)
    queued.cancel()
    running.cancel()
    gate.open()
    settle(qtbot, queue)
    assert ran == ["after"]  # the cancelled one never started; the running one finished
    assert reported == [None]  # only "after" reported; the gate's "gate" was ignored


def test_drop_pending_removes_matching_queued_tasks_only(qtbot: QtBot, queue: TaskQueue) -> None:
    ran: list[str] = []
    gate = hold(qtbot, queue)
    for user in ("ann", "bob", "ann"):
        queue.submit(functools.partial(ran.append, f"typing {user}"), kind="typing", key=user)
    queue.submit(lambda: ran.append("send ann"), kind="deliver", key="ann")
    assert queue.pending_count("typing") == 3

    def is_ann_typing(task: Task) -> bool:
        return task.kind == "typing" and task.key == "ann"

    assert queue.drop_pending(is_ann_typing) == 2
    assert queue.drop_pending(is_ann_typing) == 0
    assert queue.drop_pending(lambda task: task.kind == "gate") == 0  # it is running
    assert (queue.pending_count(), queue.pending_count("typing")) == (2, 1)
    gate.open()
    settle(qtbot, queue)
    assert ran == ["typing bob", "send ann"]


# Stop ---------------------------------------------------------------------------------------------
def test_stop_runs_finish_at_stop_tasks_and_drops_the_rest(qtbot: QtBot, queue: TaskQueue) -> None:
    """Quit while a send is out: the queued typing:start goes, the typing:stop still runs."""
    ran: list[str] = []
    gate = hold(qtbot, queue)
    queue.submit(lambda: ran.append("typing:start"), kind="typing")
    queue.submit(lambda: ran.append("typing:stop"), kind="typing", finish_at_stop=True)
    queue.submit(lambda: ran.append("lookup"), kind="lookup")
    assert queue.pending_count() == 3

    def open_once_stop_dropped_the_rest() -> None:
        # stop() blocks this (GUI) thread, so the gate opens from another one, once
        # stop() has dropped the tasks it does not keep.
        deadline = time.monotonic() + 10
        while queue.pending_count() != 1 and time.monotonic() < deadline:
            time.sleep(0.001)  # polling a condition, in a helper thread
        gate.open()

    opener = threading.Thread(target=open_once_stop_dropped_the_rest)
    opener.start()
    assert queue.stop(WAIT_MS)
    opener.join()
    assert ran == ["typing:stop"]
    late = queue.submit(lambda: ran.append("late"))
    assert late.cancelled  # refused after stop: nothing runs any more
    settle(qtbot, queue)
    assert ran == ["typing:stop"]


def test_a_finish_at_stop_task_cancelled_before_the_stop_does_not_run(
    qtbot: QtBot, queue: TaskQueue
) -> None:
    ran: list[str] = []
    gate = hold(qtbot, queue)
    queue.submit(lambda: ran.append("typing:stop"), finish_at_stop=True).cancel()
    gate.open()  # the thread then finds only the cancelled task: it skips it and ends
    assert queue.stop(WAIT_MS)
    assert ran == []


def test_stop_gives_up_at_its_deadline_and_the_hung_call_becomes_an_orphan(
    qtbot: QtBot, queue: TaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    """A call that hangs past quit: stop returns in time, nothing is torn down running."""
    gate = hold(qtbot, queue)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="smooch_desktop.ui.workers"):
        assert not queue.stop(100)
    assert time.monotonic() - started < 2.0
    assert "workers-test: a call was still running at shutdown" in caplog.text
    assert not wait_for_orphans(0.05)  # the app would now leave without destroying it
    gate.open()
    assert wait_for_orphans(WAIT_MS)
    settle(qtbot, queue)


def test_an_orphan_that_ends_after_its_queue_was_deleted_reports_to_nobody(
    qtbot: QtBot,
) -> None:
    reported: list[object] = []
    tasks = TaskQueue("orphan-test")
    gate = Gate()
    tasks.submit(gate, reported.append, reported.append)
    qtbot.waitUntil(gate.entered.is_set, timeout=WAIT_MS)
    assert not tasks.stop(50)
    tasks.deleteLater()
    drain_deferred_deletes()
    assert not shiboken6.isValid(tasks)
    gate.open()  # the call comes back with no queue left to report to
    assert wait_for_orphans(WAIT_MS)
    drain_deferred_deletes()
    assert reported == []


# Owners -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fails", [False, True], ids=["result", "error"])
def test_callbacks_are_skipped_when_their_owner_was_deleted_mid_task(
    qtbot: QtBot, queue: TaskQueue, fails: bool
) -> None:
    """A window closed (and deleted) while its call was out: nothing calls into it."""
    heard: list[str] = []
    queue.errorOccurred.connect(lambda kind, _exc, _handled: heard.append(kind))
    owner = Owner()
    gate = hold(qtbot, queue)
    task = queue.submit(
        fail("late") if fails else (lambda: "late"), owner.on_result, owner.on_error
    )
    assert task.owner is owner  # taken from the bound method
    owner.deleteLater()
    drain_deferred_deletes()
    assert not shiboken6.isValid(owner)
    gate.open()
    settle(qtbot, queue)
    assert heard == []  # not even the sink hears of a failure nobody can act on


def test_an_explicit_owner_ties_plain_callbacks_to_its_life(qtbot: QtBot, queue: TaskQueue) -> None:
    got: list[object] = []
    kept, gone = QObject(), QObject()
    gate = hold(qtbot, queue)
    queue.submit(lambda: "kept", got.append, owner=kept)
    queue.submit(lambda: "gone", got.append, owner=gone)
    queue.submit(lambda: "no owner", got.append)
    gone.deleteLater()
    drain_deferred_deletes()
    gate.open()
    settle(qtbot, queue)
    assert got == ["kept", "no owner"]


def test_a_live_owner_gets_its_result_and_its_error(qtbot: QtBot, queue: TaskQueue) -> None:
    owner = Owner()
    queue.submit(lambda: 7, owner.on_result, owner.on_error)
    queue.submit(fail("nope"), owner.on_result, owner.on_error)
    settle(qtbot, queue)
    assert [(what, str(value)) for what, value in owner.got] == [
        ("result", "7"),
        ("error", "nope"),
    ]


@pytest.mark.parametrize("error", [SystemExit(3), GeneratorExit()])
def test_a_task_raising_a_base_exception_is_reported_and_the_queue_goes_on(
    qtbot: QtBot, queue: TaskQueue, error: BaseException
) -> None:
    owner = Owner()

    def raise_it() -> None:
        raise error

    queue.submit(raise_it, owner.on_result, owner.on_error)
    queue.submit(lambda: "after", owner.on_result, owner.on_error)
    settle(qtbot, queue)
    assert owner.got == [("error", error), ("result", "after")]
