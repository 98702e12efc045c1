"""Benchmark: the app idling in the background with 200 followed conversations.

Run: ``.venv/bin/python benchmarks/bench_idle.py [--seconds 60] [--settle 10]``
(``--quick`` for a smoke-sized run; ``--api-version v2`` for a v2 session)

Each case runs in a fresh child process with fresh data, cache and config directories:

* APP: a sandbox on a loopback port (in the same process, as ``--sandbox`` runs it)
  holding 200 end users who each wrote a message; ``DATA/inbox.sqlite3`` is filled
  before the start with those 200 conversations followed (their history applied, as the
  list is kept from a previous run). The real app is built as ``run_gui`` builds it
  (``AppController``), with its real list poller at its default budget (30 requests a
  minute) and the signal wake-up ``run_gui`` installs; the agent opens one conversation
  (``user-000``), then the window goes to the background: minimised, and another window
  takes the activation and closes (so the main window is neither active nor visible on
  screen, as when the agent works in another application);
* BASELINE: a bare ``QMainWindow``, shown, then backgrounded the same way.

After ``--settle`` seconds, measured over ``--seconds`` of the event loop running
untouched:

* CPU %: process CPU time (``time.process_time``: every thread, the in-process sandbox
  serving the list's requests included) over wall time; and the GUI thread's own CPU
  (``time.thread_time`` read on it);
* wake-ups per second: how often the GUI thread went to sleep and woke up again, its
  ``voluntary_ctxt_switches`` in ``/proc/self/task/<tid>/status`` (every return from the
  event loop's poll that was not a busy spin);
* then, over a second stretch of ``--seconds`` (at most 20), what woke it: an event
  filter on the application counts ``QEvent.Timer`` per receiver (a ``QTimer`` by its
  object name and interval) and socket-notifier activations (``QEvent.SockAct``). This
  filter costs CPU itself, so it is not on during the first stretch.

Targets: CPU <= 1 % and wake-ups <= 3 per second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_VERSIONS,
    isolate_this_process,
    make_qapp,
    process_events_for,
    ratio,
    shutdown_app,
    start_app,
    verdict,
    wait_until,
)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CONVERSATIONS = 200
TARGET_CPU_PCT = 1.0
TARGET_WAKEUPS = 3.0


def gui_switches() -> int:
    """Voluntary context switches of the calling (GUI) thread."""
    path = f"/proc/self/task/{threading.get_native_id()}/status"
    with open(path, encoding="ascii") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def to_background(window: Any) -> None:
    """Minimise ``window`` and move the activation away from it, as another app would."""
    from PySide6.QtWidgets import QWidget

    other = QWidget()
    other.setWindowTitle("another application")
    other.show()
    other.activateWindow()
    process_events_for(0.1)
    window.showMinimized()
    process_events_for(0.1)
    other.close()
    other.deleteLater()
    process_events_for(0.2)
    if window.isActiveWindow():
        raise RuntimeError("the window is still active")


def run_loop(seconds: float) -> None:
    """Run the event loop for ``seconds``, ended by one timer named "benchHarness"."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    end = QTimer()
    end.setObjectName("benchHarness")
    end.setSingleShot(True)
    end.timeout.connect(loop.quit)
    end.start(int(seconds * 1000))
    loop.exec()


def measure(seconds: float) -> dict[str, float]:
    wall0, cpu0, gui0 = time.monotonic(), time.process_time(), time.thread_time()
    sw0 = gui_switches()
    run_loop(seconds)
    wall = time.monotonic() - wall0
    return {
        "wall_s": wall,
        "cpu_pct": 100.0 * (time.process_time() - cpu0) / wall,
        "gui_cpu_pct": 100.0 * (time.thread_time() - gui0) / wall,
        "wakeups": (gui_switches() - sw0) / wall,
    }


def what_wakes(seconds: float) -> dict[str, float]:
    """Timer events per receiver and socket activations per second, over ``seconds``."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    class Counter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.counts: dict[str, int] = {}

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            kind = event.type()
            if kind == QEvent.Type.Timer:
                if isinstance(watched, QTimer):
                    name = watched.objectName() or type(watched.parent()).__name__
                    key = f"QTimer {name} {watched.interval()} ms"
                else:
                    key = f"timer of {type(watched).__name__}"
            elif kind == QEvent.Type.SockAct:
                key = f"socket notifier ({type(watched.parent()).__name__})"
            else:
                return False
            self.counts[key] = self.counts.get(key, 0) + 1
            return False

    app = QApplication.instance()
    assert app is not None
    counter = Counter()
    app.installEventFilter(counter)
    start = time.monotonic()
    run_loop(seconds)
    wall = time.monotonic() - start
    app.removeEventFilter(counter)
    # The timer that ends the stretch is the harness's own: not counted.
    counts = {k: n / wall for k, n in counter.counts.items() if "benchHarness" not in k}
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def prepare_app(api_version: str) -> tuple[Any, Any]:
    """The sandbox with 200 writers, the list cache with them followed, the app started."""
    from smooch_desktop.api import factory
    from smooch_desktop.api.auth import Credentials
    from smooch_desktop.core import paths
    from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
    from smooch_desktop.core.profiles import legacy_profile_id
    from smooch_desktop.sandbox import SandboxServer
    from smooch_desktop.ui.controller import SANDBOX_PROFILE

    sandbox = SandboxServer(host="127.0.0.1", port=0, demo=False).start()
    app_id = sandbox.app_id
    for i in range(CONVERSATIONS):
        ref = f"user-{i:03d}"
        sandbox.store.create_user(app_id, {"userId": ref, "givenName": f"User {i}"})
        sandbox.store.add_user_message(app_id, ref, f"Hello, I am user {i}")
    api = factory.connect(
        api_version,
        sandbox.base_url,
        app_id,
        Credentials(sandbox.key_id, sandbox.secret),
        **({"avatar_for_email": lambda _email: ""} if api_version == "v2" else {}),
    )
    inbox = InboxStore(paths.data_dir() / "inbox.sqlite3")
    profile = legacy_profile_id(SANDBOX_PROFILE)
    for i in range(CONVERSATIONS):
        key = ConversationKey(profile, f"user-{i:03d}")
        inbox.follow(key, FollowReason.OPENED, display_name=f"User {i}")
        inbox.apply_history(key, api.history(key.user_ref))
        inbox.mark_read(key)
    inbox.close()
    api.close()

    controller = start_app(sandbox, api_version)
    return controller, sandbox


def run_case(case: str, args: argparse.Namespace) -> dict[str, Any]:

    isolate_this_process(f"idle-{case}")
    qapp = make_qapp()
    controller = sandbox = wakeup = None
    heartbeat = None
    if case == "heartbeat":
        # The app as it was: a 250 ms timer instead of the wake-up socket.
        from PySide6.QtCore import QTimer

        heartbeat = QTimer()
        heartbeat.setObjectName("oldHeartbeat")
        heartbeat.start(250)
        heartbeat.timeout.connect(lambda: None)
    if case in ("app", "heartbeat"):
        from smooch_desktop.app import SignalWakeup

        if heartbeat is None:
            wakeup = SignalWakeup()  # as run_gui installs it
        controller, sandbox = prepare_app(args.api_version)
        started = time.monotonic()
        window = controller.window
        pane = controller.inbox_pane
        if not wait_until(lambda: pane.model.rowCount() >= CONVERSATIONS, 10.0):
            raise RuntimeError(f"the list shows {pane.model.rowCount()} conversations")
        window.select_user("user-000")
        process_events_for(1.0)
    else:
        from PySide6.QtWidgets import QMainWindow

        window = QMainWindow()
        window.resize(1100, 720)
        window.show()
        process_events_for(0.5)
    to_background(window)
    process_events_for(args.settle)
    result: dict[str, Any] = measure(args.seconds)
    result["breakdown"] = what_wakes(min(args.seconds, 20.0))
    result["active"] = bool(window.isActiveWindow())
    result["minimised"] = bool(window.isMinimized())
    if controller is not None:
        result["rows"] = controller.inbox_pane.model.rowCount()
        result["uptime_s"] = time.monotonic() - started
        poller = controller.inbox_pane.poller
        result["list_requests"] = poller.requests if poller is not None else 0

        shutdown_app(controller, sandbox)
    if wakeup is not None:
        wakeup.close()
    window.close()
    qapp.processEvents()
    return result


def child(case: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--case", case, "--seconds", str(args.seconds)]
    command += ["--settle", str(args.settle), "--api-version", args.api_version]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("--seconds", type=float, help="measured seconds (default 60)")
    parser.add_argument("--settle", type=float, help="seconds before measuring (default 10)")
    parser.add_argument("--api-version", choices=API_VERSIONS, default="v1.1")
    parser.add_argument(
        "--before",
        action="store_true",
        help="also run the app as it was before (a 250 ms heartbeat timer, for comparison)",
    )
    parser.add_argument("--case", choices=["app", "bare", "heartbeat"])
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 60.0)
    args.settle = args.settle if args.settle is not None else (2.0 if args.quick else 10.0)
    if args.case:
        print(json.dumps(run_case(args.case, args)))
        return 0

    try:
        base = child("bare", args)
        ours = child("app", args)
        before = child("heartbeat", args) if args.before else None
    except subprocess.CalledProcessError as exc:
        print(exc.stderr, file=sys.stderr)
        print("FAIL: the run broke", flush=True)
        return 2
    print(
        f"Idle in the background: {ours['rows']} followed conversations in the list, "
        f"{args.api_version}, {args.seconds:g} s measured after {args.settle:g} s, "
        f"platform {os.environ['QT_QPA_PLATFORM']} (window active: {ours['active']}, "
        f"minimised: {ours['minimised']})"
    )
    print(f"{'':32}{'app':>10}{'bare window':>14}{'ratio':>8}")
    for label, key in (
        ("CPU, whole process [%]", "cpu_pct"),
        ("CPU, GUI thread [%]", "gui_cpu_pct"),
        ("GUI-thread wake-ups [1/s]", "wakeups"),
    ):
        print(f"{label:32}{ours[key]:>10.2f}{base[key]:>14.2f}{ratio(ours[key], base[key]):>8}")
    if before is not None:
        print(
            f"before (250 ms heartbeat): CPU {before['cpu_pct']:.2f} % (GUI thread "
            f"{before['gui_cpu_pct']:.2f} %), {before['wakeups']:.2f} wake-ups/s"
        )
    print(
        f"list requests since the start: {ours['list_requests']} in "
        f"{ours['uptime_s']:.0f} s (budget 30 a minute)"
    )
    for name, case in (("app", ours), ("bare window", base)):
        print(f"what woke the {name} (per second, second stretch):")
        for key, rate in case["breakdown"].items():
            print(f"    {rate:6.2f}  {key}")
        if not case["breakdown"]:
            print("      none")
    ok = ours["cpu_pct"] <= TARGET_CPU_PCT and ours["wakeups"] <= TARGET_WAKEUPS
    return verdict(
        ok,
        f"idle CPU {ours['cpu_pct']:.2f} % (target <= {TARGET_CPU_PCT:g} %), "
        f"{ours['wakeups']:.2f} wake-ups/s (target <= {TARGET_WAKEUPS:g}; "
        f"bare window {base['wakeups']:.2f})",
    )


if __name__ == "__main__":
    sys.exit(main())
