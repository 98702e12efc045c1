"""Painting round avatars: initials on a stable colour, and circular crops of pictures.

Pure painting only (no fetching): the colour and the letters come from
:mod:`smooch_desktop.core.gravatar`, so the sender panel's preview, the conversation
view and anything else draw the same person the same way.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPixmap

from smooch_desktop.core.gravatar import avatar_color, initials, normalize_email

#: Initials take this share of the avatar's height; shrunk further if two wide letters
#: would not fit inside the circle.
_LETTER_HEIGHT = 0.40
_MAX_TEXT_WIDTH = 0.72


def avatar_seed(name: str, email: str = "") -> str:
    """The string the colour is derived from: the normalized email, else the name."""
    return normalize_email(email) or name.strip().lower() or "?"


def paint_initials_avatar(
    painter: QPainter, rect: QRect | QRectF, name: str, email: str = ""
) -> None:
    """Paint a filled circle in ``rect`` with one or two white initials of ``name``/``email``.

    The colour is stable for a given person (derived from the email when there is one,
    so it matches the Gravatar preview) and white text on it meets WCAG AA contrast.
    The painter's state is restored afterwards.
    """
    box = QRectF(rect)
    if box.width() <= 0 or box.height() <= 0:
        return
    red, green, blue = avatar_color(avatar_seed(name, email))
    letters = initials(name, email)
    painter.save()
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(red, green, blue))
        painter.drawEllipse(box)
        font = QFont(painter.font())
        font.setWeight(QFont.Weight.DemiBold)
        pixel_size = max(6.0, box.height() * _LETTER_HEIGHT)
        font.setPixelSize(round(pixel_size))
        width = QFontMetricsF(font).horizontalAdvance(letters)
        limit = box.width() * _MAX_TEXT_WIDTH
        if width > limit > 0:
            font.setPixelSize(max(6, math.floor(pixel_size * limit / width)))
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, letters)
    finally:
        painter.restore()


def _blank_pixmap(size: int, device_pixel_ratio: float) -> QPixmap:
    dpr = device_pixel_ratio if device_pixel_ratio > 0 else 1.0
    side = max(1, math.ceil(size * dpr))
    pixmap = QPixmap(side, side)
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    return pixmap


def initials_pixmap(
    size: int, name: str, email: str = "", device_pixel_ratio: float = 1.0
) -> QPixmap:
    """Return a ``size`` by ``size`` (logical pixels) round initials avatar, sharp on HiDPI."""
    pixmap = _blank_pixmap(size, device_pixel_ratio)
    painter = QPainter(pixmap)
    try:
        paint_initials_avatar(painter, QRectF(0, 0, size, size), name, email)
    finally:
        painter.end()
    return pixmap


def round_pixmap(source: QPixmap, size: int, dpr: float = 1.0) -> QPixmap:
    """Return ``source`` scaled to cover a ``size``-pixel circle and cropped to it.

    Non-square pictures are centred; the edge is antialiased (the picture is painted as
    the brush of an ellipse, not clipped). A null ``source`` gives a transparent pixmap.
    """
    result = _blank_pixmap(size, dpr)
    if source.isNull():
        return result
    side = result.width()
    scaled = source.scaled(
        side,
        side,
        Qt.AspectRatioMode.KeepAspectRatioByExpanding,
        Qt.TransformationMode.SmoothTransformation,
    )
    scaled.setDevicePixelRatio(1.0)
    left = (scaled.width() - side) // 2
    top = (scaled.height() - side) // 2
    cropped = scaled.copy(QRect(left, top, side, side))
    # Paint in device pixels so the brush texture maps 1:1 onto the result.
    result.setDevicePixelRatio(1.0)
    painter = QPainter(result)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(cropped))
        painter.drawEllipse(QRectF(0, 0, side, side))
    finally:
        painter.end()
    result.setDevicePixelRatio(dpr if dpr > 0 else 1.0)
    return result
