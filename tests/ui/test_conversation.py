"""Conversation model, bubble delegate and view: ordering, dedupe, anchoring, painting.

The model is checked by Qt's own QAbstractItemModelTester (its complaints are Qt warnings,
which fail the test through ``qt_log_level_fail``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeySequence, QPixmap
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, Message
from smooch_desktop.ui.avatars import initials_pixmap, round_pixmap
from smooch_desktop.ui.conversation.bubbles import (
    ACCENT_COLOR,
    FLAG_FIRST_IN_GROUP,
    FLAG_STARTS_DAY,
    ConversationItem,
    ConversationModel,
    ConversationView,
    ItemRole,
    TextWrapper,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
T0 = 1_700_000_000.0  # a fixed past time: tests do not depend on "today"


def msg(
    n: int,
    *,
    role: str = "user",
    text: str | None = None,
    at: float | None = None,
    client_id: str = "",
    name: str = "",
) -> Message:
    meta = {CLIENT_ID_METADATA_KEY: client_id} if client_id else {}
    return Message(
        id=f"m{n}",
        role=role,
        text=f"message {n}" if text is None else text,
        author_name=name or ("Alice Martin" if role == "user" else "Sam from Support"),
        received=T0 + n * 60 if at is None else at,
        metadata=meta,
    )


def local(client_id: str, state: str = "queued", **kw: object) -> ConversationItem:
    kw.setdefault("queued_at", T0 + 10**6)
    kw.setdefault("author_name", "Sam from Support")
    return ConversationItem.local(client_id, f"local {client_id}", state=state, **kw)  # type: ignore[arg-type]


def keys(model: ConversationModel) -> list[str]:
    return [item.key for item in model.items()]


@pytest.fixture
def model() -> Iterator[ConversationModel]:
    m = ConversationModel()
    tester = QAbstractItemModelTester(m, QAbstractItemModelTester.FailureReportingMode.Warning)
    yield m
    del tester


class Recorder:
    """Collects a model's structural signals."""

    def __init__(self, m: ConversationModel) -> None:
        self.events: list[tuple[str, int, int]] = []
        m.rowsInserted.connect(self.inserted)
        m.rowsRemoved.connect(self.removed)
        m.modelReset.connect(self.reset)
        m.dataChanged.connect(self.changed)

    def inserted(self, _p: QModelIndex, first: int, last: int) -> None:
        self.events.append(("insert", first, last))

    def removed(self, _p: QModelIndex, first: int, last: int) -> None:
        self.events.append(("remove", first, last))

    def reset(self) -> None:
        self.events.append(("reset", 0, 0))

    def changed(self, a: QModelIndex, b: QModelIndex, _roles: object = None) -> None:
        self.events.append(("changed", a.row(), b.row()))


# Model ----------------------------------------------------------------------------------
def test_rows_sorted_by_time_with_pending_local_items_at_the_bottom(
    model: ConversationModel,
) -> None:
    history = [msg(n) for n in (5, 1, 3, 2, 4)]
    model.set_messages(history)
    assert keys(model) == ["m1", "m2", "m3", "m4", "m5"]
    # Queued earlier than the newest history message, still shown below it, in queue order.
    model.upsert_local(local("c2", queued_at=T0 + 150))
    model.upsert_local(local("c1", queued_at=T0 + 100))
    assert keys(model) == ["m1", "m2", "m3", "m4", "m5", "c1", "c2"]
    model.merge_messages([msg(6)])
    assert keys(model) == ["m1", "m2", "m3", "m4", "m5", "m6", "c1", "c2"]
    assert model.oldest_received() == T0 + 60
    index = model.index(5)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "message 6"
    assert model.data(index, ItemRole) == model.item(5)
    tooltip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert "Alice Martin" in tooltip
    assert "Queued" in model.data(model.index(6), Qt.ItemDataRole.ToolTipRole)
    assert len(model) == 8


def test_row_flags_group_messages_and_mark_new_days(model: ConversationModel) -> None:
    day = 86400
    model.set_messages(
        [
            msg(1, at=T0),
            msg(2, at=T0 + 60),  # same author, a minute later: same group
            msg(3, at=T0 + 120, role="business"),  # other side: new group
            msg(4, at=T0 + 2 * day),  # another day
        ]
    )
    flags = [model.row_flags(r) for r in range(4)]
    assert flags[0] == FLAG_STARTS_DAY | FLAG_FIRST_IN_GROUP
    assert flags[1] == 0
    assert flags[2] == FLAG_FIRST_IN_GROUP
    assert flags[3] & FLAG_STARTS_DAY


def test_prepend_older_inserts_at_zero_without_reset(model: ConversationModel) -> None:
    model.set_messages([msg(n) for n in range(100, 120)])
    model.has_older = True
    recorder = Recorder(model)
    older = [msg(n) for n in range(80, 101)]  # m100 is already shown
    model.prepend_older(older)
    assert recorder.events[0] == ("insert", 0, 19)
    assert not [e for e in recorder.events if e[0] in ("reset", "remove")]
    assert keys(model) == [f"m{n}" for n in range(80, 120)]
    assert model.oldest_received() == T0 + 80 * 60


def test_prepend_older_with_equal_times_goes_above(model: ConversationModel) -> None:
    model.set_messages([msg(2, at=T0)])
    model.prepend_older([msg(1, at=T0)])
    assert keys(model) == ["m1", "m2"]


def test_merge_skips_known_ids_and_duplicates(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    recorder = Recorder(model)
    model.merge_messages([msg(2), msg(3), msg(3), msg(1)])
    assert keys(model) == ["m1", "m2", "m3"]
    assert recorder.events == [("insert", 2, 2)]
    model.merge_messages([msg(1), msg(2), msg(3)])
    assert recorder.events == [("insert", 2, 2)]


def test_merge_replaces_the_local_item_with_its_server_copy(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    model.upsert_local(local("c1", "unknown", queued_at=T0 + 1000))
    assert keys(model) == ["m1", "m2", "c1"]
    recorder = Recorder(model)
    server_copy = msg(3, role="business", text="local c1", at=T0 + 1001, client_id="c1")
    model.merge_messages([server_copy])
    assert keys(model) == ["m1", "m2", "m3"]
    assert recorder.events == [("changed", 2, 2)]  # in place: no remove + insert
    assert model.find_client("c1") == 2
    assert model.item(2).state == "received"
    # Polling again, or the outbox reporting "sent" late, never shows it twice.
    model.merge_messages([server_copy])
    assert model.upsert_local(local("c1", "sent", server_id="m3")) is None
    assert model.upsert_local(local("c1", "failed", error_text="late")) is None
    assert keys(model) == ["m1", "m2", "m3"]


def test_merge_moves_a_replaced_item_into_time_order(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(5)])
    model.upsert_local(local("c1", "sending"))
    model.upsert_local(local("c2", "queued"))
    model.merge_messages([msg(3, role="business", client_id="c1")])
    assert keys(model) == ["m1", "m3", "m5", "c2"]


def test_upsert_local_state_transitions(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    recorder = Recorder(model)
    assert model.upsert_local(local("c1", "queued", next_attempt_at=time.time() + 12)) == 2
    assert model.has_countdowns()
    assert model.upsert_local(local("c1", "sending")) == 2
    failed = local("c1", "failed", error_text="invalid_auth: Invalid JWT")
    assert model.upsert_local(failed) == 2
    assert model.item(2).error_text == "invalid_auth: Invalid JWT"
    assert "Failed: invalid_auth: Invalid JWT" in model.data(
        model.index(2), Qt.ItemDataRole.ToolTipRole
    )
    assert not model.has_countdowns()
    assert recorder.events == [("insert", 2, 2), ("changed", 2, 2), ("changed", 2, 2)]
    # Sent: it takes the server id and stays where it is (it is the newest).
    assert model.upsert_local(local("c1", "sent", server_id="srv-9")) == 2
    assert model.item(2).key == "srv-9"
    assert model.find_server("srv-9") == 2
    assert model.remove_local("nope") is False
    assert model.remove_local("c1") is True
    assert keys(model) == ["m1", "m2"]
    with pytest.raises(ValueError):
        model.upsert_local(ConversationItem(key="m9", text="not local"))
    with pytest.raises(ValueError):
        ConversationItem(key="x", state="bogus")


def test_sent_item_already_in_history_is_dropped(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    model.upsert_local(local("c1", "sending"))
    # History (without our metadata, e.g. another adapter) already has the message.
    assert model.upsert_local(local("c1", "sent", server_id="m2")) is None
    assert keys(model) == ["m1", "m2"]
    assert model.find_client("c1") is None


def test_sent_item_moves_from_the_queue_into_history(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(3)])
    model.upsert_local(local("c1", "sending", queued_at=T0 + 500))
    model.upsert_local(local("c2", "queued", queued_at=T0 + 600))
    # The server stamped it between m1 and m3.
    model.upsert_local(local("c1", "sent", server_id="s1", queued_at=T0 + 120))
    assert keys(model) == ["m1", "s1", "m3", "c2"]


def test_clear_and_has_older_signal(qtbot: QtBot, model: ConversationModel) -> None:
    with qtbot.waitSignal(model.hasOlderChanged) as blocker:
        model.has_older = True
    assert blocker.args == [True]
    model.set_messages([msg(1)])
    assert model.has_older is True  # the owner decides
    model.clear()
    assert len(model) == 0
    assert model.has_older is False
    assert model.oldest_received() is None


def test_ten_thousand_items_are_fast(qapp: object) -> None:
    model = ConversationModel()  # no tester here: it re-checks every row on each change
    rnd = random.Random(7)
    page = [msg(n, role=rnd.choice(["user", "business"])) for n in range(20_000, 30_000)]
    rnd.shuffle(page)
    start = time.perf_counter()
    model.set_messages(page)
    assert time.perf_counter() - start < 1.0
    assert len(model) == 10_000
    recv = [item.received for item in model.items()]
    assert recv == sorted(recv)

    start = time.perf_counter()
    for n in range(200):
        model.upsert_local(local(f"c{n}", queued_at=T0 + 10**7 + n))
    model.merge_messages([msg(n) for n in range(29_990, 30_100)])  # 100 new, 10 known
    for n in range(0, 200, 2):
        model.upsert_local(local(f"c{n}", "failed", error_text="boom", queued_at=T0 + 10**7 + n))
    model.prepend_older([msg(n) for n in range(10_000, 20_000)])
    elapsed = time.perf_counter() - start
    assert len(model) == 20_000 + 100 + 200
    assert model.find_client("c199") == len(model) - 1
    assert elapsed < 2.0


# Text wrapping --------------------------------------------------------------------------
def test_wrapper_lines_fit_and_match_measure(qapp: object) -> None:
    wrapper = TextWrapper(QGuiApplication.font())
    text = "The quick brown fox jumps over the lazy dog 🦊 " * 8 + "\n\nsecond  paragraph"
    for limit in (80, 150, 333):
        lines = wrapper.wrap(text, limit)
        assert wrapper.measure(text, limit) == (len(lines), max(w for _, w, _ in lines))
        assert all(width <= limit + 0.01 for _, width, _ in lines)
        assert " ".join(line for line, _, _ in lines if line).split() == text.split()
    url = "https://example.com/" + "x" * 300
    pieces = wrapper.wrap(url, 100)
    assert len(pieces) > 3
    assert "".join(p for p, _, _ in pieces) == url
    assert wrapper.wrap("שלום עולם", 200)[0][2] is True  # right-to-left paragraph
    emoji = "👩‍👩‍👧‍👦" * 40  # a family is one grapheme: never split inside
    assert all(len(line) % len("👩‍👩‍👧‍👦") == 0 for line, _, _ in wrapper.wrap(emoji, 60))


# View -----------------------------------------------------------------------------------
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


def show(qtbot: QtBot, v: ConversationView) -> None:
    v.show()
    qtbot.waitExposed(v)
    qtbot.wait(10)


def long_history(first: int, count: int) -> list[Message]:
    rnd = random.Random(first)
    return [
        msg(n, role=rnd.choice(["user", "business"]), text="word " * rnd.randint(3, 60))
        for n in range(first, first + count)
    ]


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
    qtbot.wait(20)
    assert requests == []
    with qtbot.waitSignal(view.loadOlderRequested, timeout=1000):
        bar.setValue(0)
    bar.setValue(5)
    bar.setValue(0)
    qtbot.wait(30)
    assert requests == [1]  # not again until the page arrived
    view.older_loaded()  # e.g. the request failed: still at the top, so ask again
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=1000)
    model.has_older = False
    view.older_loaded()
    bar.setValue(10)
    bar.setValue(0)
    qtbot.wait(30)
    assert len(requests) == 2


def test_prepend_keeps_the_viewport_on_the_same_message(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 60))
    show(qtbot, view)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    qtbot.wait(10)
    probe = view.indexAt(QPoint(view.viewport().width() // 2, 120))
    assert probe.isValid()
    key = model.item(probe.row()).key
    before = view.visualRect(probe).top()

    model.prepend_older(long_history(900, 40))
    qtbot.wait(20)
    row = model.find_server(key)
    assert row == probe.row() + 40
    after = view.visualRect(model.index(row)).top()
    assert abs(after - before) <= 3


def test_pinned_to_bottom_follows_new_messages(qtbot: QtBot, view: ConversationView) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 40))
    show(qtbot, view)
    assert view.is_at_bottom()
    model.merge_messages(long_history(2000, 3))
    qtbot.wait(20)
    assert view.is_at_bottom()
    model.upsert_local(local("c1", "sending", queued_at=T0 + 10**6))
    qtbot.wait(20)
    assert view.is_at_bottom()
    last = view.visualRect(model.index(len(model) - 1))
    assert last.bottom() <= view.viewport().height() + 1

    # Scrolled up to read: new messages do not move what the reader is looking at.
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)
    qtbot.wait(10)
    value = bar.value()
    probe = view.indexAt(QPoint(view.viewport().width() // 2, 60))
    top = view.visualRect(probe).top()
    model.merge_messages(long_history(3000, 5))
    qtbot.wait(20)
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
        local("c-fail", "failed", error_text="429 Too Many Requests: rate limit exceeded")
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
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["c-fail"]
    edit = view.link_rect(row, "edit")
    assert edit is not None
    with qtbot.waitSignal(view.editRequested, timeout=1000) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=edit.center())
    assert blocker.args == ["c-fail"]
    # Clicking the bubble itself selects, it does not retry.
    with qtbot.assertNotEmitted(view.retryRequested):
        centre = view.visualRect(view.conversation_model().index(row)).center()
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_context_menu_actions_for_failed_and_queued_items(
    qtbot: QtBot, view: ConversationView
) -> None:
    row = failed_view(qtbot, view)
    model = view.conversation_model()
    menu = view.build_context_menu(row)
    labels = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert labels == ["Copy text", "Retry", "Edit", "Discard"]
    discard = next(a for a in menu.actions() if a.text() == "Discard")
    with qtbot.waitSignal(view.discardRequested, timeout=1000) as blocker:
        discard.trigger()
    assert blocker.args == ["c-fail"]
    menu.deleteLater()

    model.upsert_local(local("c-q", "queued", next_attempt_at=time.time() + 30))
    menu = view.build_context_menu(model.find_client("c-q") or 0)
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
        "Copy text",
        "Send now",
        "Edit",
        "Discard",
    ]
    send_now = next(a for a in menu.actions() if a.text() == "Send now")
    with qtbot.waitSignal(view.sendNowRequested, timeout=1000) as blocker:
        send_now.trigger()
    assert blocker.args == ["c-q"]
    menu.deleteLater()

    menu = view.build_context_menu(0)  # history: copy only
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == ["Copy text"]
    menu.deleteLater()


def test_ctrl_c_copies_selected_texts(qtbot: QtBot, view: ConversationView) -> None:
    model = view.conversation_model()
    model.set_messages([msg(1, text="first"), msg(2, text="second"), msg(3, text="third")])
    show(qtbot, view)
    selection = view.selectionModel()
    selection.select(model.index(0), selection.SelectionFlag.Select)
    selection.select(model.index(2), selection.SelectionFlag.Select)
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QKeySequence(QKeySequence.StandardKey.Copy).toString()
    assert QGuiApplication.clipboard().text() == "first\nthird"


def color_distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def count_pixels(image: QImage, predicate: object) -> int:
    found = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            if predicate(image.pixelColor(x, y)):  # type: ignore[operator]
                found += 1
    return found


def test_render_bubbles_and_save_screenshot(qtbot: QtBot, view: ConversationView) -> None:
    images = {"https://img.example/kettle.png": solid_pixmap(QColor("#d97706"), 320, 200)}
    view.message_delegate().set_image_lookup(images.get)
    now = time.time()
    model = view.conversation_model()
    history = [
        Message(
            id="h1",
            role="user",
            text="Hi! I ordered a blue kettle last week and it still hasn't arrived 😕",
            author_name="Alice Martin",
            received=now - 2 * 86400,
        ),
        Message(
            id="h2",
            role="business",
            text="Sorry to hear that, Alice. Let me check the tracking for you.",
            author_name="Sam from Support",
            received=now - 2 * 86400 + 60,
        ),
        Message(
            id="h3",
            role="business",
            text="It left our warehouse on Monday; the carrier says it arrives tomorrow.",
            author_name="Sam from Support",
            received=now - 2 * 86400 + 90,
        ),
        Message(
            id="h4",
            role="user",
            text="שלום! It says delivered, but it's not here.",
            author_name="Alice Martin",
            received=now - 3600,
        ),
        Message(
            id="h5",
            role="user",
            text="",
            type="image",
            media_url="https://img.example/kettle.png",
            author_name="Alice Martin",
            received=now - 3500,
        ),
        Message(
            id="h6",
            role="business",
            text="What would you like us to do?",
            author_name="Sam from Support",
            received=now - 3000,
            actions=(
                {"type": "reply", "text": "Refund"},
                {"type": "reply", "text": "Send a new one"},
            ),
        ),
    ]
    model.set_messages(history)
    sam = {"author_name": "Sam from Support", "author_email": "sam@example.com"}
    for client_id, text, state, extra in (
        ("c1", "We'll ship a new kettle today, no charge.", "sending", {}),
        (
            "c2",
            "Here's a 10% code for the trouble: SORRY10",
            "failed",
            {"error_text": "429 Too Many Requests: rate limit exceeded"},
        ),
        (
            "c3",
            "Tracking: https://track.example/PKG-77812",
            "queued",
            {"next_attempt_at": now + 12},
        ),
    ):
        model.upsert_local(
            ConversationItem.local(
                client_id,
                text,
                state=state,
                queued_at=now - 40,
                **sam,
                **extra,  # type: ignore[arg-type]
            )
        )
    view.resize(720, 900)
    show(qtbot, view)
    qtbot.wait(50)
    image = view.grab().toImage()
    ARTIFACTS.mkdir(exist_ok=True)
    assert image.save(str(ARTIFACTS / "conversation.png"))

    accent = QColor(ACCENT_COLOR)
    half = image.width() // 2
    right = image.copy(half, 0, image.width() - half, image.height())
    left = image.copy(0, 0, half, image.height())
    quarter = image.copy(0, 0, image.width() // 4, image.height())
    assert count_pixels(right, lambda c: color_distance(c, accent) < 30) > 500
    # Long business bubbles may reach past the middle, never to the end user's side.
    assert count_pixels(quarter, lambda c: color_distance(c, accent) < 30) == 0
    # The end user's light grey bubble is on the left; the image thumbnail was drawn.
    grey = view.message_delegate().colors.user_bubble
    assert count_pixels(left, lambda c: color_distance(c, grey) < 8) > 500
    assert count_pixels(left, lambda c: color_distance(c, QColor("#d97706")) < 20) > 500


def solid_pixmap(color: QColor, width: int, height: int) -> QPixmap:
    pixmap = QPixmap(width, height)
    pixmap.fill(color)
    return pixmap


def test_refresh_images_relays_out_when_an_image_loads(
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
    loaded["https://x/tall.png"] = solid_pixmap(QColor("red"), 100, 400)
    view.refresh_images()
    qtbot.wait(20)
    assert view.visualRect(model.index(0)).height() > before


# Avatars --------------------------------------------------------------------------------
def test_initials_and_round_pixmaps(qapp: object) -> None:
    pixmap = initials_pixmap(32, "Ada Lovelace", "ada@example.com", 2.0)
    assert pixmap.width() == 64
    assert pixmap.devicePixelRatio() == 2.0
    image = pixmap.toImage()
    assert image.pixelColor(0, 0).alpha() == 0  # outside the circle
    assert image.pixelColor(6, 32).alpha() == 255  # inside, left of the letters
    again = initials_pixmap(32, "Ada Lovelace", "ADA@example.com ", 2.0).toImage()
    assert again.pixelColor(6, 32) == image.pixelColor(6, 32)  # stable colour per email

    square = solid_pixmap(QColor("blue"), 300, 200)
    rounded = round_pixmap(square, 40, 1.0).toImage()
    assert rounded.width() == 40
    assert rounded.pixelColor(1, 1).alpha() == 0
    assert rounded.pixelColor(20, 20) == QColor("blue")
    assert round_pixmap(QPixmap(), 40).toImage().pixelColor(20, 20).alpha() == 0


# Long histories: rows off screen start estimated and are measured while idle -----------
def exact_heights_match(view: ConversationView, rows: range) -> bool:
    """Whether each row's slot in the layout (distance to the next row) is its exact height.

    ``visualRect().height()`` cannot tell: QListView re-asks the delegate for it.
    """
    model = view.conversation_model()
    delegate = view.message_delegate()
    for r in rows:
        if r + 1 >= len(model):
            continue
        slot = view.visualRect(model.index(r + 1)).top() - view.visualRect(model.index(r)).top()
        if slot != delegate.height_for(*model.entry(r)):
            return False
    return True


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
    qtbot.wait(10)
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
    qtbot.wait(200)
    assert view.message_delegate().text_limit == 520


def test_a_bubble_that_grows_relays_out_and_stays_pinned(
    qtbot: QtBot, view: ConversationView
) -> None:
    model = view.conversation_model()
    model.set_messages(long_history(1000, 30))
    model.upsert_local(local("c1", "sending"))
    show(qtbot, view)
    assert view.is_at_bottom()
    model.upsert_local(local("c1", "failed", error_text="the server said no; " * 12))
    qtbot.wait(20)
    row = model.find_client("c1")
    assert row == len(model) - 1
    rect = view.visualRect(model.index(row))
    assert view.is_at_bottom()
    assert abs(rect.bottom() - view.viewport().rect().bottom()) <= 1
    assert exact_heights_match(view, range(row - 3, row))


def test_an_image_already_loaded_gets_its_own_size_without_fetching_the_rest(
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
    qtbot.wait(30)
    row = len(model) - 1
    # 100x400 scaled into 240x240 -> 60x240, plus the bubble's inset.
    rect = view.visualRect(model.index(row))
    assert rect.height() > 240
    assert view.is_at_bottom()
    # Laid out again with the real size (not just painted taller than its slot).
    assert abs(rect.bottom() - view.viewport().rect().bottom()) <= 1
    assert len(set(asked)) < 20  # only images that were on screen were looked up


def test_control_characters_in_a_bubble_are_shown_by_name(view: ConversationView) -> None:
    model = view.conversation_model()
    model.set_messages([msg(1, text="before\x00after\x1b[31m red")])
    shape = view.message_delegate().shape_for(*model.entry(0))
    shown = "".join(text for text, _width, _rtl in shape.lines)
    assert "before[NUL]after[ESC][31m red" in shown
