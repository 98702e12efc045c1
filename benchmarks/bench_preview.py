"""Benchmark: a keystroke in the composer with the live preview of a 10-item carousel.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_preview.py [--quick]``

A composer, a sender panel and a :class:`~smooch_desktop.ui.preview.ComposerPreview`
with a 10-card carousel attached (every card with an image URL, a description and three
buttons) are shown in one window; 200 key presses (shorthand included, so the parser
runs) are sent to the composer with ``QTest.keyClick``, each timed until its events are
processed and the window has repainted (``repaint()``: the preview's paint is inside the
measured time). The BASELINE is the same window and the same key presses with no preview
attached, measured in the same run. Images are never fetched (the loader's lookup is
replaced by one that has nothing), so the figure is the GUI thread's own cost.

Target: p95 of one keystroke with the preview <= 16 ms (one frame at 60 Hz).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

TARGET_MS = 16.0
TEXT = "Pick one of these ![](https://example.com/a.png) %[Yes](reply:YES) %[No](reply:NO) ok "


def carousel() -> Any:
    from smooch_desktop.core.structured import StructuredAction, StructuredItem, StructuredMessage

    actions = (
        StructuredAction("postback", "Pick", "PICK"),
        StructuredAction("link", "More", "https://example.com/more"),
        StructuredAction("buy", "Buy", "25.00"),
    )
    return StructuredMessage(
        "carousel",
        items=tuple(
            StructuredItem(
                f"Item {n} with a longer title",
                f"Description of item {n}, two lines maybe",
                f"https://example.com/{n}.png",
                actions,
            )
            for n in range(10)
        ),
    )


def measure(with_preview: bool, keys: int) -> list[float]:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QPixmap
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from smooch_desktop.ui.avatar_loader import AvatarLoader
    from smooch_desktop.ui.composer import Composer
    from smooch_desktop.ui.preview import ComposerPreview
    from smooch_desktop.ui.sender_panel import SenderPanel
    from smooch_desktop.ui.settings import AppSettings
    from smooch_desktop.ui.structured_editor import StructureAttachment

    settings = AppSettings()

    class OfflineLoader(AvatarLoader):
        def pixmap(self, url: str) -> QPixmap | None:
            return None  # never the network: the GUI thread's own cost only

    avatars = OfflineLoader(None)
    window = QWidget()
    row = QHBoxLayout(window)
    composer = Composer()
    panel = SenderPanel(settings, avatars, gravatar_base="")
    panel.name_edit.setText("Sam Tester")
    row.addWidget(composer, 1)
    row.addWidget(panel)
    attachment = StructureAttachment()
    preview = None
    if with_preview:
        attachment.attach(carousel())
        preview = ComposerPreview(composer, panel, attachment, avatars)
        row.addWidget(preview, 1)
    window.resize(1200, 700)
    window.show()
    QCoreApplication.processEvents()
    composer.edit.setFocus()
    times: list[float] = []
    for i in range(keys):
        char = TEXT[i % len(TEXT)]
        start = time.perf_counter()
        QTest.keyClicks(composer.edit, char)
        QCoreApplication.processEvents()
        window.repaint()
        times.append((time.perf_counter() - start) * 1000.0)
        if i % 60 == 59:
            QTest.keyClick(composer.edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
            QTest.keyClick(composer.edit, Qt.Key.Key_Delete)
    if preview is not None:
        assert preview.shown and preview.shown[-1].type == "carousel"
    window.close()
    window.deleteLater()
    avatars.stop()
    QCoreApplication.processEvents()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 keys instead of 200")
    args = parser.parse_args()
    keys = 40 if args.quick else 200
    _common.isolate_this_process("preview")
    _common.make_qapp()
    measure(True, 20)  # warm-up: imports, fonts, first layouts
    base = measure(False, keys)
    ours = measure(True, keys)
    for name, values in (("baseline (composer alone)", base), ("with preview", ours)):
        print(
            f"{name:28s} keystroke p50 {_common.median(values):6.2f} ms  "
            f"p95 {_common.percentile(values, 95):6.2f} ms  max {max(values):6.2f} ms"
        )
    p95 = _common.percentile(ours, 95)
    print(f"ratio p95 preview/baseline: {_common.ratio(p95, _common.percentile(base, 95))}")
    return _common.verdict(
        p95 <= TARGET_MS,
        f"preview keystroke p95 {p95:.2f} ms on a 10-item carousel (target <= {TARGET_MS:g} ms)",
    )


if __name__ == "__main__":
    sys.exit(main())
