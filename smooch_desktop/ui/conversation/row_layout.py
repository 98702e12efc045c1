"""Where each row of the conversation sits: heights and tops, changed one run at a time.

:class:`RowLayout` is the conversation view's geometry, kept apart from Qt: a list of row
heights and the running sum of them (each row's top). A new message adds one height and
one top; an older page shifts the tops of the rows after it with one C-level
``accumulate``; nothing ever asks every row for its size again because one row came or
went. Finding the row at a height is a binary search.

No Qt here (tests use it bare), and no knowledge of what a row shows: the heights come
from :mod:`.delegate` through :mod:`.view`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable


class RowLayout:
    """Row heights and tops, top to bottom; tops[i] is the sum of the heights above i."""

    __slots__ = ("_heights", "_tops")

    def __init__(self, heights: Iterable[int] = ()) -> None:
        self._heights: list[int] = []
        self._tops: list[int] = [0]
        self.reset(heights)

    def __len__(self) -> int:
        return len(self._heights)

    @property
    def total(self) -> int:
        """The height of all rows together."""
        return self._tops[-1]

    def reset(self, heights: Iterable[int]) -> None:
        """Lay out these rows afresh (a whole layout)."""
        self._heights = [max(0, int(h)) for h in heights]
        self._tops = list(itertools.accumulate(self._heights, initial=0))

    def clear(self) -> None:
        self.reset(())

    def top(self, row: int) -> int:
        return self._tops[row]

    def height(self, row: int) -> int:
        return self._heights[row]

    def heights(self) -> list[int]:
        return list(self._heights)

    def insert(self, row: int, heights: Iterable[int]) -> None:
        """Put rows of these heights before ``row`` (``len(self)``: at the end)."""
        if not 0 <= row <= len(self._heights):
            raise IndexError(row)
        new = [max(0, int(h)) for h in heights]
        if not new:
            return
        self._heights[row:row] = new
        self._retop(row)

    def remove(self, first: int, last: int) -> None:
        """Take rows ``first``..``last`` (inclusive) out."""
        if not 0 <= first <= last < len(self._heights):
            raise IndexError((first, last))
        del self._heights[first : last + 1]
        self._retop(first)

    def set_heights(self, changes: dict[int, int]) -> None:
        """Give some rows new heights (row -> height); the tops below them follow."""
        if not changes:
            return
        for row, height in changes.items():
            if not 0 <= row < len(self._heights):
                raise IndexError(row)
            self._heights[row] = max(0, int(height))
        self._retop(min(changes))

    def row_at(self, y: int) -> int:
        """The row covering height ``y``; -1 above the first row or below the last."""
        if y < 0 or y >= self._tops[-1]:
            return -1
        return bisect.bisect_right(self._tops, y) - 1

    def _retop(self, row: int) -> None:
        """Recompute the tops from ``row`` down (the ones above did not move)."""
        sums = itertools.accumulate(self._heights[row:], initial=self._tops[row])
        next(sums)  # the first is tops[row] itself
        self._tops[row + 1 :] = sums
