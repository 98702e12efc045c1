"""The conversation view's own geometry (ui/conversation/row_view.py).

Rows that come, go or change height one run at a time are laid out in place: a new
message measures one row and draws one row, never the whole conversation. These tests
hold that, check the in-place layout against a fresh one after random changes, and
drive the keyboard, mouse and accessibility paths the view implements itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from conversation_support import T0, exact_heights_match, last_row_at_bottom, local, msg, show
from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QPoint, QRect, Qt
from PySide6.QtGui import QAccessible, QPaintEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import Message
from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.view import ConversationView


class CountingView(ConversationView):
    """Counts whole layouts (every row measured again)."""

    layouts = 0  # a class default: Qt lays out once from inside ConversationView.__init__

    def doItemsLayout(self) -> None:
        self.layouts += 1
        super().doItemsLayout()


class PaintRecorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.rects: list[QRect] = []

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            assert isinstance(event, QPaintEvent)
            self.rects.append(event.rect())
        return False


@pytest.fixture
def view(qtbot: QtBot) -> Iterator[CountingView]:
    v = CountingView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    yield v


def history(count: int, seed: int = 7) -> list[Message]:
    rnd = random.Random(seed)
    return [
        msg(n, role=rnd.choice(["user", "business"]), text="word " * rnd.randint(1, 50))
        for n in range(count)
    ]


def settle(qtbot: QtBot, view: ConversationView) -> None:
    show(qtbot, view)
    qtbot.waitUntil(lambda: not view.is_measuring(), timeout=10_000)
    qtbot.wait(20)  # let the last queued paints go


def slot_tops(view: ConversationView) -> list[int]:
    model = view.conversation_model()
    return [view.visualRect(model.index(row)).top() for row in range(len(model))]


# In-place layout ----------------------------------------------------------------------------


@pytest.mark.qt_log_ignore("propagateSizeHints")  # offscreen, for a window with a layout
@pytest.mark.parametrize("focused", [False, True], ids=["composer-focused", "view-focused"])
def test_a_new_message_at_the_bottom_is_measured_and_drawn_alone(
    qtbot: QtBot, view: CountingView, focused: bool
) -> None:
    # As in the window: the view inside a top-level window, beside a field that may have
    # the focus (with the focus, the view's focus ring is drawn over its frame).
    window = QWidget()
    qtbot.addWidget(window)
    layout = QHBoxLayout(window)
    field = QLineEdit()
    layout.addWidget(field)
    layout.addWidget(view, 1)
    window.resize(900, 480)
    model = view.conversation_model()
    model.set_messages(history(3000))
    window.show()
    settle(qtbot, view)
    (view if focused else field).setFocus()
    qtbot.wait(20)
    assert view.is_at_bottom()
    layouts = view.layouts
    recorder = PaintRecorder()
    view.viewport().installEventFilter(recorder)
    model.merge_messages([msg(5000, text="a new message", at=T0 + 10**7)])
    qtbot.waitUntil(lambda: bool(recorder.rects), timeout=2000)
    qtbot.wait(20)
    view.viewport().removeEventFilter(recorder)

    assert view.layouts == layouts  # no row but the new one was measured again
    new_row = view.visualRect(model.index(len(model) - 1))
    painted_height = max(r.bottom() for r in recorder.rects) - min(r.top() for r in recorder.rects)
    assert painted_height <= new_row.height() + 2, recorder.rects  # not the whole viewport
    assert last_row_at_bottom(view)
    assert exact_heights_match(view, range(len(model) - 3, len(model)))


def test_changes_in_place_match_a_fresh_layout(qtbot: QtBot, view: CountingView) -> None:
    model = view.conversation_model()
    model.set_messages(history(300))
    settle(qtbot, view)
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)
    layouts = view.layouts
    rnd = random.Random(11)
    next_id = 10_000
    for step in range(60):
        roll = rnd.random()
        if roll < 0.35:  # a message somewhere in time (in the middle of the history)
            at = T0 + rnd.uniform(0, 300 * 60)
            model.merge_messages([msg(next_id, text="x " * rnd.randint(1, 80), at=at)])
            next_id += 1
        elif roll < 0.6:  # a reply queued, then failing with a long reason (taller)
            cid = f"c{step}"
            model.upsert_local(local(cid))
            model.upsert_local(local(cid, EntryState.FAILED, error_text="The server said no. " * 5))
        elif roll < 0.8 and len(model):  # a queued reply discarded
            locals_ = [item.client_id for item in model.items() if item.is_local]
            if locals_:
                model.remove_local(rnd.choice(locals_))
        else:  # an older page
            first = -(step + 1) * 10
            model.prepend_older([msg(n, text="old " * 9) for n in range(first, first + 10)])
        top_before = view.indexAt(QPoint(5, 1))
        assert top_before.isValid()
    assert view.layouts == layouts  # every change above was laid out in place
    in_place = slot_tops(view)
    assert exact_heights_match(view, range(len(model)))
    view.doItemsLayout()  # a fresh layout of the same rows
    assert slot_tops(view) == in_place


def test_older_rows_arriving_keep_the_message_read_in_place(
    qtbot: QtBot, view: CountingView
) -> None:
    model = view.conversation_model()
    model.set_messages(history(200))
    settle(qtbot, view)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)
    top = view.indexAt(QPoint(5, 1))
    text = top.data()
    y = view.visualRect(top).top()
    layouts = view.layouts
    model.prepend_older([msg(n, text="older " * 20) for n in range(-40, 0)])
    model.merge_messages([msg(900, text="newest", at=T0 + 10**7)])
    qtbot.wait(20)
    assert view.layouts == layouts
    same = model.index(top.row() + 40)
    assert same.data() == text
    assert view.visualRect(same).top() == y
    assert not view.is_at_bottom()


# Keyboard, mouse, accessibility --------------------------------------------------------------


def test_keys_move_through_the_messages(qtbot: QtBot, view: CountingView) -> None:
    model = view.conversation_model()
    model.set_messages(history(120))
    settle(qtbot, view)
    view.setFocus()
    view.setCurrentIndex(model.index(60))
    QTest.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 61
    QTest.keyClick(view, Qt.Key.Key_Up)
    QTest.keyClick(view, Qt.Key.Key_Up)
    assert view.currentIndex().row() == 59
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0
    assert view.verticalScrollBar().value() == 0
    QTest.keyClick(view, Qt.Key.Key_PageDown)
    page_row = view.currentIndex().row()
    assert page_row > 1
    assert view.visualRect(view.currentIndex()).intersects(view.viewport().rect())
    QTest.keyClick(view, Qt.Key.Key_PageUp)
    assert view.currentIndex().row() < page_row
    QTest.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == len(model) - 1
    assert view.is_at_bottom()
    QTest.keyClick(view, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    rows = sorted(index.row() for index in view.selectedIndexes())
    assert rows == [len(model) - 2, len(model) - 1]


def test_a_drag_selects_the_rows_it_crosses_and_a_click_below_clears(
    qtbot: QtBot, view: CountingView
) -> None:
    model = view.conversation_model()
    model.set_messages([msg(n, text=f"short {n}") for n in range(4)])
    settle(qtbot, view)
    first = view.visualRect(model.index(1)).center()
    last = view.visualRect(model.index(2)).center()
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, first.y()))
    QTest.mouseMove(view.viewport(), QPoint(5, last.y()))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, last.y()))
    assert sorted(index.row() for index in view.selectedIndexes()) == [1, 2]
    below = view.visualRect(model.index(3)).bottom() + 20
    assert below < view.viewport().height()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, below))
    assert view.selectedIndexes() == []
    view.selectionModel().select(model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    region = view.visualRegionForSelection(view.selectionModel().selection())
    assert region.boundingRect() == view.visualRect(model.index(0))


def test_screen_readers_see_each_message_as_a_list_item(qtbot: QtBot, view: CountingView) -> None:
    model = view.conversation_model()
    model.set_messages([msg(n, text=f"hello {n}") for n in range(5)])
    settle(qtbot, view)
    QAccessible.setActive(True)
    try:
        face = QAccessible.queryAccessibleInterface(view)
        assert face is not None
        assert face.role() == QAccessible.Role.List
        assert face.childCount() == 5
        assert "hello 0" in face.child(0).text(QAccessible.Text.Name)
    finally:
        QAccessible.setActive(False)
