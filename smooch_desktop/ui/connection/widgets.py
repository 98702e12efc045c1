"""Small widgets of the connection dialog: the painted eye icon, icons, field errors.

Holds only drawing and the label that explains a field's problem under it; no form
state, validation or keychain code (those are in :mod:`.form` and :mod:`.secret_saver`).
"""

from __future__ import annotations

from typing import Final

from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QShowEvent
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QWidget

from smooch_desktop.resources import icon_path
from smooch_desktop.ui.plain import plain_tooltip, visible_controls

ERROR_COLOR: Final = "#c62828"
OK_COLOR: Final = "#2e7d32"
MUTED_COLOR: Final = "#6b6b6b"


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
    """The red explanation right under its field, in a line kept for it.

    The line is there whether or not there is a message (hidden only with its field's
    row), so a message appearing never moves the fields below: a click aimed at one
    lands on it. A message longer than the line is cut with "…"; the whole of it is in
    the tooltip and in the field's accessible description.
    """

    def __init__(
        self, object_name: str, form: QFormLayout, field: QWidget, parent: QWidget
    ) -> None:
        self._slot = QWidget(parent)
        self._slot.setObjectName(object_name + "Slot")
        super().__init__(self._slot)
        self._field = field
        self._full = ""
        self.setObjectName(object_name)
        self.setWordWrap(False)
        self.setStyleSheet(f"color: {ERROR_COLOR};")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._slot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._slot.setFixedHeight(self.fontMetrics().height())
        self._form = form
        self._row = form.rowCount()
        # A row of its own (field column only), always there while its field is.
        form.setWidget(self._row, QFormLayout.ItemRole.FieldRole, self._slot)
        self.hide()

    def set_row_visible(self, visible: bool) -> None:
        """Show or hide the kept line with its field's row (the Zendesk subdomain's)."""
        self._form.setRowVisible(self._row, visible)

    def show_message(self, message: str) -> None:
        shown = visible_controls(message)  # may quote input: shown literally
        if shown == self._full and self.isVisibleTo(self._slot) == bool(message):
            return
        self._full = shown
        self._fit()
        self.setVisible(bool(message))
        self._field.setAccessibleDescription(shown)

    def text(self) -> str:
        """The whole message (what the line shows may be cut)."""
        return self._full

    def _fit(self) -> None:
        width = max(1, self._slot.width())
        self.setGeometry(0, 0, width, self._slot.height())
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(shown)
        self.setToolTip(plain_tooltip(self._full) if shown != self._full else "")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._slot.setFixedHeight(self.fontMetrics().height())
        super().changeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._slot and event.type() == QEvent.Type.Resize:
            self._fit()
        return False

    def showEvent(self, event: QShowEvent) -> None:
        self._slot.installEventFilter(self)
        self._fit()
        super().showEvent(event)
