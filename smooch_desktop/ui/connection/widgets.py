"""Small widgets of the connection dialog: the painted eye icon, icons, field errors.

Holds only drawing and the label that explains a field's problem under it; no form
state, validation or keychain code (those are in :mod:`.form` and :mod:`.secret_saver`).
"""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QWidget

from smooch_desktop.resources import icon_path
from smooch_desktop.ui.plain import breakable, visible_controls

ERROR_COLOR: Final = "#c62828"
OK_COLOR: Final = "#2e7d32"
MUTED_COLOR: Final = "#6b6b6b"
#: Error labels never ask for more width than this; they wrap to the field's width.
_MIN_WRAP_WIDTH: Final = 120
_FALLBACK_WRAP_WIDTH: Final = 400


def eye_icon(color: QColor, *, crossed: bool) -> QIcon:
    """An eye (or a crossed-out eye) for the show/hide secret action."""
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(color, 2.4))
    outline = QPainterPath()
    outline.moveTo(3, 16)
    outline.quadTo(16, 3, 29, 16)
    outline.quadTo(16, 29, 3, 16)
    painter.drawPath(outline)
    painter.setBrush(color)
    painter.drawEllipse(QPointF(16, 16), 4.5, 4.5)
    if crossed:
        painter.drawLine(QPointF(6, 27), QPointF(26, 5))
    painter.end()
    return QIcon(pixmap)


def svg_pixmap(name: str, size: int = 16) -> QPixmap:
    """The app's SVG icon ``name`` (``check``, ``warning``, ``clock``…) at ``size`` pixels."""
    return QIcon(str(icon_path(name))).pixmap(QSize(size, size))


class FieldError(QLabel):
    """The red explanation in the form row right under its field; the row hides when empty."""

    def __init__(
        self, object_name: str, form: QFormLayout, field: QWidget, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self._field = field
        self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {ERROR_COLOR};")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Expanding: take the whole field column, so the text wraps at the field's width.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._form = form
        self._shown = False
        self._row = form.rowCount()
        # A row of its own (field column only): QFormLayout wraps it to the field's width.
        form.setWidget(self._row, QFormLayout.ItemRole.FieldRole, self)
        form.setRowVisible(self._row, False)

    def show_message(self, message: str) -> None:
        shown = breakable(visible_controls(message))  # may quote input: long words wrap
        if shown == self.text() and self._shown == bool(message):
            return
        self._shown = bool(message)
        self.setText(shown)
        self._form.setRowVisible(self._row, bool(message))
        self.updateGeometry()

    # The layouts above (a splitter) ask for the size hint, not height-for-width; answer
    # with the height the text needs at the width the label really has.
    def sizeHint(self) -> QSize:
        width = max(self.width(), self._field.width())
        if width <= _MIN_WRAP_WIDTH:
            width = _FALLBACK_WRAP_WIDTH
        return QSize(_MIN_WRAP_WIDTH, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()
