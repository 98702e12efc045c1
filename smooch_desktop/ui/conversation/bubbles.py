"""What a chat bubble looks like: its metrics, its colours, and the code that paints it.

* :class:`BubbleLayout` holds the fonts and does the maths of one row for a wrap width:
  its :class:`BubbleShape` (height, wrapped lines, where the name, pills, time, error
  and links go) and, for a row drawn at a rectangle, where the bubble and its links are.
* :class:`BubblePainter` draws one row from its shape: day separator, name, avatar,
  bubble with text or image, failed badge, action pills, time/state line and links.

The end user's messages are on the left in a light bubble, the business's on the right
in the accent colour with the sender's name above; 32 px round avatars, the time under
each bubble and the outbox state of local items ("Sending…", "Failed: <server error>"
with Retry and Edit links).

Caching of heights and shapes, looking up images and Qt's delegate interface belong in
:mod:`.delegate`; the text wrapping itself in :mod:`.text_layout`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from PySide6.QtCore import QDateTime, QLocale, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPixmap

from smooch_desktop.api.models import ROLE_USER, ROLE_WHISPER
from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.avatars import initials_pixmap, round_pixmap
from smooch_desktop.ui.conversation.content import action_kind, fetchable_media_url
from smooch_desktop.ui.conversation.fonts import FontWrapper
from smooch_desktop.ui.conversation.items import (
    FLAG_FIRST_IN_GROUP,
    FLAG_STARTS_DAY,
    ConversationItem,
    format_time,
    local_day,
)
from smooch_desktop.ui.conversation.rich import (
    MAX_MESSAGE_ACTIONS,
    Block,
    Fonts,
    Ink,
    Target,
    TextLink,
    ThumbLookup,
    paint_pieces,
    paint_pill,
    paint_thumbnail,
    pieces_at,
    pill_label,
    pill_target,
    rich_block,
    text_link_spans,
)
from smooch_desktop.ui.conversation.text_layout import Line
from smooch_desktop.ui.plain import literal

AVATAR_SIZE: Final = 32
#: The business bubble colour (white text on it meets WCAG AA).
ACCENT_COLOR: Final = QColor(0x25, 0x63, 0xEB)

_MARGIN = 12  # between the viewport edge and the avatar
_AVATAR_GAP = 8  # between avatar and bubble
_PAD_X = 12
_PAD_Y = 8
_RADIUS = 16.0
_MAX_TEXT_WIDTH = 520
_BUBBLE_SHARE = 0.78  # of the row width left after margin and avatar
_MIN_TEXT_WIDTH = 60
_IMAGE_MAX = 240
#: Thumbnails sit in a frame of a fixed height (3/4 of the box), so a row never changes
#: height when its image arrives (no jump while reading, no relayout of 10,000 rows).
_IMAGE_FRAME_SHARE = 0.75
_IMAGE_MIN_WIDTH = 120
_RICH_GAP = 6
_IMAGE_INSET = 4
_ROW_GAP = 3  # below every row
_GROUP_GAP = 8  # above the first row of a group
_SEPARATOR_HEIGHT = 36
_META_GAP = 2
_PILL_GAP = 6
_PILL_PAD_X = 10
_LINK_GAP = 16
_PIXMAP_CACHE = 300


def format_day(timestamp: float, now: float | None = None) -> str:
    """Caption of a day separator: "Today", "Yesterday" or the date in the user's locale."""
    if timestamp <= 0:
        return "Earlier"
    current = time.time() if now is None else now
    day = local_day(timestamp)
    if day == local_day(current):
        return "Today"
    if day == local_day(current - 86400):
        return "Yesterday"
    date = QDateTime.fromMSecsSinceEpoch(int(timestamp * 1000)).date()
    return QLocale().toString(date, QLocale.FormatType.LongFormat)


@dataclass(slots=True)
class BubbleColors:
    """The colours of bubbles, text and decorations for one palette (light or dark)."""

    user_bubble: QColor
    user_text: QColor
    business_bubble: QColor
    business_text: QColor
    whisper_bubble: QColor
    whisper_text: QColor
    meta: QColor
    error: QColor
    separator: QColor
    placeholder: QColor
    selection: QColor
    link: QColor

    @classmethod
    def from_palette(cls, palette: QPalette, accent: QColor) -> BubbleColors:
        base = palette.color(QPalette.ColorRole.Base)
        dark = base.lightness() < 128
        selection = QColor(palette.color(QPalette.ColorRole.Highlight))
        selection.setAlpha(48)
        if dark:
            return cls(
                user_bubble=QColor(0x2D, 0x31, 0x38),
                user_text=QColor(0xE8, 0xEA, 0xED),
                business_bubble=QColor(accent),
                business_text=QColor(255, 255, 255),
                whisper_bubble=QColor(0x4A, 0x42, 0x1E),
                whisper_text=QColor(0xFF, 0xF1, 0xC2),
                meta=QColor(0x9A, 0xA0, 0xA6),
                error=QColor(0xFF, 0x7B, 0x72),
                separator=QColor(0x2D, 0x31, 0x38),
                placeholder=QColor(0x9A, 0xA0, 0xA6),
                selection=selection,
                link=QColor(0x79, 0xA7, 0xFF),
            )
        return cls(
            user_bubble=QColor(0xEE, 0xF0, 0xF3),
            user_text=QColor(0x1B, 0x1F, 0x24),
            business_bubble=QColor(accent),
            business_text=QColor(255, 255, 255),
            whisper_bubble=QColor(0xFF, 0xF4, 0xCE),
            whisper_text=QColor(0x3D, 0x32, 0x00),
            meta=QColor(0x6B, 0x72, 0x80),
            error=QColor(0xC6, 0x28, 0x28),
            separator=QColor(0xEE, 0xF0, 0xF3),
            placeholder=QColor(0x6B, 0x72, 0x80),
            selection=selection,
            link=QColor(accent),
        )


class Pill(tuple[str, float, str, "Target | None"]):
    """A message button under the bubble: (label, width, action kind, click target)."""

    __slots__ = ()


@dataclass(slots=True)
class BubbleShape:
    """Vertical layout of one row for one wrap width; x positions depend on the row rect."""

    height: int
    lines: list[Line]
    bubble_width: int
    bubble_top: int
    bubble_height: int
    name_top: int  # -1: no name line
    image: tuple[int, int] | None  # displayed size; None: no image
    pill_rows: list[list[Pill]]
    pills_top: int
    meta_top: int
    error_lines: list[Line]
    error_top: int
    links: list[tuple[str, str, float]]  # (name, label, width)
    links_top: int
    #: Clickable links in the text (per wrapped line), the structured block (files,
    #: places, forms, cards) and where it starts below the bubble's top.
    text_links: list[TextLink]
    rich: Block | None
    rich_top: int


class BubbleLayout:
    """The fonts of a row and the maths of its layout: shapes, bubble and link positions.

    ``body`` wraps message text; ``small`` the time, state and error lines and the action
    pills; ``name`` the sender's name; ``link`` the Retry / Edit / Send now links.
    """

    #: Where text starts inside a bubble (left padding).
    text_left_pad: Final = _PAD_X

    def __init__(self, font: QFont) -> None:
        self.set_font(font)

    def set_font(self, font: QFont) -> None:
        """Use ``font`` for message text; the smaller fonts are derived from it."""
        self.body = FontWrapper(font)
        small = QFont(font)
        size = font.pointSizeF()
        if size > 0:
            small.setPointSizeF(max(6.0, size * 0.85))
        else:
            small.setPixelSize(max(8, round(font.pixelSize() * 0.85)))
        self.small = FontWrapper(small)
        name_font = QFont(small)
        name_font.setWeight(QFont.Weight.DemiBold)
        self.name = FontWrapper(name_font)
        self.link = FontWrapper(name_font)
        separator_font = QFont(small)
        separator_font.setWeight(QFont.Weight.DemiBold)
        self.separator_font = separator_font

    @staticmethod
    def text_limit_for(width: int) -> int:
        """Maximum width of text inside a bubble in a row ``width`` pixels wide."""
        room = max(1, int(width)) - 2 * _MARGIN - AVATAR_SIZE - _AVATAR_GAP
        return max(_MIN_TEXT_WIDTH, min(_MAX_TEXT_WIDTH, int(room * _BUBBLE_SHARE) - 2 * _PAD_X))

    @staticmethod
    def displayed_image_size(natural: tuple[int, int] | None, text_limit: int) -> tuple[int, int]:
        """The frame an image of ``natural`` size (None: not loaded yet) is shown in.

        The height is fixed (3/4 of the box), so loading an image never changes a row's
        height; the width follows the image's shape between a minimum and the box, and
        the image covers the frame (cropped, never stretched; a small one is centred).
        """
        box = max(1, min(_IMAGE_MAX, text_limit + 2 * _PAD_X - 2 * _IMAGE_INSET))
        height = max(1, round(box * _IMAGE_FRAME_SHARE))
        if natural is None:
            return (box, height)
        width, natural_height = natural
        least = min(_IMAGE_MIN_WIDTH, box)
        if natural_height <= height and width <= box:
            return (max(least, width), height)
        return (max(least, min(box, round(height * width / max(1, natural_height)))), height)

    def fonts(self) -> Fonts:
        return Fonts(self.body, self.small, self.name)

    @staticmethod
    def name_text(item: ConversationItem) -> str:
        """The name line above a business or internal-note bubble."""
        if item.role == ROLE_WHISPER:
            return f"Internal note · {item.author_name}" if item.author_name else "Internal note"
        return item.author_name

    def _estimate_lines(self, text: str, limit: int) -> int:
        # Wrapping leaves on average part of a word free at each line end.
        per_line = max(1.0, limit * 0.9 / self.body.average_char_width)
        return max(text.count("\n") + 1, math.ceil(len(text) / per_line))

    def shape(
        self,
        item: ConversationItem,
        flags: int,
        *,
        text_limit: int,
        image: tuple[int, int] | None,
        with_lines: bool,
        estimate: bool = False,
    ) -> BubbleShape:
        """The layout of ``item`` with row ``flags``, its text wrapped to ``text_limit``.

        ``image`` is the displayed image size (None: no image). Without ``with_lines``
        the lines are only counted, not kept; with ``estimate`` they are not even
        counted but guessed from the text's length (for rows far off screen).
        """
        limit = text_limit
        bubble_limit = limit + 2 * _PAD_X
        y = _GROUP_GAP if flags & FLAG_FIRST_IN_GROUP else 0
        if flags & FLAG_STARTS_DAY:
            y += _SEPARATOR_HEIGHT
        name_top = -1
        if flags & FLAG_FIRST_IN_GROUP and item.is_outgoing and self.name_text(item):
            name_top = y
            y += self.name.line_height + 2
        # Control characters from the sender are shown by name ([NUL]), never as nothing,
        # and so are direction controls ([RLO]): an override must not show the rest of a
        # message reversed (plain.literal); natural right-to-left text needs none.
        text = literal(item.text)
        lines: list[Line] = []
        if not text:
            count, text_width = 0, 0.0
        elif estimate:
            count, text_width = self._estimate_lines(text, limit), float(limit)
        elif with_lines:
            lines = self.body.wrap(text, limit)
            count, text_width = len(lines), max(width for _, width, _ in lines)
        else:
            count, text_width = self.body.measure(text, limit)
        bubble_width = math.ceil(text_width) + 2 * _PAD_X + 2
        line_height = self.body.line_height
        rich = rich_block(item, self.fonts(), limit)
        text_links = text_link_spans(text, lines, self.body.width) if lines else []
        if image is not None:
            bubble_width = max(bubble_width if count else 0, image[0] + 2 * _IMAGE_INSET)
            bubble_height = _IMAGE_INSET + image[1]
            if count:
                bubble_height += _PAD_Y - 2 + count * line_height + _PAD_Y
            else:
                bubble_height += _IMAGE_INSET
        elif count or rich is None:
            bubble_height = 2 * _PAD_Y + max(1, count) * line_height
        else:
            bubble_height = 0
        rich_top = bubble_height
        if rich is not None:
            # Below the text (or image) with a gap, or at the top with the usual padding.
            rich_top = bubble_height - _PAD_Y + _RICH_GAP if bubble_height else _PAD_Y
            bubble_height = rich_top + int(rich.height) + _PAD_Y
            content = bubble_width if (count or image is not None) else 0
            bubble_width = max(content, int(rich.width) + 2 * _PAD_X + 2)
        bubble_width = max(bubble_width, int(2 * _RADIUS) + 4)
        bubble_top = y
        y += bubble_height
        pill_rows: list[list[Pill]] = []
        pills_top = y
        if item.actions:
            y += _PILL_GAP
            pills_top = y
            row: list[Pill] = []
            x = 0.0
            shown = list(item.actions[:MAX_MESSAGE_ACTIONS])
            more = len(item.actions) - len(shown)
            entries: list[tuple[str, str, Target | None]] = [
                (pill_label(action), action_kind(action), pill_target(action)) for action in shown
            ]
            if more > 0:
                entries.append((f"+{more} more (Show details…)", "more", None))
            for label, kind, target in entries:
                label = literal(label, 300, one_line=True)
                width = self.small.width(label) + 2 * _PILL_PAD_X
                if width > bubble_limit:  # a long label is elided, never wider than a bubble
                    room = bubble_limit - 2 * _PILL_PAD_X
                    label = self.small.metrics.elidedText(label, Qt.TextElideMode.ElideRight, room)
                    width = float(bubble_limit)
                if row and x + _PILL_GAP + width > bubble_limit:
                    pill_rows.append(row)
                    row, x = [], 0.0
                x += (_PILL_GAP if row else 0) + width
                row.append(Pill((label, width, kind, target)))
            pill_rows.append(row)
            pill_height = self.small.line_height + 8
            y += len(pill_rows) * pill_height + (len(pill_rows) - 1) * 4
        y += _META_GAP
        meta_top = y
        y += self.small.line_height
        error_lines: list[Line] = []
        error_top = y
        links: list[tuple[str, str]] = []
        links_top = y
        if item.state == EntryState.FAILED:
            error_lines = self.small.wrap(item.status_text(), bubble_limit)
            y += len(error_lines) * self.small.line_height
            links = [("retry", "Retry"), ("edit", "Edit")]
        elif item.state == EntryState.QUEUED and item.next_attempt_at is not None:
            links = [("send_now", "Send now")]
        measured_links = [(name, label, self.link.width(label)) for name, label in links]
        if measured_links:
            links_top = y + 1
            y += self.link.line_height + 4
        y += _ROW_GAP
        return BubbleShape(
            height=max(y, AVATAR_SIZE + _ROW_GAP),
            lines=lines,
            bubble_width=min(max(bubble_width, 1), bubble_limit + 2),
            bubble_top=bubble_top,
            bubble_height=bubble_height,
            name_top=name_top,
            image=image,
            pill_rows=pill_rows,
            pills_top=pills_top,
            meta_top=meta_top,
            error_lines=error_lines,
            error_top=error_top,
            links=measured_links,
            links_top=links_top,
            text_links=text_links,
            rich=rich,
            rich_top=rich_top,
        )

    def bubble_rect(self, rect: QRect, item: ConversationItem, shape: BubbleShape) -> QRectF:
        """Where the bubble of a row drawn in ``rect`` goes."""
        if item.is_outgoing:
            right = rect.x() + rect.width() - _MARGIN - AVATAR_SIZE - _AVATAR_GAP
            left = right - shape.bubble_width
        else:
            left = rect.x() + _MARGIN + AVATAR_SIZE + _AVATAR_GAP
        return QRectF(left, rect.y() + shape.bubble_top, shape.bubble_width, shape.bubble_height)

    def link_areas(
        self, rect: QRect, item: ConversationItem, shape: BubbleShape
    ) -> dict[str, QRectF]:
        """Clickable areas ("retry", "edit", "send_now") of a row drawn in ``rect``."""
        if not shape.links:
            return {}
        bubble = self.bubble_rect(rect, item, shape)
        total = sum(width for _, _, width in shape.links) + _LINK_GAP * (len(shape.links) - 1)
        x = bubble.right() - total if item.is_outgoing else bubble.left()
        height = self.link.line_height + 4
        top = rect.y() + shape.links_top - 2
        found: dict[str, QRectF] = {}
        for name, _label, width in shape.links:
            found[name] = QRectF(x - 4, top, width + 8, height)
            x += width + _LINK_GAP
        return found

    def text_top(self, shape: BubbleShape) -> float:
        """Where the first text line starts below the bubble's top."""
        if shape.image is not None:
            return _IMAGE_INSET + shape.image[1] + _PAD_Y - 2
        return float(_PAD_Y)

    def image_rect(self, rect: QRect, item: ConversationItem, shape: BubbleShape) -> QRectF | None:
        if shape.image is None:
            return None
        bubble = self.bubble_rect(rect, item, shape)
        width, height = shape.image
        return QRectF(bubble.left() + _IMAGE_INSET, bubble.top() + _IMAGE_INSET, width, height)

    def rich_origin(self, bubble: QRectF, shape: BubbleShape) -> QPointF:
        return QPointF(bubble.left() + _PAD_X, bubble.top() + shape.rich_top)

    def pill_areas(
        self, rect: QRect, item: ConversationItem, shape: BubbleShape
    ) -> list[tuple[QRectF, Pill]]:
        """Where each button under the bubble of a row drawn in ``rect`` goes."""
        if not shape.pill_rows:
            return []
        bubble = self.bubble_rect(rect, item, shape)
        height = self.small.line_height + 8
        y = rect.y() + shape.pills_top
        found: list[tuple[QRectF, Pill]] = []
        for row in shape.pill_rows:
            total = sum(pill[1] for pill in row) + _PILL_GAP * (len(row) - 1)
            x = bubble.right() - total if item.is_outgoing else bubble.left()
            for pill in row:
                found.append((QRectF(x, y, pill[1], height), pill))
                x += pill[1] + _PILL_GAP
            y += height + 4
        return found

    def target_at(
        self, rect: QRect, item: ConversationItem, shape: BubbleShape, point: QPointF
    ) -> Target | None:
        """What a click at ``point`` in a row drawn in ``rect`` opens, if anything."""
        image = self.image_rect(rect, item, shape)
        if image is not None and image.contains(point):
            return ("image", item.media_url) if fetchable_media_url(item.media_url) else None
        bubble = self.bubble_rect(rect, item, shape)
        if shape.text_links:
            top = bubble.top() + self.text_top(shape)
            left = bubble.left() + _PAD_X
            line_height = self.body.line_height
            for link in shape.text_links:
                y = top + link.line * line_height
                area = QRectF(left + link.x0, y, link.x1 - link.x0, line_height)
                if area.contains(point):
                    return ("url", link.url)
        if shape.rich is not None:
            hit = pieces_at(shape.rich, self.rich_origin(bubble, shape), point)
            if hit is not None:
                return hit
        for area, pill in self.pill_areas(rect, item, shape):
            if pill[3] is not None and area.contains(point):
                return pill[3]
        return None


def _no_thumbs(_url: str) -> tuple[QPixmap | None, str | None]:
    return None, None


class BubblePainter:
    """Draws rows laid out by a :class:`BubbleLayout`; keeps the pixmaps it scaled for that.

    ``colors`` follow the palette (:meth:`set_palette`); ``accent`` is the business
    bubble's colour.
    """

    def __init__(self, layout: BubbleLayout, palette: QPalette) -> None:
        self._layout = layout
        self.accent = QColor(ACCENT_COLOR)
        self.colors = BubbleColors.from_palette(palette, self.accent)
        self._pixmaps: OrderedDict[tuple[Any, ...], QPixmap] = OrderedDict()

    def set_palette(self, palette: QPalette) -> None:
        self.colors = BubbleColors.from_palette(palette, self.accent)

    def paint_row(
        self,
        painter: QPainter,
        rect: QRect,
        item: ConversationItem,
        flags: int,
        shape: BubbleShape,
        *,
        selected: bool,
        dpr: float,
        avatar: QPixmap | None,
        image: QPixmap | None,
        image_failure: str | None = None,
        thumbs: ThumbLookup | None = None,
    ) -> None:
        """Draw the row of ``item`` in ``rect``.

        ``avatar`` and ``image`` are the loaded avatar and picture (None: not loaded; the
        initials and a "Loading image…" placeholder are drawn instead, or a broken image
        with ``image_failure``). ``thumbs(url)`` gives a card image and its failure.
        """
        colors = self.colors
        painter.save()
        try:
            # A row laid out with an estimated height must not paint over its neighbours.
            painter.setClipRect(rect, Qt.ClipOperation.IntersectClip)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            if selected:
                painter.fillRect(rect, colors.selection)
            if flags & FLAG_STARTS_DAY:
                self._paint_separator(painter, rect, item, flags)
            bubble = self._layout.bubble_rect(rect, item, shape)
            if shape.name_top >= 0:
                self._paint_name(painter, rect, item, shape, bubble)
            if flags & FLAG_FIRST_IN_GROUP:
                self._paint_avatar(painter, rect, item, bubble, avatar, dpr)
            self._paint_bubble(painter, item, shape, bubble, dpr, image, image_failure)
            if shape.rich is not None:
                paint_pieces(
                    painter,
                    self._layout.rich_origin(bubble, shape),
                    shape.rich,
                    self._layout.fonts(),
                    self._ink(item),
                    thumbs if thumbs is not None else _no_thumbs,
                )
            if shape.pill_rows:
                self._paint_pills(painter, rect, item, shape)
            self._paint_meta(painter, rect, item, shape, bubble)
        finally:
            painter.restore()

    def _paint_separator(
        self, painter: QPainter, rect: QRect, item: ConversationItem, flags: int
    ) -> None:
        caption = format_day(item.received)
        painter.setFont(self._layout.separator_font)
        metrics = QFontMetricsF(self._layout.separator_font)
        width = metrics.horizontalAdvance(caption) + 24
        height = metrics.height() + 8
        top = rect.y() + (_GROUP_GAP if flags & FLAG_FIRST_IN_GROUP else 0)
        pill = QRectF(
            rect.x() + (rect.width() - width) / 2,
            top + (_SEPARATOR_HEIGHT - height) / 2,
            width,
            height,
        )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.colors.separator)
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setPen(self.colors.meta)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, caption)

    def _paint_name(
        self,
        painter: QPainter,
        rect: QRect,
        item: ConversationItem,
        shape: BubbleShape,
        bubble: QRectF,
    ) -> None:
        name = literal(self._layout.name_text(item), one_line=True)
        painter.setFont(self._layout.name.font)
        painter.setPen(self.colors.meta)
        box = QRectF(
            bubble.left() - 200,
            rect.y() + shape.name_top,
            bubble.width() + 400,
            self._layout.name.line_height,
        )
        if item.is_outgoing:
            box.setRight(bubble.right() - 4)
            align = Qt.AlignmentFlag.AlignRight
        else:
            box.setLeft(bubble.left() + 4)
            align = Qt.AlignmentFlag.AlignLeft
        room = min(box.width(), rect.width() - 2.0 * _MARGIN)
        # Elided; the tooltip has the whole name.
        name = self._layout.name.metrics.elidedText(name, Qt.TextElideMode.ElideRight, room)
        painter.drawText(
            box, align | Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignAbsolute, name
        )

    def _paint_avatar(
        self,
        painter: QPainter,
        rect: QRect,
        item: ConversationItem,
        bubble: QRectF,
        source: QPixmap | None,
        dpr: float,
    ) -> None:
        if item.is_outgoing:
            x = rect.x() + rect.width() - _MARGIN - AVATAR_SIZE
        else:
            x = rect.x() + _MARGIN
        target = QRectF(x, bubble.top(), AVATAR_SIZE, AVATAR_SIZE)
        pixmap = self._avatar_pixmap(item, source, dpr)
        painter.drawPixmap(target.topLeft(), pixmap)

    def _cached_pixmap(self, key: tuple[Any, ...]) -> QPixmap | None:
        found = self._pixmaps.get(key)
        if found is not None:
            self._pixmaps.move_to_end(key)
        return found

    def _store_pixmap(self, key: tuple[Any, ...], pixmap: QPixmap) -> QPixmap:
        self._pixmaps[key] = pixmap
        if len(self._pixmaps) > _PIXMAP_CACHE:
            self._pixmaps.popitem(last=False)
        return pixmap

    def _avatar_pixmap(self, item: ConversationItem, source: QPixmap | None, dpr: float) -> QPixmap:
        if source is not None and not source.isNull():
            key: tuple[Any, ...] = ("round", source.cacheKey(), dpr)
            found = self._cached_pixmap(key)
            return (
                found
                if found is not None
                else self._store_pixmap(key, round_pixmap(source, AVATAR_SIZE, dpr))
            )
        name = item.author_name or ("User" if item.role == ROLE_USER else "Business")
        key = ("initials", name, item.author_email, dpr)
        found = self._cached_pixmap(key)
        if found is not None:
            return found
        return self._store_pixmap(key, initials_pixmap(AVATAR_SIZE, name, item.author_email, dpr))

    def _bubble_colors(self, item: ConversationItem) -> tuple[QColor, QColor]:
        colors = self.colors
        if item.role == ROLE_WHISPER:
            return colors.whisper_bubble, colors.whisper_text
        if item.role == ROLE_USER:
            return colors.user_bubble, colors.user_text
        if item.state == EntryState.FAILED:
            faded = QColor(colors.business_bubble)
            faded.setAlpha(150)
            return faded, colors.business_text
        return colors.business_bubble, colors.business_text

    def _paint_bubble(
        self,
        painter: QPainter,
        item: ConversationItem,
        shape: BubbleShape,
        bubble: QRectF,
        dpr: float,
        image: QPixmap | None,
        image_failure: str | None = None,
    ) -> None:
        fill, ink = self._bubble_colors(item)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, _RADIUS, _RADIUS)
        if item.state == EntryState.FAILED:
            self._paint_failed_badge(painter, item, bubble)
        y: float = bubble.top() + _PAD_Y
        if shape.image is not None:
            image_width, image_height = shape.image
            target = QRectF(
                bubble.left() + _IMAGE_INSET, bubble.top() + _IMAGE_INSET, image_width, image_height
            )
            if image is None and image_failure is not None:
                paint_thumbnail(
                    painter,
                    target,
                    None,
                    image_failure,
                    self._ink(item),
                    self._layout.small.font,
                    radius=_RADIUS - _IMAGE_INSET,
                )
            else:
                self._paint_image(painter, target, image, dpr)
            y = target.bottom() + _PAD_Y - 2
        if not shape.lines:
            return
        painter.setFont(self._layout.body.font)
        painter.setPen(ink)
        line_height = float(self._layout.body.line_height)
        left = bubble.left() + _PAD_X
        width = bubble.width() - 2 * _PAD_X
        links: dict[int, list[TextLink]] = {}
        for link in shape.text_links:
            links.setdefault(link.line, []).append(link)
        for index, (text, _width, rtl) in enumerate(shape.lines):
            if index in links:
                self._paint_linked_line(
                    painter, item, QRectF(left, y, width, line_height), text, links[index], ink
                )
            elif text:
                box = QRectF(left, y, width, line_height)
                if rtl:
                    painter.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
                    align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignAbsolute
                else:
                    painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
                    align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute
                painter.drawText(
                    box, align | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine, text
                )
            y += line_height

    def _paint_linked_line(
        self,
        painter: QPainter,
        item: ConversationItem,
        box: QRectF,
        text: str,
        links: list[TextLink],
        ink: QColor,
    ) -> None:
        """A left-to-right line with clickable pieces drawn underlined (link colour on light
        bubbles, the text's own colour on the accent bubble)."""
        painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        align = (
            Qt.AlignmentFlag.AlignLeft
            | Qt.AlignmentFlag.AlignAbsolute
            | Qt.AlignmentFlag.AlignVCenter
            | Qt.TextFlag.TextSingleLine
        )
        plain_font = self._layout.body.font
        link_font = QFont(plain_font)
        link_font.setUnderline(True)
        link_ink = ink if item.is_outgoing else self.colors.link
        cursor = 0
        parts: list[tuple[str, float, bool]] = []
        for link in links:
            if link.start > cursor:
                parts.append(
                    (text[cursor : link.start], self._layout.body.width(text[:cursor]), False)
                )
            parts.append((text[link.start : link.end], link.x0, True))
            cursor = link.end
        if cursor < len(text):
            parts.append((text[cursor:], self._layout.body.width(text[:cursor]), False))
        for part, x, linked in parts:
            painter.setFont(link_font if linked else plain_font)
            painter.setPen(link_ink if linked else ink)
            painter.drawText(
                QRectF(box.left() + x, box.top(), box.width() - x + 4, box.height()), align, part
            )
        painter.setFont(plain_font)
        painter.setPen(ink)

    def _ink(self, item: ConversationItem) -> Ink:
        """The colours of a bubble's structured parts (cards are light on any bubble)."""
        colors = self.colors
        _fill, text = self._bubble_colors(item)
        dark = colors.user_text.lightness() > 128
        card = QColor(0x1F, 0x23, 0x28) if dark else QColor(255, 255, 255)
        card_text = QColor(0xE8, 0xEA, 0xED) if dark else QColor(0x1B, 0x1F, 0x24)
        card_meta = QColor(0x9A, 0xA0, 0xA6) if dark else QColor(0x5B, 0x62, 0x70)
        outgoing = item.is_outgoing and item.role != ROLE_WHISPER
        meta = QColor(text) if outgoing else QColor(colors.meta)
        if outgoing:
            meta.setAlpha(210)
        return Ink(
            text=text,
            meta=meta,
            link=text if outgoing else colors.link,
            card=card,
            card_text=card_text,
            card_meta=card_meta,
            accent=colors.link,
            placeholder=text if outgoing else colors.placeholder,
            error=text if outgoing else colors.error,
        )

    def _paint_failed_badge(
        self, painter: QPainter, item: ConversationItem, bubble: QRectF
    ) -> None:
        """A red "!" beside a bubble that was not delivered."""
        size = 18.0
        x = bubble.left() - size - 6 if item.is_outgoing else bubble.right() + 6
        badge = QRectF(x, bubble.center().y() - size / 2, size, size)
        painter.setBrush(self.colors.error)
        painter.drawEllipse(badge)
        font = QFont(self._layout.name.font)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")
        painter.setPen(Qt.PenStyle.NoPen)

    def _paint_image(
        self, painter: QPainter, target: QRectF, source: QPixmap | None, dpr: float
    ) -> None:
        path = QPainterPath()
        path.addRoundedRect(target, _RADIUS - _IMAGE_INSET, _RADIUS - _IMAGE_INSET)
        if source is None or source.isNull():
            placeholder = QColor(self.colors.meta)
            placeholder.setAlpha(60)
            painter.fillPath(path, placeholder)
            painter.setPen(self.colors.meta)
            painter.setFont(self._layout.small.font)
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, "Loading image…")
            return
        key = ("image", source.cacheKey(), round(target.width()), round(target.height()), dpr)
        scaled = self._cached_pixmap(key)
        if scaled is None:
            scaled = source.scaled(
                QSize(math.ceil(target.width() * dpr), math.ceil(target.height() * dpr)),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            scaled.setDevicePixelRatio(dpr)
            self._store_pixmap(key, scaled)
        painter.save()
        painter.setClipPath(path)
        painter.drawPixmap(target.topLeft(), scaled)
        painter.restore()

    def _paint_pills(
        self,
        painter: QPainter,
        rect: QRect,
        item: ConversationItem,
        shape: BubbleShape,
    ) -> None:
        """The message's buttons, each drawn by kind (see :func:`.rich.paint_pill`)."""
        color = QColor(self.colors.link if item.role != ROLE_USER else self.colors.meta)
        font = self._layout.small.font
        for area, (label, _width, kind, _target) in self._layout.pill_areas(rect, item, shape):
            paint_pill(painter, area, label, kind, color, font)

    def _paint_meta(
        self,
        painter: QPainter,
        rect: QRect,
        item: ConversationItem,
        shape: BubbleShape,
        bubble: QRectF,
    ) -> None:
        colors = self.colors
        outgoing = item.is_outgoing
        align = (Qt.AlignmentFlag.AlignRight if outgoing else Qt.AlignmentFlag.AlignLeft) | (
            Qt.AlignmentFlag.AlignAbsolute | Qt.AlignmentFlag.AlignVCenter
        )
        painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        painter.setFont(self._layout.small.font)
        meta = format_time(item.received)
        if item.state not in (None, EntryState.FAILED):
            status = item.status_text()
            meta = f"{meta} · {status}" if meta else status
        line_height = self._layout.small.line_height
        span = QRectF(rect.x() + _MARGIN, 0, rect.width() - 2 * _MARGIN, line_height)
        if outgoing:
            span.setRight(bubble.right() - 4)
        else:
            span.setLeft(bubble.left() + 4)
        span.moveTop(rect.y() + shape.meta_top)
        painter.setPen(colors.meta)
        painter.drawText(span, align, meta)
        if shape.error_lines:
            painter.setPen(colors.error)
            y = rect.y() + shape.error_top
            for text, _width, rtl in shape.error_lines:
                painter.setLayoutDirection(
                    Qt.LayoutDirection.RightToLeft if rtl else Qt.LayoutDirection.LeftToRight
                )
                line = QRectF(span.left(), y, span.width(), line_height)
                painter.drawText(line, align | Qt.TextFlag.TextSingleLine, text)
                y += line_height
            painter.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        if shape.links:
            link_font = QFont(self._layout.link.font)
            link_font.setUnderline(True)
            painter.setFont(link_font)
            painter.setPen(colors.error if item.state == EntryState.FAILED else colors.link)
            areas = self._layout.link_areas(rect, item, shape)
            for name, label, _width in shape.links:
                painter.drawText(areas[name], Qt.AlignmentFlag.AlignCenter, label)
