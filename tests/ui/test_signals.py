"""Ctrl+C and SIGTERM close the real app cleanly, and no periodic timer wakes it while idle.

The app runs as ``python -m smooch_desktop --sandbox`` would (``app.main``, offscreen, in
a child process with its own data directories). Python sees the signal through
``app.SignalWakeup`` (a pipe written by :func:`signal.set_wakeup_fd`, read by a
``QSocketNotifier``), not through a timer that wakes the event loop every 250 ms: the
child watches every ``QTimer`` that repeats (an event filter on the application) for a
few seconds while the app idles and reports those that fired more than once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from test_single_instance import REPO, app_env, read_line_with

from smooch_desktop.app import SignalWakeup

#: The child: the real entry point with a watcher of repeating timers installed first.
CHILD = r"""
import sys
from smooch_desktop import app as smooch_app
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

qapp = QApplication(sys.argv[:1])

class Watch(QObject):
    def __init__(self):
        super().__init__()
        self.on = False
        self.fired = {}

    def eventFilter(self, watched, event):
        if self.on and event.type() == QEvent.Type.Timer and isinstance(watched, QTimer):
            if not watched.isSingleShot():
                name = f"{watched.objectName() or type(watched.parent()).__name__}"
                key = f"{name}@{watched.interval()}ms"
                self.fired[key] = self.fired.get(key, 0) + 1
        return False

watch = Watch()
qapp.installEventFilter(watch)

def begin():
    watch.on = True

def report():
    watch.on = False
    periodic = {k: n for k, n in watch.fired.items() if n > 1}
    print("PERIODIC " + (",".join(f"{k}={n}" for k, n in periodic.items()) or "none"), flush=True)

QTimer.singleShot(3000, begin)   # after start-up, the session attached
QTimer.singleShot(6000, report)  # 3 s of idling
sys.exit(smooch_app.main(["--sandbox"]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_closes_the_idle_app_cleanly_and_no_timer_repeats(
    tmp_path: Path, signum: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=app_env(tmp_path),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        read_line_with(proc, "base_url=", 30)
        periodic = read_line_with(proc, "PERIODIC ", 30)
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # A timer that repeats while nothing happens (the old 250 ms heartbeat fired 12
    # times here) wakes the process forever: each one must run only while needed.
    assert periodic == "none"
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_the_wakeup_socket_restores_the_previous_wakeup_fd(qapp: QApplication) -> None:
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    wakeup = SignalWakeup()
    assert signal.set_wakeup_fd(-1) != before  # ours was installed
    signal.set_wakeup_fd(wakeup.write_fd)
    wakeup.close()
    assert signal.set_wakeup_fd(-1) == before
    signal.set_wakeup_fd(before)
