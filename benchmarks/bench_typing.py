"""Benchmark: activity requests for 60 s of continuous typing at 5 keys/s.

Run: ``.venv/bin/python benchmarks/bench_typing.py [--seconds 60] [--real-seconds 10]``

Quality bar (docs/architecture.md#quality-bars):
"60 s of continuous typing at 5 keys/s: at most 10 activity
requests (heartbeat), never one per keystroke."

In one process (offscreen Qt): a sandbox on 127.0.0.1 (no injected faults) and the real
app built the way ``run_gui`` builds it (``AppController`` with the app's ``--sandbox``
Namespace, fresh data/config dirs), with the demo user ``alice@example.com`` selected.
Counted: the ``POST .../conversation/activity`` requests that reached the sandbox (its
request log), cross-checked with the activities its store recorded.

1. **fake clock, app policy**: the window's ``TypingSender`` is replaced by one built with
   ``clock=FakeClock`` (its ``TypingPolicy`` reads the same clock); every key is a real
   ``QTest.keyClick`` into the composer (composer -> window -> TypingSender -> API queue ->
   HTTP), the fake clock advancing 0.2 s per key, 60 s in all (300 keys). The sender's
   single-shot idle timer is armed in real milliseconds, so where the fake clock passes its
   deadline the benchmark fires it (calls the slot its ``timeout`` is connected to); after
   the last key the clock moves on past the idle timeout, which ends the indicator.
2. **baseline, same run**: the same 300 keys with the naive policy, one ``typing:start``
   per keystroke (a ``TypingPolicy`` whose ``text_edited`` always answers START).
3. **real time**: the window's own ``TypingSender`` (real ``time.monotonic``), keys sent by
   a 200 ms timer for ``--real-seconds`` (default 10), then waiting past the idle timeout;
   and the same length with the fake clock, to show that both count the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import (
    API_VERSIONS,
    isolate_this_process,
    last_seq,
    make_qapp,
    process_events_for,
    ratio,
    shutdown_app,
    start_app,
    verdict,
    wait_until,
)

TARGET = 10
KEYS_PER_S = 5
USER = "alice@example.com"
TEXT = "thanks for waiting, i have checked your order and it ships tomorrow "


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def naive_policy(clock: Any) -> Any:
    from smooch_desktop.core.typing_policy import TypingCommand, TypingPolicy

    class OneRequestPerKeystroke(TypingPolicy):
        def text_edited(self, text: str) -> list[TypingCommand]:
            return super().text_edited(text) or ([TypingCommand.START] if text.strip() else [])

    return OneRequestPerKeystroke(clock)


class Counter:
    """Activity requests that reached the sandbox since it was made."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.seq = last_seq(sandbox)
        self.stored = len(sandbox.store.activities(sandbox.app_id, USER))

    def counts(self) -> dict[str, int]:
        entries = [e for e in self.sandbox.log(self.seq) if e["path"].endswith("/activity")]
        types = [(e.get("body") or {}).get("type") for e in entries]
        stored = len(self.sandbox.store.activities(self.sandbox.app_id, USER)) - self.stored
        return {
            "requests": len(entries),
            "start": types.count("typing:start"),
            "stop": types.count("typing:stop"),
            "accepted": sum(1 for e in entries if e["status"] == 200),
            "stored": stored,
        }


def settle(controller: Any) -> None:
    wait_until(lambda: not controller.api_tasks.is_busy(), 30)
    process_events_for(0.05)


def clear_composer(window: Any) -> None:
    window.composer.set_text("")  # programmatic: not an edit, no typing call


def fake_clock_run(controller: Any, sandbox: Any, seconds: float, naive: bool) -> dict[str, Any]:
    from PySide6.QtTest import QTest

    from smooch_desktop.ui.typing_sender import TypingSender

    window = controller.window
    original = window.typing
    clock = FakeClock()
    sender = TypingSender(
        controller.api_tasks,
        lambda: controller.session.api,
        window.sender_panel.typing_sender,
        clock=clock,
        parent=window,
    )
    if naive:
        sender.policy = naive_policy(clock)
    sender.set_user(USER)
    window.typing = sender  # MainWindow routes composer edits to self.typing
    counter = Counter(sandbox)
    keys = int(seconds * KEYS_PER_S)
    t0 = time.perf_counter()
    try:

        def fire_due_timer() -> None:
            deadline = sender.policy.next_deadline()
            if deadline is not None and clock() >= deadline:
                sender._on_tick()  # what the sender's QTimer.timeout is connected to

        for n in range(keys):
            clock.advance(1.0 / KEYS_PER_S)
            fire_due_timer()
            # PySide6's stubs lack QTest.keyClick(QWidget, char), which the call uses.
            QTest.keyClick(window.composer.edit, TEXT[n % len(TEXT)])  # type: ignore[call-overload]
            process_events_for(0)
        deadline = sender.policy.next_deadline()  # then the composer stays idle
        if deadline is not None:
            clock.now = max(clock.now, deadline)
            fire_due_timer()
        settle(controller)
    finally:
        window.typing = original
        sender.deleteLater()
        clear_composer(window)
    return {
        **counter.counts(),
        "keys": keys,
        "real_s": time.perf_counter() - t0,
        "policy_starts": sender.policy.starts_sent,
        "policy_stops": sender.policy.stops_sent,
    }


def real_time_run(controller: Any, sandbox: Any, seconds: float) -> dict[str, Any]:
    from PySide6.QtCore import QTimer
    from PySide6.QtTest import QTest

    window = controller.window
    sender = window.typing  # the app's own, on time.monotonic
    counter = Counter(sandbox)
    keys = int(seconds * KEYS_PER_S)
    typed = [0]
    timer = QTimer()
    timer.setInterval(int(1000 / KEYS_PER_S))

    def key() -> None:
        # PySide6's stubs lack QTest.keyClick(QWidget, char), which the call uses.
        QTest.keyClick(window.composer.edit, TEXT[typed[0] % len(TEXT)])  # type: ignore[call-overload]
        typed[0] += 1
        if typed[0] >= keys:
            timer.stop()

    timer.timeout.connect(key)
    t0 = time.perf_counter()
    timer.start()
    wait_until(lambda: typed[0] >= keys, seconds + 10)
    typing_s = time.perf_counter() - t0
    # The indicator ends by itself once the composer has been idle long enough.
    wait_until(lambda: not sender.policy.is_typing, 15)
    settle(controller)
    clear_composer(window)
    return {
        **counter.counts(),
        "keys": typed[0],
        "real_s": time.perf_counter() - t0,
        "typing_s": typing_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="fake-clock typing time")
    parser.add_argument(
        "--real-seconds", type=float, default=10.0, help="real-time run length (0: skip it)"
    )
    parser.add_argument("--api-version", choices=API_VERSIONS, default="v1.1")
    parser.add_argument("--quick", action="store_true", help="no real-time run (smoke)")
    args = parser.parse_args()
    if args.quick:
        args.real_seconds = 0.0

    isolate_this_process("typing")
    app = make_qapp()
    from smooch_desktop.sandbox import SandboxServer

    sandbox = SandboxServer(host="127.0.0.1", port=0).start()
    controller = start_app(sandbox, args.api_version)
    try:
        window = controller.window
        settle(controller)
        window.select_user(USER)
        settle(controller)
        if window.user_panel.current_user() is None:
            print(f"could not select {USER}", file=sys.stderr)
            return 2

        ours = fake_clock_run(controller, sandbox, args.seconds, naive=False)
        naive = fake_clock_run(controller, sandbox, args.seconds, naive=True)
        real = fake_short = None
        if args.real_seconds > 0:
            real = real_time_run(controller, sandbox, args.real_seconds)
            fake_short = fake_clock_run(controller, sandbox, args.real_seconds, naive=False)

        print(
            f"Typing benchmark: {KEYS_PER_S} keys/s into the composer, sandbox on loopback, "
            f"QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}"
        )
        print(
            f"{'':40}{'keys':>6}{'requests':>10}{'start':>7}{'stop':>6}{'stored':>8}{'real s':>8}"
        )
        rows = [
            (f"app policy, fake clock, {args.seconds:g} s", ours),
            (f"baseline 1 per key, fake clock, {args.seconds:g} s", naive),
        ]
        if real is not None and fake_short is not None:
            rows += [
                (f"app policy, real time, {args.real_seconds:g} s", real),
                (f"app policy, fake clock, {args.real_seconds:g} s", fake_short),
            ]
        for label, r in rows:
            print(
                f"{label:40}{r['keys']:6d}{r['requests']:10d}{r['start']:7d}{r['stop']:6d}"
                f"{r['stored']:8d}{r['real_s']:8.1f}"
            )
        print(
            f"  ratio app/baseline ({args.seconds:g} s): "
            f"{ratio(ours['requests'], naive['requests'])} "
            f"({ours['requests']} vs {naive['requests']} requests)"
        )
        print(
            f"  answered 200: app {ours['accepted']}/{ours['requests']}, baseline "
            f"{naive['accepted']}/{naive['requests']}"
        )
        match = True
        if real is not None and fake_short is not None:
            match = (real["start"], real["stop"]) == (fake_short["start"], fake_short["stop"])
            print(
                f"  real time: typed for {real['typing_s']:.1f} s, answered 200 "
                f"{real['accepted']}/{real['requests']}; real {real['requests']} vs fake clock "
                f"{fake_short['requests']} requests for the same {args.real_seconds:g} s: "
                f"{'match' if match else 'DIFFER'}"
            )
        ok = ours["requests"] <= TARGET and ours["stop"] >= 1 and match
        return verdict(
            ok,
            f"{ours['requests']} activity requests for {args.seconds:g} s of typing "
            f"at {KEYS_PER_S} keys/s (target <= {TARGET}; baseline "
            f"{naive['requests']})",
        )
    finally:
        shutdown_app(controller, sandbox)
        del app


if __name__ == "__main__":
    sys.exit(main())
