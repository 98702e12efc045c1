"""The conversation's scrolling view (ui/conversation/view.py): the reader's place.

Anchoring across inserts, relayouts and resizes; older pages asked for once; long
histories measured while idle; links, context menu and copying.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from conversation_support import (
    T0,
    color_distance,
    count_pixels,
    exact_heights_match,
    last_row_at_bottom,
    local,
    long_history,
    msg,
    show,
    solid_pixmap,
)
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence, QPixmap
from PySide6.QtTest import QAbstractItemModelTester, QTest
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import Message
from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.view import ConversationView


@pytest.fixture
def view(qtbot: QtBot) -> Iterator[ConversationView]:
    v = ConversationView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    tester = QAbstractItemModelTester(
        v.conversation_model(), QAbstractItemModelTester.FailureReportingMode.Warning
    )
    yield v
    del tester


def test_view_starts_at_the_bottom_and_requests_older_once(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 80))
    model.has_older = True
    requests: list[int] = []
    view.loadOlderRequested.connect(lambda: requests.append(1))
    show(qtbot, view)
    bar = view.verticalScrollBar()
    assert bar.maximum() > 3 * view.viewport().height()
    assert view.is_at_bottom()
    qtbot.wait(20)  # a window in which nothing may happen: at the bottom, nothing is asked
    assert requests == []
    with qtbot.waitSignal(view.loadOlderRequested, timeout=1000):
        bar.setValue(0)
    bar.setValue(5)
    bar.setValue(0)
    qtbot.wait(30)  # a window in which nothing may happen (the check runs from a 0 ms timer)
    assert requests == [1]  # not again until the page arrived
    view.older_loaded()  # e.g. the request failed: still at the top, so ask again
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=1000)
    model.has_older = False
    view.older_loaded()
    bar.setValue(10)
    bar.setValue(0)
    qtbot.wait(30)  # a window in which nothing may happen: the server has no older page
    assert len(requests) == 2


def test_prepend_keeps_the_viewport_on_the_same_message(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 60))
    show(qtbot, view)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    probe = view.indexAt(QPoint(view.viewport().width() // 2, 120))
    assert probe.isValid()
    key = model.item(probe.row()).key
    before = view.visualRect(probe).top()
    height = bar.maximum()

    model.prepend_older(long_history(900, 40))
    qtbot.waitUntil(lambda: bar.maximum() > height, timeout=2000)  # laid out again
    row = model.find_server(key)
    assert row == probe.row() + 40
    after = view.visualRect(model.index(row)).top()
    assert abs(after - before) <= 3


def test_pinned_to_bottom_follows_new_messages(qtbot: QtBot, view: ConversationView) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 40))
    show(qtbot, view)
    assert view.is_at_bottom()
    bar = view.verticalScrollBar()
    height = bar.maximum()
    model.merge_messages(long_history(2000, 3))
    qtbot.waitUntil(lambda: bar.maximum() > height, timeout=2000)  # laid out again
    assert view.is_at_bottom()
    height = bar.maximum()
    model.upsert_local(local("c1", EntryState.SENDING, queued_at=T0 + 10**6))
    qtbot.waitUntil(lambda: bar.maximum() > height, timeout=2000)
    assert view.is_at_bottom()
    last = view.visualRect(model.index(len(model) - 1))
    assert last.bottom() <= view.viewport().height() + 1

    # Scrolled up to read: new messages do not move what the reader is looking at.
    bar.setValue(bar.maximum() // 3)
    value = bar.value()
    probe = view.indexAt(QPoint(view.viewport().width() // 2, 60))
    top = view.visualRect(probe).top()
    height = bar.maximum()
    model.merge_messages(long_history(3000, 5))
    qtbot.waitUntil(lambda: bar.maximum() > height, timeout=2000)
    assert bar.value() == value
    assert view.visualRect(probe).top() == top
    assert not view.is_at_bottom()


def test_placeholder_is_painted_in_the_empty_view(qtbot: QtBot, view: ConversationView) -> None:
    show(qtbot, view)
    assert view.placeholder() == "No messages yet"
    view.set_placeholder("Pick a user to see the conversation")
    image = view.grab().toImage()
    base = view.palette().color(view.viewport().backgroundRole())
    centre = image.copy(
        image.width() // 4, image.height() // 3, image.width() // 2, image.height() // 3
    )
    assert count_pixels(centre, lambda c: color_distance(c, base) > 60) > 30
    assert view.accessibleName() == "Conversation"


def failed_view(qtbot: QtBot, view: ConversationView) -> int:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 10))
    model.upsert_local(
        local("c-fail", EntryState.FAILED, error_text="429 Too Many Requests: rate limit exceeded")
    )
    show(qtbot, view)
    row = model.find_client("c-fail")
    assert row is not None
    return row


def test_clicking_retry_under_a_failed_bubble_emits_retry(
    qtbot: QtBot, view: ConversationView
) -> None:
    row = failed_view(qtbot, view)
    rect = view.link_rect(row, "retry")
    assert rect is not None
    assert view.viewport().rect().contains(rect)
    with qtbot.waitSignal(view.retryRequested, timeout=1000) as blocker:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["c-fail"]
    edit = view.link_rect(row, "edit")
    assert edit is not None
    with qtbot.waitSignal(view.editRequested, timeout=1000) as blocker:
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=edit.center())
    assert blocker.args == ["c-fail"]
    # Clicking the bubble itself selects, it does not retry.
    with qtbot.assertNotEmitted(view.retryRequested):
        centre = view.visualRect(view.conversation_model().index(row)).center()
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_context_menu_actions_for_failed_and_queued_items(
    qtbot: QtBot, view: ConversationView
) -> None:
    row = failed_view(qtbot, view)
    model = view.conversation_model()
    menu = view.build_context_menu(row)
    labels = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert labels == ["Copy text", "Retry", "Edit", "Discard", "Show details…"]
    discard = next(a for a in menu.actions() if a.text() == "Discard")
    with qtbot.waitSignal(view.discardRequested, timeout=1000) as blocker:
        discard.trigger()
    assert blocker.args == ["c-fail"]
    menu.deleteLater()

    model.upsert_local(local("c-q", EntryState.QUEUED, next_attempt_at=time.time() + 30))
    menu = view.build_context_menu(model.find_client("c-q") or 0)
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
        "Copy text",
        "Send now",
        "Edit",
        "Discard",
        "Show details…",
    ]
    send_now = next(a for a in menu.actions() if a.text() == "Send now")
    with qtbot.waitSignal(view.sendNowRequested, timeout=1000) as blocker:
        send_now.trigger()
    assert blocker.args == ["c-q"]
    menu.deleteLater()

    menu = view.build_context_menu(0)  # history text: copy and details only
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
        "Copy text",
        "Show details…",
    ]
    menu.deleteLater()


def test_ctrl_c_copies_selected_texts(qtbot: QtBot, view: ConversationView) -> None:
    model = view.conversation_model()
    model.set_messages([msg(1, text="first"), msg(2, text="second"), msg(3, text="third")])
    show(qtbot, view)
    selection = view.selectionModel()
    selection.select(model.index(0), selection.SelectionFlag.Select)
    selection.select(model.index(2), selection.SelectionFlag.Select)
    QGuiApplication.clipboard().clear()
    QTest.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QKeySequence(QKeySequence.StandardKey.Copy).toString()
    assert QGuiApplication.clipboard().text() == "first\nthird"


def test_an_image_arriving_keeps_its_row_height_and_takes_its_shape(
    qtbot: QtBot, view: ConversationView
) -> None:
    loaded: dict[str, QPixmap] = {}
    view.message_delegate().set_image_lookup(loaded.get)
    model = view.conversation_model()
    model.set_messages(
        [Message(id="i1", role="user", type="image", media_url="https://x/tall.png", received=T0)]
    )
    show(qtbot, view)
    before = view.visualRect(model.index(0)).height()
    delegate = view.message_delegate()
    wide = delegate.shape_for(*model.entry(0)).bubble_width
    loaded["https://x/tall.png"] = solid_pixmap(QColor("red"), 100, 400)
    view.refresh_images()
    view.viewport().repaint()
    # The frame has a fixed height (nothing below the image jumps); it narrows to the
    # image's shape (a tall image is cropped to the narrowest frame).
    qtbot.waitUntil(lambda: delegate.shape_for(*model.entry(0)).bubble_width < wide, timeout=2000)
    assert view.visualRect(model.index(0)).height() == before


# Long histories: rows off screen start estimated and are measured while idle -----------
def test_large_history_paints_first_and_measures_the_rest_while_idle(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(10_000, 3000))
    show(qtbot, view)
    assert view.is_at_bottom()
    last = len(model) - 1
    assert exact_heights_match(view, range(last - 5, last + 1))  # on screen: exact at once
    qtbot.waitUntil(lambda: not view.is_measuring(), timeout=10_000)
    assert view.is_at_bottom()
    assert exact_heights_match(view, range(0, len(model), 37))
    rect = view.visualRect(model.index(last))
    assert abs(rect.bottom() - view.viewport().rect().bottom()) <= 1


def test_jumping_to_the_top_while_measuring_shows_exact_rows(
    qtbot: QtBot, view: ConversationView
) -> None:
    rnd = random.Random(3)
    texts = [
        " ".join("x" * rnd.randint(1, 28) for _ in range(rnd.randint(1, 40))) for _ in range(3000)
    ]
    model = view.conversation_model()
    model.set_messages([msg(n, text=text) for n, text in enumerate(texts)])
    show(qtbot, view)
    assert view.is_measuring()
    view.verticalScrollBar().setValue(0)
    assert view.verticalScrollBar().value() == 0
    visible = view.indexAt(QPoint(10, view.viewport().height() - 2)).row()
    assert visible > 0
    assert exact_heights_match(view, range(0, visible + 1))


def test_narrower_window_rewraps_and_keeps_the_reader_in_place(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(10_000, 1500))
    view.resize(900, 500)
    show(qtbot, view)
    qtbot.waitUntil(lambda: not view.is_measuring(), timeout=10_000)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    probe = view.indexAt(QPoint(view.viewport().width() // 2, 1))
    top_before = view.visualRect(probe).top()
    limit = view.message_delegate().text_limit
    view.resize(420, 500)
    qtbot.waitUntil(lambda: view.message_delegate().text_limit < limit, timeout=2000)
    qtbot.waitUntil(lambda: not view.is_measuring(), timeout=10_000)
    assert abs(view.visualRect(probe).top() - top_before) <= 3
    assert exact_heights_match(view, range(0, len(model), 53))
    # Wider than the bubble cap: nothing to re-wrap, no relayout needed.
    view.resize(1400, 500)
    view.resize(1500, 500)
    qtbot.waitUntil(lambda: view.message_delegate().text_limit == 520, timeout=2000)


def test_a_bubble_that_grows_relays_out_and_stays_pinned(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 30))
    model.upsert_local(local("c1", EntryState.SENDING))
    show(qtbot, view)
    assert view.is_at_bottom()
    bar = view.verticalScrollBar()
    height = bar.maximum()
    model.upsert_local(local("c1", EntryState.FAILED, error_text="the server said no; " * 12))
    qtbot.waitUntil(lambda: bar.maximum() > height, timeout=2000)  # laid out again
    row = model.find_client("c1")
    assert row == len(model) - 1
    rect = view.visualRect(model.index(row))
    assert view.is_at_bottom()
    assert abs(rect.bottom() - view.viewport().rect().bottom()) <= 1
    assert exact_heights_match(view, range(row - 3, row))


def test_an_image_already_loaded_gets_its_own_shape_without_fetching_the_rest(
    qtbot: QtBot, view: ConversationView
) -> None:
    asked: list[str] = []
    loaded = {"https://x/shown.png": solid_pixmap(QColor("red"), 100, 400)}

    def lookup(url: str) -> QPixmap | None:
        asked.append(url)
        return loaded.get(url)

    view.message_delegate().set_image_lookup(lookup)
    model = view.conversation_model()
    old_images = [
        Message(
            id=f"i{n}", role="user", type="image", media_url=f"https://x/{n}.png", received=T0 + n
        )
        for n in range(200)
    ]
    shown = Message(
        id="shown", role="user", type="image", media_url="https://x/shown.png", received=T0 + 500
    )
    model.set_messages([*old_images, shown])
    show(qtbot, view)
    row = len(model) - 1
    qtbot.waitUntil(lambda: last_row_at_bottom(view), timeout=2000)
    # 100x400 in the fixed 180 px high frame: the narrowest frame, 120 px, plus the inset.
    shape = view.message_delegate().shape_for(*model.entry(row))
    assert shape.image == (120, 180)
    rect = view.visualRect(model.index(row))
    assert rect.height() > 180
    assert view.is_at_bottom()
    assert abs(rect.bottom() - view.viewport().rect().bottom()) <= 1
    assert len(set(asked)) < 20  # only images that were on screen were looked up
