"""Row positions of the conversation view (ui/conversation/row_layout.py), without Qt.

Every change is checked against a running sum recomputed from scratch.
"""

from __future__ import annotations

import itertools
import random

import pytest

from smooch_desktop.ui.conversation.row_layout import RowLayout


def test_row_layout_matches_a_running_sum_through_random_changes() -> None:
    rnd = random.Random(3)
    reference: list[int] = []
    layout = RowLayout()
    for _ in range(2000):
        roll = rnd.random()
        if roll < 0.4 or not reference:
            at = rnd.randint(0, len(reference))
            new = [rnd.randint(0, 90) for _ in range(rnd.randint(0, 5))]
            reference[at:at] = new
            layout.insert(at, new)
        elif roll < 0.7:
            first = rnd.randrange(len(reference))
            last = rnd.randint(first, min(len(reference) - 1, first + 4))
            del reference[first : last + 1]
            layout.remove(first, last)
        else:
            changes = {rnd.randrange(len(reference)): rnd.randint(0, 90) for _ in range(3)}
            for row, height in changes.items():
                reference[row] = height
            layout.set_heights(changes)
        tops = list(itertools.accumulate(reference, initial=0))
        assert layout.heights() == reference
        assert [layout.top(row) for row in range(len(reference) + 1)] == tops
    y = layout.total // 2
    row = layout.row_at(y)
    assert layout.top(row) <= y < layout.top(row) + layout.height(row) or layout.height(row) == 0


def test_row_layout_finds_rows_by_height_and_refuses_bad_rows() -> None:
    layout = RowLayout([10, 0, 20])
    assert layout.total == 30
    assert [layout.row_at(y) for y in (-1, 0, 9, 10, 29, 30)] == [-1, 0, 0, 2, 2, -1]
    with pytest.raises(IndexError):
        layout.insert(4, [1])
    with pytest.raises(IndexError):
        layout.remove(2, 3)
    with pytest.raises(IndexError):
        layout.set_heights({3: 1})
    assert layout.heights() == [10, 0, 20]
