"""The composer: a multi-line box where Enter sends and Shift+Enter adds a line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from smooch_desktop.core.validation import TEXT_LIMIT, TEXT_WARN_AT
from smooch_desktop.ui.plain import PlainLabel
from smooch_desktop.ui.sender_panel import error_label, show_error


class ComposerEdit(QPlainTextEdit):
    """Text box that turns the send key into a signal.

    Signals:
        submitRequested(): the user pressed the send key.
    """

    submitRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctrl_enter_sends_only = False

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            mods = event.modifiers()
            ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
            shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
            if ctrl or (not shift and not self.ctrl_enter_sends_only):
                self.submitRequested.emit()
                event.accept()
                return
            if shift or self.ctrl_enter_sends_only:
                self.insertPlainText("\n")
                event.accept()
                return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Composer box, send button (which names its key), character count and messages.

    Signals:
        textEdited(str): the text changed by the user (drives the typing policy).
        sendRequested(): send button or send key.
    """

    textEdited = Signal(str)
    sendRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.edit = ComposerEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setAccessibleName("Message")
        self.edit.setTabChangesFocus(True)
        self.edit.setPlaceholderText("Write a reply…")
        self.edit.setMinimumHeight(60)
        self.send_button = QPushButton()
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(False)
        self.counter = QLabel()
        self.counter.setObjectName("charCounter")
        self.note = PlainLabel(wrap=True)
        self.note.setObjectName("composerNote")
        self.note.setStyleSheet("color: #616161;")
        self.note.hide()
        self.error = error_label()

        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.counter, 0, Qt.AlignmentFlag.AlignRight)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.error)
        layout.addWidget(self.note)

        self.edit.textChanged.connect(self._on_text_changed)
        self.edit.submitRequested.connect(self.sendRequested)
        self.send_button.clicked.connect(self.sendRequested)
        self._programmatic = False
        self.set_ctrl_enter_mode(False)
        self._update_counter()

    def set_ctrl_enter_mode(self, ctrl_enter: bool) -> None:
        self.edit.ctrl_enter_sends_only = ctrl_enter
        key = "Ctrl+Enter" if ctrl_enter else "Enter"
        self.send_button.setText(f"&Send ({key})")
        newline = "Enter" if ctrl_enter else "Shift+Enter"
        self.send_button.setToolTip(f"Send with {key}; {newline} adds a new line.")

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the text without it counting as the user typing."""
        self._programmatic = True
        try:
            self.edit.setPlainText(text)
            cursor = self.edit.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            self.edit.setTextCursor(cursor)
        finally:
            self._programmatic = False
        self._update_counter()

    def show_error(self, text: str) -> None:
        show_error(self.error, text)

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    @Slot()
    def _on_text_changed(self) -> None:
        self._update_counter()
        if not self.error.isHidden():  # isVisible() is False while the window is hidden
            show_error(self.error, "")
        if not self._programmatic:
            self.textEdited.emit(self.text())

    def _update_counter(self) -> None:
        n = len(self.text())
        self.counter.setText(f"{n}/{TEXT_LIMIT}" if n >= TEXT_WARN_AT else f"{n}")
        if n > TEXT_LIMIT:
            self.counter.setStyleSheet("color: #c62828; font-weight: bold;")
            self.counter.setToolTip(f"{_characters(n - TEXT_LIMIT)} over the limit")
        elif n >= TEXT_WARN_AT:
            self.counter.setStyleSheet("color: #b26a00;")
            self.counter.setToolTip(f"{_characters(TEXT_LIMIT - n)} left")
        else:
            self.counter.setStyleSheet("color: #616161;")
            self.counter.setToolTip("")
        self.send_button.setEnabled(bool(self.text().strip()) and n <= TEXT_LIMIT)


def _characters(n: int) -> str:
    return f"{n:,} character" if n == 1 else f"{n:,} characters"
