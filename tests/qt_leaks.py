"""A pytest plugin that fails a test leaving a QThread running or a QTimer active behind it.

Something a test leaves running acts inside the tests after it: a worker thread's late
result calls into the next test's window, a timer fires into objects that test never
made. So after every test that used Qt — once the test's own fixtures are torn down and
pending ``deleteLater`` calls have run — the guard fails the test (an error at teardown)
if one of these is left:

* a QThread started during the test (``QThread.start`` is wrapped once per session to
  note every thread started from Python, e.g. each ``TaskQueue``'s) that still runs;
* a QTimer started during the test (``QTimer.start`` is wrapped likewise, whatever the
  timer's parent: a window, a service object, nothing) that is still active;
* an active QTimer anywhere under a top-level widget or the application (also those
  started from C++) that was not active before the test.

Leftover timers are stopped after they are reported, so one leak fails one test. Loaded
by ``tests/conftest.py`` (``pytest_plugins``); ``tests/ui/test_qt_leak_guard.py`` shows
it failing deliberately leaky tests. It holds no fixture of the app.
"""

from __future__ import annotations

import gc
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, QTimer
from PySide6.QtWidgets import QApplication

#: Threads and timers started from Python since the current test began, with where.
_threads: weakref.WeakKeyDictionary[QThread, str] = weakref.WeakKeyDictionary()
_timers: weakref.WeakKeyDictionary[QTimer, str] = weakref.WeakKeyDictionary()


def _ours(filename: str) -> bool:
    """A frame of the app or the tests (not the standard library, pytest or Qt)."""
    return not (
        "site-packages" in filename
        or filename.startswith(sys.base_prefix)
        or filename == __file__
        or filename.startswith("<")
    )


def _where() -> str:
    """The innermost frames of the test suite or the app that made the call."""
    frames = [f for f in traceback.extract_stack() if _ours(f.filename)]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[-3:][::-1])


def _noting(original: Callable[..., Any], started: weakref.WeakKeyDictionary[Any, str]) -> Any:
    def start(self: Any, *args: Any) -> Any:
        started[self] = _where()
        return original(self, *args)

    start.leak_guard = True  # type: ignore[attr-defined]
    return start


def install() -> None:
    """Wrap ``QThread.start`` and ``QTimer.start`` (idempotent)."""
    if not getattr(QThread.start, "leak_guard", False):
        QThread.start = _noting(QThread.start, _threads)  # type: ignore[method-assign]
    if not getattr(QTimer.start, "leak_guard", False):
        QTimer.start = _noting(QTimer.start, _timers)  # type: ignore[method-assign]


def _alive(obj: QObject) -> bool:
    return bool(shiboken6.isValid(obj))


def _name(obj: QObject | None) -> str:
    if obj is None or not _alive(obj):
        return "nothing"
    name = obj.objectName()
    return f"{type(obj).__name__} {name!r}" if name else type(obj).__name__


def _active_timers_in_widgets() -> set[QTimer]:
    app = QCoreApplication.instance()
    if app is None:
        return set()
    roots: list[QObject] = [app]
    if isinstance(app, QApplication):
        roots += QApplication.topLevelWidgets()
    return {t for root in roots for t in root.findChildren(QTimer) if t.isActive()}


def _drain() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QCoreApplication.processEvents()


def leftovers(active_before: set[QTimer]) -> list[str]:
    """What the test left running, in words ([] if nothing); stops the leftover timers."""
    if QCoreApplication.instance() is None:
        return []

    def find() -> tuple[list[QThread], list[QTimer]]:
        threads = [t for t in list(_threads) if _alive(t) and t.isRunning()]
        timers = {t for t in list(_timers) if _alive(t) and t.isActive()}
        timers |= {t for t in _active_timers_in_widgets() if t not in active_before}
        return threads, sorted(timers, key=id)

    _drain()
    threads, timers = find()
    if threads or timers:
        # Maybe only garbage no one has collected yet: collect it, then look again.
        gc.collect()
        _drain()
        threads, timers = find()
    problems = [
        f"QThread {_name(t)} still running (started at {_threads.get(t, '?')})" for t in threads
    ]
    for timer in timers:
        problems.append(
            f"{_name(timer)} still active: every {timer.interval()} ms"
            f"{' (single shot)' if timer.isSingleShot() else ''}, parent {_name(timer.parent())}"
            f" (started at {_timers.get(timer, 'C++ or before the test')})"
        )
        timer.stop()
    return problems


@pytest.fixture(autouse=True)
def qt_leak_guard() -> Iterator[None]:
    """Fail the test if it leaves a QThread running or a QTimer active (see module doc)."""
    _threads.clear()
    _timers.clear()
    before = _active_timers_in_widgets()
    yield
    problems = leftovers(before)
    if problems:
        pytest.fail("the test left Qt work running:\n  " + "\n  ".join(problems), pytrace=False)


install()
