"""Word wrap for chat bubbles: greedy, with cached word widths; Qt-free.

Asking Qt to wrap (``QFontMetrics.boundingRect`` with ``TextWordWrap``) costs 40-60 µs
per 200-character message, i.e. the whole 0.5 s budget for 10,000 rows; with cached word
widths it is a few µs. :class:`TextWrapper` measures through the function it is given
(a font's ``horizontalAdvance``, see :class:`~.fonts.FontWrapper`), so this module
imports no Qt and is tested without a display (tests/unit/test_conversation_text_layout.py).
Fonts, painting and anything else from Qt do not belong here.
"""

from __future__ import annotations

import bisect
import itertools
import unicodedata
from collections.abc import Callable
from typing import Final, cast

_WORD_CACHE_MAX: Final = 60_000

Line = tuple[str, float, bool]  # text, width in px, right-to-left paragraph


def is_rtl(paragraph: str) -> bool:
    """Whether ``paragraph`` is right-to-left (its first strong character is)."""
    bidirectional = unicodedata.bidirectional
    for char in paragraph:
        kind = bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


class TextWrapper:
    """Greedy word wrap with cached word widths; measuring and painting share the lines.

    Lines break at spaces and newlines; a word wider than the line breaks between
    grapheme clusters. Each paragraph keeps its own direction (for right-to-left text).
    Line ends are found with prefix sums and ``bisect`` over cached word advances, so
    wrapping a long message costs a few C-level passes rather than a Python loop per word.
    """

    def __init__(
        self,
        advance: Callable[[str], float],
        *,
        line_height: int,
        average_char_width: float,
        graphemes: Callable[[str], list[str]],
    ) -> None:
        """``advance(text)``: the width of ``text`` on one line, in pixels.

        ``graphemes(word)`` splits a word wider than a line into the pieces it may break
        between (grapheme clusters, so an emoji sequence stays whole).
        """
        self._advance = advance
        self._graphemes = graphemes
        self.line_height = line_height
        self.average_char_width = max(1.0, average_char_width)
        self._space = advance(" ")
        self._widths: dict[str, float] = {}
        self._advances: dict[str, float] = {}  # word -> width + one space

    def width(self, text: str) -> float:
        """Advance width of ``text`` on one line (cached)."""
        found = self._widths.get(text)
        if found is None:
            if len(self._widths) >= _WORD_CACHE_MAX:
                self._widths.clear()
            found = self._widths[text] = self._advance(text)
        return found

    def _learn(self, words: list[str]) -> None:
        """Cache the advance (width + one space) of every word in ``words`` not known yet."""
        missing = set(words).difference(self._advances)
        if len(self._advances) + len(missing) > _WORD_CACHE_MAX:
            self._advances.clear()
            missing = set(words)
        measure = self._advance
        space = self._space
        for word in missing:
            self._advances[word] = measure(word) + space

    @staticmethod
    def _paragraphs(text: str) -> list[str]:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\t" in text:
            text = text.replace("\t", "    ")
        return text.split("\n")

    def _spans(self, words: list[str], limit: float) -> list[tuple[int, int, float]] | None:
        """``(first word, end word, width)`` per line; None if a word is wider than a line."""
        found = list(map(self._advances.get, words))
        if None in found:
            self._learn(words)
            found = list(map(self._advances.get, words))
        values = cast(list[float], found)
        space = self._space
        bound = limit + space
        total = sum(values)
        if total <= bound:
            return [(0, len(words), total - space)]  # short paragraph: one line
        if max(values) > bound:
            return None
        prefix = list(itertools.accumulate(values, initial=0.0))
        spans: list[tuple[int, int, float]] = []
        start, count = 0, len(words)
        find = bisect.bisect_right
        while start < count:
            end = find(prefix, prefix[start] + bound, start + 1) - 1
            if end <= start:
                end = start + 1
            spans.append((start, end, prefix[end] - prefix[start] - space))
            start = end
        return spans

    def _split_long(self, word: str, limit: float) -> list[tuple[str, float]]:
        pieces: list[tuple[str, float]] = []
        current, current_width = "", 0.0
        for cluster in self._graphemes(word):
            cluster_width = self.width(cluster)
            if current and current_width + cluster_width > limit:
                pieces.append((current, current_width))
                current, current_width = cluster, cluster_width
            else:
                current += cluster
                current_width += cluster_width
        if current:
            pieces.append((current, current_width))
        return pieces

    def _slow_lines(self, words: list[str], limit: float) -> list[tuple[str, float]]:
        """Greedy wrap of a paragraph that has a word wider than the line."""
        lines: list[tuple[str, float]] = []
        space = self._space
        current: list[str] = []
        x = -1.0
        for word in words:
            width = self.width(word)
            if width > limit:
                if x >= 0:
                    lines.append((" ".join(current), x))
                pieces = self._split_long(word, limit)
                lines.extend(pieces[:-1])
                last, x = pieces[-1]
                current = [last]
            elif x < 0:
                current, x = [word], width
            elif x + space + width <= limit:
                current.append(word)
                x += space + width
            else:
                lines.append((" ".join(current), x))
                current, x = [word], width
        lines.append((" ".join(current), max(x, 0.0)))
        return lines

    def measure(self, text: str, limit: float) -> tuple[int, float]:
        """Number of lines and widest line of ``text`` wrapped to ``limit`` pixels."""
        count, widest = 0, 0.0
        for paragraph in self._paragraphs(text):
            words = paragraph.split(" ")
            spans = self._spans(words, limit)
            if spans is None:
                lines = self._slow_lines(words, limit)
                count += len(lines)
                widest = max(widest, max(width for _, width in lines))
            else:
                count += len(spans)
                widest = max(widest, max(width for _, _, width in spans))
        return count, widest

    def wrap(self, text: str, limit: float) -> list[Line]:
        """The lines of ``text`` wrapped to ``limit`` pixels (what :meth:`measure` counts)."""
        lines: list[Line] = []
        for paragraph in self._paragraphs(text):
            rtl = is_rtl(paragraph)
            words = paragraph.split(" ")
            spans = self._spans(words, limit)
            if spans is None:
                lines.extend((line, width, rtl) for line, width in self._slow_lines(words, limit))
            else:
                join = " ".join
                lines.extend((join(words[a:b]), width, rtl) for a, b, width in spans)
        return lines
