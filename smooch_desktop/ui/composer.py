"""The composer: a multi-line box where Enter sends and Shift+Enter adds a line.

Also what tells the agent about structure: the placeholder and a "?" menu hint that
shorthand exists (each example inserts itself at the cursor), a button that opens the
structured-message editor, and a line saying a structured message is attached, with
Edit and Remove. What is attached, and how it is sent, is not kept here
(``ui/structured_editor.py``, ``ui/main_window.py``).

Files: an Attach button, and the text box hands over what is pasted or dropped on it
that is not text — an image on the clipboard (``imagePasted``), local files
(``filesOffered``) — instead of inserting it. A line under the box names the attached
file with Remove. Checking, copying and sending it are the window's (``ui/upload.py``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, Qt, Signal, Slot
from PySide6.QtGui import QImage, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.core.validation import TEXT_LIMIT, TEXT_WARN_AT
from smooch_desktop.ui.plain import ElidedLabel, PlainLabel
from smooch_desktop.ui.sender_panel import error_label, show_error

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMenu


#: (what it makes, shorthand inserted at the cursor) for the "?" menu.
SHORTHAND_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Reply button", "%[Yes](reply:YES)"),
    ("Postback button", "%[Tell me more](postback:MORE)"),
    ("Link button", "%[Open the site](https://example.com)"),
    ("Location request", "%[Share your location](location)"),
    ("Buy button", "$[Buy now](25.00)"),
    ("Image", "![](https://example.com/photo.jpg)"),
)
PLACEHOLDER = "Write a reply…  Buttons and images: %[Yes](reply:YES), ![](https://…) — see ?"


def local_files(mime: QMimeData) -> list[str]:
    """The local file paths among ``mime``'s URLs (others, e.g. web links, are left out)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def offers_attachment(mime: QMimeData) -> bool:
    """True for what attaches rather than inserts: local files or an image."""
    return bool(local_files(mime)) or (mime.hasImage() and not mime.hasText())


def alt_typed_letter(event: QKeyEvent) -> bool:
    """True for Alt (not AltGr, which some systems report as Ctrl+Alt) with a key that
    would type text. On macOS, Option+key types accented letters and is left alone."""
    if sys.platform == "darwin":
        return False
    mods = event.modifiers()
    alt = bool(mods & Qt.KeyboardModifier.AltModifier)
    ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
    text = event.text()
    return alt and not ctrl and bool(text) and text.isprintable()


class ComposerEdit(QPlainTextEdit):
    """Text box that turns the send key into a signal, and files into attachments.

    Signals:
        submitRequested(): the user pressed the send key.
        imagePasted(QImage): an image (no text) was pasted or dropped.
        filesOffered(list): local file paths were pasted or dropped.
    """

    submitRequested = Signal()
    imagePasted = Signal(QImage)
    filesOffered = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctrl_enter_sends_only = False

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return offers_attachment(source) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        files = local_files(source)
        if files:
            self.filesOffered.emit(files)
            return
        if source.hasImage() and not source.hasText():
            image = source.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.imagePasted.emit(image)
            return
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if alt_typed_letter(event):
            # Alt+letter is a mnemonic: one that is no shortcut (or whose button is
            # disabled, as Send is when the box is empty) must not type the letter, nor
            # start "typing…" for the end user.
            event.ignore()
            return
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
        structureEditorRequested(): "Cards & buttons…" or the attached line's "Edit…".
        structureRemoveRequested(): the attached line's "Remove".
        attachRequested(): the Attach button (pick a file).
        fileRemoveRequested(): the attached file's "Remove".
    """

    textEdited = Signal(str)
    sendRequested = Signal()
    structureEditorRequested = Signal()
    structureRemoveRequested = Signal()
    attachRequested = Signal()
    fileRemoveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.edit = ComposerEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setAccessibleName("Message")
        self.edit.setTabChangesFocus(True)
        self.edit.setPlaceholderText(PLACEHOLDER)
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
        self.structure_button = QPushButton("Cards && &buttons…")
        self.structure_button.setObjectName("structureButton")
        self.structure_button.setToolTip(
            "Compose a carousel, a list, or buttons of any type, with a preview."
        )
        self.structure_button.setEnabled(False)  # until an editor is connected
        self.hint_button = QToolButton()
        self.hint_button.setObjectName("shorthandHint")
        self.hint_button.setText("?")
        self.hint_button.setAccessibleName("Shorthand for buttons and images")
        self.hint_button.setToolTip(
            "Shorthand: type buttons and images into the text.\n"
            + "\n".join(f"{name}: {example}" for name, example in SHORTHAND_EXAMPLES)
            + "\nClick to insert one."
        )
        self.hint_button.clicked.connect(self._show_hint_menu)
        self.hint_menu: QMenu | None = None
        self.attached = QWidget()
        self.attached.setObjectName("structureAttached")
        self.attached_label = ElidedLabel()
        self.attached_label.setObjectName("structureAttachedText")
        self.attached_edit = QPushButton("Ed&it…")
        self.attached_edit.setObjectName("structureEdit")
        self.attached_remove = QPushButton("&Remove")
        self.attached_remove.setObjectName("structureRemove")
        attached_row = QHBoxLayout(self.attached)
        attached_row.setContentsMargins(0, 0, 0, 0)
        attached_row.addWidget(self.attached_label, 1)
        attached_row.addWidget(self.attached_edit)
        attached_row.addWidget(self.attached_remove)
        self.attached.hide()
        self._has_structure = False
        self.attach_button = QPushButton("&Attach…")
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setAccessibleName("Attach a file")
        self.attach_button.setToolTip(
            "Attach an image or a file (or paste an image, or drop files here)"
        )
        self.attach_button.setEnabled(False)  # until the window handles attachments
        self.file_line = QWidget()
        self.file_line.setObjectName("fileAttached")
        # A file's name comes from outside: one plain line, elided in the middle (the end
        # says what kind of file), so a long or hostile name can't widen the window.
        self.file_label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.file_label.setObjectName("fileAttachedText")
        self.file_remove = QPushButton("Remove")
        self.file_remove.setObjectName("fileRemove")
        self.file_remove.setToolTip("Don't send this file")
        file_row = QHBoxLayout(self.file_line)
        file_row.setContentsMargins(0, 0, 0, 0)
        file_row.addWidget(self.file_label, 1)
        file_row.addWidget(self.file_remove)
        self.file_line.hide()
        self._has_file = False

        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.counter, 0, Qt.AlignmentFlag.AlignRight)
        hints = QHBoxLayout()
        hints.addWidget(self.structure_button, 1)
        hints.addWidget(self.attach_button)
        hints.addWidget(self.hint_button)
        buttons.addLayout(hints)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.attached)
        layout.addWidget(self.file_line)
        layout.addWidget(self.error)
        layout.addWidget(self.note)

        self.edit.textChanged.connect(self._on_text_changed)
        self.edit.submitRequested.connect(self.sendRequested)
        self.send_button.clicked.connect(self.sendRequested)
        self.structure_button.clicked.connect(self.structureEditorRequested)
        self.attached_edit.clicked.connect(self.structureEditorRequested)
        self.attached_remove.clicked.connect(self.structureRemoveRequested)
        self.attach_button.clicked.connect(self.attachRequested)
        self.file_remove.clicked.connect(self.fileRemoveRequested)
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

    def set_structure_available(self, available: bool) -> None:
        """Enable "Cards & buttons…" once something answers it."""
        self.structure_button.setEnabled(available)

    def show_structure(self, summary: str) -> None:
        """Say that a structured message is attached ("" hides the line)."""
        self._has_structure = bool(summary)
        self.attached_label.setText(
            f"📎 {summary} attached (sent after any text above)" if summary else ""
        )
        self.attached.setVisible(bool(summary))
        self._update_counter()

    def set_attach_available(self, available: bool) -> None:
        """Enable the Attach button once something handles attachments."""
        self.attach_button.setEnabled(available)

    def show_file(self, text: str, *, ready: bool = True) -> None:
        """Name the attached file ("" hides the line); ``ready`` False while it is being
        checked and copied (Send waits for it)."""
        self._has_file = bool(text) and ready
        self.file_label.setText(f"Attached: {text}" if text else "")
        self.file_line.setVisible(bool(text))
        self._update_counter()

    @property
    def has_file(self) -> bool:
        return self._has_file

    @Slot()
    def _show_hint_menu(self) -> None:
        if self.hint_menu is None:
            from PySide6.QtWidgets import QMenu  # on demand: not needed to paint the window

            self.hint_menu = QMenu(self.hint_button)
            self.hint_menu.setObjectName("shorthandMenu")
            self.hint_menu.setAccessibleName("Shorthand examples")
            for name, example in SHORTHAND_EXAMPLES:
                action = self.hint_menu.addAction(f"{name}:  {example}")
                action.setData(example)
            self.hint_menu.triggered.connect(self._insert_example)
        button = self.hint_button
        self.hint_menu.popup(button.mapToGlobal(button.rect().bottomLeft()))

    @Slot(object)
    def _insert_example(self, action: object) -> None:
        from PySide6.QtGui import QAction

        assert isinstance(action, QAction)
        example = str(action.data())
        cursor = self.edit.textCursor()
        before = self.edit.toPlainText()[: cursor.position()]
        if before and not before[-1].isspace():
            example = " " + example
        cursor.insertText(example)  # a user edit: typing, draft and preview follow
        self.edit.setFocus()

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
        self.send_button.setEnabled(
            (bool(self.text().strip()) or self._has_structure or self._has_file) and n <= TEXT_LIMIT
        )


def _characters(n: int) -> str:
    return f"{n:,} character" if n == 1 else f"{n:,} characters"
