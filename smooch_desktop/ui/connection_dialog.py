"""The connection dialog: profiles of host, app and API key, with a live connection test.

Left, the saved connection profiles; right, a form for the selected one. Every field is
checked while it is edited and explains, right under it, what is wrong; Save stays
disabled until all profiles with changes are valid. The secret only ever goes to the
system keychain (or, when there is none and the user says so, to :class:`SessionSecrets`
for this run); it is never written to the settings, a log, the title or an error text.

Keychain calls and the connection test run on the app's :class:`TaskQueue` (a keychain
can block on an unlock prompt, the network always can); the GUI thread only waits for
their results.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import shiboken6
from PySide6.QtCore import QPointF, QSize, Qt, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QIcon,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
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
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.errors import (
    ApiError,
    BadResponse,
    ConfigError,
    ConnectFailed,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
    TlsFailed,
)
from smooch_desktop.api.hosts import EU_BASE_URL, US_BASE_URL, Region, validate_base_url
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.core.profiles import ProfileData, UnsentSummary
from smooch_desktop.core.secrets import (
    KeychainStatus,
    KeychainUnavailable,
    SecretStore,
    SessionSecrets,
    account_for,
)
from smooch_desktop.core.validation import (
    ValidationError,
    clean_app_id,
    clean_key_id,
    clean_profile_name,
    clean_secret,
)
from smooch_desktop.resources import icon_path
from smooch_desktop.ui import plain
from smooch_desktop.ui.plain import PlainLabel, breakable, inline, visible_controls
from smooch_desktop.ui.settings import AppSettings, Profile
from smooch_desktop.ui.workers import Task, TaskQueue

log = logging.getLogger(__name__)

#: The connection test must answer quickly or say why not.
TEST_CONNECT_TIMEOUT_S: Final = 5.0
TEST_READ_TIMEOUT_S: Final = 10.0

SESSION_ONLY_TEXT: Final = "Use the secret for this session &only (not saved)"
_SESSION_ONLY_PLAIN: Final = SESSION_ONLY_TEXT.replace("&", "")

_ERROR_COLOR: Final = "#c62828"
#: Error labels never ask for more width than this; they wrap to the field's width.
_MIN_WRAP_WIDTH: Final = 120
_FALLBACK_WRAP_WIDTH: Final = 400
_OK_COLOR: Final = "#2e7d32"
_MUTED_COLOR: Final = "#6b6b6b"

# Where the existing secret of a draft lives.
_IN_KEYCHAIN: Final = "keychain"
_IN_SESSION: Final = "session"
_NOWHERE: Final = "none"
_UNKNOWN: Final = "unknown"  # not looked up yet

_FIELD_LABELS: Final = {
    "profile_name": "Name",
    "base_url": "Base URL",
    "app_id": "App ID",
    "key_id": "Key ID",
    "secret": "Secret",
}
_CONNECTION_FIELDS: Final = ("base_url", "app_id", "key_id", "secret")

_REGIONS: Final = (
    (Region.US.value, f"US — {US_BASE_URL.removeprefix('https://')}"),
    (Region.EU.value, f"EU — {EU_BASE_URL.removeprefix('https://')}"),
    (Region.CUSTOM.value, "Custom URL"),
)
_AUTH_METHODS: Final = (
    (AuthMethod.BASIC.value, "Basic (recommended)"),
    (AuthMethod.JWT.value, "JWT (HS256, app scope)"),
)
_API_VERSIONS: Final = (("v1.1", "v1.1", True), ("v2", "v2 — not yet available", False))


# --- pure helpers ---------------------------------------------------------------------------


def _http_detail(exc: HttpError) -> str:
    """``401 unauthorized: Invalid key id or secret`` — status, code and server text."""
    status = exc.status if exc.status is not None else 0
    text = f"{status} {exc.code}" if exc.code else f"{status}"
    if exc.server_description:
        text += f": {exc.server_description}"
    return text


def _describe_http_error(exc: HttpError) -> str:
    status = exc.status or 0
    detail = _http_detail(exc)
    description = (exc.server_description or "").lower()
    if status == 401:
        if exc.code == "invalid_auth" or "jwt" in description:
            return (
                f"The JWT was not accepted ({detail}). Check the key ID and secret, and that "
                "the key belongs to this app."
            )
        return f"The key ID or secret was not accepted ({detail})."
    if status == 403:
        return (
            f"The key was accepted but has no access to this app ({detail}). "
            "Use a key of this app, or an account key."
        )
    if status == 404:
        if exc.code == "app_not_found" or "app not found" in description:
            return (
                f"App not found ({detail}). Check the App ID, and the region: "
                "an app exists in one region only."
            )
        return f"Nothing found at this address ({detail}). Check the base URL."
    if status == 402:
        return f"The app's plan does not allow this ({detail})."
    if status == 429:
        return f"The server is limiting requests ({detail}). Wait a moment and test again."
    if 300 <= status < 400:
        return f"The server redirected the request ({detail}). Enter the final https:// address."
    if status >= 500:
        return f"The server had a problem ({detail}). Try again later."
    return f"The server refused the request ({detail})."


def describe_connection_error(exc: BaseException) -> str:
    """One or two sentences saying exactly why a connection test failed.

    Built only from the exception's type, status, error code and the server's own
    description — never from request headers — so the text can't contain the secret.
    """
    if isinstance(exc, HttpError):
        return _describe_http_error(exc)
    if isinstance(exc, ConnectFailed):
        return (
            f"The server can't be reached: {exc.description} "
            "Check the region or base URL and your network."
        )
    if isinstance(exc, TlsFailed):
        return (
            f"{exc.description} The certificate may be self-signed, expired or for another "
            "host; nothing was sent."
        )
    if isinstance(exc, ReadTimedOut):
        return f"Timed out: {exc.description} The server may be overloaded; test again."
    if isinstance(exc, ConnectionDropped):
        return (
            f"{exc.description} A proxy or firewall may be cutting the connection; "
            "check the base URL."
        )
    if isinstance(exc, BadResponse):
        return f"This does not look like a Smooch API: {exc.description} Check the base URL."
    if isinstance(exc, ApiError):
        return exc.user_message
    if isinstance(exc, ConfigError | ValidationError):
        return exc.message
    if isinstance(exc, KeychainUnavailable):
        return f"The saved secret could not be read: {exc.reason}"
    return f"The connection could not be tested (unexpected {type(exc).__name__})."


def _unique_name(base: str, taken: set[str]) -> str:
    folded = {name.casefold() for name in taken}
    if base.casefold() not in folded:
        return base
    number = 2
    while f"{base} {number}".casefold() in folded:
        number += 1
    return f"{base} {number}"


# --- drafts -----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Draft:
    """The form values of one profile while the dialog is open (not yet saved)."""

    name: str
    region: str = Region.US.value
    custom_url: str = ""
    app_id: str = ""
    key_id: str = ""
    auth: str = AuthMethod.BASIC.value
    api_version: str = "v1.1"
    #: Typed in this dialog and not stored yet; "" = keep the stored one.
    secret: str = field(default="", repr=False)
    #: The profile as saved in the settings, None for a new one.
    original: Profile | None = None
    #: Keychain/session account of the existing secret, the key it is for, where it is.
    stored_account: str = ""
    stored_key_id: str = ""
    stored_in: str = _NOWHERE
    #: True when the stored entry is this profile's own (moved on rename, deleted with it).
    owns_stored: bool = False
    touched: set[str] = field(default_factory=set)
    problems: dict[str, str] = field(default_factory=dict)
    #: Why the last save of this draft's secret failed; shown (Save retries) until an edit.
    save_error: str = ""

    @classmethod
    def from_profile(cls, profile: Profile) -> _Draft:
        region = profile.region if profile.region in {r.value for r in Region} else "us"
        auth = profile.auth if profile.auth in {m.value for m in AuthMethod} else "basic"
        account = account_for(profile.name, profile.key_id) if profile.key_id else ""
        return cls(
            name=profile.name,
            region=region,
            custom_url=profile.base_url,
            app_id=profile.app_id,
            key_id=profile.key_id,
            auth=auth,
            api_version="v1.1",
            original=profile,
            stored_account=account,
            stored_key_id=profile.key_id,
            stored_in=_UNKNOWN if account else _NOWHERE,
            owns_stored=bool(account),
            touched=set(_FIELD_LABELS),
        )

    def copy_as(self, name: str) -> _Draft:
        """A new, unsaved draft with these values; it reuses the stored secret if any."""
        return _Draft(
            name=name,
            region=self.region,
            custom_url=self.custom_url,
            app_id=self.app_id,
            key_id=self.key_id,
            auth=self.auth,
            api_version=self.api_version,
            secret=self.secret,
            stored_account=self.stored_account,
            stored_key_id=self.stored_key_id,
            stored_in=self.stored_in,
            owns_stored=False,
        )

    def has_stored_secret(self) -> bool:
        """True if a secret already stored for this very key can be used."""
        return (
            self.stored_in in (_IN_KEYCHAIN, _IN_SESSION)
            and self.key_id.strip() == self.stored_key_id
        )

    def values(self) -> tuple[str, ...]:
        url = self.custom_url.strip() if self.region == Region.CUSTOM.value else ""
        return (
            self.name.strip(),
            self.region,
            url,
            self.app_id.strip(),
            self.key_id.strip(),
            self.auth,
            self.api_version,
        )

    def is_dirty(self) -> bool:
        if self.original is None or self.secret:
            return True
        o = self.original
        saved = (o.name, o.region, o.base_url, o.app_id, o.key_id, o.auth, o.api_version)
        return self.values() != saved


@dataclass(frozen=True)
class _Storage:
    """Where new secrets can go right now."""

    keychain_ok: bool
    keychain_reason: str
    session_only: bool

    @property
    def target(self) -> str:
        return _IN_SESSION if self.session_only else _IN_KEYCHAIN

    @property
    def can_store(self) -> bool:
        return self.keychain_ok or self.session_only

    def blocked_message(self) -> str:
        return (
            f"The secret can't be saved: {self.keychain_reason} Tick “{_SESSION_ONLY_PLAIN}” "
            "below to use it until you quit."
        )


def _draft_problems(draft: _Draft, taken: set[str], storage: _Storage) -> dict[str, str]:
    """Field → message for everything in ``draft`` that keeps it from being saved."""
    problems: dict[str, str] = {}
    try:
        name = clean_profile_name(draft.name)
    except ValidationError as exc:
        problems["profile_name"] = exc.message
    else:
        if name.casefold() in taken:
            problems["profile_name"] = (
                f"Another connection is already called “{name}”; choose a different name."
            )
    if draft.region == Region.CUSTOM.value:
        try:
            validate_base_url(draft.custom_url)
        except ConfigError as exc:
            problems["base_url"] = exc.message
    for field_name, clean, raw in (
        ("app_id", clean_app_id, draft.app_id),
        ("key_id", clean_key_id, draft.key_id),
    ):
        try:
            clean(raw)
        except ValidationError as exc:
            problems[field_name] = exc.message
    secret_problem = _secret_problem(draft, storage)
    if secret_problem:
        problems["secret"] = secret_problem
    return problems


def _secret_problem(draft: _Draft, storage: _Storage) -> str:
    if draft.secret:
        try:
            clean_secret(draft.secret)
        except ValidationError as exc:
            return exc.message
        return "" if storage.can_store else storage.blocked_message()
    if draft.stored_in == _UNKNOWN:
        return "Looking for the saved secret in the keychain…"
    if draft.has_stored_secret():
        moves = draft.stored_account != _account_or_empty(draft)
        if moves and draft.stored_in == _IN_KEYCHAIN and not storage.keychain_ok:
            return (
                f"The saved secret can't be moved to the new name: {storage.keychain_reason} "
                "Enter the secret again."
            )
        return ""
    if draft.stored_in in (_IN_KEYCHAIN, _IN_SESSION):
        return "The key ID changed: enter the secret of the new key."
    try:
        clean_secret("")
    except ValidationError as exc:
        return exc.message
    return ""  # pragma: no cover - clean_secret("") always raises


def _account_or_empty(draft: _Draft) -> str:
    name, key_id = draft.name.strip(), draft.key_id.strip()
    return account_for(name, key_id) if name and key_id else ""


@dataclass(frozen=True)
class _SavePlan:
    """What saving one draft does; the worker only reads it."""

    draft: _Draft = field(repr=False)
    profile: Profile
    previous_name: str | None
    account: str
    target: str
    secret: str = field(default="", repr=False)
    #: Copy the secret from here when none was typed and the account changes.
    source_account: str = ""
    source_in: str = _NOWHERE
    #: This profile's old entry, removed once the new one is stored.
    obsolete_account: str = ""
    obsolete_in: str = _NOWHERE

    @property
    def stored_in_after(self) -> str:
        if self.secret:
            return self.target
        return self.source_in


@dataclass(frozen=True)
class _SaveOutcome:
    done: list[_SavePlan]
    failed: _SavePlan | None = None
    reason: str = ""
    keychain_failed: bool = False


# --- worker functions (run on the task queue's thread; no widgets here) ----------------------


def _read_secret(account: str, where: str, secrets: SecretStore, session: SessionSecrets) -> str:
    value = session.get(account) if where == _IN_SESSION else secrets.get(account)
    if not value:
        raise ValidationError(
            "secret", "The saved secret for this key was not found any more; enter it again."
        )
    return value


def _find_secret(account: str, secrets: SecretStore, session: SessionSecrets) -> str:
    """Where a secret is stored for ``account``: session, keychain or nowhere."""
    if account in session:
        return _IN_SESSION
    return _IN_KEYCHAIN if secrets.get(account) is not None else _NOWHERE


def _store_secrets(
    plans: list[_SavePlan], secrets: SecretStore, session: SessionSecrets
) -> _SaveOutcome:
    done: list[_SavePlan] = []
    failure: _SaveOutcome | None = None
    for plan in plans:
        try:
            value = plan.secret
            if not value and plan.source_account and plan.source_account != plan.account:
                value = _read_secret(plan.source_account, plan.source_in, secrets, session)
                target = plan.source_in
            else:
                target = plan.target
            if value:
                if target == _IN_SESSION:
                    session.set(plan.account, value)
                else:
                    secrets.set(plan.account, value)
                    # A session entry would shadow the one just saved.
                    session.delete(plan.account)
        except KeychainUnavailable as exc:
            failure = _SaveOutcome(done, plan, exc.reason, keychain_failed=True)
            break
        except ValidationError as exc:
            failure = _SaveOutcome(done, plan, exc.message)
            break
        done.append(plan)
    # Old entries go last: another plan (a duplicate) may have copied from one of them.
    finished = {id(plan) for plan in done}
    still_used = {p.account for p in done} | {
        p.source_account for p in plans if id(p) not in finished
    }
    for plan in done:
        obsolete = plan.obsolete_account
        if not obsolete or obsolete in still_used:
            continue
        if plan.obsolete_in == _IN_SESSION:
            session.delete(obsolete)
        else:
            _delete_quietly(obsolete, secrets)
    return failure or _SaveOutcome(done)


def _delete_quietly(account: str, secrets: SecretStore) -> None:
    """Remove an obsolete entry; a leftover is logged (by the store), never fatal."""
    with contextlib.suppress(KeychainUnavailable):
        secrets.delete(account)


def _delete_secret(account: str, secrets: SecretStore) -> None:
    secrets.delete(account)


def _probe_connection(
    base_url: str,
    app_id: str,
    key_id: str,
    method: str,
    api_version: str,
    typed_secret: str,
    stored_account: str,
    stored_in: str,
    secrets: SecretStore,
    session: SessionSecrets,
) -> str:
    """Check host, app and key with one request; return the host (netloc) on success."""
    secret = typed_secret or _read_secret(stored_account, stored_in, secrets, session)
    api = V1Api.connect(
        base_url,
        app_id,
        Credentials(key_id, secret, AuthMethod(method)),
        version=api_version,
        connect_timeout=TEST_CONNECT_TIMEOUT_S,
        read_timeout=TEST_READ_TIMEOUT_S,
    )
    try:
        api.check_connection()
    except HttpError as exc:
        if not _is_unknown_probe_user(exc):
            raise
    finally:
        api.close()
    return api.host


def _is_unknown_probe_user(exc: HttpError) -> bool:
    """True for the 404 "App user not found" that proves host, app and key all work.

    ``V1Api.check_connection`` re-raises every 404 whose description mentions "app",
    which includes this one; remove this once it tells the two apart itself.
    """
    description = (exc.server_description or "").strip().lower().rstrip(".")
    return exc.status == 404 and (
        exc.code == "user_not_found" or description in ("app user not found", "user not found")
    )


# --- widgets ------------------------------------------------------------------------------------


def _eye_icon(color: QColor, *, crossed: bool) -> QIcon:
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


def _svg_pixmap(name: str, size: int = 16) -> QPixmap:
    return QIcon(str(icon_path(name))).pixmap(QSize(size, size))


class _FieldError(QLabel):
    """The red explanation in the form row right under its field; the row hides when empty."""

    def __init__(
        self, object_name: str, form: QFormLayout, field: QWidget, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self._field = field
        self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {_ERROR_COLOR};")
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


class ConnectionDialog(QDialog):
    """Edit connection profiles (host, app, API key) and test them before saving.

    Save writes every new or changed profile to the settings and its secret to the
    keychain (or, if the user chose it, to the session only), makes the selected profile
    the active one and accepts the dialog. Cancel discards all unsaved edits; deleting a
    profile is immediate (after confirmation) and also removes its keychain entry.

    Signals:
        profileSaved(str): the name of the saved profile that is now active.
        profileDeleted(str): the name of a profile removed from the settings.
    """

    profileSaved = Signal(str)
    profileDeleted = Signal(str)

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
    ) -> None:
        super().__init__(parent)
        self.setObjectName("connectionDialog")
        #: The outbox and drafts, to say what a profile still holds before deleting it.
        self._profile_data = profile_data
        self.setWindowTitle("Connections")
        self.setSizeGripEnabled(True)
        self.setMinimumSize(QSize(700, 480))
        self.resize(820, 520)

        self._settings = settings
        self._secrets = secrets
        self._session = session_secrets
        self._tasks = tasks
        self._drafts: list[_Draft] = []
        self._current: _Draft | None = None
        self._loading = False
        self._saving = False
        #: Bumped on every edit of a value the connection test uses.
        self._generation = 0
        self._test_task: Task | None = None
        self._test_generation = -1
        self._test_draft: _Draft | None = None
        self._test_app_id = ""
        self._save_task: Task | None = None
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
        self._save_hint.setStyleSheet(f"color: {_MUTED_COLOR};")
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
            self._name_edit,
            self._region_combo,
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
        return side

    def _build_form_side(self) -> QWidget:
        side = QWidget(self)
        side.setObjectName("profileFormPane")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self._errors: dict[str, _FieldError] = {}

        self._name_edit = self._line_edit(side, "nameEdit", "e.g. Production (US)")
        self._name_edit.setMaxLength(200)
        self._add_row(form, side, "&Name:", self._name_edit, "profile_name", "nameError")

        self._region_combo = QComboBox(side)
        self._region_combo.setObjectName("regionCombo")
        for value, text in _REGIONS:
            self._region_combo.addItem(text, value)
        self._region_combo.currentIndexChanged.connect(self._on_region_changed)
        self._add_row(form, side, "&Region:", self._region_combo)

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
        self._eye_open = _eye_icon(eye, crossed=False)
        self._eye_closed = _eye_icon(eye, crossed=True)
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
        model = self._version_combo.model()
        for value, text, enabled in _API_VERSIONS:
            self._version_combo.addItem(text, value)
            if not enabled and isinstance(model, QStandardItemModel):
                item = model.item(self._version_combo.count() - 1)
                if item is not None:
                    item.setEnabled(False)
                    item.setToolTip("Planned: the app speaks v1.1 for now.")
        self._add_row(form, side, "API &version:", self._version_combo)

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

        layout = QVBoxLayout(side)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addLayout(test_row)
        layout.addLayout(result_row)
        layout.addStretch(1)
        return side

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
            self._errors[field_name] = _FieldError(error_name, form, widget, parent)

    # Loading and selection ------------------------------------------------------------------
    def _load_profiles(self, select: str | None) -> None:
        self._drafts = [_Draft.from_profile(p) for p in self._settings.profiles()]
        if not self._drafts:
            self._drafts.append(_Draft(name="My app"))
        for draft in self._drafts:
            self._list.addItem(self._item_for(draft))
        wanted = select or self._settings.active_profile_name()
        row = next((i for i, d in enumerate(self._drafts) if d.name == wanted), 0)
        self._list.setCurrentRow(row)
        if self._current is not self._drafts[row]:
            self._on_row_changed(row)

    def _item_for(self, draft: _Draft) -> QListWidgetItem:
        item = QListWidgetItem(inline(draft.name.strip(), one_line=True) or "(no name)")
        self._style_item(item, draft)
        return item

    def _style_item(self, item: QListWidgetItem, draft: _Draft) -> None:
        item.setText(inline(draft.name.strip(), one_line=True) or "(no name)")
        font = QFont(self._list.font())
        font.setItalic(draft.is_dirty())
        item.setFont(font)
        shown = {
            k
            for k in draft.problems
            if k in draft.touched and not (k == "secret" and draft.stored_in == _UNKNOWN)
        }
        # The whole name (the row elides it), as plain text: names come from the settings file.
        tip = draft.name.strip() + ("\nUnsaved changes" if draft.is_dirty() else "")
        item.setToolTip(plain.plain_tooltip(tip.strip()))
        item.setIcon(QIcon(_svg_pixmap("warning")) if shown else QIcon())

    def _row_of(self, draft: _Draft) -> int:
        for row, candidate in enumerate(self._drafts):
            if candidate is draft:
                return row
        return -1

    @Slot(int)
    def _on_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._drafts):
            self._current = None
            self._set_form_enabled(False)
            return
        self._current = self._drafts[row]
        self._generation += 1
        self._set_form_enabled(True)
        self._show_draft(self._current)
        self._clear_test_result()
        self._lookup_stored_secret(self._current)

    def _set_form_enabled(self, enabled: bool) -> None:
        for widget in (
            self._name_edit,
            self._region_combo,
            self._app_id_edit,
            self._key_id_edit,
            self._secret_edit,
            self._auth_combo,
            self._version_combo,
            self._duplicate_button,
            self._delete_button,
        ):
            widget.setEnabled(enabled)
        self._url_edit.setEnabled(enabled and self._region() == Region.CUSTOM.value)

    def _show_draft(self, draft: _Draft) -> None:
        self._loading = True
        try:
            self._name_edit.setText(draft.name)
            self._region_combo.setCurrentIndex(max(0, self._region_combo.findData(draft.region)))
            self._app_id_edit.setText(draft.app_id)
            self._key_id_edit.setText(draft.key_id)
            self._secret_edit.setText(draft.secret)
            self._auth_combo.setCurrentIndex(max(0, self._auth_combo.findData(draft.auth)))
            self._version_combo.setCurrentIndex(
                max(0, self._version_combo.findData(draft.api_version))
            )
            self._show_region_url(draft)
        finally:
            self._loading = False
        self._revalidate()

    def _show_region_url(self, draft: _Draft) -> None:
        custom = draft.region == Region.CUSTOM.value
        self._url_edit.setEnabled(custom)
        if custom:
            self._url_edit.setText(draft.custom_url)
        else:
            self._url_edit.setText(US_BASE_URL if draft.region == "us" else EU_BASE_URL)

    def _region(self) -> str:
        value = self._region_combo.currentData()
        return value if isinstance(value, str) else Region.US.value

    def _lookup_stored_secret(self, draft: _Draft) -> None:
        if draft.stored_in != _UNKNOWN or id(draft) in self._lookups:
            return
        if draft.stored_account in self._session:
            draft.stored_in = _IN_SESSION
            self._revalidate()
            return
        if not self._keychain_known:
            return  # looked up once the keychain status is in (_on_keychain_status)
        if not self._keychain_ok:
            draft.stored_in = _NOWHERE
            self._revalidate()
            return
        fn = functools.partial(_find_secret, draft.stored_account, self._secrets, self._session)
        self._lookups[id(draft)] = self._tasks.submit(
            fn,
            functools.partial(self._on_lookup_result, draft),
            functools.partial(self._on_lookup_error, draft),
            kind="keychain",
        )

    def _on_lookup_result(self, draft: _Draft, where: object) -> None:
        self._lookups.pop(id(draft), None)
        if not shiboken6.isValid(self):
            return
        draft.stored_in = where if isinstance(where, str) else _NOWHERE
        self._revalidate()

    def _on_lookup_error(self, draft: _Draft, exc: BaseException) -> None:
        self._lookups.pop(id(draft), None)
        if not shiboken6.isValid(self):
            return
        draft.stored_in = _NOWHERE
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
            (self._app_id_edit, "app_id"),
            (self._key_id_edit, "key_id"),
            (self._secret_edit, "secret"),
        ):
            if widget is edit:
                return field_name
        return None

    @Slot(str)
    def _on_text_edited(self, text: str) -> None:
        draft = self._current
        field_name = self._field_of(self.sender())
        if draft is None or field_name is None or self._loading:
            return
        if field_name == "profile_name":
            draft.name = text
        elif field_name == "base_url":
            draft.custom_url = text
        elif field_name == "app_id":
            draft.app_id = text
        elif field_name == "key_id":
            draft.key_id = text
        else:
            draft.secret = text
        if field_name in ("secret", "key_id", "profile_name"):
            draft.save_error = ""
        draft.touched.add(field_name)
        if field_name in _CONNECTION_FIELDS:
            self._connection_values_changed()
        self._revalidate()

    @Slot()
    def _on_editing_finished(self) -> None:
        draft = self._current
        field_name = self._field_of(self.sender())
        if draft is None or field_name is None or self._loading:
            return
        if field_name not in draft.touched:
            draft.touched.add(field_name)
            self._revalidate()

    @Slot(int)
    def _on_region_changed(self, _index: int) -> None:
        draft = self._current
        if draft is None or self._loading:
            return
        draft.region = self._region()
        self._loading = True
        try:
            self._show_region_url(draft)
        finally:
            self._loading = False
        if draft.region == Region.CUSTOM.value:
            self._url_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._connection_values_changed()
        self._revalidate()

    @Slot(int)
    def _on_auth_changed(self, _index: int) -> None:
        draft = self._current
        value = self._auth_combo.currentData()
        if draft is None or self._loading or not isinstance(value, str):
            return
        draft.auth = value
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

    def _storage(self) -> _Storage:
        session_only = self._offer_session_only() and self._session_only.isChecked()
        # Until the keychain has answered, don't report it as missing (Save waits instead).
        ok = self._keychain_ok or not self._keychain_known
        return _Storage(ok, self._keychain_reason, session_only)

    def _offer_session_only(self) -> bool:
        return self._keychain_known and (not self._keychain_ok or bool(self._save_failure))

    def _revalidate(self) -> None:
        """Recheck every draft, show the current one's messages, enable Save accordingly."""
        storage = self._storage()
        for draft in self._drafts:
            taken = {d.name.strip().casefold() for d in self._drafts if d is not draft}
            draft.problems = _draft_problems(draft, taken, storage)
            row = self._row_of(draft)
            item = self._list.item(row)
            if item is not None:
                self._style_item(item, draft)
        current = self._current
        for field_name, label in self._errors.items():
            message = ""
            if current is not None and field_name in current.touched:
                message = current.problems.get(field_name, "")
                if field_name == "secret" and current.stored_in == _UNKNOWN and not current.secret:
                    message = ""  # the placeholder says the keychain is being checked
            if current is not None and field_name == "secret" and not message:
                message = current.save_error
            label.show_message(message)
        self._update_secret_placeholder()
        self._update_save_state()

    def _update_secret_placeholder(self) -> None:
        draft = self._current
        text = "Paste the secret of the API key"
        if draft is not None and draft.has_stored_secret():
            text = (
                "Stored in the system keychain"
                if draft.stored_in == _IN_KEYCHAIN
                else "Kept for this session only"
            )
        elif draft is not None and draft.stored_in == _UNKNOWN:
            text = "Checking the keychain…"
        self._secret_edit.setPlaceholderText(text)

    def _update_save_state(self) -> None:
        current = self._current
        blocking = [d for d in self._drafts if d.problems and (d is current or d.is_dirty())]
        self._save_button.setEnabled(
            current is not None and not blocking and not self._saving and self._keychain_known
        )
        self._test_button.setEnabled(current is not None and self._test_task is None)
        if self._saving:
            self._save_hint.setText("Saving…")
        elif not self._keychain_known:
            self._save_hint.setText("Checking the system keychain…")
        elif current is not None and current.problems:
            labels = [_FIELD_LABELS[f] for f in _FIELD_LABELS if f in current.problems]
            self._save_hint.setText("To save, complete: " + ", ".join(labels) + ".")
        elif blocking:
            names = ", ".join(f"“{d.name.strip() or '(no name)'}”" for d in blocking)
            self._save_hint.setText(f"Also fix the connection {names} to save.")
        else:
            self._save_hint.setText("")

    # Profile list actions --------------------------------------------------------------------
    @Slot()
    def _on_add(self) -> None:
        taken = {d.name.strip() for d in self._drafts}
        self._append_draft(_Draft(name=_unique_name("New connection", taken)))

    @Slot()
    def _on_duplicate(self) -> None:
        source = self._current
        if source is None:
            return
        taken = {d.name.strip() for d in self._drafts}
        copy = source.copy_as(_unique_name(f"{source.name.strip()} (copy)", taken))
        copy.touched = set(_FIELD_LABELS)
        self._append_draft(copy)

    def _append_draft(self, draft: _Draft) -> None:
        self._drafts.append(draft)
        self._list.addItem(self._item_for(draft))
        self._list.setCurrentRow(len(self._drafts) - 1)
        self._name_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._name_edit.selectAll()

    @Slot()
    def _on_delete(self) -> None:
        draft = self._current
        if draft is None:
            return
        name = draft.name.strip() or "(no name)"
        if draft.original is not None and self._profile_data is not None:
            unsent = self._profile_data.unsent(draft.original.id)
            if not unsent.empty:
                if not self._confirm_delete_with_unsent(draft.original, unsent):
                    return
                self._profile_data.forget(draft.original.id)
                self._remove_draft_row(draft)
                return
        if draft.original is not None:
            question = (
                f"Delete the connection “{inline(draft.original.name)}”?\n\n"
                "Its secret is also removed from the system keychain. This can't be undone."
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
        self._remove_draft_row(draft)

    def set_profile_data(self, profile_data: ProfileData | None) -> None:
        """Give the dialog the outbox and drafts, so deleting a profile says what it holds."""
        self._profile_data = profile_data

    def _confirm_delete_with_unsent(self, profile: Profile, unsent: UnsentSummary) -> bool:
        """Ask before a profile that still holds messages or drafts goes; default: keep it."""
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
            "good, and removes its secret from the system keychain."
        )
        keep = box.addButton("Keep the connection", QMessageBox.ButtonRole.RejectRole)
        drop = box.addButton(f"Delete it and its {things}", QMessageBox.ButtonRole.DestructiveRole)
        drop.setObjectName("deleteWithUnsentButton")
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.exec()
        return box.clickedButton() is drop

    def _remove_draft_row(self, draft: _Draft) -> None:
        if draft.original is not None:
            self._forget_profile(draft)
        row = self._row_of(draft)
        self._drafts.pop(row)
        self._current = None
        self._list.takeItem(row)
        if not self._drafts:
            taken: set[str] = set()
            self._append_draft(_Draft(name=_unique_name("My app", taken)))
        self._list.setCurrentRow(min(row, len(self._drafts) - 1))
        self._revalidate()

    def _sync_settings(self) -> bool:
        """Write the settings file; on failure say so and keep the dialog (and input) open."""
        try:
            self._settings.sync()
        except OSError as exc:
            plain.warning(self, "Settings not saved", str(exc))
            return False
        return True

    def _forget_profile(self, draft: _Draft) -> None:
        assert draft.original is not None
        old = draft.original
        self._settings.save_profiles([p for p in self._settings.profiles() if p.id != old.id])
        if self._settings.active_profile_name() == old.name:
            self._settings.set_active_profile_name("")
        self._sync_settings()
        accounts = {account_for(old.name, old.key_id)} if old.key_id else set()
        if draft.owns_stored and draft.stored_account:
            accounts.add(draft.stored_account)
        for account in accounts:
            self._session.delete(account)
            if self._keychain_ok or not self._keychain_known:
                self._tasks.submit(
                    functools.partial(_delete_secret, account, self._secrets),
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
        self._keychain_icon.setPixmap(_svg_pixmap("warning"))

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
            self._keychain_icon.setPixmap(_svg_pixmap("warning"))
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
            self._keychain_icon.setPixmap(_svg_pixmap("check"))
            self._keychain_label.setText(
                f"Secrets are stored in the system keychain ({shown}), never in the settings."
            )
            self._session_only.setVisible(False)
        else:
            self._keychain_icon.setPixmap(_svg_pixmap("warning"))
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
            self._test_icon.setPixmap(_svg_pixmap(icon))
        self._test_label.setStyleSheet(f"color: {color};")
        self._test_label.setText(text)

    @Slot()
    def _on_test(self) -> None:
        draft = self._current
        if draft is None or self._test_task is not None:
            return
        draft.touched.update(_CONNECTION_FIELDS)
        self._revalidate()
        try:
            if draft.region == Region.CUSTOM.value:
                base_url = validate_base_url(draft.custom_url)
            else:
                base_url = US_BASE_URL if draft.region == Region.US.value else EU_BASE_URL
            app_id = clean_app_id(draft.app_id)
            key_id = clean_key_id(draft.key_id)
            typed = clean_secret(draft.secret) if draft.secret else ""
        except (ConfigError, ValidationError) as exc:
            self._show_test_result("warning", f"Can't test yet: {exc.message}", _ERROR_COLOR)
            return
        if not typed and not draft.has_stored_secret():
            message = draft.problems.get("secret") or "Enter the secret of the API key."
            self._show_test_result("warning", f"Can't test yet: {message}", _ERROR_COLOR)
            return
        fn = functools.partial(
            _probe_connection,
            base_url,
            app_id,
            key_id,
            draft.auth,
            draft.api_version,
            typed,
            draft.stored_account,
            draft.stored_in,
            self._secrets,
            self._session,
        )
        self._test_generation = self._generation
        self._test_draft = draft
        self._test_app_id = app_id
        host = urlsplit(base_url).netloc
        self._show_test_result("clock", f"Connecting to {host}…", _MUTED_COLOR)
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
        return self._test_generation != self._generation or self._test_draft is not self._current

    def _on_test_result(self, host: object) -> None:
        if not self._test_finished():
            return
        text = f"Connected: app {self._test_app_id} on {host}"
        if self._is_stale():
            self._show_test_result(None, f"For the previous values — {text}", _MUTED_COLOR)
        else:
            self._show_test_result("check", text, _OK_COLOR)

    def _on_test_error(self, exc: BaseException) -> None:
        if not self._test_finished():
            return
        text = describe_connection_error(exc)
        if self._is_stale():
            self._show_test_result(None, f"For the previous values — {text}", _MUTED_COLOR)
        else:
            self._show_test_result("warning", text, _ERROR_COLOR)

    # Saving ------------------------------------------------------------------------------------
    def _plan_for(self, draft: _Draft, storage: _Storage) -> _SavePlan:
        region = draft.region
        base_url = validate_base_url(draft.custom_url) if region == Region.CUSTOM.value else ""
        profile = Profile(
            name=clean_profile_name(draft.name),
            region=region,
            base_url=base_url,
            app_id=clean_app_id(draft.app_id),
            key_id=clean_key_id(draft.key_id),
            auth=draft.auth,
            api_version=draft.api_version,
            # A rename keeps the id: its messages, drafts and recent users go with it.
            **({"id": draft.original.id} if draft.original is not None else {}),
        )
        account = account_for(profile.name, profile.key_id)
        secret = clean_secret(draft.secret) if draft.secret else ""
        source_account = source_in = ""
        if not secret and draft.has_stored_secret():
            source_account, source_in = draft.stored_account, draft.stored_in
        obsolete_account = obsolete_in = ""
        if draft.owns_stored and draft.stored_account and draft.stored_account != account:
            obsolete_account, obsolete_in = draft.stored_account, draft.stored_in
        return _SavePlan(
            draft=draft,
            profile=profile,
            previous_name=draft.original.name if draft.original is not None else None,
            account=account,
            target=storage.target,
            secret=secret,
            source_account=source_account,
            source_in=source_in or _NOWHERE,
            obsolete_account=obsolete_account,
            obsolete_in=obsolete_in or _NOWHERE,
        )

    @Slot()
    def _on_save(self) -> None:
        current = self._current
        if current is None or self._saving:
            return
        self._revalidate()
        if not self._save_button.isEnabled():
            for draft in self._drafts:
                draft.touched.update(_FIELD_LABELS)
            self._revalidate()
            return
        storage = self._storage()
        drafts = [current, *(d for d in self._drafts if d is not current and d.is_dirty())]
        plans = [self._plan_for(d, storage) for d in drafts]
        self._saving = True
        self._update_save_state()
        fn = functools.partial(_store_secrets, plans, self._secrets, self._session)
        self._save_task = self._tasks.submit(
            fn, self._on_secrets_stored, self._on_save_crashed, kind="keychain"
        )

    def _on_secrets_stored(self, outcome: object) -> None:
        self._save_task = None
        if not shiboken6.isValid(self):
            return
        self._saving = False
        assert isinstance(outcome, _SaveOutcome)
        for plan in outcome.done:
            self._write_profile(plan)
        if not self._sync_settings():
            return
        if outcome.failed is not None:
            self._show_save_failure(
                outcome.failed.draft, outcome.reason, keychain=outcome.keychain_failed
            )
            return
        name = outcome.done[0].profile.name
        self._settings.set_active_profile_name(name)
        if not self._sync_settings():
            return
        self.profileSaved.emit(name)
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

    def _write_profile(self, plan: _SavePlan) -> None:
        profiles = self._settings.profiles()
        index = next((i for i, p in enumerate(profiles) if p.id == plan.profile.id), None)
        if index is None:
            profiles.append(plan.profile)
        else:
            profiles[index] = plan.profile
        self._settings.save_profiles(profiles)
        draft = plan.draft
        draft.original = plan.profile
        draft.name = plan.profile.name
        draft.custom_url = plan.profile.base_url
        draft.app_id = plan.profile.app_id
        draft.key_id = plan.profile.key_id
        if plan.secret or plan.source_account:
            draft.stored_account = plan.account
            draft.stored_key_id = plan.profile.key_id
            draft.stored_in = plan.stored_in_after
            draft.owns_stored = True
        draft.secret = ""
        draft.save_error = ""

    def _show_save_failure(self, draft: _Draft, reason: str, *, keychain: bool) -> None:
        draft.save_error = f"The secret could not be saved: {reason}"
        draft.touched.add("secret")
        if keychain:
            self._save_failure = reason  # what the keychain said; shown with a retry hint
            self._keychain_reason = reason
        row = self._row_of(draft)
        if row >= 0 and draft is not self._current:
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
        for draft in self._drafts:
            draft.secret = ""
        self._loading = True
        self._secret_edit.clear()
        self._loading = False
        super().done(result)
