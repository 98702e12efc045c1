"""The conversation list's model and the delegate that paints one row.

The model holds :class:`~smooch_desktop.core.inbox.InboxRow` values as the store gives
them (already sorted by last activity and filtered) and, per user, what the outbox says
about them (:class:`OutboxMark`). Rows are painted by :class:`InboxDelegate`: no widget
per row, so a thousand conversations cost one list of tuples.

This module must not read the store or the outbox itself (the pane does), nor decide
what is unread (:mod:`smooch_desktop.core.inbox`).
"""

from __future__ import annotations

import bisect
import enum
import time
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.avatars import paint_initials_avatar, round_pixmap
from smooch_desktop.ui.plain import literal

if TYPE_CHECKING:  # the store loads after the first paint; the list is empty until then
    from smooch_desktop.core.inbox import ConversationKey, InboxRow

#: The row object (an :class:`InboxRow`) of an index.
ROW_ROLE: Final = Qt.ItemDataRole.UserRole + 1
#: The :class:`OutboxMark` of an index's user.
OUTBOX_ROLE: Final = Qt.ItemDataRole.UserRole + 2

#: Characters of a conversation's name in a row's tooltip.
MAX_TIP_NAME: Final = 100
AVATAR_SIZE: Final = 36
ROW_HEIGHT: Final = 56
_PAD: Final = 8


class OutboxMark(enum.IntEnum):
    """What the outbox holds for a user that is not delivered yet (worst first wins)."""

    NONE = 0
    QUEUED = 1
    FAILED = 2


#: The icon (a character: no image to load) and its tooltip, per mark.
MARK_GLYPHS: Final = {OutboxMark.QUEUED: "⏳", OutboxMark.FAILED: "⚠"}
MARK_TEXTS: Final = {
    OutboxMark.QUEUED: "A message to this user is waiting to be sent.",
    OutboxMark.FAILED: "A message to this user was not sent: open the conversation to retry.",
}


def sort_key(row: InboxRow) -> tuple[float, str, str]:
    """Where ``row`` goes in the list: the store's order (``InboxStore.conversations``)."""
    return (-row.last_activity, row.key.user_ref, row.key.conversation_id)


def format_time(at: float, now: float | None = None) -> str:
    """The row's time: "14:05" today, "Mon 14:05" this week, else "3 Nov" / "3 Nov 2025"."""
    if at <= 0:
        return ""
    now = time.time() if now is None else now
    moment, today = time.localtime(at), time.localtime(now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M", moment)
    if 0 <= now - at < 6 * 86400:
        return time.strftime("%a %H:%M", moment)
    if moment.tm_year == today.tm_year:
        return f"{moment.tm_mday} {time.strftime('%b', moment)}"
    return f"{moment.tm_mday} {time.strftime('%b %Y', moment)}"


class InboxListModel(QAbstractListModel):
    """The rows shown, in the store's order (newest activity first)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[InboxRow] = []
        self._marks: dict[str, OutboxMark] = {}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def row(self, index: int) -> InboxRow:
        return self._rows[index]

    def rows(self) -> list[InboxRow]:
        return list(self._rows)

    def index_of(self, key: ConversationKey) -> QModelIndex:
        for number, row in enumerate(self._rows):
            if row.key == key:
                return self.index(number, 0)
        return QModelIndex()

    def set_rows(self, rows: list[InboxRow]) -> None:
        """Show ``rows``. The common changes are applied in place, so the selection, the
        scroll position and the painted rows that did not change stay: the same keys in
        the same order (changed rows repainted), or one row moved (a conversation with
        new activity going to the top). Anything else (a filter typed, rows added or
        removed) resets the model."""
        old = self._rows
        new = list(rows)
        if len(new) == len(old):
            first = 0
            while first < len(new) and new[first].key == old[first].key:
                first += 1
            if first == len(new):
                self._replace(new)
                return
            last = len(new) - 1
            while new[last].key == old[last].key:
                last -= 1
            moved = self._moved_row(old, new, first, last)
            if moved is not None:
                source, target = moved
                # Qt's destination is a position in the list before the move.
                self.beginMoveRows(
                    QModelIndex(), source, source, QModelIndex(), target + (target > source)
                )
                self._rows.insert(target, self._rows.pop(source))
                self.endMoveRows()
                self._replace(new)
                return
        self.beginResetModel()
        self._rows = new
        self.endResetModel()

    @staticmethod
    def _moved_row(
        old: list[InboxRow], new: list[InboxRow], first: int, last: int
    ) -> tuple[int, int] | None:
        """(from, to) if ``new`` is ``old`` with one row moved within first..last."""
        if new[first].key == old[last].key and all(
            new[i + 1].key == old[i].key for i in range(first, last)
        ):
            return last, first  # moved up (new activity)
        if new[last].key == old[first].key and all(
            new[i].key == old[i + 1].key for i in range(first, last)
        ):
            return first, last  # moved down
        return None

    def _replace(self, rows: list[InboxRow]) -> None:
        """Take ``rows`` (the same keys in the same order) and repaint those that changed."""
        changed = [
            i for i, (new, old) in enumerate(zip(rows, self._rows, strict=True)) if new != old
        ]
        self._rows = rows
        if changed:
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), 0))

    def update_row(self, row: InboxRow) -> bool:
        """Put the new state of one listed conversation in place, moved to where the list's
        order (newest activity first, then user and conversation id, as the store sorts)
        puts it; False if its key is not shown (the caller then re-reads the list)."""
        rows = self._rows
        key = row.key
        source = next((i for i, shown in enumerate(rows) if shown.key == key), -1)
        if source < 0:
            return False
        others = rows[:source] + rows[source + 1 :]
        target = bisect.bisect_left(others, sort_key(row), key=sort_key)
        self.set_rows([*others[:target], row, *others[target:]])
        return True

    def mark(self, user_ref: str) -> OutboxMark:
        return self._marks.get(user_ref, OutboxMark.NONE)

    def marks(self) -> dict[str, OutboxMark]:
        return dict(self._marks)

    def set_marks(self, marks: dict[str, OutboxMark]) -> None:
        if marks == self._marks:
            return
        self._marks = dict(marks)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0))

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == ROW_ROLE:
            return row
        if role == OUTBOX_ROLE:
            return self.mark(row.key.user_ref)
        if role == Qt.ItemDataRole.DisplayRole:
            return row.label
        if role == Qt.ItemDataRole.AccessibleTextRole:
            parts = [row.label]
            if row.unread:
                parts.append(f"{row.unread} unread")
            if row.preview.text:
                parts.append(row.preview.text)
            mark = self.mark(row.key.user_ref)
            if mark:
                parts.append(MARK_TEXTS[mark])
            return ", ".join(parts)
        if role == Qt.ItemDataRole.ToolTipRole:
            mark = self.mark(row.key.user_ref)
            lines = [row.key.user_ref]
            if row.email and row.email != row.key.user_ref:
                lines.append(row.email)
            if row.key.conversation_id:
                name = " ".join(row.conversation_name.split())[:MAX_TIP_NAME]
                lines.append(" ".join(p for p in ("Conversation", name) if p))
                lines.append(row.key.conversation_id)
            if mark:
                lines.append(MARK_TEXTS[mark])
            # Plain text: a tooltip starting with a tag would be read as rich text.
            return "\n".join(lines).replace("<", "\u2039")
        return None


class InboxDelegate(QStyledItemDelegate):
    """Paints a row: avatar, name and time on top, preview and counts below."""

    def __init__(self, avatars: AvatarLoader | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._avatars = avatars
        #: Round crops by URL (cropping on every paint would cost a frame on a long list).
        self._round: dict[str, QPixmap] = {}

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(220, ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row: InboxRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        mark = index.data(OUTBOX_ROLE)
        rect: QRect = option.rect
        state = option.state
        palette: QPalette = option.palette
        widget = option.widget
        style = widget.style() if widget is not None else None
        painter.save()
        try:
            if style is not None:
                style.drawPrimitive(
                    QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget
                )
            selected = bool(state & QStyle.StateFlag.State_Selected)
            text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
            avatar = QRect(
                rect.left() + _PAD,
                rect.top() + (rect.height() - AVATAR_SIZE) // 2,
                AVATAR_SIZE,
                AVATAR_SIZE,
            )
            self._paint_avatar(painter, avatar, row)
            left = avatar.right() + _PAD + 2
            right = rect.right() - _PAD
            top_line = QRect(left, rect.top() + 8, right - left, rect.height() // 2 - 8)
            bottom_line = QRect(left, rect.top() + rect.height() // 2, right - left, 20)

            base_font = QFont(option.font)
            # Time, right-aligned on the top line.
            small = QFont(base_font)
            small.setPointSizeF(max(6.0, base_font.pointSizeF() * 0.85))
            when = format_time(row.last_activity)
            painter.setFont(small)
            small_metrics = QFontMetrics(small)
            when_width = small_metrics.horizontalAdvance(when) + 4 if when else 0
            painter.setPen(palette.color(text_role))
            painter.drawText(
                top_line, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, when
            )
            # Name, bold when unread, elided.
            name_font = QFont(base_font)
            name_font.setBold(row.unread > 0)
            painter.setFont(name_font)
            name_rect = top_line.adjusted(0, 0, -when_width - 4, 0)
            name = _shown_label(row, QFontMetrics(name_font), name_rect.width())
            painter.drawText(
                name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name
            )
            # Badges on the bottom line, right to left: unread count, outbox mark.
            painter.setFont(small)
            x = bottom_line.right()
            if row.unread:
                label = str(row.unread) if row.unread < 1000 else "999+"
                width = max(18, small_metrics.horizontalAdvance(label) + 10)
                badge = QRect(x - width, bottom_line.top() + 1, width, 18)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor("#1565c0"))
                painter.drawRoundedRect(badge, 9, 9)
                painter.setPen(QColor("white"))
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
                x = badge.left() - 4
            if mark in MARK_GLYPHS:
                glyph = MARK_GLYPHS[OutboxMark(mark)]
                icon_font = QFont(base_font)
                icon_font.setBold(True)
                painter.setFont(icon_font)
                width = QFontMetrics(icon_font).horizontalAdvance(glyph) + 4
                icon_rect = QRect(x - width, bottom_line.top(), width, 20)
                failed = mark == OutboxMark.FAILED
                if selected:  # red or amber on the highlight can't be read
                    painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
                else:
                    painter.setPen(QColor("#c62828") if failed else QColor("#8d6e00"))
                painter.drawText(icon_rect, Qt.AlignmentFlag.AlignCenter, glyph)
                x = icon_rect.left() - 4
            # Preview: "You: " for the business side's messages; dimmed.
            preview = row.preview.text
            if preview and row.preview.role == "business":
                preview = "You: " + preview
            if not preview and mark in MARK_GLYPHS:
                preview = "Not sent" if mark == OutboxMark.FAILED else "Sending…"
            if not preview:
                preview = row.key.user_ref if row.display_name else ""
            preview_rect = QRect(left, bottom_line.top(), max(0, x - left - 4), 20)
            painter.setFont(small)
            dim = palette.color(text_role)
            if not selected:
                dim = palette.color(QPalette.ColorRole.PlaceholderText)
            painter.setPen(dim)
            painter.drawText(
                preview_rect,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                _shown(preview, small_metrics, preview_rect.width()),
            )
        finally:
            painter.restore()

    def _paint_avatar(self, painter: QPainter, rect: QRect, row: InboxRow) -> None:
        picture = None
        if self._avatars is not None and row.avatar_url:
            picture = self._avatars.pixmap(row.avatar_url)  # starts loading it if needed
        if picture is not None and not picture.isNull():
            crop = self._round.get(row.avatar_url)
            if crop is None:
                device = painter.device()
                dpr = device.devicePixelRatioF() if device is not None else 1.0
                crop = self._round[row.avatar_url] = round_pixmap(picture, rect.width(), dpr)
            painter.drawPixmap(rect, crop)
            return
        paint_initials_avatar(painter, rect, row.display_name or row.key.user_ref, row.email)


def _shown_label(row: InboxRow, metrics: QFontMetrics, width: int) -> str:
    """The row's name: the user, then (not their main conversation) the conversation's
    name, each literal and isolated (FSI … PDI), so a right-to-left name can't carry the
    other or the separator along with it; cut to ``width`` with "…"."""
    other = row.conversation_label
    if not other:
        return _shown(row.user_label, metrics, width)
    user = literal(row.user_label, one_line=True)
    other = literal(other, one_line=True)
    separator = " · "
    text = f"\u2068{user}\u2069{separator}\u2068{other}\u2069"
    if metrics.horizontalAdvance(text) <= width:
        return text
    # Too long: the conversation's name keeps up to half the room (it is what tells the
    # user's rows apart), the user's name the rest.
    elide = Qt.TextElideMode.ElideRight
    if metrics.horizontalAdvance(other) > width // 2:
        other = metrics.elidedText(other, elide, width // 2)
    rest = width - metrics.horizontalAdvance(separator + other)
    user = metrics.elidedText(user, elide, max(0, rest))
    return f"\u2068{user}\u2069{separator}\u2068{other}\u2069"


def _shown(text: str, metrics: QFontMetrics, width: int) -> str:
    """Outside text (a name, a preview) as one line, literally: controls and explicit
    direction marks shown by name ([BEL], [RLO]), cut to ``width`` with "…"."""
    shown = literal(text, one_line=True)
    return metrics.elidedText(shown, Qt.TextElideMode.ElideRight, width)
