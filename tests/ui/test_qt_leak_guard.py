"""``tests/qt_leaks.py``: the guard really fails a test that leaves Qt work running.

Deliberately leaky tests run in a pytest subprocess (pytester) with the guard loaded
as in this suite; each leak must fail its own test, and a clean test must pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS_DIR = Path(__file__).resolve().parent.parent

LEAKY_TESTS = '''
import threading

from PySide6.QtCore import QMetaObject, QThread, QTimer
from PySide6.QtWidgets import QWidget

from smooch_desktop.ui.workers import TaskQueue

KEPT = []


def test_a_window_left_with_an_armed_timer(qtbot):
    window = QWidget()
    window.setObjectName("leakyWindow")
    KEPT.append(window)
    timer = QTimer(window)
    timer.setObjectName("autosave")
    timer.start(60_000)


def test_an_unparented_service_timer(qapp):
    timer = QTimer()
    timer.setSingleShot(True)
    timer.start(60_000)
    KEPT.append(timer)


def test_a_timer_started_from_cpp_in_a_top_level_widget(qapp):
    window = QWidget()
    KEPT.append(window)
    timer = QTimer(window)
    timer.setObjectName("fromCpp")
    timer.setInterval(60_000)
    QMetaObject.invokeMethod(timer, "start")


def test_a_task_queue_never_stopped(qapp):
    KEPT.append(TaskQueue("forgotten"))


def test_a_plain_qthread_still_running(qapp):
    release = threading.Event()

    class Waiter(QThread):
        def run(self):
            release.wait(10)

    thread = Waiter()
    thread.setObjectName("waiter")
    thread.start()
    KEPT.append((thread, release))


def test_a_stopped_queue_and_timer_are_fine(qtbot):
    queue = TaskQueue("tidy")
    timer = QTimer()
    timer.start(60_000)
    timer.stop()
    assert queue.stop(5000)


def test_zz_cleanup(qapp):
    """Let the leaked threads end before the process does (Qt aborts otherwise)."""
    for kept in KEPT:
        if isinstance(kept, TaskQueue):
            assert kept.stop(5000)
        elif isinstance(kept, tuple):
            kept[1].set()
            assert kept[0].wait(5000)
'''


@pytest.mark.timeout(120)
def test_the_guard_fails_each_leaky_test_and_passes_the_clean_ones(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    pytester.makeconftest('pytest_plugins = ["qt_leaks"]\n')
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "qt_api=pyside6")
    result.assert_outcomes(passed=7, errors=5)
    out = result.stdout.str()
    for expected in (
        "ERROR at teardown of test_a_window_left_with_an_armed_timer",
        "QTimer 'autosave' still active: every 60000 ms, parent QWidget 'leakyWindow'",
        "ERROR at teardown of test_an_unparented_service_timer",
        "QTimer still active: every 60000 ms (single shot), parent nothing",
        "ERROR at teardown of test_a_timer_started_from_cpp_in_a_top_level_widget",
        "QTimer 'fromCpp' still active: every 60000 ms, parent QWidget"
        " (started at C++ or before the test)",
        "ERROR at teardown of test_a_task_queue_never_stopped",
        "QThread _Runner 'forgotten-thread' still running (started at workers.py:",
        "ERROR at teardown of test_a_plain_qthread_still_running",
        "QThread Waiter 'waiter' still running (started at test_leaky.py:",
    ):
        assert expected in out, expected
    assert "test_a_stopped_queue_and_timer_are_fine" not in out.split("short test summary")[-1]
