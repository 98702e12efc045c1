"""How a bubble is measured and drawn (ui/conversation/fonts.py, bubbles.py, delegate.py).

The wrapping maths has Qt-free tests in tests/unit/test_conversation_text_layout.py;
these use real fonts and a real view.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conversation_support import (
    color_distance,
    count_pixels,
    exact_heights_match,
    msg,
    show,
    solid_pixmap,
)
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import Message
from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.bubbles import ACCENT_COLOR, BubbleLayout
from smooch_desktop.ui.conversation.fonts import FontWrapper
from smooch_desktop.ui.conversation.items import ConversationItem
from smooch_desktop.ui.conversation.view import ConversationView

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


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


def test_font_wrapper_lines_fit_and_match_measure(qapp: object) -> None:
    wrapper = FontWrapper(QGuiApplication.font())
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
    for client_id, text, state, extra in (
        ("c1", "We'll ship a new kettle today, no charge.", EntryState.SENDING, {}),
        (
            "c2",
            "Here's a 10% code for the trouble: SORRY10",
            EntryState.FAILED,
            {"error_text": "429 Too Many Requests: rate limit exceeded"},
        ),
        (
            "c3",
            "Tracking: https://track.example/PKG-77812",
            EntryState.QUEUED,
            {"next_attempt_at": now + 12},
        ),
    ):
        model.upsert_local(
            ConversationItem.local(
                client_id,
                text,
                state=state,
                queued_at=now - 40,
                author_name="Sam from Support",
                author_email="sam@example.com",
                **extra,
            )
        )
    view.resize(720, 900)
    show(qtbot, view)
    qtbot.waitUntil(lambda: exact_heights_match(view, range(len(model))), timeout=5000)
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


def test_control_characters_in_a_bubble_are_shown_by_name(view: ConversationView) -> None:
    model = view.conversation_model()
    model.set_messages([msg(1, text="before\x00after\x1b[31m red")])
    shape = view.message_delegate().shape_for(*model.entry(0))
    shown = "".join(text for text, _width, _rtl in shape.lines)
    assert "before[NUL]after[ESC][31m red" in shown


def test_text_is_capped_and_images_fit_the_bubble() -> None:
    assert BubbleLayout.text_limit_for(5000) == 520  # wide windows: lines stay readable
    assert BubbleLayout.text_limit_for(1) == 60  # narrow ones: never thinner than this
    assert BubbleLayout.text_limit_for(420) < BubbleLayout.text_limit_for(600)
    # A frame of fixed height (3/4 of the 240 px box): loading never changes a row's
    # height. Its width follows the image's shape, between 120 px and the box.
    assert BubbleLayout.displayed_image_size(None, 520) == (240, 180)  # not loaded yet
    assert BubbleLayout.displayed_image_size((400, 300), 520) == (240, 180)
    assert BubbleLayout.displayed_image_size((300, 400), 520) == (135, 180)
    assert BubbleLayout.displayed_image_size((100, 400), 520) == (120, 180)  # cropped
    assert BubbleLayout.displayed_image_size((1600, 400), 520) == (240, 180)  # cropped
    # A small image is shown at its own size in the frame, never blown up.
    assert BubbleLayout.displayed_image_size((150, 20), 520) == (150, 180)
