"""Avatars drawn by ui/avatars.py: the initials circle and round photos."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPixmap

from smooch_desktop.ui.avatars import initials_pixmap, round_pixmap


def test_initials_and_round_pixmaps(qapp: object) -> None:
    pixmap = initials_pixmap(32, "Ada Lovelace", "ada@example.com", 2.0)
    assert pixmap.width() == 64
    assert pixmap.devicePixelRatio() == 2.0
    image = pixmap.toImage()
    assert image.pixelColor(0, 0).alpha() == 0  # outside the circle
    assert image.pixelColor(6, 32).alpha() == 255  # inside, left of the letters
    again = initials_pixmap(32, "Ada Lovelace", "ADA@example.com ", 2.0).toImage()
    assert again.pixelColor(6, 32) == image.pixelColor(6, 32)  # stable colour per email

    square = QPixmap(300, 200)
    square.fill(QColor("blue"))
    rounded = round_pixmap(square, 40, 1.0).toImage()
    assert rounded.width() == 40
    assert rounded.pixelColor(1, 1).alpha() == 0
    assert rounded.pixelColor(20, 20) == QColor("blue")
    assert round_pixmap(QPixmap(), 40).toImage().pixelColor(20, 20).alpha() == 0
