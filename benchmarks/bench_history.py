"""Benchmark: a 10,000-message history in the conversation view vs a bare QListView.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_history.py``

Measures, for the app's :class:`ConversationView` and for a BASELINE (a bare ``QListView``
over a ``QStringListModel`` of the same 10,000 texts, word wrap on, same window size):

(a) load: view construction + ``set_messages`` (or ``setStringList``) + ``show()`` until
    the first paint of the viewport has completed (counted by an event filter on the
    viewport). Module imports happen before the clock starts (the app imports at start-up).
    The conversation view measures the rows on screen exactly and estimates the others,
    then measures those while idle: "all rows measured exactly" is when that finished;
(b) scroll: 200 page-sized scroll steps (started after (a) and the idle measuring), each
    timed until its paint completed (max, p95 and mean per step);
(d) one new message: appended at the bottom while pinned there, until painted (the list
    view re-lays out every row on an insert; 10 appends, mean and max);
(c) memory: RSS growth (VmRSS from /proc/self/status) from before the model is built to
    after the scroll run; the message objects themselves are built before the first reading.

Each case runs in a fresh child process so neither inherits the other's font caches or
heap; the parent prints both with the ratio. The target is "load + first paint <= 0.5 s".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MESSAGES = 10_000
SCROLL_STEPS = 200
APPENDS = 10
WINDOW = (800, 900)
TARGET_LOAD_S = 0.5
SEED = 20240607
EMOJI = ["😀", "🎉", "👍", "🙏", "😕", "🚚", "📦", "❤️", "👩‍💻", "🇫🇷"]


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def build_messages() -> list[Any]:
    """10,000 messages: both roles, 5-400 characters, realistic vocabulary, some emoji."""
    from smooch_desktop.api.models import Message

    rnd = random.Random(SEED)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rnd.choice(letters) for _ in range(rnd.randint(1, 11))) for _ in range(6000)
    ]
    start = time.time() - MESSAGES * 97
    messages = []
    for n in range(MESSAGES):
        length = rnd.randint(5, 400)
        words: list[str] = []
        size = 0
        while size < length:
            roll = rnd.random()
            if roll < 0.04:
                word = rnd.choice(EMOJI)
            elif roll < 0.07:
                word = str(rnd.randint(0, 99999))
            else:
                word = rnd.choice(vocabulary)
            words.append(word)
            size += len(word) + 1
        text = " ".join(words)[:length].strip() or "ok"
        business = rnd.random() < 0.45
        messages.append(
            Message(
                id=f"msg-{n:05d}",
                role="business" if business else "user",
                text=text.capitalize(),
                author_name=rnd.choice(["Sam from Support", "Kim (Billing)"])
                if business
                else "Alice Martin",
                received=start + n * 97 + rnd.random() * 30,
            )
        )
    return messages


def run_case(case: str) -> dict[str, Any]:
    from PySide6.QtCore import QEvent, QObject, QStringListModel
    from PySide6.QtWidgets import QAbstractItemView, QApplication, QLabel, QListView

    app = QApplication.instance() or QApplication([])

    class PaintCounter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.paints = 0

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    # Warm up the style, fonts and backing store the same way for both cases.
    warm = QLabel("Warm-up 😀 text")
    warm.show()
    app.processEvents()
    warm.grab()
    warm.close()
    warm.deleteLater()
    app.processEvents()

    if case != "baseline":
        # Not timed: the app imports the view once, in the second phase of its start-up.
        from smooch_desktop.ui.conversation.view import ConversationView

    messages = build_messages()
    texts = [m.text for m in messages]
    gc.collect()
    rss_before = rss_kib()

    counter = PaintCounter()

    def wait_for_paint(previous: int, limit_s: float = 10.0) -> None:
        deadline = time.perf_counter() + limit_s
        while counter.paints <= previous:
            app.processEvents()
            if time.perf_counter() > deadline:
                raise RuntimeError("the view never painted")

    start = time.perf_counter()
    if case == "baseline":
        view = QListView()
        view.setUniformItemSizes(False)
        view.setWordWrap(True)
        view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.resize(*WINDOW)
        view.viewport().installEventFilter(counter)
        model = QStringListModel()
        view.setModel(model)
        model.setStringList(texts)
    else:
        view = ConversationView()
        view.resize(*WINDOW)
        view.viewport().installEventFilter(counter)
        view.conversation_model().set_messages(messages)
    model_done = time.perf_counter()
    view.show()
    wait_for_paint(0)
    load_s = time.perf_counter() - start
    rss_loaded = rss_kib()
    # Rows off screen may start with estimated heights, measured exactly while idle.
    measuring = getattr(view, "is_measuring", None)
    longest_stall = 0.0
    while measuring is not None and measuring():
        t = time.perf_counter()
        app.processEvents()
        longest_stall = max(longest_stall, time.perf_counter() - t)
        if time.perf_counter() - start > 30:
            raise RuntimeError("the view never finished measuring")
    exact_s = time.perf_counter() - start

    bar = view.verticalScrollBar()
    step = max(1, view.viewport().height() - 40)
    direction = -1 if bar.value() > bar.maximum() // 2 else 1  # ours starts at the bottom
    frames: list[float] = []
    for _ in range(SCROLL_STEPS):
        before = counter.paints
        t = time.perf_counter()
        bar.setValue(bar.value() + direction * step)
        wait_for_paint(before)
        frames.append(time.perf_counter() - t)
    gc.collect()
    rss_after = rss_kib()
    scrolled_px = abs(bar.value() - (bar.maximum() if direction < 0 else 0))

    # (d) a new message arrives while the reader is at the bottom.
    bar.setValue(bar.maximum())
    app.processEvents()
    appends: list[float] = []
    for n in range(APPENDS):
        before = counter.paints
        t = time.perf_counter()
        if case == "baseline":
            row = model.rowCount()
            model.insertRows(row, 1)
            model.setData(model.index(row), f"new message {n}")
        else:
            from smooch_desktop.api.models import Message

            assert isinstance(view, ConversationView)
            view.conversation_model().merge_messages(
                [Message(id=f"new-{n}", role="user", text=f"new message {n}", received=time.time())]
            )
        wait_for_paint(before)
        appends.append(time.perf_counter() - t)
    frames_sorted = sorted(frames)
    result = {
        "case": case,
        "model_s": model_done - start,
        "load_s": load_s,
        "exact_s": exact_s,
        "measuring_stall_ms": longest_stall * 1000,
        "scroll_max_ms": frames_sorted[-1] * 1000,
        "scroll_p95_ms": frames_sorted[int(len(frames_sorted) * 0.95) - 1] * 1000,
        "scroll_mean_ms": statistics.fmean(frames) * 1000,
        "scrolled_px": scrolled_px,
        "rss_loaded_mib": (rss_loaded - rss_before) / 1024,
        "rss_delta_mib": (rss_after - rss_before) / 1024,
        "append_ms": statistics.fmean(appends) * 1000,
        "append_max_ms": max(appends) * 1000,
        "rows": view.model().rowCount(),
    }
    view.close()
    view.deleteLater()
    app.processEvents()
    return result


def child(case: str) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    out = subprocess.run(
        [sys.executable, __file__, "--case", case],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:5.2f}x" if base > 0 else "   n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["baseline", "conversation"])
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0

    base = child("baseline")
    ours = child("conversation")
    print(
        f"History benchmark: {MESSAGES:,} messages, window {WINDOW[0]}x{WINDOW[1]}, "
        f"platform {os.environ['QT_QPA_PLATFORM']}"
    )
    print(f"{'':34}{'ConversationView':>18}{'baseline QListView':>20}{'ratio':>9}")
    rows = [
        ("(a) load + first paint [s]", "load_s", "{:.3f}"),
        ("    of which model filled [s]", "model_s", "{:.3f}"),
        ("    all rows measured exactly [s]", "exact_s", "{:.3f}"),
        ("    longest GUI stall meanwhile [ms]", "measuring_stall_ms", "{:.1f}"),
        ("(b) scroll step max [ms]", "scroll_max_ms", "{:.1f}"),
        ("    scroll step p95 [ms]", "scroll_p95_ms", "{:.1f}"),
        ("    scroll step mean [ms]", "scroll_mean_ms", "{:.1f}"),
        ("(c) RSS delta after load [MiB]", "rss_loaded_mib", "{:.1f}"),
        ("    RSS delta after scroll [MiB]", "rss_delta_mib", "{:.1f}"),
        ("(d) one new message, mean [ms]", "append_ms", "{:.1f}"),
        ("    one new message, max [ms]", "append_max_ms", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        print(
            f"{label:34}{fmt.format(ours[key]):>18}{fmt.format(base[key]):>20}"
            f"{ratio(ours[key], base[key]):>9}"
        )
    print(
        f"    scrolled {SCROLL_STEPS} page steps: ours {ours['scrolled_px']:,} px, "
        f"baseline {base['scrolled_px']:,} px"
    )
    verdict = "PASS" if ours["load_s"] <= TARGET_LOAD_S else "FAIL"
    print(f"{verdict}: load + first paint {ours['load_s']:.3f} s (target <= {TARGET_LOAD_S} s)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
