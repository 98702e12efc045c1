"""Benchmark: avatar requests while an email address is typed into the sender panel.

Run: ``.venv/bin/python benchmarks/bench_avatars.py [--keys-per-s 8]``

Quality bar (docs/architecture.md#quality-bars):
"One avatar request per distinct settled email, none per
keystroke; cached."

In one process (offscreen Qt): a sandbox on 127.0.0.1 (its ``/avatar/`` endpoint is the
Gravatar stand-in the app uses in sandbox mode) and the real app built the way ``run_gui``
builds it (``AppController`` with the app's ``--sandbox`` Namespace, fresh data/cache/config
dirs). A 25-character address is typed key by key with ``QTest.keyClicks(..., delay)``
(8 keys/s, real time: the delay, before each press and each release, runs the event loop,
so the panel's settle timer and the loader work as in use).

Counted: ``AvatarLoader.network_requests`` and the ``/avatar/`` requests the sandbox
answered. The sandbox's request log lists API calls only (``/avatar/`` is not an API
path), so the benchmark counts them in the sandbox HTTP server's access log (one debug line
per answered request; the lines are counted, not printed); the request log's count is
printed as well.

1. **app**: type the address into the sender panel's email field, wait for it to settle
   and the preview to be answered;
2. **cached**: clear the field and type the same address again (memory cache), then ask a
   new ``AvatarLoader`` on the same disk cache for the same URL (disk cache);
3. **baseline, same run**: a plain ``QLineEdit`` whose every ``textEdited`` asks a fresh
   ``AvatarLoader`` (no disk cache) for the Gravatar URL of the current text: one request
   per keystroke, the behaviour the bar forbids.
"""

from __future__ import annotations

import argparse
import logging
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
    make_qapp,
    process_events_for,
    ratio,
    shutdown_app,
    start_app,
    verdict,
    wait_until,
)

TARGET = 1
EMAIL = "alice.support@example.com"
assert len(EMAIL) == 25


class AvatarHits(logging.Filter):
    """Counts the ``/avatar/`` requests the sandbox answered, from its HTTP access log.

    The server logs ``"GET /avatar/… -> 200"`` at debug level for every answer. This filter
    on its logger counts those lines and drops every debug line, so lowering the logger's
    level to see them prints nothing new.
    """

    def __init__(self, sandbox: Any) -> None:
        super().__init__()
        self.count = 0
        server_log = logging.getLogger(type(sandbox).__module__)
        server_log.setLevel(logging.DEBUG)
        server_log.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        words = record.getMessage().split(" ")
        if len(words) >= 4 and words[1].startswith("/avatar/") and words[2] == "->":
            self.count += 1
        return False


def avatar_log_entries(sandbox: Any) -> int:
    return sum(1 for e in sandbox.log() if "/avatar/" in e["path"])


def type_text(widget: Any, text: str, keys_per_s: float) -> float:
    from PySide6.QtTest import QTest

    widget.setFocus()
    t0 = time.perf_counter()
    # keyClicks waits ``delay`` before the press and again before the release of each key.
    QTest.keyClicks(widget, text, delay=max(1, round(1000 / keys_per_s / 2)))
    return time.perf_counter() - t0


class Answers:
    """URLs a loader has answered (image, missing or failed), from its signals."""

    def __init__(self, loader: Any) -> None:
        self.urls: set[str] = set()
        loader.imageReady.connect(self.urls.add)
        loader.imageMissing.connect(self.urls.add)
        loader.imageFailed.connect(lambda url, _reason: self.urls.add(url))


def wait_answered(answers: Answers, url_getter: Any, timeout: float = 10.0) -> bool:
    """Until the loader has answered the panel's current preview URL."""
    return wait_until(lambda: bool(url_getter()) and url_getter() in answers.urls, timeout)


def clear_by_keyboard(widget: Any) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(widget, Qt.Key.Key_Backspace)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys-per-s", type=float, default=8.0, help="typing speed")
    parser.add_argument("--api-version", choices=API_VERSIONS, default="v1.1")
    parser.add_argument("--quick", action="store_true", help="type at 50 keys/s (smoke)")
    args = parser.parse_args()
    if args.quick:
        args.keys_per_s = 50.0

    root = isolate_this_process("avatars")
    app = make_qapp()
    from PySide6.QtWidgets import QLineEdit

    from smooch_desktop.core.gravatar import AvatarDiskCache, gravatar_url
    from smooch_desktop.sandbox import SandboxServer
    from smooch_desktop.ui.avatar_loader import AvatarLoader
    from smooch_desktop.ui.sender_panel import EMAIL_SETTLE_MS

    sandbox = SandboxServer(host="127.0.0.1", port=0).start()
    hits = AvatarHits(sandbox)
    controller = start_app(sandbox, args.api_version)
    extra_loaders: list[Any] = []
    try:
        window = controller.window
        panel = window.sender_panel
        loader = controller.avatars
        answers = Answers(loader)
        base = controller.session.gravatar_base
        wait_until(lambda: not controller.api_tasks.is_busy(), 10)
        process_events_for(0.2)

        # 1. the app
        loader_before, hits_before = loader.network_requests, hits.count
        typing_s = type_text(panel.email_edit, EMAIL, args.keys_per_s)
        # The settled address's own look-up (with no Gravatar, the panel then shows the
        # default silhouette, which it already fetched for the empty address).
        lookup_url = gravatar_url(EMAIL, size=200, default="404", base=base)
        answered = wait_answered(answers, lambda: lookup_url)
        app_run = {
            "loader": loader.network_requests - loader_before,
            "server": hits.count - hits_before,
            "typing_s": typing_s,
            "answered": answered,
            "caption": panel.preview_caption.text(),
        }
        first_url = panel.preview_url()

        # 2. cached: same address again (memory), then a new loader on the same disk cache
        clear_by_keyboard(panel.email_edit)
        process_events_for(0.1)
        answers.urls.clear()
        loader_before, hits_before = loader.network_requests, hits.count
        type_text(panel.email_edit, EMAIL, args.keys_per_s)
        process_events_for(EMAIL_SETTLE_MS / 1000 + 0.3)
        # A cached answer needs no signal: the panel shows it straight from the loader.
        memory = {
            "loader": loader.network_requests - loader_before,
            "server": hits.count - hits_before,
            "same_url": panel.preview_url() == first_url,
            "caption": panel.preview_caption.text(),
        }
        disk_loader = AvatarLoader(AvatarDiskCache(root / "cache" / "avatars"))
        extra_loaders.append(disk_loader)
        hits_before = hits.count
        url = lookup_url
        disk_loader.request(url)
        disk_answers = Answers(disk_loader)
        disk_answered = wait_until(lambda: url in disk_answers.urls, 10)
        disk = {
            "loader": disk_loader.network_requests,
            "server": hits.count - hits_before,
            "answered": disk_answered,
        }

        # 3. baseline: one request per keystroke
        naive_loader = AvatarLoader(None)
        extra_loaders.append(naive_loader)
        field = QLineEdit()
        field.textEdited.connect(
            lambda text: naive_loader.request(
                gravatar_url(text, size=200, default="404", base=base)
            )
        )
        field.show()
        hits_before = hits.count
        base_typing_s = type_text(field, EMAIL, args.keys_per_s)
        wait_until(lambda: naive_loader.network_requests >= len(EMAIL), 10)
        process_events_for(EMAIL_SETTLE_MS / 1000 + 0.3)
        naive = {
            "loader": naive_loader.network_requests,
            "server": hits.count - hits_before,
            "typing_s": base_typing_s,
        }

        print(
            f"Avatar benchmark: {len(EMAIL)}-character address {EMAIL!r} typed at "
            f"{args.keys_per_s:g} keys/s, QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}"
        )
        print(f"{'':46}{'loader':>8}{'server':>8}")
        print(
            f"{'app: typed once':46}{app_run['loader']:8d}{app_run['server']:8d}"
            f"   (typing took {app_run['typing_s']:.1f} s)"
        )
        print(
            f"{'app: same address again (memory cache)':46}{memory['loader']:8d}"
            f"{memory['server']:8d}"
        )
        print(f"{'new loader, same disk cache':46}{disk['loader']:8d}{disk['server']:8d}")
        print(
            f"{'baseline: one request per keystroke':46}{naive['loader']:8d}"
            f"{naive['server']:8d}   (typing took {naive['typing_s']:.1f} s)"
        )
        print(f"  ratio app/baseline: {ratio(app_run['server'], naive['server'])}")
        print(
            f"  preview after settling: {app_run['caption']!r}"
            f"{'' if app_run['answered'] else ' (NO answer within 10 s)'}"
        )
        print(
            f"  preview after retyping (cached): {memory['caption']!r}"
            f"{'' if memory['same_url'] else ' (a DIFFERENT URL)'}"
        )
        print(
            f"  sandbox request log entries with /avatar/: {avatar_log_entries(sandbox)} "
            f"(the log lists API calls only)"
        )
        ok = bool(
            app_run["server"] <= TARGET
            and app_run["loader"] <= TARGET
            and app_run["answered"]
            and memory["server"] == 0
            and memory["same_url"]
            and disk["server"] == 0
            and disk["answered"]
        )
        return verdict(
            ok,
            f"{app_run['server']} avatar request(s) for a {len(EMAIL)}-key email, "
            f"{memory['server'] + disk['server']} when cached (target <= {TARGET}, "
            f"0 cached; baseline {naive['server']})",
        )
    finally:
        for extra in extra_loaders:
            extra.stop()
        shutdown_app(controller, sandbox)
        del app


if __name__ == "__main__":
    sys.exit(main())
