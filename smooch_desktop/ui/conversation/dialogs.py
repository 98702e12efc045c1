"""The windows a history message opens: the image viewer and "Show details…".

* :class:`ImageViewer` shows an image at full size (fitted to the window, or at 100 % with
  scroll bars); the image is fetched and decoded on the media loader's worker, with
  "Loading…" meanwhile and the reason if it fails. Keys: Esc closes, F or 0 toggles fit
  and 100 %; buttons: Fit / Actual size, Open in browser, Save…, Close.
* :class:`MessageDetailsDialog` shows a message's facts, actions (type, uri, payload…),
  items, fields, payload and metadata as plain, read-only, selectable text, with Copy.

Everything shown here came from outside: it is set as plain text (a ``QPlainTextEdit``,
:class:`~smooch_desktop.ui.plain.PlainLabel`), never as markup (docs/architecture.md#outside-text).
Fetching lives in :mod:`smooch_desktop.ui.media_loader`; what the details say in
:mod:`.content`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QFontDatabase, QGuiApplication, QKeyEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.ui.conversation.content import file_name, format_size, safe_url
from smooch_desktop.ui.media_loader import FullImage, MediaLoader
from smooch_desktop.ui.plain import PlainLabel, inline

UrlOpener = Callable[[QUrl], bool]


class ImageViewer(QDialog):
    """A message's image at full size; fetched off the GUI thread when the window opens.

    ``on_save(url)`` is what "Save…" does (the view's save flow); ``open_url`` opens the
    address in the browser.
    """

    def __init__(
        self,
        url: str,
        media: MediaLoader,
        *,
        open_url: UrlOpener,
        on_save: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.url = url
        name = inline(file_name(url, "Image"), 80, one_line=True)
        self.setWindowTitle(f"Image — {name}")
        self.setAccessibleName("Image viewer")
        self._open_url = open_url
        self._source: QPixmap | None = None
        self._fit = True
        self.failure: str | None = None

        self.status = PlainLabel("Loading image…")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setAccessibleName(f"Image {name}")
        self.scroller = QScrollArea()
        self.scroller.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroller.setWidget(self.picture)
        self.scroller.setWidgetResizable(True)
        self.info = PlainLabel("")

        self.fit_button = QPushButton("Actual size")
        self.fit_button.setEnabled(False)
        self.fit_button.setToolTip("Switch between fitting the window and 100 % (F)")
        self.fit_button.clicked.connect(self.toggle_fit)
        self.open_button = QPushButton("Open in browser")
        self.open_button.setEnabled(safe_url(url) is not None)
        self.open_button.clicked.connect(lambda: self._open_url(QUrl(url)))
        self.save_button = QPushButton("Save…")
        self.save_button.clicked.connect(lambda: on_save(url))
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        close.setDefault(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.info, 1)
        for button in (self.fit_button, self.open_button, self.save_button, close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.scroller, 1)
        layout.addLayout(buttons)
        screen = QGuiApplication.primaryScreen()
        room = screen.availableGeometry().size() if screen is not None else QSize(1024, 768)
        self.resize(min(900, room.width() * 4 // 5), min(700, room.height() * 4 // 5))
        media.load_full(url, self._on_loaded, self._on_failed, self)

    def is_loaded(self) -> bool:
        return self._source is not None

    def _on_loaded(self, result: FullImage) -> None:
        self._source = QPixmap.fromImage(result.image)
        self.status.hide()
        facts = [f"{result.width} x {result.height} px", format_size(result.size)]
        self.info.setText(" · ".join(f for f in facts if f))
        self.fit_button.setEnabled(True)
        self._show_pixmap()

    def _on_failed(self, reason: str) -> None:
        self.failure = reason
        self.status.setText(f"⚠ The image can't be shown: {reason}")

    def toggle_fit(self) -> None:
        self._fit = not self._fit
        self.fit_button.setText("Actual size" if self._fit else "Fit to window")
        self._show_pixmap()

    def _show_pixmap(self) -> None:
        source = self._source
        if source is None:
            return
        if self._fit:
            room = self.scroller.viewport().size()
            if source.width() > room.width() or source.height() > room.height():
                source = source.scaled(
                    room,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
        self.scroller.setWidgetResizable(self._fit)
        self.picture.setPixmap(source)
        if not self._fit:
            self.picture.adjustSize()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit:
            self._show_pixmap()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_F, Qt.Key.Key_0) and self._source is not None:
            self.toggle_fit()
            event.accept()
            return
        super().keyPressEvent(event)  # Esc closes


class MessageDetailsDialog(QDialog):
    """A message's details as plain text ("Show details…"): read-only, selectable, Copy."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageDetails")
        self.setWindowTitle("Message details")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setPlainText(text)
        self.text.setAccessibleName("Message details")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(560, 480)
