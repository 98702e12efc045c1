"""The connection dialog: profiles of host, app and API key, with a live connection test.

Left, the saved connection profiles; right, a form for the selected one. Every field is
checked while it is edited and explains, right under it, what is wrong; Save stays
disabled until all profiles with changes are valid. The secret only ever goes to the
system keychain (or, when there is none and the user says so, to :class:`SessionSecrets`
for this run); it is never written to the settings, a log, the title or an error text.

Keychain calls and the connection test run on the app's :class:`TaskQueue` (a keychain
can block on an unlock prompt, the network always can); the GUI thread only waits for
their results. This module holds the widgets and their wiring only: the form values and
their validation are in :mod:`.form`, the save plan in :mod:`.secret_saver`, the test's
request in :mod:`.probe`, its error texts in :mod:`.messages`.
"""

from __future__ import annotations

import functools
import itertools
import logging
from typing import Final
from urllib.parse import urlsplit

import shiboken6
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QFont,
    QIcon,
    QKeySequence,
    QPalette,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.errors import ConfigError
from smooch_desktop.api.factory import ApiVersion, version_problem
from smooch_desktop.api.hosts import (
    EU_BASE_URL,
    US_BASE_URL,
    Region,
    base_url_for,
    validate_zendesk_subdomain,
    zendesk_base_url,
)
from smooch_desktop.core.profiles import Profile, ProfileData, UnsentSummary
from smooch_desktop.core.secrets import (
    KeychainStatus,
    KeychainUnavailable,
    SecretLocation,
    SecretStore,
    SessionSecrets,
    account_for,
)
from smooch_desktop.core.validation import (
    ValidationError,
    clean_app_id,
    clean_key_id,
    clean_secret,
)
from smooch_desktop.ui import plain
from smooch_desktop.ui.connection.form import (
    CONNECTION_FIELDS,
    FIELD_LABELS,
    SESSION_ONLY_TEXT,
    BuiltinConnection,
    ProfileForm,
    SecretStorage,
    form_problems,
    save_hint,
    unique_name,
)
from smooch_desktop.ui.connection.messages import describe_connection_error
from smooch_desktop.ui.connection.probe import probe_connection
from smooch_desktop.ui.connection.secret_saver import (
    SaveOutcome,
    SavePlan,
    delete_secret,
    find_secret,
    plan_save,
    store_secrets,
)
from smooch_desktop.ui.connection.widgets import (
    ERROR_COLOR,
    MUTED_COLOR,
    OK_COLOR,
    FieldError,
    eye_icon,
    svg_pixmap,
)
from smooch_desktop.ui.plain import PlainLabel, inline
from smooch_desktop.ui.settings import AppSettings
from smooch_desktop.ui.workers import Task, TaskQueue

log = logging.getLogger(__name__)

_REGIONS: Final = (
    (Region.US.value, f"US — {US_BASE_URL.removeprefix('https://')}"),
    (Region.EU.value, f"EU — {EU_BASE_URL.removeprefix('https://')}"),
    (Region.ZENDESK.value, "Zendesk (subdomain)"),
    (Region.CUSTOM.value, "Custom URL"),
)
#: Shown above the form while the built-in sandbox connection is selected.
BUILTIN_NOTE: Final = (
    "The sandbox built into this run (--sandbox): its host, app and key are fixed and its "
    "secret is never shown. Choose the API version and Save to reconnect; the open "
    "conversation, the text you typed and queued messages stay as they are."
)
#: Under the profile list when no sandbox runs (what "Try the sandbox" does).
SANDBOX_OFFER: Final = (
    "No account at hand? The sandbox is a local Smooch with demo users, on this computer."
)
#: The secret field's placeholder for the built-in sandbox connection.
BUILTIN_SECRET_TEXT: Final = "Built into the sandbox (not shown)"
_AUTH_METHODS: Final = (
    (AuthMethod.BASIC.value, "Basic (recommended)"),
    (AuthMethod.JWT.value, "JWT (HS256, app scope)"),
)


class ConnectionDialog(QDialog):
    """Edit connection profiles (host, app, API key) and test them before saving.

    Save writes every new or changed profile to the settings and its secret to the
    keychain (or, if the user chose it, to the session only), makes the selected profile
    the active one and accepts the dialog. Cancel discards all unsaved edits; deleting a
    profile is immediate (after confirmation) and also removes its keychain entry.

    With ``builtin`` (a ``--sandbox`` run), the embedded sandbox is listed first: its
    host, app, key and auth are shown read-only and its secret never; only the API
    version can be chosen. Save with it selected saves the other changed profiles (if
    any) without switching to them and emits ``builtinChosen``; nothing about it goes to
    the profiles or the keychain.

    With ``offer_sandbox`` (no sandbox runs), a "Try the sandbox" button under the list
    asks the app to start one (``sandboxRequested``) and closes the dialog; unsaved edits
    are discarded as by Cancel, after asking if the agent typed anything.

    Signals:
        profileSaved(str): the name of the saved profile that is now active.
        profileDeleted(str): the name of a profile removed from the settings.
        builtinChosen(str): connect with the built-in connection, at this API version.
        sandboxRequested(): start the built-in sandbox and connect to it.
    """

    profileSaved = Signal(str)
    profileDeleted = Signal(str)
    builtinChosen = Signal(str)
    sandboxRequested = Signal()

    def __init__(
        self,
        settings: AppSettings,
        secrets: SecretStore,
        session_secrets: SessionSecrets,
        tasks: TaskQueue,
        parent: QWidget | None = None,
        *,
        select: str | None = None,
        profile_data: ProfileData | None = None,
        builtin: BuiltinConnection | None = None,
        offer_sandbox: bool = False,
    ) -> None:
        """``select`` names the profile shown first (the built-in one too); without it,
        the active saved profile."""
        super().__init__(parent)
        self.setObjectName("connectionDialog")
        self._builtin = builtin
        self._offer_sandbox = offer_sandbox and builtin is None
        #: The outbox and message drafts, to say what a profile still holds before deleting it.
        self._profile_data = profile_data
        self.setWindowTitle("Connections")
        self.setSizeGripEnabled(True)
        self.setMinimumSize(QSize(700, 480))
        self.resize(820, 520)

        self._settings = settings
        self._secrets = secrets
        self._session = session_secrets
        self._tasks = tasks
        self._forms: list[ProfileForm] = []
        self._current: ProfileForm | None = None
        self._loading = False
        self._saving = False
        #: Bumped on every edit of a value the connection test uses.
        self._generation = 0
        self._test_task: Task | None = None
        self._test_generation = -1
        self._test_form: ProfileForm | None = None
        self._test_app_id = ""
        self._save_task: Task | None = None
        self._builtin_saving: ProfileForm | None = None
        self._lookups: dict[int, Task] = {}
        # Known once the keychain thread has answered: even loading the keyring backend
        # talks to D-Bus, and a locked keychain may show an unlock prompt.
        self._keychain_known = False
        self._keychain_ok = False
        self._keychain_reason = ""
        self._keychain_backend = ""
        #: Why the last save to the keychain failed ("" = it didn't).
        self._save_failure = ""

        self._build_ui()
        self._load_profiles(select)
        self._update_keychain_status()
        self._tasks.submit(
            secrets.available,
            self._on_keychain_status,
            self._on_keychain_status_error,
            kind="keychain",
            owner=self,
        )

    # Construction --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("connectionSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_list_side())
        splitter.addWidget(self._build_form_side())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 640])

        self._keychain_icon = QLabel(self)
        self._keychain_icon.setObjectName("keychainIcon")
        self._keychain_label = PlainLabel("", self, wrap=True)  # quotes the keychain's reason
        self._keychain_label.setObjectName("keychainLabel")
        self._keychain_label.setWordWrap(True)
        self._keychain_label.setTextFormat(Qt.TextFormat.PlainText)
        self._session_only = QCheckBox(SESSION_ONLY_TEXT, self)
        self._session_only.setObjectName("sessionOnlyCheck")
        self._session_only.setToolTip(
            "Keep the secret in memory until you quit the app; it is never written to disk."
        )
        self._session_only.toggled.connect(self._on_session_only_toggled)
        keychain_row = QHBoxLayout()
        keychain_row.addWidget(self._keychain_icon, 0, Qt.AlignmentFlag.AlignTop)
        keychain_row.addWidget(self._keychain_label, 1)

        self._buttons = QDialogButtonBox(self)
        self._buttons.setObjectName("buttonBox")
        self._save_button = self._buttons.addButton(QDialogButtonBox.StandardButton.Save)
        self._save_button.setObjectName("saveButton")
        self._save_button.setText("&Save")
        self._save_button.setDefault(True)
        cancel = self._buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setObjectName("cancelButton")
        cancel.setAutoDefault(False)
        self._buttons.accepted.connect(self._on_save)
        self._buttons.rejected.connect(self.reject)
        self._save_hint = QLabel(self)
        self._save_hint.setObjectName("saveHint")
        self._save_hint.setWordWrap(True)
        self._save_hint.setTextFormat(Qt.TextFormat.PlainText)
        self._save_hint.setStyleSheet(f"color: {MUTED_COLOR};")
        bottom_row = QHBoxLayout()
        bottom_row.addWidget(self._save_hint, 1)
        bottom_row.addWidget(self._buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(keychain_row)
        session_row = QHBoxLayout()
        # Indented under the status text, past its icon.
        session_row.addSpacing(16 + keychain_row.spacing())
        session_row.addWidget(self._session_only, 1)
        layout.addLayout(session_row)
        layout.addLayout(bottom_row)

        QWidget.setTabOrder(self._list, self._add_button)
        QWidget.setTabOrder(self._add_button, self._duplicate_button)
        QWidget.setTabOrder(self._duplicate_button, self._delete_button)
        chain: list[QWidget] = [
            self._delete_button,
            self._sandbox_button,
            self._name_edit,
            self._region_combo,
            self._subdomain_edit,
            self._url_edit,
            self._app_id_edit,
            self._key_id_edit,
            self._secret_edit,
            self._auth_combo,
            self._version_combo,
            self._test_button,
            self._session_only,
            self._save_button,
            cancel,
        ]
        for before, after in itertools.pairwise(chain):
            QWidget.setTabOrder(before, after)

    def _build_list_side(self) -> QWidget:
        side = QWidget(self)
        side.setObjectName("profileListPane")
        title = QLabel("&Profiles", side)
        self._list = QListWidget(side)
        self._list.setObjectName("profileList")
        self._list.setMinimumWidth(160)
        title.setBuddy(self._list)
        self._list.currentRowChanged.connect(self._on_row_changed)

        self._add_button = QPushButton("Ne&w", side)
        self._add_button.setObjectName("addProfileButton")
        self._add_button.setToolTip("Add a new connection")
        self._add_button.clicked.connect(self._on_add)
        self._duplicate_button = QPushButton("&Duplicate", side)
        self._duplicate_button.setObjectName("duplicateProfileButton")
        self._duplicate_button.setToolTip("Copy the selected connection, secret included")
        self._duplicate_button.clicked.connect(self._on_duplicate)
        self._delete_button = QPushButton("De&lete…", side)
        self._delete_button.setObjectName("deleteProfileButton")
        self._delete_button.setToolTip("Delete the selected connection and its saved secret")
        self._delete_button.clicked.connect(self._on_delete)
        for button in (self._add_button, self._duplicate_button, self._delete_button):
            button.setAutoDefault(False)

        buttons = QHBoxLayout()
        buttons.addWidget(self._add_button)
        buttons.addWidget(self._duplicate_button)
        buttons.addWidget(self._delete_button)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(title)
        layout.addWidget(self._list, 1)
        layout.addLayout(buttons)
        # Without an account at hand, a new user can still see the app work.
        self._sandbox_button = QPushButton("Try the sand&box", side)
        self._sandbox_button.setObjectName("trySandboxButton")
        self._sandbox_button.setAutoDefault(False)
        self._sandbox_button.setToolTip(SANDBOX_OFFER)
        self._sandbox_button.clicked.connect(self._on_try_sandbox)
        sandbox_note = QLabel(SANDBOX_OFFER, side)
        sandbox_note.setObjectName("trySandboxNote")
        sandbox_note.setWordWrap(True)
        sandbox_note.setTextFormat(Qt.TextFormat.PlainText)
        sandbox_note.setStyleSheet(f"color: {MUTED_COLOR};")
        layout.addSpacing(8)
        layout.addWidget(sandbox_note)
        layout.addWidget(self._sandbox_button)
        for widget in (sandbox_note, self._sandbox_button):
            widget.setVisible(self._offer_sandbox)
        return side

    def _build_form_side(self) -> QWidget:
        side = QWidget(self)
        side.setObjectName("profileFormPane")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self._errors: dict[str, FieldError] = {}

        self._name_edit = self._line_edit(side, "nameEdit", "e.g. Production (US)")
        self._name_edit.setMaxLength(200)
        self._add_row(form, side, "&Name:", self._name_edit, "profile_name", "nameError")

        self._region_combo = QComboBox(side)
        self._region_combo.setObjectName("regionCombo")
        for value, text in _REGIONS:
            self._region_combo.addItem(text, value)
        # Zendesk hosts speak v2 only: offered once this build speaks v2.
        self._offer_item(
            self._region_combo,
            Region.ZENDESK.value,
            version_problem(ApiVersion.V2, Region.ZENDESK),
        )
        self._region_combo.currentIndexChanged.connect(self._on_region_changed)
        self._add_row(form, side, "&Region:", self._region_combo)

        self._subdomain_edit = self._line_edit(side, "zendeskSubdomainEdit", "acme")
        self._subdomain_edit.setMaxLength(300)
        self._subdomain_edit.setToolTip(
            "Just the part before .zendesk.com; a pasted https://acme.zendesk.com/sc is fine"
        )
        self._add_row(
            form,
            side,
            "&Zendesk subdomain:",
            self._subdomain_edit,
            "zendesk_subdomain",
            "zendeskSubdomainError",
        )
        self._subdomain_form = form
        form.setRowVisible(self._subdomain_edit, False)
        self._errors["zendesk_subdomain"].set_row_visible(False)

        self._url_edit = self._line_edit(side, "baseUrlEdit", "https://api.example.com")
        self._add_row(form, side, "Base &URL:", self._url_edit, "base_url", "baseUrlError")

        self._app_id_edit = self._line_edit(side, "appIdEdit", "From the Smooch dashboard")
        self._add_row(form, side, "&App ID:", self._app_id_edit, "app_id", "appIdError")

        self._key_id_edit = self._line_edit(side, "keyIdEdit", "app_…")
        self._add_row(form, side, "&Key ID:", self._key_id_edit, "key_id", "keyIdError")

        self._secret_edit = self._line_edit(side, "secretEdit", "")
        self._secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self._secret_edit.setMaxLength(4096)
        self._secret_edit.setInputMethodHints(
            Qt.InputMethodHint.ImhHiddenText
            | Qt.InputMethodHint.ImhSensitiveData
            | Qt.InputMethodHint.ImhNoPredictiveText
            | Qt.InputMethodHint.ImhNoAutoUppercase
        )
        eye = self.palette().color(QPalette.ColorRole.Text)
        self._eye_open = eye_icon(eye, crossed=False)
        self._eye_closed = eye_icon(eye, crossed=True)
        self._show_secret = QAction(self._eye_open, "Show the secret", self._secret_edit)
        self._show_secret.setObjectName("showSecretAction")
        self._show_secret.setCheckable(True)
        self._show_secret.setShortcut(QKeySequence("Alt+H"))
        self._show_secret.setToolTip("Show the secret (Alt+H)")
        self._show_secret.toggled.connect(self._on_show_secret_toggled)
        self._secret_edit.addAction(self._show_secret, QLineEdit.ActionPosition.TrailingPosition)
        self._add_row(form, side, "Se&cret:", self._secret_edit, "secret", "secretError")

        self._auth_combo = QComboBox(side)
        self._auth_combo.setObjectName("authCombo")
        for value, text in _AUTH_METHODS:
            self._auth_combo.addItem(text, value)
        self._auth_combo.currentIndexChanged.connect(self._on_auth_changed)
        self._add_row(form, side, "Auth &method:", self._auth_combo)

        self._version_combo = QComboBox(side)
        self._version_combo.setObjectName("apiVersionCombo")
        for version in ApiVersion:
            problem = version_problem(version)
            text = version.value if not problem else f"{version.value} — in a later version"
            self._version_combo.addItem(text, version.value)
            self._offer_item(self._version_combo, version.value, problem)
        self._version_combo.currentIndexChanged.connect(self._on_version_changed)
        self._add_row(
            form, side, "API &version:", self._version_combo, "api_version", "apiVersionError"
        )

        self._test_button = QPushButton("&Test connection", side)
        self._test_button.setObjectName("testButton")
        self._test_button.setAutoDefault(False)
        self._test_button.setToolTip("Check host, app ID and key with the values above, unsaved")
        self._test_button.clicked.connect(self._on_test)
        self._test_icon = QLabel(side)
        self._test_icon.setObjectName("testResultIcon")
        self._test_icon.setFixedSize(QSize(16, 16))
        self._test_label = PlainLabel("", side, wrap=True)  # quotes the server's description
        self._test_label.setObjectName("testResultLabel")
        self._test_label.setWordWrap(True)
        self._test_label.setTextFormat(Qt.TextFormat.PlainText)
        self._test_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        result_row = QHBoxLayout()
        result_row.addWidget(self._test_icon, 0, Qt.AlignmentFlag.AlignTop)
        result_row.addWidget(self._test_label, 1)
        test_row = QHBoxLayout()
        test_row.addWidget(self._test_button)
        test_row.addStretch(1)

        self._builtin_note = QLabel(BUILTIN_NOTE, side)
        self._builtin_note.setObjectName("builtinNote")
        self._builtin_note.setWordWrap(True)
        self._builtin_note.setTextFormat(Qt.TextFormat.PlainText)
        self._builtin_note.setStyleSheet(f"color: {MUTED_COLOR};")
        self._builtin_note.setVisible(False)

        layout = QVBoxLayout(side)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self._builtin_note)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addLayout(test_row)
        layout.addLayout(result_row)
        layout.addStretch(1)
        return side

    @staticmethod
    def _offer_item(combo: QComboBox, value: str, problem: str) -> None:
        """Disable ``combo``'s item for ``value``, ``problem`` its tooltip ("": offer it)."""
        model = combo.model()
        if not problem or not isinstance(model, QStandardItemModel):
            return
        item = model.item(combo.findData(value))
        if item is not None:
            item.setEnabled(False)
            item.setToolTip(problem)

    def _line_edit(self, parent: QWidget, object_name: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit(parent)
        edit.setObjectName(object_name)
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(False)
        edit.textEdited.connect(self._on_text_edited)
        edit.editingFinished.connect(self._on_editing_finished)
        return edit

    def _add_row(
        self,
        form: QFormLayout,
        parent: QWidget,
        label_text: str,
        widget: QWidget,
        field_name: str | None = None,
        error_name: str | None = None,
    ) -> None:
        label = QLabel(label_text, parent)
        label.setBuddy(widget)
        form.addRow(label, widget)
        if field_name is not None and error_name is not None:
            self._errors[field_name] = FieldError(error_name, form, widget, parent)

    # Loading and selection ------------------------------------------------------------------
    def _load_profiles(self, select: str | None) -> None:
        self._forms = [ProfileForm.from_profile(p) for p in self._settings.profiles()]
        if self._builtin is not None:
            self._forms.insert(0, ProfileForm.from_builtin(self._builtin))
        if not self._forms:
            self._forms.append(ProfileForm(name="My app"))
        for form in self._forms:
            self._list.addItem(self._item_for(form))
        # ``select`` may name the built-in connection; the active name is a saved one's.
        wanted = select or self._settings.active_profile_name()
        row = next(
            (
                i
                for i, d in enumerate(self._forms)
                if d.name == wanted and (d.builtin is None or wanted == select)
            ),
            0,
        )
        self._list.setCurrentRow(row)
        if self._current is not self._forms[row]:
            self._on_row_changed(row)

    def _item_for(self, form: ProfileForm) -> QListWidgetItem:
        item = QListWidgetItem(inline(form.name.strip(), one_line=True) or "(no name)")
        self._style_item(item, form)
        return item

    def _style_item(self, item: QListWidgetItem, form: ProfileForm) -> None:
        item.setText(inline(form.name.strip(), one_line=True) or "(no name)")
        font = QFont(self._list.font())
        font.setItalic(form.is_dirty())
        item.setFont(font)
        shown = {
            k
            for k in form.problems
            if k in form.touched and not (k == "secret" and form.lookup_pending)
        }
        # The whole name (the row elides it), as plain text: names come from the settings file.
        tip = form.name.strip() + ("\nUnsaved changes" if form.is_dirty() else "")
        item.setToolTip(plain.plain_tooltip(tip.strip()))
        item.setIcon(QIcon(svg_pixmap("warning")) if shown else QIcon())

    def _row_of(self, form: ProfileForm) -> int:
        for row, candidate in enumerate(self._forms):
            if candidate is form:
                return row
        return -1

    @Slot(int)
    def _on_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._forms):
            self._current = None
            self._set_form_enabled(False)
            return
        self._current = self._forms[row]
        self._generation += 1
        self._set_form_enabled(True)
        self._show_form(self._current)
        self._clear_test_result()
        self._lookup_stored_secret(self._current)

    def _set_form_enabled(self, enabled: bool) -> None:
        for widget in (
            self._name_edit,
            self._region_combo,
            self._subdomain_edit,
            self._app_id_edit,
            self._key_id_edit,
            self._secret_edit,
            self._auth_combo,
            self._version_combo,
            self._duplicate_button,
            self._delete_button,
        ):
            widget.setEnabled(enabled)
        self._url_edit.setEnabled(enabled and self._region() is Region.CUSTOM)
        self._lock_builtin(self._current if enabled else None)

    def _lock_builtin(self, form: ProfileForm | None) -> None:
        """Make everything but the API version read-only while the built-in one is shown."""
        builtin = form is not None and form.builtin is not None
        for edit in (
            self._name_edit,
            self._subdomain_edit,
            self._url_edit,
            self._app_id_edit,
            self._key_id_edit,
            self._secret_edit,
        ):
            edit.setReadOnly(builtin)
        self._show_secret.setVisible(not builtin)  # nothing to show
        if builtin:
            for widget in (
                self._region_combo,
                self._auth_combo,
                self._duplicate_button,
                self._delete_button,
            ):
                widget.setEnabled(False)
        self._builtin_note.setVisible(builtin)

    def _show_form(self, form: ProfileForm) -> None:
        self._loading = True
        try:
            self._name_edit.setText(form.name)
            self._region_combo.setCurrentIndex(
                max(0, self._region_combo.findData(form.region.value))
            )
            self._app_id_edit.setText(form.app_id)
            self._key_id_edit.setText(form.key_id)
            self._secret_edit.setText(form.secret)
            self._auth_combo.setCurrentIndex(max(0, self._auth_combo.findData(form.auth.value)))
            self._version_combo.setCurrentIndex(
                max(0, self._version_combo.findData(form.api_version.value))
            )
            self._subdomain_edit.setText(form.zendesk_subdomain)
            self._show_region_url(form)
        finally:
            self._loading = False
        self._revalidate()

    def _show_region_url(self, form: ProfileForm) -> None:
        custom = form.region is Region.CUSTOM
        zendesk = form.region is Region.ZENDESK
        self._subdomain_form.setRowVisible(self._subdomain_edit, zendesk)
        self._errors["zendesk_subdomain"].set_row_visible(zendesk)
        self._url_edit.setEnabled(custom)
        self._url_edit.setPlaceholderText(
            "https://SUBDOMAIN.zendesk.com/sc" if zendesk else "https://api.example.com"
        )
        if custom:
            self._url_edit.setText(form.custom_url)
        elif zendesk:
            # The URL the subdomain gives, updated as it is typed ("" while it is invalid).
            try:
                shown = zendesk_base_url(validate_zendesk_subdomain(form.zendesk_subdomain))
            except ConfigError:
                shown = ""
            self._url_edit.setText(shown)
        else:
            self._url_edit.setText(US_BASE_URL if form.region is Region.US else EU_BASE_URL)

    def _region(self) -> Region:
        value = self._region_combo.currentData()
        return Region(value) if isinstance(value, str) else Region.US

    def _lookup_stored_secret(self, form: ProfileForm) -> None:
        if not form.lookup_pending or id(form) in self._lookups:
            return
        if form.stored_account in self._session:
            form.stored_in = SecretLocation.SESSION
            self._revalidate()
            return
        if not self._keychain_known:
            return  # looked up once the keychain status is in (_on_keychain_status)
        if not self._keychain_ok:
            form.stored_in = SecretLocation.NOWHERE
            self._revalidate()
            return
        fn = functools.partial(find_secret, form.stored_account, self._secrets, self._session)
        self._lookups[id(form)] = self._tasks.submit(
            fn,
            functools.partial(self._on_lookup_result, form),
            functools.partial(self._on_lookup_error, form),
            kind="keychain",
        )

    def _on_lookup_result(self, form: ProfileForm, where: object) -> None:
        self._lookups.pop(id(form), None)
        if not shiboken6.isValid(self):
            return
        form.stored_in = where if isinstance(where, SecretLocation) else SecretLocation.NOWHERE
        self._revalidate()

    def _on_lookup_error(self, form: ProfileForm, exc: BaseException) -> None:
        self._lookups.pop(id(form), None)
        if not shiboken6.isValid(self):
            return
        form.stored_in = SecretLocation.NOWHERE
        if isinstance(exc, KeychainUnavailable):
            self._keychain_ok = False
            self._keychain_reason = exc.reason
            self._update_keychain_status()
        self._revalidate()

    # Editing ---------------------------------------------------------------------------------
    def _field_of(self, widget: object) -> str | None:
        for edit, field_name in (
            (self._name_edit, "profile_name"),
            (self._url_edit, "base_url"),
            (self._subdomain_edit, "zendesk_subdomain"),
            (self._app_id_edit, "app_id"),
            (self._key_id_edit, "key_id"),
            (self._secret_edit, "secret"),
        ):
            if widget is edit:
                return field_name
        return None

    @Slot(str)
    def _on_text_edited(self, text: str) -> None:
        form = self._current
        field_name = self._field_of(self.sender())
        if form is None or field_name is None or self._loading:
            return
        if field_name == "profile_name":
            form.name = text
        elif field_name == "base_url":
            form.custom_url = text
        elif field_name == "zendesk_subdomain":
            form.zendesk_subdomain = text
            self._loading = True
            try:
                self._show_region_url(form)
            finally:
                self._loading = False
        elif field_name == "app_id":
            form.app_id = text
        elif field_name == "key_id":
            form.key_id = text
        else:
            form.secret = text
        if field_name in ("secret", "key_id", "profile_name"):
            form.save_error = ""
        form.touched.add(field_name)
        if field_name in CONNECTION_FIELDS:
            self._connection_values_changed()
        self._revalidate()

    @Slot()
    def _on_editing_finished(self) -> None:
        form = self._current
        field_name = self._field_of(self.sender())
        if form is None or field_name is None or self._loading:
            return
        if field_name not in form.touched:
            form.touched.add(field_name)
            self._revalidate()

    @Slot(int)
    def _on_region_changed(self, _index: int) -> None:
        form = self._current
        if form is None or self._loading:
            return
        form.region = self._region()
        self._loading = True
        try:
            if form.region is Region.ZENDESK and not version_problem(ApiVersion.V2):
                # A Zendesk host speaks v2 only.
                form.api_version = ApiVersion.V2
                self._version_combo.setCurrentIndex(
                    self._version_combo.findData(ApiVersion.V2.value)
                )
            self._show_region_url(form)
        finally:
            self._loading = False
        if form.region is Region.CUSTOM:
            self._url_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        elif form.region is Region.ZENDESK:
            self._subdomain_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._connection_values_changed()
        self._revalidate()

    @Slot(int)
    def _on_auth_changed(self, _index: int) -> None:
        form = self._current
        value = self._auth_combo.currentData()
        if form is None or self._loading or not isinstance(value, str):
            return
        form.auth = AuthMethod(value)
        self._connection_values_changed()
        self._revalidate()

    @Slot(int)
    def _on_version_changed(self, _index: int) -> None:
        form = self._current
        value = self._version_combo.currentData()
        if form is None or self._loading or not isinstance(value, str):
            return
        form.api_version = ApiVersion(value)
        form.touched.add("api_version")
        self._connection_values_changed()
        self._revalidate()

    @Slot(bool)
    def _on_show_secret_toggled(self, shown: bool) -> None:
        self._secret_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self._show_secret.setIcon(self._eye_closed if shown else self._eye_open)
        text = "Hide the secret" if shown else "Show the secret"
        self._show_secret.setText(text)
        self._show_secret.setToolTip(f"{text} (Alt+H)")

    @Slot(bool)
    def _on_session_only_toggled(self, _checked: bool) -> None:
        if self._current is not None:
            self._current.save_error = ""
        self._revalidate()

    def _storage(self) -> SecretStorage:
        session_only = self._offer_session_only() and self._session_only.isChecked()
        # Until the keychain has answered, don't report it as missing (Save waits instead).
        ok = self._keychain_ok or not self._keychain_known
        return SecretStorage(ok, self._keychain_reason, session_only)

    def _offer_session_only(self) -> bool:
        return self._keychain_known and (not self._keychain_ok or bool(self._save_failure))

    def _revalidate(self) -> None:
        """Recheck every profile form, show the current one's messages, enable Save accordingly."""
        storage = self._storage()
        for form in self._forms:
            # The built-in connection is not a saved profile: its name takes none.
            taken = {
                d.name.strip().casefold()
                for d in self._forms
                if d is not form and d.builtin is None
            }
            form.problems = form_problems(form, taken, storage)
            row = self._row_of(form)
            item = self._list.item(row)
            if item is not None:
                self._style_item(item, form)
        current = self._current
        for field_name, label in self._errors.items():
            message = ""
            if current is not None and field_name in current.touched:
                message = current.problems.get(field_name, "")
                if field_name == "secret" and current.lookup_pending and not current.secret:
                    message = ""  # the placeholder says the keychain is being checked
            if current is not None and field_name == "secret" and not message:
                message = current.save_error
            label.show_message(message)
        self._update_secret_placeholder()
        self._update_save_state()

    def _update_secret_placeholder(self) -> None:
        form = self._current
        text = "Paste the secret of the API key"
        if form is not None and form.builtin is not None:
            text = BUILTIN_SECRET_TEXT
        elif form is not None and form.has_stored_secret():
            text = (
                "Stored in the system keychain"
                if form.stored_in is SecretLocation.KEYCHAIN
                else "Kept for this session only"
            )
        elif form is not None and form.lookup_pending:
            text = "Checking the keychain…"
        self._secret_edit.setPlaceholderText(text)

    def _update_save_state(self) -> None:
        current = self._current
        blocking = [d for d in self._forms if d.problems and (d is current or d.is_dirty())]
        # Saving only the built-in connection's version writes nothing to the keychain.
        needs_keychain = current is None or current.builtin is None or bool(self._saved_dirty())
        self._save_button.setEnabled(
            current is not None
            and not blocking
            and not self._saving
            and (self._keychain_known or not needs_keychain)
        )
        self._test_button.setEnabled(current is not None and self._test_task is None)
        # Only a secret that Save would store can be kept "for this session only".
        self._session_only.setVisible(self._offer_session_only() and needs_keychain)
        if self._saving:
            self._save_hint.setText("Saving…")
        elif not self._keychain_known and needs_keychain:
            self._save_hint.setText("Checking the system keychain…")
        elif current is not None and current.problems:
            # Names the keychain when it, not a field, is what stands in the way.
            self._save_hint.setText(save_hint(current, self._storage()))
        elif blocking:
            names = ", ".join(f"“{d.name.strip() or '(no name)'}”" for d in blocking)
            self._save_hint.setText(f"Also fix the connection {names} to save.")
        else:
            self._save_hint.setText("")

    def _saved_dirty(self) -> list[ProfileForm]:
        """Changed profiles that Save writes to the settings (the built-in one is none)."""
        return [f for f in self._forms if f.builtin is None and f.is_dirty()]

    # Profile list actions --------------------------------------------------------------------
    @Slot()
    def _on_try_sandbox(self) -> None:
        """Ask the app to start the sandbox and connect to it; unsaved edits are dropped."""
        if not self._offer_sandbox or self._saving:
            return
        typed = [f for f in self._saved_dirty() if f.touched or f.secret]
        if typed:
            answer = plain.question(
                self,
                "Try the sandbox",
                "Your changes to the connections are not saved. Discard them and try the sandbox?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.sandboxRequested.emit()
        self.accept()

    @Slot()
    def _on_add(self) -> None:
        taken = {d.name.strip() for d in self._forms}
        self._append_form(ProfileForm(name=unique_name("New connection", taken)))

    @Slot()
    def _on_duplicate(self) -> None:
        source = self._current
        if source is None:
            return
        taken = {d.name.strip() for d in self._forms}
        copy = source.copy_as(unique_name(f"{source.name.strip()} (copy)", taken))
        copy.touched = set(FIELD_LABELS)
        self._append_form(copy)

    def _append_form(self, form: ProfileForm) -> None:
        self._forms.append(form)
        self._list.addItem(self._item_for(form))
        self._list.setCurrentRow(len(self._forms) - 1)
        self._name_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._name_edit.selectAll()

    @Slot()
    def _on_delete(self) -> None:
        form = self._current
        if form is None or form.builtin is not None:
            return
        name = form.name.strip() or "(no name)"
        if form.original is not None and self._profile_data is not None:
            unsent = self._profile_data.unsent(form.original.id)
            if not unsent.empty:
                if not self._confirm_delete_with_unsent(
                    form.original, unsent, form.secret_fate_on_delete()
                ):
                    return
                self._profile_data.forget(form.original.id)
                self._remove_form_row(form)
                return
        if form.original is not None:
            question = (
                f"Delete the connection “{inline(form.original.name)}”?\n\n"
                f"{form.secret_fate_on_delete()} This can't be undone."
            )
        else:
            question = f"Discard the new connection “{inline(name)}”?"
        answer = plain.question(
            self,
            "Delete connection",
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._remove_form_row(form)

    def set_profile_data(self, profile_data: ProfileData | None) -> None:
        """The outbox and message drafts, so deleting a profile says what it still holds."""
        self._profile_data = profile_data

    def _confirm_delete_with_unsent(
        self, profile: Profile, unsent: UnsentSummary, secret_fate: str
    ) -> bool:
        """Ask before a profile with unsent messages or message drafts goes; default: keep it."""
        things = unsent.things()
        details = f" ({unsent.details()})" if unsent.messages else ""
        box = QMessageBox(self)
        box.setObjectName("deleteWithUnsentBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Delete connection")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            f"The connection “{plain.inline(profile.name, 80)}” still has {things}{details}."
        )
        box.setInformativeText(
            "They are kept as long as the connection is. Deleting it also deletes them for "
            f"good. {secret_fate}"
        )
        keep = box.addButton("Keep the connection", QMessageBox.ButtonRole.RejectRole)
        drop = box.addButton(f"Delete it and its {things}", QMessageBox.ButtonRole.DestructiveRole)
        drop.setObjectName("deleteWithUnsentButton")
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.exec()
        return box.clickedButton() is drop

    def _remove_form_row(self, form: ProfileForm) -> None:
        if form.original is not None:
            self._forget_profile(form)
        row = self._row_of(form)
        self._forms.pop(row)
        self._current = None
        self._list.takeItem(row)
        if not self._forms:
            taken: set[str] = set()
            self._append_form(ProfileForm(name=unique_name("My app", taken)))
        self._list.setCurrentRow(min(row, len(self._forms) - 1))
        self._revalidate()

    def _sync_settings(self) -> bool:
        """Write the settings file; on failure say so and keep the dialog (and input) open."""
        try:
            self._settings.sync()
        except OSError as exc:
            plain.warning(self, "Settings not saved", str(exc))
            return False
        return True

    def _forget_profile(self, form: ProfileForm) -> None:
        assert form.original is not None
        old = form.original
        self._settings.save_profiles([p for p in self._settings.profiles() if p.id != old.id])
        if self._settings.active_profile_name() == old.name:
            self._settings.set_active_profile_name("")
        self._sync_settings()
        accounts = {account_for(old.name, old.key_id)} if old.key_id else set()
        if form.owns_stored and form.stored_account:
            accounts.add(form.stored_account)
        for account in accounts:
            self._session.delete(account)
            if self._keychain_ok or not self._keychain_known:
                self._tasks.submit(
                    functools.partial(delete_secret, account, self._secrets),
                    on_error=self._on_delete_secret_failed,
                    kind="keychain",
                )
        self.profileDeleted.emit(old.name)

    def _on_delete_secret_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        reason = exc.reason if isinstance(exc, KeychainUnavailable) else type(exc).__name__
        self._keychain_label.setText(
            f"The connection was deleted, but its secret could not be removed from the "
            f"keychain: {reason}"
        )
        self._keychain_icon.setPixmap(svg_pixmap("warning"))

    # Keychain status -------------------------------------------------------------------------
    def _on_keychain_status(self, status: object) -> None:
        if not shiboken6.isValid(self):
            return
        self._keychain_known = True
        if isinstance(status, KeychainStatus):
            self._keychain_ok = status.ok
            self._keychain_reason = status.reason
            self._keychain_backend = status.backend
        else:
            self._keychain_ok = False
            self._keychain_reason = "The keychain check gave no answer."
        self._update_keychain_status()
        if self._current is not None:
            self._lookup_stored_secret(self._current)

    def _on_keychain_status_error(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        self._keychain_known = True
        self._keychain_ok = False
        self._keychain_reason = (
            exc.reason if isinstance(exc, KeychainUnavailable) else type(exc).__name__
        )
        self._update_keychain_status()
        if self._current is not None:
            self._lookup_stored_secret(self._current)

    def _update_keychain_status(self) -> None:
        if self._save_failure:
            self._keychain_icon.setPixmap(svg_pixmap("warning"))
            self._keychain_label.setText(
                f"Saving to the system keychain failed: {self._save_failure} Save again to "
                "retry, or keep the secret for this session only."
            )
            self._session_only.setVisible(True)
        elif not self._keychain_known:
            self._keychain_icon.clear()
            self._keychain_label.setText("Checking the system keychain…")
            self._session_only.setVisible(False)
        elif self._keychain_ok:
            backend = self._keychain_backend.rsplit(".", 2)
            shown = backend[-2] if len(backend) >= 2 else self._keychain_backend
            self._keychain_icon.setPixmap(svg_pixmap("check"))
            self._keychain_label.setText(
                f"Secrets are stored in the system keychain ({shown}), never in the settings."
            )
            self._session_only.setVisible(False)
        else:
            self._keychain_icon.setPixmap(svg_pixmap("warning"))
            self._keychain_label.setText(
                f"The system keychain is not available: {self._keychain_reason} "
                "Secrets can't be saved; nothing is written in plain text."
            )
            self._session_only.setVisible(True)
        self._revalidate()

    # Connection test -------------------------------------------------------------------------
    def _connection_values_changed(self) -> None:
        self._generation += 1
        if self._test_task is None:
            self._clear_test_result()

    def _clear_test_result(self) -> None:
        if self._test_task is not None:
            return
        self._test_icon.clear()
        self._test_label.clear()
        self._test_label.setStyleSheet("")

    def _show_test_result(self, icon: str | None, text: str, color: str) -> None:
        if icon is None:
            self._test_icon.clear()
        else:
            self._test_icon.setPixmap(svg_pixmap(icon))
        self._test_label.setStyleSheet(f"color: {color};")
        self._test_label.setText(text)

    @Slot()
    def _on_test(self) -> None:
        form = self._current
        if form is None or self._test_task is not None:
            return
        form.touched.update(CONNECTION_FIELDS)
        self._revalidate()
        try:
            base_url = base_url_for(form.region, form.custom_url, form.zendesk_subdomain)
            problem = version_problem(form.api_version, form.region)
            if problem:
                raise ConfigError("api_version", problem)
            app_id = clean_app_id(form.app_id)
            key_id = clean_key_id(form.key_id)
            typed = clean_secret(form.secret) if form.secret else ""
            if form.builtin is not None:
                typed = form.builtin.secret  # used for the request, never shown
        except (ConfigError, ValidationError) as exc:
            self._show_test_result("warning", f"Can't test yet: {exc.message}", ERROR_COLOR)
            return
        if not typed and not form.has_stored_secret():
            message = form.problems.get("secret") or "Enter the secret of the API key."
            self._show_test_result("warning", f"Can't test yet: {message}", ERROR_COLOR)
            return
        fn = functools.partial(
            probe_connection,
            base_url,
            app_id,
            key_id,
            form.auth,
            form.api_version,
            typed,
            form.stored_account,
            form.stored_in or SecretLocation.NOWHERE,  # known unless a secret was typed
            self._secrets,
            self._session,
        )
        self._test_generation = self._generation
        self._test_form = form
        self._test_app_id = app_id
        host = urlsplit(base_url).netloc
        self._show_test_result("clock", f"Connecting to {host}…", MUTED_COLOR)
        self._test_button.setText("Testing…")
        self._test_task = self._tasks.submit(
            fn, self._on_test_result, self._on_test_error, kind="connection-test"
        )
        self._update_save_state()

    def _test_finished(self) -> bool:
        """Leave the busy state; False if the dialog is gone. True means the result is current."""
        self._test_task = None
        if not shiboken6.isValid(self):
            return False
        self._test_button.setText("&Test connection")
        self._update_save_state()
        return True

    def _is_stale(self) -> bool:
        return self._test_generation != self._generation or self._test_form is not self._current

    def _on_test_result(self, host: object) -> None:
        if not self._test_finished():
            return
        text = f"Connected: app {self._test_app_id} on {host}"
        if self._is_stale():
            self._show_test_result(None, f"For the previous values — {text}", MUTED_COLOR)
        else:
            self._show_test_result("check", text, OK_COLOR)

    def _on_test_error(self, exc: BaseException) -> None:
        if not self._test_finished():
            return
        text = describe_connection_error(exc)
        if self._is_stale():
            self._show_test_result(None, f"For the previous values — {text}", MUTED_COLOR)
        else:
            self._show_test_result("warning", text, ERROR_COLOR)

    # Saving ------------------------------------------------------------------------------------
    @Slot()
    def _on_save(self) -> None:
        current = self._current
        if current is None or self._saving:
            return
        self._revalidate()
        if not self._save_button.isEnabled():
            for form in self._forms:
                form.touched.update(FIELD_LABELS)
            self._revalidate()
            return
        storage = self._storage()
        forms = [current, *(f for f in self._saved_dirty() if f is not current)]
        plans = [plan_save(f, storage) for f in forms if f.builtin is None]
        if not plans:  # only the built-in connection's version: nothing to store
            self._emit_builtin(current)
            return
        # The built-in connection chosen by this Save: connected once the others are stored.
        self._builtin_saving = current if current.builtin is not None else None
        self._saving = True
        self._update_save_state()
        fn = functools.partial(store_secrets, plans, self._secrets, self._session)
        self._save_task = self._tasks.submit(
            fn, self._on_secrets_stored, self._on_save_crashed, kind="keychain"
        )

    def _on_secrets_stored(self, outcome: object) -> None:
        self._save_task = None
        if not shiboken6.isValid(self):
            return
        self._saving = False
        assert isinstance(outcome, SaveOutcome)
        for plan in outcome.done:
            self._write_profile(plan)
        if not self._sync_settings():
            return
        if outcome.failed is not None:
            self._show_save_failure(
                outcome.failed.form, outcome.reason, keychain=outcome.keychain_failed
            )
            return
        if self._builtin_saving is not None:
            self._emit_builtin(self._builtin_saving)  # the others were saved, not chosen
            return
        name = outcome.done[0].profile.name
        self._settings.set_active_profile_name(name)
        if not self._sync_settings():
            return
        self.profileSaved.emit(name)
        self.accept()

    def _emit_builtin(self, form: ProfileForm) -> None:
        """Connect with the built-in connection at the version chosen in ``form``."""
        self.builtinChosen.emit(form.api_version.value)
        self.accept()

    def _on_save_crashed(self, exc: BaseException) -> None:
        self._save_task = None
        if not shiboken6.isValid(self):
            return
        self._saving = False
        log.error("saving the connection failed: %s", type(exc).__name__)
        if self._current is not None:
            reason = f"Saving failed unexpectedly ({type(exc).__name__}); nothing was lost."
            self._show_save_failure(self._current, reason, keychain=False)

    def _write_profile(self, plan: SavePlan) -> None:
        profiles = self._settings.profiles()
        index = next((i for i, p in enumerate(profiles) if p.id == plan.profile.id), None)
        if index is None:
            profiles.append(plan.profile)
        else:
            profiles[index] = plan.profile
        self._settings.save_profiles(profiles)
        form = plan.form
        form.original = plan.profile
        form.name = plan.profile.name
        form.custom_url = plan.profile.base_url
        form.zendesk_subdomain = plan.profile.zendesk_subdomain
        form.app_id = plan.profile.app_id
        form.key_id = plan.profile.key_id
        if plan.secret or plan.source_account:
            form.stored_account = plan.account
            form.stored_key_id = plan.profile.key_id
            form.stored_in = plan.stored_in_after
            form.owns_stored = True
        form.secret = ""
        form.save_error = ""

    def _show_save_failure(self, form: ProfileForm, reason: str, *, keychain: bool) -> None:
        form.save_error = f"The secret could not be saved: {reason}"
        form.touched.add("secret")
        if keychain:
            self._save_failure = reason  # what the keychain said; shown with a retry hint
            self._keychain_reason = reason
        row = self._row_of(form)
        if row >= 0 and form is not self._current:
            self._list.setCurrentRow(row)
        self._update_keychain_status()
        self._secret_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    # Closing -----------------------------------------------------------------------------------
    def reject(self) -> None:
        if self._saving:
            return  # the keychain is being written; the result decides what happens
        super().reject()

    def done(self, result: int) -> None:
        for task in (self._test_task, *self._lookups.values()):
            if task is not None:
                task.cancel()
        self._test_task = None
        self._lookups.clear()
        # Typed secrets leave memory with the dialog's widgets as soon as possible.
        for form in self._forms:
            form.secret = ""
        self._loading = True
        self._secret_edit.clear()
        self._loading = False
        super().done(result)
