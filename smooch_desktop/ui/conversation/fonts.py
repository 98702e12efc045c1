"""The wrap engine of :mod:`.text_layout` measuring with a Qt font.

:class:`FontWrapper` is a :class:`~.text_layout.TextWrapper` that measures with
``QFontMetricsF`` and breaks long words between grapheme clusters found by
``QTextBoundaryFinder``; it also carries the font and metrics the painter draws with, so
measuring and painting use the same font. The wrapping itself stays in
:mod:`.text_layout`; nothing here paints.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QTextBoundaryFinder
from PySide6.QtGui import QFont, QFontMetricsF

from smooch_desktop.ui.conversation.text_layout import TextWrapper


def graphemes(text: str) -> list[str]:
    """Split ``text`` into grapheme clusters (an emoji sequence stays whole)."""
    finder = QTextBoundaryFinder(QTextBoundaryFinder.BoundaryType.Grapheme, text)
    by_utf16: dict[int, int] = {}
    offset = 0
    for index, char in enumerate(text):
        by_utf16[offset] = index
        offset += 2 if ord(char) > 0xFFFF else 1
    by_utf16[offset] = len(text)
    clusters: list[str] = []
    start = 0
    while True:
        boundary = finder.toNextBoundary()
        if boundary < 0:
            break
        end = by_utf16.get(boundary)
        if end is not None and end > start:
            clusters.append(text[start:end])
            start = end
    if start < len(text):
        clusters.append(text[start:])
    return clusters


class FontWrapper(TextWrapper):
    """A :class:`TextWrapper` for ``font``; ``font`` and ``metrics`` are the ones to paint with."""

    def __init__(self, font: QFont) -> None:
        self.font = QFont(font)
        self.metrics = QFontMetricsF(self.font)
        super().__init__(
            self.metrics.horizontalAdvance,
            line_height=math.ceil(self.metrics.lineSpacing()),
            average_char_width=self.metrics.averageCharWidth(),
            graphemes=graphemes,
        )
