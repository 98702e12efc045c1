"""A focus ring for a widget whose style draws none (a list view with a painted delegate).

Holds :class:`FocusRing` only: a mouse-transparent child drawn over the border of the
widget it marks, shown while that widget has the keyboard focus. It keeps no state of
the widget and changes nothing in how the widget paints or handles input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QPainter, QPalette, QPen, QRegion
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from PySide6.QtGui import QPaintEvent

#: Width of the ring in device-independent pixels.
RING_WIDTH: Final = 2


class FocusRing(QWidget):
    """Draws the palette's highlight colour around ``target`` while it has the focus.

    A child of ``target`` covering its border only (a mask), so the widget under it is
    never repainted for it and clicks go through to the widget itself.
    """

    def __init__(self, target: QWidget) -> None:
        super().__init__(target)
        self.setObjectName("focusRing")
        self._target = target
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hide()
        target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._target:
            kind = event.type()
            if kind == QEvent.Type.FocusIn:
                self._fit()
                self.show()
                self.raise_()  # above the viewport and the scroll bars
            elif kind == QEvent.Type.FocusOut:
                self.hide()
            elif kind == QEvent.Type.Resize and self.isVisible():
                self._fit()
        return False

    def _fit(self) -> None:
        rect = self._target.rect()
        self.setGeometry(rect)
        inner = rect.adjusted(RING_WIDTH, RING_WIDTH, -RING_WIDTH, -RING_WIDTH)
        self.setMask(QRegion(rect).subtracted(QRegion(inner)))

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            color = self.palette().color(QPalette.ColorRole.Highlight)
            painter.setPen(QPen(color, RING_WIDTH))
            half = RING_WIDTH // 2
            painter.drawRect(self.rect().adjusted(half, half, -half, -half))
        finally:
            painter.end()
