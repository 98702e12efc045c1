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
(d) one new message: appended at the bottom while pinned there, until painted (the bare
    list view re-lays out every row on an insert, the conversation view measures and draws
    the new row alone; 10 appends, mean and max);
(d') the same new message with the conversation list beside the view (the LIVE case): the
    window's real path for a poll that brought it (``InboxPane`` applies the 100-message
    page to the ``InboxStore``, marks it read and refreshes the list of 1,000 followed
    conversations; the conversation model merges the page), until painted; the open
    conversation starts in the middle of the list, so the first append moves its row to
    the top. Both in one top-level window, so one paint pass draws both. Target: mean
    <= 4 ms (``--live`` runs only this case; ``--profile`` adds a cProfile of the appends);
(c) memory: RSS growth (VmRSS from /proc/self/status) from before the model is built to
    after the scroll run; the message objects themselves are built before the first reading.

A third case, IMAGES, is the conversation view with 1,000 of the 10,000 messages carrying an
image (distinct URLs, PNGs of 800x600 served by a real sandbox on a loopback port, fetched
by the real media loader, decoded to thumbnails on its worker): (a) and (b) are measured
the same way while thumbnails arrive, then (e) the whole history is scrolled from bottom
to top one page at a time, each page waiting until its thumbnails are in (not timed), and
the RSS growth after that is printed against the text-only conversation view scrolled the
same way, with the thumbnail LRU's bytes against its limit.

Each case runs in a fresh child process so none inherits another's font caches or heap;
the parent prints them with the ratio. Targets: load + first paint <= 0.5 s (both
conversation cases), scroll step p95 <= 16 ms with images, thumbnail memory within the
LRU's limit.
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
TARGET_SCROLL_P95_MS = 16.0
LIVE_CONVERSATIONS = 1_000
LIVE_APPENDS = 30
TARGET_LIVE_APPEND_MS = 4.0
IMAGE_EVERY = 10  # 1,000 of 10,000 messages carry an image
IMAGE_SIZE = (800, 600)
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


def image_png(n: int) -> bytes:
    """An 800x600 PNG: a few coloured blocks (cheap to serve, a real decode to thumbnail)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage, QImageWriter, QPainter

    image = QImage(*IMAGE_SIZE, QImage.Format.Format_RGB32)
    image.fill(QColor.fromHsv((n * 37) % 360, 160, 220))
    painter = QPainter(image)
    painter.fillRect(100, 100, 300, 200, QColor.fromHsv((n * 91) % 360, 200, 160))
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    QImageWriter(buffer, QByteArray(b"PNG")).write(image)
    return bytes(buffer.data().data())


def with_images(messages: list[Any], sandbox: Any) -> list[Any]:
    """Every IMAGE_EVERY-th message becomes an image message with its own URL."""
    from dataclasses import replace

    store = sandbox.store
    pngs = [image_png(n) for n in range(20)]
    out = []
    for n, message in enumerate(messages):
        if n % IMAGE_EVERY == 0:
            name = f"photo-{n}.png"
            media_id = store.add_media(sandbox.app_id, name, "image/png", pngs[n % len(pngs)])
            url = store.media_url(media_id, name, sandbox.base_url)
            message = replace(message, type="image", media_url=url, media_type="image/png", text="")
        out.append(message)
    return out


def paint_counter_and_warm_up() -> tuple[Any, Any]:
    """The QApplication and a ``PaintCounter`` class (an event filter counting paints),
    after warming up the style, fonts and backing store the same way for every case."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication([])

    class PaintCounter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.paints = 0

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    warm = QLabel("Warm-up 😀 text")
    warm.show()
    app.processEvents()
    warm.grab()
    warm.close()
    warm.deleteLater()
    app.processEvents()
    return app, PaintCounter


def print_rows(
    rows: list[tuple[str, str, str]], left: dict[str, Any], right: dict[str, Any]
) -> None:
    """One line per (label, key, format): the two runs' values and their ratio."""
    for label, key, fmt in rows:
        print(
            f"{label:34}{fmt.format(left[key]):>18}{fmt.format(right[key]):>20}"
            f"{ratio(left[key], right[key]):>9}"
        )


def run_case(case: str) -> dict[str, Any]:
    from PySide6.QtCore import QStringListModel
    from PySide6.QtWidgets import QAbstractItemView, QListView

    app, PaintCounter = paint_counter_and_warm_up()

    if case != "baseline":
        # Not timed: the app imports the view once, in the second phase of its start-up.
        from smooch_desktop.ui.conversation.view import ConversationView

    messages = build_messages()
    sandbox: Any = None
    media: Any = None
    if case == "images":
        import tempfile

        from smooch_desktop.sandbox import SandboxServer
        from smooch_desktop.ui.media_loader import MediaLoader

        sandbox = SandboxServer(host="127.0.0.1", port=0)
        sandbox.start()
        messages = with_images(messages, sandbox)
        cache = tempfile.mkdtemp(prefix="bench-history-media-")
        media = MediaLoader(disk_dir=__import__("pathlib").Path(cache))
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
        view = ConversationView(media=media)
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

    # (e) the whole history, bottom to top, each page's thumbnails loaded (not timed).
    whole_steps = 0
    rss_whole = rss_after
    if case != "baseline":
        bar.setValue(bar.maximum())
        app.processEvents()
        while True:
            before = counter.paints
            bar.setValue(bar.value() - step)
            wait_for_paint(before)
            whole_steps += 1
            if media is not None:
                settle = time.perf_counter() + 5
                while media.is_busy() and time.perf_counter() < settle:
                    app.processEvents()
                view.viewport().repaint()  # draw the thumbnails that arrived
            if bar.value() == 0:
                break
        gc.collect()
        rss_whole = rss_kib()

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
        "whole_steps": whole_steps,
        "rss_whole_mib": (rss_whole - rss_before) / 1024,
        "thumb_mib": media.memory_used() / 2**20 if media is not None else 0.0,
        "thumb_limit_mib": media.memory_limit / 2**20 if media is not None else 0.0,
        "thumbs_cached": media.cached_count() if media is not None else 0,
        "thumb_evictions": media.evictions if media is not None else 0,
        "image_requests": media.network_requests if media is not None else 0,
    }
    if media is not None:
        media.stop()
    if sandbox is not None:
        sandbox.stop()
    view.close()
    view.deleteLater()
    app.processEvents()
    return result


def run_live(profile: bool) -> dict[str, Any]:
    """(d') a new message into the open 10,000-message conversation, the list refreshing."""
    import cProfile
    import io
    import pstats
    import tempfile
    from pathlib import Path

    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from smooch_desktop.api.models import HistoryPage, Message
    from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
    from smooch_desktop.ui.conversation.view import ConversationView
    from smooch_desktop.ui.inbox.pane import InboxPane
    from smooch_desktop.ui.main_window import Session
    from smooch_desktop.ui.workers import TaskQueue

    app, PaintCounter = paint_counter_and_warm_up()

    messages = build_messages()
    folder = Path(tempfile.mkdtemp(prefix="bench-history-live-"))
    store = InboxStore(folder / "inbox.sqlite3")
    profile_id = "bench"
    open_ref = f"user-{LIVE_CONVERSATIONS // 2:04d}"
    # The others wrote around the open conversation's last message: it sits mid-list.
    last_at = messages[-1].received
    for n in range(LIVE_CONVERSATIONS):
        ref = f"user-{n:04d}"
        key = ConversationKey(profile_id, ref)
        at = last_at + (LIVE_CONVERSATIONS // 2 - n) * 60 - 30  # user-0000 most recent
        store.follow(key, FollowReason.OPENED, display_name=f"User {n}", at=at)
        if ref == open_ref:
            page = HistoryPage(tuple(messages[-100:]))
        else:
            hello = Message(id=f"m-{n}", role="user", text=f"Hello from {n}", received=at)
            page = HistoryPage((hello,))
        store.apply_history(key, page)
        store.mark_read(key)

    tasks = TaskQueue("bench-api")
    window = QWidget()
    layout = QHBoxLayout(window)
    pane = InboxPane(tasks, None)
    view = ConversationView()
    layout.addWidget(pane, 0)
    layout.addWidget(view, 1)
    pane.setFixedWidth(300)
    window.resize(WINDOW[0] + 300, WINDOW[1])
    session = Session("bench", _NoApi(), "localhost", "", profile_id)
    pane.attach(store, session, None)
    if pane.poller is not None:
        pane.poller.stop()  # only the appends below change the list
    view.conversation_model().set_messages(messages)
    counter = PaintCounter()
    view.viewport().installEventFilter(counter)
    window.show()
    deadline = time.perf_counter() + 30
    while counter.paints == 0 or view.is_measuring():
        app.processEvents()
        if time.perf_counter() > deadline:
            raise RuntimeError("the view never settled")
    pane.view.setCurrentIndex(pane.model.index_of(ConversationKey(profile_id, open_ref)))
    start_row = pane.current_key()
    first_row = pane.model.index_of(ConversationKey(profile_id, open_ref)).row()
    app.processEvents()

    profiler = cProfile.Profile() if profile else None
    latest = list(messages[-99:])
    appends: list[float] = []
    list_parts: list[float] = []
    merge_parts: list[float] = []
    for n in range(LIVE_APPENDS):
        at = last_at + (LIVE_CONVERSATIONS // 2 + 1 + n) * 60  # newer than every other
        new = Message(id=f"live-{n}", role="user", text=f"new message {n}", received=at)
        latest = [*latest[1:], new] if len(latest) >= 100 else [*latest, new]
        page = HistoryPage(tuple(latest), older_cursor="older")
        before = counter.paints
        if profiler is not None:
            profiler.enable()
        t = time.perf_counter()
        # MainWindow._on_history: historyLoaded (the pane) first, then the model merges.
        pane._on_history(open_ref, "", page)
        t_list = time.perf_counter()
        view.conversation_model().merge_messages(page.messages)
        t_merge = time.perf_counter()
        list_parts.append(t_list - t)
        merge_parts.append(t_merge - t_list)
        deadline = time.perf_counter() + 10
        while counter.paints <= before:
            app.processEvents()
            if time.perf_counter() > deadline:
                raise RuntimeError("the view never painted")
        appends.append(time.perf_counter() - t)
        if profiler is not None:
            profiler.disable()
        app.processEvents()
    stats = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        stats = out.getvalue()
    current = pane.current_key()
    result = {
        "case": "live",
        "rows": pane.model.rowCount(),
        "first_row": first_row,
        "top_after": pane.model.row(0).key.user_ref,
        "selection_kept": current is not None and current == start_row,
        "append_ms": statistics.fmean(appends) * 1000,
        "append_p95_ms": sorted(appends)[int(len(appends) * 0.95) - 1] * 1000,
        "append_max_ms": max(appends) * 1000,
        "append_first_ms": appends[0] * 1000,
        "list_ms": statistics.fmean(list_parts) * 1000,
        "merge_ms": statistics.fmean(merge_parts) * 1000,
        "profile": stats,
    }
    pane.shutdown()
    window.close()
    tasks.stop()
    store.close()
    return result


class _NoApi:
    """The list's poller is stopped before it asks anything: no API is needed."""

    server_clock = None  # no clock: times are the local ones (not a request)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"no API in this benchmark ({name})")


def child(case: str, *extra: str) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, *extra],
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
    parser.add_argument("--case", choices=["baseline", "conversation", "images", "live"])
    parser.add_argument("--live", action="store_true", help="run only the LIVE case (d')")
    parser.add_argument("--profile", action="store_true", help="cProfile the LIVE appends")
    args = parser.parse_args()
    if args.case == "live":
        print(json.dumps(run_live(args.profile)))
        return 0
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    if args.live:
        live = child("live", *(["--profile"] if args.profile else []))
        print_live(live, None)
        return verdict_live(live)

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
    print_rows(rows, ours, base)
    print(
        f"    scrolled {SCROLL_STEPS} page steps: ours {ours['scrolled_px']:,} px, "
        f"baseline {base['scrolled_px']:,} px"
    )
    images = child("images")
    print()
    print(
        f"With images: {MESSAGES // IMAGE_EVERY:,} of the {MESSAGES:,} messages carry an "
        f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} PNG (sandbox on loopback, real media loader)"
    )
    print(f"{'':34}{'with images':>18}{'text only':>20}{'ratio':>9}")
    image_rows = [
        ("(a) load + first paint [s]", "load_s", "{:.3f}"),
        ("(b) scroll step max [ms]", "scroll_max_ms", "{:.1f}"),
        ("    scroll step p95 [ms]", "scroll_p95_ms", "{:.1f}"),
        ("    scroll step mean [ms]", "scroll_mean_ms", "{:.1f}"),
        ("(c) RSS delta after scroll [MiB]", "rss_delta_mib", "{:.1f}"),
        ("(e) RSS delta, whole history [MiB]", "rss_whole_mib", "{:.1f}"),
    ]
    print_rows(image_rows, images, ours)
    print(
        f"    whole history: {images['whole_steps']} page steps, "
        f"{images['image_requests']} image requests, {images['thumbs_cached']} thumbnails "
        f"kept ({images['thumb_mib']:.1f} MiB of a {images['thumb_limit_mib']:.0f} MiB LRU), "
        f"{images['thumb_evictions']} evicted"
    )
    checks = [
        (ours["load_s"] <= TARGET_LOAD_S, f"load + first paint {ours['load_s']:.3f} s"),
        (
            images["load_s"] <= TARGET_LOAD_S,
            f"load + first paint with images {images['load_s']:.3f} s",
        ),
        (
            images["scroll_p95_ms"] <= TARGET_SCROLL_P95_MS,
            f"scroll step p95 with images {images['scroll_p95_ms']:.1f} ms "
            f"(target <= {TARGET_SCROLL_P95_MS:.0f} ms)",
        ),
        (
            images["thumb_mib"] <= images["thumb_limit_mib"],
            f"thumbnails {images['thumb_mib']:.1f} MiB (limit {images['thumb_limit_mib']:.0f} MiB)",
        ),
    ]
    live = child("live")
    print()
    print_live(live, ours)
    checks.append(
        (
            live["append_ms"] <= TARGET_LIVE_APPEND_MS,
            f"new message with the list refreshing {live['append_ms']:.1f} ms "
            f"(target <= {TARGET_LIVE_APPEND_MS:g} ms)",
        )
    )
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    print(f"(load target <= {TARGET_LOAD_S} s)")
    return 0 if all(ok for ok, _ in checks) else 1


def print_live(live: dict[str, Any], ours: dict[str, Any] | None) -> None:
    print(
        f"(d') a new message into the open {MESSAGES:,}-message conversation with the list of "
        f"{live['rows']:,} conversations refreshing ({LIVE_APPENDS} appends; the open one "
        f"starts at row {live['first_row']}, ends at the top: {live['top_after']}; "
        f"selection kept: {live['selection_kept']})"
    )
    print(
        f"    mean {live['append_ms']:.1f} ms, p95 {live['append_p95_ms']:.1f} ms, "
        f"max {live['append_max_ms']:.1f} ms, first (row moves to the top) "
        f"{live['append_first_ms']:.1f} ms"
        + (f"; without the list (d): mean {ours['append_ms']:.1f} ms" if ours else "")
    )
    print(
        f"    of which: the list (store + refresh) {live['list_ms']:.2f} ms, the conversation "
        f"model's merge {live['merge_ms']:.2f} ms, the rest (layout and paint of both) "
        f"{live['append_ms'] - live['list_ms'] - live['merge_ms']:.1f} ms"
    )
    if live["profile"]:
        print(live["profile"])


def verdict_live(live: dict[str, Any]) -> int:
    ok = live["append_ms"] <= TARGET_LIVE_APPEND_MS and live["selection_kept"]
    print(
        f"{'PASS' if ok else 'FAIL'}: new message with the list refreshing "
        f"{live['append_ms']:.1f} ms (target <= {TARGET_LIVE_APPEND_MS:g} ms)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
