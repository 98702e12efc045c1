"""Builders and waits shared by the conversation's UI tests (model, bubbles, view)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QImage, QPixmap
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, Message
from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.items import ConversationItem
from smooch_desktop.ui.conversation.model import ConversationModel
from smooch_desktop.ui.conversation.view import ConversationView

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


def local(client_id: str, state: EntryState = EntryState.QUEUED, **kw: Any) -> ConversationItem:
    kw.setdefault("queued_at", T0 + 10**6)
    kw.setdefault("author_name", "Sam from Support")
    return ConversationItem.local(client_id, f"local {client_id}", state=state, **kw)


def keys(model: ConversationModel) -> list[str]:
    return [item.key for item in model.items()]


def long_history(first: int, count: int) -> list[Message]:
    rnd = random.Random(first)
    return [
        msg(n, role=rnd.choice(["user", "business"]), text="word " * rnd.randint(3, 60))
        for n in range(first, first + count)
    ]


class _PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def show(qtbot: QtBot, view: ConversationView) -> None:
    """Show ``view`` and wait until it has painted once with its rows laid out."""
    painted = _PaintCounter()
    view.viewport().installEventFilter(painted)
    view.show()
    qtbot.waitExposed(view)
    try:
        qtbot.waitUntil(lambda: painted.count > 0 and rows_placed(view), timeout=5000)
    finally:
        view.viewport().removeEventFilter(painted)


def rows_placed(view: ConversationView) -> bool:
    """Whether every row has a place (``visualRect`` runs a layout still queued, as Qt does)."""
    model = view.conversation_model()
    return len(model) == 0 or view.visualRect(model.index(len(model) - 1)).isValid()


def exact_heights_match(view: ConversationView, rows: range) -> bool:
    """Whether each row's slot in the layout (distance to the next row) is its exact height."""
    model = view.conversation_model()
    delegate = view.message_delegate()
    for r in rows:
        if r + 1 >= len(model):
            continue
        slot = view.visualRect(model.index(r + 1)).top() - view.visualRect(model.index(r)).top()
        if slot != delegate.height_for(*model.entry(r)):
            return False
    return True


def last_row_at_bottom(view: ConversationView) -> bool:
    """Whether the view is scrolled to the end and the last row ends at the viewport's end."""
    model = view.conversation_model()
    rect = view.visualRect(model.index(len(model) - 1))
    return view.is_at_bottom() and abs(rect.bottom() - view.viewport().rect().bottom()) <= 1


def solid_pixmap(color: QColor, width: int, height: int) -> QPixmap:
    pixmap = QPixmap(width, height)
    pixmap.fill(color)
    return pixmap


def color_distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def count_pixels(image: QImage, predicate: Callable[[QColor], bool]) -> int:
    found = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            if predicate(image.pixelColor(x, y)):
                found += 1
    return found
