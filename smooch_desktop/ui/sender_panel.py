"""The sender panel: who the end user sees as the author, with a live avatar preview."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.core.gravatar import GRAVATAR_BASE, gravatar_url, smooch_avatar_url
from smooch_desktop.core.validation import (
    ValidationError,
    clean_avatar_url,
    clean_email,
    clean_sender_name,
    is_plausible_email,
)
from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.avatars import initials_pixmap, round_pixmap
from smooch_desktop.ui.plain import PlainLabel, app_rich_label, inline, plain_tooltip, question
from smooch_desktop.ui.settings import AppSettings, SenderIdentity

if TYPE_CHECKING:
    from smooch_desktop.api.models import Sender

PREVIEW_SIZE = 96
EMAIL_SETTLE_MS = 600


SAVE_IDENTITY_TITLE = "Save sender identity"
#: Room a title bar takes besides the title (icon, buttons), before the title is cut.
TITLE_BAR_EXTRA = 180


def title_width(dialog: QWidget, title: str) -> int:
    """A dialog width at which a window manager's title bar shows ``title`` whole."""
    return dialog.fontMetrics().horizontalAdvance(title) + TITLE_BAR_EXTRA


def error_label() -> QLabel:
    # Messages quote user input: never markup, and a long quoted word still wraps.
    label = PlainLabel(wrap=True)
    label.setObjectName("fieldError")
    label.setStyleSheet("color: #c62828;")
    label.hide()
    return label


def show_error(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


class SenderPanel(QWidget):
    """Display name, email and avatar override, with the avatar the user will see.

    The preview asks Gravatar with ``d=404`` once the email has settled (debounced), so
    typing an address costs at most one request, and "no Gravatar" can be told apart and
    shown as locally drawn initials. Results for an address no longer current are dropped.

    Signals:
        senderChanged(): name, email or avatar override changed (valid or not).
    """

    senderChanged = Signal()

    def __init__(
        self,
        settings: AppSettings,
        loader: AvatarLoader,
        *,
        gravatar_base: str = GRAVATAR_BASE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("senderPanel")
        self._settings = settings
        self._loader = loader
        self._gravatar_base = gravatar_base
        self._wanted_url = ""
        #: The caption while the preview shows Smooch's default silhouette ("" otherwise).
        self._silhouette = ""
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(EMAIL_SETTLE_MS)
        self._settle.timeout.connect(self._refresh_preview)

        self.identity_combo = QComboBox()
        self.identity_combo.setObjectName("identityCombo")
        self.identity_combo.setAccessibleName("Saved sender identities")
        # Labels come from the settings file: a long one must not widen the window.
        self.identity_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.identity_combo.setMinimumContentsLength(12)
        self.save_identity_button = QPushButton("Save as…")
        self.save_identity_button.setObjectName("saveIdentityButton")
        self.delete_identity_button = QPushButton("Delete")
        self.delete_identity_button.setObjectName("deleteIdentityButton")

        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("senderName")
        self.name_edit.setPlaceholderText("e.g. Alice (Support)")
        self.name_edit.setMaxLength(200)
        self.email_edit = QLineEdit()
        self.email_edit.setObjectName("senderEmail")
        self.email_edit.setPlaceholderText("alice@example.com — picks the Gravatar")
        self.email_edit.setMaxLength(300)
        self.avatar_edit = QLineEdit()
        self.avatar_edit.setObjectName("avatarOverride")
        self.avatar_edit.setPlaceholderText("Optional https:// image URL (overrides Gravatar)")
        self.avatar_edit.setMaxLength(2100)
        self.name_error = error_label()
        self.email_error = error_label()
        self.avatar_error = error_label()

        self.preview = QLabel()
        self.preview.setObjectName("avatarPreview")
        self.preview.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.preview.setAccessibleName("Avatar preview")
        self.preview_caption = PlainLabel(wrap=True)  # may quote a host name
        self.preview_caption.setObjectName("avatarCaption")
        self.preview_caption.setStyleSheet("color: #616161;")

        # The combo has the field's whole width and the buttons a line of their own under
        # it: beside two buttons of at least 80 px each, a label of 12 characters was cut.
        identity_buttons = QHBoxLayout()
        identity_buttons.setContentsMargins(0, 0, 0, 0)
        identity_buttons.addWidget(self.save_identity_button)
        identity_buttons.addWidget(self.delete_identity_button)
        identity_buttons.addStretch(1)
        identity_row = QVBoxLayout()
        identity_row.setSpacing(4)
        identity_row.addWidget(self.identity_combo)
        identity_row.addLayout(identity_buttons)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for text, field, widget in (
            ("I&dentity:", self.identity_combo, None),
            ("&Name:", self.name_edit, self._stack(self.name_edit, self.name_error)),
            ("E&mail:", self.email_edit, self._stack(self.email_edit, self.email_error)),
            ("Avatar UR&L:", self.avatar_edit, self._stack(self.avatar_edit, self.avatar_error)),
        ):
            label = QLabel(text)
            label.setBuddy(field)  # Alt+letter focuses the field itself
            if widget is None:
                form.addRow(label, identity_row)
            else:
                form.addRow(label, widget)

        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        preview_row.addWidget(self.preview_caption, 1)

        title = app_rich_label("<b>You appear as</b>")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addLayout(preview_row)
        layout.addStretch(1)

        self.name_edit.textEdited.connect(self._on_name_edited)
        self.email_edit.textEdited.connect(self._on_email_edited)
        self.avatar_edit.textEdited.connect(self._on_avatar_edited)
        self.identity_combo.activated.connect(self._on_identity_chosen)
        self.save_identity_button.clicked.connect(self._save_identity)
        self.delete_identity_button.clicked.connect(self._delete_identity)
        loader.imageReady.connect(self._on_image_ready)
        loader.imageMissing.connect(self._on_image_missing)
        loader.imageFailed.connect(self._on_image_failed)

        current = settings.current_identity()
        self.name_edit.setText(current.name)
        self.email_edit.setText(current.email)
        self.avatar_edit.setText(current.avatar_url)
        self._reload_identities(current.label)
        self._validate()
        self._refresh_preview()

    @staticmethod
    def _stack(field: QWidget, error: QLabel) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(field)
        lay.addWidget(error)
        return box

    # Public API ---------------------------------------------------------------------------
    def current_sender(self) -> Sender:
        """The validated sender; raises ValidationError naming the bad field."""
        from smooch_desktop.api.models import Sender

        return Sender(
            name=clean_sender_name(self.name_edit.text()),
            email=clean_email(self.email_edit.text()),
            avatar_url=clean_avatar_url(self.avatar_edit.text()),
        )

    def is_valid(self) -> bool:
        try:
            self.current_sender()
        except ValidationError:
            return False
        return True

    def typing_sender(self) -> Sender:
        """Name and avatar URL for the typing indicator (what Smooch would show)."""
        from smooch_desktop.api.models import Sender

        try:
            sender = self.current_sender()
        except ValidationError:
            return Sender()
        avatar = sender.avatar_url
        if not avatar and sender.email:
            avatar = smooch_avatar_url(sender.email, self._gravatar_base)
        return Sender(sender.name, sender.email, avatar)

    def set_gravatar_base(self, base: str) -> None:
        """Where previews come from (Gravatar, or the sandbox's copy); known once connected."""
        if base != self._gravatar_base:
            self._gravatar_base = base
            self._refresh_preview()

    def preview_url(self) -> str:
        return self._wanted_url

    # Editing --------------------------------------------------------------------------------
    @Slot(str)
    def _on_name_edited(self, _text: str) -> None:
        self._validate()
        self._persist_current()
        if not self._wanted_url:
            self._refresh_preview()
        self.senderChanged.emit()

    @Slot(str)
    def _on_email_edited(self, text: str) -> None:
        self._validate(email_partial=True)
        self._persist_current()
        self._settle.start()  # one request per settled address, none per keystroke
        if not text.strip():
            self._settle.stop()
            self._refresh_preview()
        self.senderChanged.emit()

    @Slot(str)
    def _on_avatar_edited(self, _text: str) -> None:
        self._validate()
        self._persist_current()
        self._settle.start()
        self.senderChanged.emit()

    def _validate(self, *, email_partial: bool = False) -> None:
        for label, fn, edit in (
            (self.name_error, clean_sender_name, self.name_edit),
            (self.avatar_error, clean_avatar_url, self.avatar_edit),
            (self.email_error, clean_email, self.email_edit),
        ):
            try:
                fn(edit.text())
            except ValidationError as exc:
                # Don't shout about a half-typed address; the settle timer re-checks it.
                if not (email_partial and edit is self.email_edit and self.email_edit.hasFocus()):
                    show_error(label, exc.message)
            else:
                show_error(label, "")

    def _persist_current(self) -> None:
        label = self.identity_combo.currentText() if self.identity_combo.currentIndex() > 0 else ""
        self._settings.set_current_identity(
            SenderIdentity(
                label, self.name_edit.text(), self.email_edit.text(), self.avatar_edit.text()
            )
        )

    # Preview -------------------------------------------------------------------------------
    @Slot()
    def _refresh_preview(self) -> None:
        self._validate()
        name = self.name_edit.text().strip()
        email = self.email_edit.text().strip()
        override = self.avatar_edit.text().strip()
        url = ""
        self._silhouette = ""
        if override:
            try:
                url = clean_avatar_url(override)
            except ValidationError:
                url = ""
        elif not self._gravatar_base and (not email or is_plausible_email(email)):
            self._wanted_url = ""
            self._show_initials(name, email)
            self.preview_caption.setText(
                "The avatar preview appears once connected."
                if email
                else "No email: the user will see Smooch's default silhouette."
            )
            return
        elif email and is_plausible_email(email):
            url = gravatar_url(email, size=200, default="404", base=self._gravatar_base)
        elif not email:
            # What Smooch shows for an author without an email (the all-zero hash, d=mm).
            self._show_silhouette("No email: the user sees Smooch's default silhouette.")
            return
        self._wanted_url = url
        if not url:
            self._show_initials(name, email)
            if override:
                self.preview_caption.setText("The avatar URL is not valid; initials shown.")
            else:
                self.preview_caption.setText(
                    "Not a valid email yet, so no Gravatar is looked up; initials shown."
                )
            return
        cached = self._loader.pixmap(url)
        if cached is not None:
            self._show_image(cached, override=bool(override))
        elif self._loader.is_missing(url):
            self._show_missing(override=bool(override))
        else:
            self._show_initials(name, email)
            self.preview_caption.setText("Looking up the avatar…")

    def _show_silhouette(self, caption: str) -> None:
        """Show the picture Smooch shows for an address without a Gravatar (or none):
        Gravatar's "mystery person", fetched like any avatar (initials until it arrives).
        It is the same picture for every such address, so the all-zero hash's URL stands
        for all of them: fetched once, then cached."""
        url = gravatar_url("", size=200, default="mm", base=self._gravatar_base)
        self._wanted_url = url
        self._silhouette = caption
        self.preview_caption.setText(caption)
        cached = self._loader.pixmap(url)
        if cached is not None:
            self._show_image(cached, override=False)
        else:
            self._show_initials(self.name_edit.text(), self.email_edit.text())

    def _show_initials(self, name: str, email: str) -> None:
        dpr = self.devicePixelRatioF()
        self.preview.setPixmap(initials_pixmap(PREVIEW_SIZE, name, email, dpr))

    def _show_image(self, pixmap: QPixmap, *, override: bool) -> None:
        self.preview.setPixmap(round_pixmap(pixmap, PREVIEW_SIZE, self.devicePixelRatioF()))
        if self._silhouette:
            self.preview_caption.setText(self._silhouette)
            return
        self.preview_caption.setText(
            "Custom avatar URL: the user sees this picture."
            if override
            else "Gravatar found: the user sees this picture."
        )

    def _show_missing(self, *, override: bool) -> None:
        if override:
            self._show_initials(self.name_edit.text(), self.email_edit.text())
            self.preview_caption.setText("The avatar URL answered 404 (not found); initials shown.")
            return
        if self._silhouette:  # even the silhouette is missing (a host that has none)
            self._show_initials(self.name_edit.text(), self.email_edit.text())
            self.preview_caption.setText(self._silhouette + " (initials shown here)")
            return
        self._show_silhouette(
            "No Gravatar for this email: the user sees Smooch's default silhouette."
        )

    def _is_current(self, url: str) -> bool:
        """Whether an answer for ``url`` is for what the fields say now.

        While the settle timer runs the user has changed the address (or override) since
        ``_wanted_url`` was chosen, so even an answer for that URL is stale; the settled
        refresh finds it in the loader's cache if the address comes back.
        """
        return url == self._wanted_url and not self._settle.isActive()

    @Slot(str)
    def _on_image_ready(self, url: str) -> None:
        if self._is_current(url):  # stale answers for an old address are ignored
            pixmap = self._loader.pixmap(url)
            if pixmap is not None:
                self._show_image(pixmap, override=bool(self.avatar_edit.text().strip()))

    @Slot(str)
    def _on_image_missing(self, url: str) -> None:
        if self._is_current(url):
            self._show_missing(override=bool(self.avatar_edit.text().strip()))

    @Slot(str, str)
    def _on_image_failed(self, url: str, reason: str) -> None:
        if self._is_current(url):
            self._show_initials(self.name_edit.text(), self.email_edit.text())
            self.preview_caption.setText(
                f"Couldn't load the avatar ({inline(reason, 300)}); initials shown."
            )

    # Saved identities ---------------------------------------------------------------------
    def _reload_identities(self, select: str = "") -> None:
        self.identity_combo.blockSignals(True)
        self.identity_combo.clear()
        self.identity_combo.addItem("(unsaved)")
        for identity in self._settings.identities():
            self.identity_combo.addItem(identity.label)
            self.identity_combo.setItemData(
                self.identity_combo.count() - 1,
                plain_tooltip(identity.label),
                Qt.ItemDataRole.ToolTipRole,
            )
        index = self.identity_combo.findText(select) if select else 0
        self.identity_combo.setCurrentIndex(max(index, 0))
        self.identity_combo.blockSignals(False)
        self.delete_identity_button.setEnabled(self.identity_combo.currentIndex() > 0)

    @Slot(int)
    def _on_identity_chosen(self, index: int) -> None:
        self.delete_identity_button.setEnabled(index > 0)
        if index <= 0:
            return
        label = self.identity_combo.itemText(index)
        for identity in self._settings.identities():
            if identity.label == label:
                self.name_edit.setText(identity.name)
                self.email_edit.setText(identity.email)
                self.avatar_edit.setText(identity.avatar_url)
                self._settings.set_current_identity(identity)
                self._refresh_preview()
                self.senderChanged.emit()
                return

    @Slot()
    def _save_identity(self) -> None:
        suggested = self.name_edit.text().strip() or self.email_edit.text().strip()
        from PySide6.QtWidgets import QInputDialog

        dialog = QInputDialog(self)
        dialog.setObjectName("saveIdentityDialog")
        dialog.setWindowTitle(SAVE_IDENTITY_TITLE)
        dialog.setLabelText("Name for this identity:")
        dialog.setTextValue(suggested)
        # Sized to its contents, the dialog was narrower than its title and the title bar
        # cut it; its layout sets its minimum size, so it is the text field that widens it.
        edit = dialog.findChild(QLineEdit)
        if edit is not None:
            edit.setMinimumWidth(title_width(dialog, SAVE_IDENTITY_TITLE))
        ok = dialog.exec() == QInputDialog.DialogCode.Accepted
        label = dialog.textValue().strip()
        dialog.deleteLater()
        if not ok or not label:
            return
        identity = SenderIdentity(
            label, self.name_edit.text(), self.email_edit.text(), self.avatar_edit.text()
        )
        self.save_identity(identity)

    def save_identity(self, identity: SenderIdentity) -> None:
        rest = [i for i in self._settings.identities() if i.label != identity.label]
        self._settings.save_identities([*rest, identity])
        self._settings.set_current_identity(identity)
        self._reload_identities(identity.label)

    @Slot()
    def _delete_identity(self) -> None:
        index = self.identity_combo.currentIndex()
        if index <= 0:
            return
        label = self.identity_combo.itemText(index)
        from PySide6.QtWidgets import QMessageBox

        answer = question(self, "Delete identity", f"Delete the identity “{inline(label)}”?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._settings.save_identities([i for i in self._settings.identities() if i.label != label])
        self._reload_identities()
