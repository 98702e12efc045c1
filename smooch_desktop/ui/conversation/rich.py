"""The structured parts of a bubble: files, places, forms, reply payloads, cards, text links.

:func:`rich_block` lays out what a message carries besides its text and image as a flat
list of :class:`Piece` (text lines, links, cards, card thumbnails, card buttons), placed
relative to the top-left of the block; :func:`paint_pieces` draws them and
:func:`pieces_at` finds the one under the mouse. :func:`text_link_spans` finds where the
clickable links of a bubble's wrapped text are. Every label is outside text: it is drawn
plain, on one line, elided to a width that never exceeds the bubble, and the number of
cards, fields and buttons shown is capped, so a hostile message can't break the layout or
widen the window.

What may be opened and how text is cut into lines is decided in :mod:`.content` and
:mod:`.text_layout`; the bubble around these pieces is :mod:`.bubbles`' job; images come
from the lookup the painter is given (nothing is fetched here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap

from smooch_desktop.ui.conversation.content import (
    action_kind,
    action_url,
    fetchable_media_url,
    file_name,
    find_links,
    form_lines,
    format_coordinates,
    format_size,
    map_url,
    safe_url,
)
from smooch_desktop.ui.conversation.items import ConversationItem, action_label
from smooch_desktop.ui.conversation.text_layout import Line
from smooch_desktop.ui.plain import inline, literal

if TYPE_CHECKING:
    from smooch_desktop.ui.conversation.fonts import FontWrapper

#: Cards shown per message (the API allows 10); more are counted in a line.
MAX_CARDS: Final = 10
#: Buttons shown per card / per message; more are counted.
MAX_CARD_ACTIONS: Final = 3
MAX_MESSAGE_ACTIONS: Final = 12
CARD_WIDTH: Final = 200
CARD_IMAGE_HEIGHT: Final = 110
LIST_IMAGE: Final = 56
_CARD_PAD: Final = 8
_CARD_GAP: Final = 8
_LINE_GAP: Final = 2
_PILL_PAD_X: Final = 10

#: What a click on a piece does: ("url", address), ("image", media URL), ("save", file URL).
Target = tuple[str, str]


class Piece(NamedTuple):
    """One drawn part of a structured block; x, y relative to the block's top-left."""

    kind: str  # "body" / "small" / "title" / "meta" text, "link", "card", "thumb", "pill"
    x: float
    y: float
    w: float
    h: float
    text: str = ""
    style: str = ""  # a pill's action kind; a thumb's image URL
    target: Target | None = None

    def rect(self, origin: QPointF) -> QRectF:
        return QRectF(origin.x() + self.x, origin.y() + self.y, self.w, self.h)


class Block(NamedTuple):
    """A laid-out structured block: its pieces, width and height."""

    pieces: list[Piece]
    width: float
    height: float


class Fonts(NamedTuple):
    """The wrappers a block is measured with (the bubble layout's)."""

    body: FontWrapper
    small: FontWrapper
    name: FontWrapper


def _elide(wrapper: FontWrapper, text: str, width: float) -> str:
    one = literal(text, 500, one_line=True)
    if wrapper.width(one) <= width:
        return one
    return wrapper.metrics.elidedText(one, Qt.TextElideMode.ElideRight, max(1.0, width))


def _lines(wrapper: FontWrapper, text: str, width: float, most: int) -> list[str]:
    """``text`` wrapped to ``width``, at most ``most`` lines, the last elided if cut."""
    text = literal(text, 2000)
    wrapped = [line for line, _w, _rtl in wrapper.wrap(text, max(1.0, width))] if text else []
    if len(wrapped) > most:
        rest = " ".join(wrapped[most - 1 :])
        wrapped = [*wrapped[: most - 1], _elide(wrapper, rest + " …", width)]
    return [_elide(wrapper, line, width) for line in wrapped]


def pill_label(action: dict[str, Any]) -> str:
    """A button's label with a sign of its kind (a link opens a page, ↗)."""
    label = literal(action_label(action), 200, one_line=True)
    kind = action_kind(action)
    if kind in ("link", "webview", "buy"):
        return f"{label} ↗"
    if kind == "locationRequest":
        return f"📍 {label}"
    if kind == "share":
        return f"{label} ⤴"
    return label


def pill_target(action: dict[str, Any]) -> Target | None:
    url = action_url(action)
    return ("url", url) if url is not None else None


def rich_block(item: ConversationItem, fonts: Fonts, width_limit: float) -> Block | None:
    """The structured content of ``item`` within ``width_limit`` px, or None if it has none."""
    pieces: list[Piece] = []
    y = 0.0
    widest = 0.0
    body, small = fonts.body, fonts.small

    def text_line(kind: str, wrapper: FontWrapper, text: str, target: Target | None = None) -> None:
        nonlocal y, widest
        shown = _elide(wrapper, text, width_limit)
        width = min(width_limit, wrapper.width(shown))
        pieces.append(Piece(kind, 0.0, y, width, wrapper.line_height, shown, "", target))
        widest = max(widest, width)
        y += wrapper.line_height

    def link_row(links: Sequence[tuple[str, Target | None]]) -> None:
        nonlocal y, widest
        x = 0.0
        y += _LINE_GAP
        for label, target in links:
            if target is None:
                continue
            width = fonts.name.width(label)
            pieces.append(Piece("link", x, y, width, fonts.name.line_height, label, "", target))
            x += width + 16
        widest = max(widest, x - 16)
        y += fonts.name.line_height

    if item.has_file:
        name = file_name(item.media_url)
        text_line("body", body, f"📎 {name}")
        facts = [part for part in (format_size(item.media_size), item.media_type) if part]
        if facts:
            text_line("meta", small, " · ".join(facts))
        open_url = safe_url(item.media_url)
        link_row(
            [
                ("Open", ("url", open_url) if open_url else None),
                (
                    "Save…",
                    ("save", item.media_url) if fetchable_media_url(item.media_url) else None,
                ),
            ]
        )
    if item.coordinates is not None:
        lat, lon = item.coordinates
        text_line("body", body, f"📍 {format_coordinates(lat, lon)}")
        link_row([("Open map", ("url", map_url(lat, lon)))])
    if item.fields and item.msg_type in ("form", "formResponse"):
        for line in form_lines(item.fields, response=item.msg_type == "formResponse"):
            text_line("small", small, line)
    if item.payload and item.role == "user":
        text_line("meta", small, f"↩ Reply button · payload {item.payload}")
    if item.has_cards:
        y, card_width = _cards(item, fonts, width_limit, pieces, y + (4 if pieces else 0))
        widest = max(widest, card_width)
    if not pieces:
        return None
    return Block(pieces, math.ceil(widest), math.ceil(y))


def _cards(
    item: ConversationItem, fonts: Fonts, limit: float, pieces: list[Piece], top: float
) -> tuple[float, float]:
    """Lay the cards of a carousel (a grid) or list (a column) out; (bottom, width)."""
    cards = list(item.items[:MAX_CARDS])
    is_list = item.msg_type == "list"
    if is_list:
        card_w = min(limit, 320.0)
        columns = 1
    else:
        card_w = min(limit, float(CARD_WIDTH))
        columns = max(1, int((limit + _CARD_GAP) // (card_w + _CARD_GAP)))
    pill_h = fonts.small.line_height + 8
    y = top
    widest = 0.0
    for start in range(0, len(cards), columns):
        row = cards[start : start + columns]
        laid = [_card(card, fonts, card_w, is_list, pill_h) for card in row]
        height = max(h for _, h in laid)
        for column, (card_pieces, _h) in enumerate(laid):
            x = column * (card_w + _CARD_GAP)
            pieces.append(Piece("card", x, y, card_w, height))
            pieces.extend(p._replace(x=p.x + x, y=p.y + y) for p in card_pieces)
        widest = max(widest, len(row) * card_w + (len(row) - 1) * _CARD_GAP)
        y += height + _CARD_GAP
    y -= _CARD_GAP
    if len(item.items) > MAX_CARDS:
        more = len(item.items) - MAX_CARDS
        label = f"… {more} more item" + ("s" if more > 1 else "") + " (Show details…)"
        pieces.append(Piece("meta", 0.0, y + 2, limit, fonts.small.line_height, label))
        y += fonts.small.line_height + 2
    return y, widest


def _card(
    card: dict[str, Any], fonts: Fonts, width: float, is_list: bool, pill_h: float
) -> tuple[list[Piece], float]:
    pieces: list[Piece] = []
    media = card.get("mediaUrl")
    image_url = media if isinstance(media, str) and media else ""
    title = card.get("title")
    description = card.get("description")
    inner = width - 2 * _CARD_PAD
    y = 0.0
    text_x = _CARD_PAD
    if image_url and not is_list:
        target = ("image", image_url) if fetchable_media_url(image_url) else None
        pieces.append(Piece("thumb", 0.0, 0.0, width, CARD_IMAGE_HEIGHT, "", image_url, target))
        y = CARD_IMAGE_HEIGHT
    elif image_url and is_list:
        target = ("image", image_url) if fetchable_media_url(image_url) else None
        pieces.append(
            Piece(
                "thumb",
                width - _CARD_PAD - LIST_IMAGE,
                _CARD_PAD,
                LIST_IMAGE,
                LIST_IMAGE,
                "",
                image_url,
                target,
            )
        )
        inner -= LIST_IMAGE + _CARD_PAD
    y += _CARD_PAD
    if isinstance(title, str) and title:
        for line in _lines(fonts.name, title, inner, 2):
            pieces.append(Piece("title", text_x, y, inner, fonts.name.line_height, line))
            y += fonts.name.line_height
    if isinstance(description, str) and description:
        for line in _lines(fonts.small, description, inner, 3):
            pieces.append(Piece("meta", text_x, y, inner, fonts.small.line_height, line))
            y += fonts.small.line_height
    if is_list and image_url:
        y = max(y, _CARD_PAD + LIST_IMAGE)
    actions = card.get("actions")
    acts = [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []
    if acts:
        y += 4
    pill_w = width - 2 * _CARD_PAD
    for action in acts[:MAX_CARD_ACTIONS]:
        label = _elide(fonts.small, pill_label(action), pill_w - 2 * _PILL_PAD_X)
        pieces.append(
            Piece(
                "pill",
                _CARD_PAD,
                y,
                pill_w,
                pill_h,
                label,
                action_kind(action),
                pill_target(action),
            )
        )
        y += pill_h + 4
    if len(acts) > MAX_CARD_ACTIONS:
        more = len(acts) - MAX_CARD_ACTIONS
        pieces.append(Piece("meta", _CARD_PAD, y, pill_w, fonts.small.line_height, f"+{more} more"))
        y += fonts.small.line_height
    return pieces, y + _CARD_PAD - (4 if acts and len(acts) <= MAX_CARD_ACTIONS else 0)


class TextLink(NamedTuple):
    """A clickable piece of a wrapped line: characters [start, end) at x [x0, x1)."""

    line: int
    start: int
    end: int
    x0: float
    x1: float
    url: str


def text_link_spans(
    text: str, lines: Sequence[Line], width_of: Callable[[str], float]
) -> list[TextLink]:
    """Each clickable link piece in wrapped ``lines``: its line, characters, x span, URL.

    ``text`` is what was wrapped; each line is found in it in order (wrapping only drops
    the spaces and newlines it breaks at), so a link broken over two lines is clickable
    on both. Right-to-left lines are left unlinked (their x positions differ).
    """
    if "://" not in text and "mailto:" not in text.lower():
        return []
    canonical = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    links = find_links(canonical)
    if not links:
        return []
    spans: list[TextLink] = []
    cursor = 0
    for index, (line, _width, rtl) in enumerate(lines):
        if not line:
            continue
        start = canonical.find(line, cursor)
        if start < 0:
            break  # cannot happen with wrap's output; then no more links rather than wrong ones
        end = start + len(line)
        cursor = end
        if rtl:
            continue
        for link_start, link_end, url in links:
            if link_end <= start or link_start >= end:
                continue
            a, b = max(link_start, start) - start, min(link_end, end) - start
            spans.append(TextLink(index, a, b, width_of(line[:a]), width_of(line[:b]), url))
    return spans


# Painting ---------------------------------------------------------------------------------
class Ink(NamedTuple):
    """The colours a block is painted with."""

    text: QColor
    meta: QColor
    link: QColor
    card: QColor
    card_text: QColor
    card_meta: QColor
    accent: QColor
    placeholder: QColor
    error: QColor


ThumbLookup = Callable[[str], "tuple[QPixmap | None, str | None]"]


def paint_pieces(
    painter: QPainter,
    origin: QPointF,
    block: Block,
    fonts: Fonts,
    ink: Ink,
    thumbs: ThumbLookup,
) -> None:
    """Draw ``block`` with its top-left at ``origin``; ``thumbs(url)`` gives (pixmap, failure)."""
    in_card = False
    for piece in block.pieces:
        rect = piece.rect(origin)
        kind = piece.kind
        if kind == "card":
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ink.card)
            painter.drawRoundedRect(rect, 10, 10)
            in_card = True
            continue
        if kind == "thumb":
            pixmap, failure = thumbs(piece.style)
            paint_thumbnail(painter, rect, pixmap, failure, ink, fonts.small.font, radius=8)
            continue
        if kind == "pill":
            paint_pill(painter, rect, piece.text, piece.style, ink.accent, fonts.small.font)
            continue
        wrapper = {"body": fonts.body, "title": fonts.name, "link": fonts.name}.get(
            kind, fonts.small
        )
        font = QFont(wrapper.font)
        if kind == "link":
            font.setUnderline(True)
            painter.setPen(ink.link)
        elif kind == "meta":
            painter.setPen(ink.card_meta if in_card else ink.meta)
        else:
            painter.setPen(ink.card_text if in_card and kind == "title" else ink.text)
        if in_card and kind in ("title", "meta"):
            painter.setPen(ink.card_text if kind == "title" else ink.card_meta)
        painter.setFont(font)
        painter.drawText(
            rect,
            Qt.AlignmentFlag.AlignLeft
            | Qt.AlignmentFlag.AlignAbsolute
            | Qt.AlignmentFlag.AlignVCenter
            | Qt.TextFlag.TextSingleLine,
            piece.text,
        )


def paint_pill(
    painter: QPainter, rect: QRectF, label: str, kind: str, color: QColor, font: QFont
) -> None:
    """A button drawn by kind: reply round, postback squarer, link filled, others dashed."""
    box = rect.adjusted(0.5, 0.5, -0.5, -0.5)
    radius = box.height() / 2
    pen = QPen(color)
    if kind in ("link", "webview", "buy"):
        fill = QColor(color)
        fill.setAlpha(36)
        painter.setBrush(fill)
    else:
        painter.setBrush(Qt.BrushStyle.NoBrush)
    if kind == "postback":
        radius = 6.0
    elif kind not in ("reply", "link", "webview", "buy", "locationRequest", "share"):
        pen.setStyle(Qt.PenStyle.DashLine)
        radius = 6.0
    painter.setPen(pen)
    painter.drawRoundedRect(box, radius, radius)
    painter.setFont(font)
    painter.setPen(color)
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextSingleLine, label)


def paint_thumbnail(
    painter: QPainter,
    target: QRectF,
    source: QPixmap | None,
    failure: str | None,
    ink: Ink,
    font: QFont,
    *,
    radius: float,
) -> None:
    """An image filling ``target`` (cropped to its shape, never stretched), a "Loading…"
    placeholder, or a broken-image frame with the reason."""
    path = QPainterPath()
    path.addRoundedRect(target, radius, radius)
    background = QColor(ink.placeholder)
    background.setAlpha(50)
    painter.fillPath(path, background)
    if source is None or source.isNull():
        painter.save()
        painter.setClipPath(path)
        painter.setFont(font)
        if failure is not None:
            painter.setPen(ink.error)
            text = "⚠ Image unavailable"
            reason = inline(failure, 200, one_line=True)
            box = target.adjusted(6, 0, -6, 0)
            painter.drawText(
                box,
                Qt.AlignmentFlag.AlignHCenter
                | Qt.AlignmentFlag.AlignVCenter
                | Qt.TextFlag.TextWordWrap,
                f"{text}\n{reason}",
            )
        else:
            painter.setPen(ink.placeholder)
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, "Loading image…")
        painter.restore()
        return
    dpr = source.devicePixelRatio() or 1.0
    natural_w, natural_h = source.width() / dpr, source.height() / dpr
    painter.save()
    painter.setClipPath(path)
    if natural_w <= target.width() and natural_h <= target.height():
        # Smaller than the frame: shown at its own size, centred, never blown up.
        x = target.x() + (target.width() - natural_w) / 2
        y = target.y() + (target.height() - natural_h) / 2
        painter.drawPixmap(QPointF(x, y), source)
    else:
        # Cover the frame: scale to fill it and crop the overflow, centred.
        scale = max(target.width() / natural_w, target.height() / natural_h)
        crop_w, crop_h = target.width() / scale, target.height() / scale
        crop = QRectF(
            (natural_w - crop_w) / 2 * dpr,
            (natural_h - crop_h) / 2 * dpr,
            crop_w * dpr,
            crop_h * dpr,
        )
        painter.drawPixmap(target, source, crop)
    painter.restore()


def pieces_at(block: Block, origin: QPointF, point: QPointF) -> Target | None:
    """The target of the clickable piece of ``block`` at ``point``, if any."""
    for piece in block.pieces:
        if piece.target is not None and piece.rect(origin).adjusted(-2, -2, 2, 2).contains(point):
            return piece.target
    return None
