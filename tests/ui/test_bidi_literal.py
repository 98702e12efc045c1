"""Hostile direction controls from outside: shown by name in bubbles and notifications.

An end user's name or text with a right-to-left override (U+202E) would show reversed
(``‮gpj.exe`` reads as ``exe.jpg``; "pay ‮0001 ot" as "pay to 1000"). The conversation
list shows such controls by name ([RLO]); the bubbles (body text, the name above a
bubble, a card's title) and the desktop notification's title and body must do the same.
Natural right-to-left text (Arabic, Hebrew) needs no control and still reads right to
left; zero-width joiners keep emoji sequences whole.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFont, QGuiApplication, QImage, QPainter

from smooch_desktop.api.models import Message
from smooch_desktop.core.inbox import (
    ConversationKey,
    FollowReason,
    HistoryUpdate,
    InboxRow,
    Preview,
)
from smooch_desktop.ui import plain
from smooch_desktop.ui.conversation.bubbles import BubbleLayout, BubblePainter
from smooch_desktop.ui.conversation.items import FLAG_FIRST_IN_GROUP, ConversationItem
from smooch_desktop.ui.notifications import Backend, Notifier

CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE = [
    ("pay \u202e0001 ot", "pay [RLO]0001 ot"),
    ("a\u202aLRE\u202c b", "a[LRE]LRE[PDF] b"),
    ("\u202bembedded\u202c", "[RLE]embedded[PDF]"),
    (
        "\u2067isolate\u2069 \u2066x\u2069 \u2068y\u2069",
        "[RLI]isolate[PDI] [LRI]x[PDI] [FSI]y[PDI]",
    ),
    ("\u202dforced\u202c", "[LRO]forced[PDF]"),
]
KEPT = [
    "👩\u200d💻 and 👨\u200d👩\u200d👧",  # ZWJ sequences
    "مرحبا بالعالم",  # Arabic
    "שלום עולם",  # Hebrew
    "می\u200cخواهم",  # noqa: RUF001 (Persian with ZWNJ)
    "abc \u200f x \u200e y \u061c",  # the plain marks
]


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_literal_names_every_explicit_direction_control(text: str, shown: str) -> None:
    assert plain.literal(text) == shown
    assert not set(plain.literal(text)) & set(CONTROLS)


@pytest.mark.parametrize("text", KEPT)
def test_literal_keeps_natural_right_to_left_text_joiners_and_marks(text: str) -> None:
    assert plain.literal(text) == text


def message(text: str, *, role: str = "user", name: str = "Alice") -> ConversationItem:
    return ConversationItem.from_message(
        Message(id="m1", role=role, text=text, author_name=name, received=1_700_000_000.0)
    )


def render(layout: BubbleLayout, item: ConversationItem) -> QImage:
    shape = layout.shape(item, FLAG_FIRST_IN_GROUP, text_limit=400, image=None, with_lines=True)
    rect = QRect(0, 0, 600, shape.height)
    image = QImage(rect.size(), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    try:
        BubblePainter(layout, QGuiApplication.palette()).paint_row(
            painter,
            rect,
            item,
            FLAG_FIRST_IN_GROUP,
            shape,
            selected=False,
            dpr=1.0,
            avatar=None,
            image=None,
        )
    finally:
        painter.end()
    return image


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_a_bubble_shows_direction_controls_by_name(qapp: object, text: str, shown: str) -> None:
    layout = BubbleLayout(QFont(QGuiApplication.font()))
    item = message(text)
    shape = layout.shape(item, FLAG_FIRST_IN_GROUP, text_limit=400, image=None, with_lines=True)
    lines = "".join(line for line, _w, _rtl in shape.lines)
    assert lines == shown
    # Drawn exactly as the named text is: nothing reversed on screen.
    assert render(layout, item) == render(layout, message(shown))


def test_the_name_above_a_bubble_shows_an_override_by_name(qapp: object) -> None:
    layout = BubbleLayout(QFont(QGuiApplication.font()))
    hostile = message("hello", role="business", name="Eve X\u202egpj.exe")
    named = message("hello", role="business", name="Eve X[RLO]gpj.exe")
    shape = layout.shape(hostile, FLAG_FIRST_IN_GROUP, text_limit=400, image=None, with_lines=True)
    assert shape.name_top >= 0
    # The name's line only (the avatar's colour follows the name it is given).
    line = QRect(0, shape.name_top, 600, layout.name.line_height)
    assert render(layout, hostile).copy(line) == render(layout, named).copy(line)


@pytest.mark.parametrize("text", KEPT)
def test_natural_right_to_left_text_and_emoji_are_drawn_as_they_are(
    qapp: object, text: str
) -> None:
    layout = BubbleLayout(QFont(QGuiApplication.font()))
    shape = layout.shape(
        message(text), FLAG_FIRST_IN_GROUP, text_limit=400, image=None, with_lines=True
    )
    assert [line for line, _w, _rtl in shape.lines] == [text]
    assert shape.lines[0][2] is (text[0] in "مשמ")  # Arabic, Hebrew, Persian: right to left


class Recorder(Backend):
    def __init__(self) -> None:
        super().__init__()
        self.shown: list[tuple[str, str, str]] = []

    def show(self, token: str, summary: str, body: str) -> None:
        self.shown.append((token, summary, body))


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_a_notification_shows_direction_controls_by_name(
    qapp: object, text: str, shown: str
) -> None:
    backend = Recorder()
    notifier = Notifier([backend], lambda _key: False, clock=lambda: 100.0)
    key = ConversationKey("profile", "mallory")
    row = InboxRow(
        key,
        f"Mallory {text}",
        "",
        "",
        Preview(text, "user", "M", 200.0),
        200.0,
        1,
        "",
        FollowReason.OPENED,
        False,
    )
    assert notifier.conversation_updated(key, HistoryUpdate(True, ("m",), 1), row)
    _token, summary, body = backend.shown[0]
    assert summary == f"Mallory {shown}"
    for markup in (True, False):
        sent = plain.notification_text(body, markup=markup)
        assert sent == shown and not set(sent) & set(CONTROLS)
    notifier.deleteLater()
    backend.deleteLater()
