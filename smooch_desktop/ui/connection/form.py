"""One connection profile's form values while the dialog is open, and their validation.

Holds :class:`ProfileForm` (what the agent typed, not saved yet), :class:`SecretStorage`
(where a new secret can go right now), :class:`BuiltinConnection` (the embedded sandbox
of a ``--sandbox`` run: listed with the saved profiles, only its API version can change)
and :func:`form_problems` (field → the sentence shown under it). Qt-free: no PySide6
import, directly or through another module, so it is tested without a display; the
widgets that show it are in :mod:`smooch_desktop.ui.connection.dialog`. Not to be
confused with message drafts (:mod:`smooch_desktop.core.drafts`): nothing here is a
message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.errors import ConfigError
from smooch_desktop.api.factory import ApiVersion, version_problem
from smooch_desktop.api.hosts import Region, validate_base_url, validate_zendesk_subdomain
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretLocation, account_for
from smooch_desktop.core.validation import (
    ValidationError,
    clean_app_id,
    clean_key_id,
    clean_profile_name,
    clean_secret,
)

SESSION_ONLY_TEXT: Final = "Use the secret for this session &only (not saved)"
_SESSION_ONLY_PLAIN: Final = SESSION_ONLY_TEXT.replace("&", "")

#: Every field that can show a problem, in form order, with its label.
FIELD_LABELS: Final = {
    "profile_name": "Name",
    "zendesk_subdomain": "Zendesk subdomain",
    "base_url": "Base URL",
    "app_id": "App ID",
    "key_id": "Key ID",
    "secret": "Secret",
    "api_version": "API version",
}
#: The fields the connection test uses: editing one makes a shown result stale.
CONNECTION_FIELDS: Final = (
    "zendesk_subdomain",
    "base_url",
    "app_id",
    "key_id",
    "secret",
    "api_version",
)


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base 2``, ``base 3``… — the first not in ``taken`` (case-insensitive)."""
    folded = {name.casefold() for name in taken}
    if base.casefold() not in folded:
        return base
    number = 2
    while f"{base} {number}".casefold() in folded:
        number += 1
    return f"{base} {number}"


@dataclass(frozen=True)
class BuiltinConnection:
    """A connection this run of the app provides itself: the embedded sandbox.

    It is listed with the saved profiles but is not one: its host, app, key and auth
    belong to the run (the sandbox starts on a new port each time), so they are shown
    read-only; the secret is used for "Test connection" and never shown. Only the API
    version can be chosen; the app remembers that choice for the next ``--sandbox`` run.
    """

    name: str
    base_url: str
    app_id: str
    key_id: str
    secret: str = field(repr=False)
    auth: AuthMethod
    #: The version the running session speaks (what the form starts with).
    api_version: ApiVersion


@dataclass(eq=False)
class ProfileForm:
    """The form values of one profile while the dialog is open (not yet saved)."""

    name: str
    region: Region = Region.US
    custom_url: str = ""
    app_id: str = ""
    key_id: str = ""
    auth: AuthMethod = AuthMethod.BASIC
    api_version: ApiVersion = ApiVersion.V1_1
    #: As typed (a pasted ``acme.zendesk.com`` too); used by the Zendesk region only.
    zendesk_subdomain: str = ""
    #: Typed in this dialog and not stored yet; "" = keep the stored one.
    secret: str = field(default="", repr=False)
    #: The profile as saved in the settings, None for a new one.
    original: Profile | None = None
    #: Keychain/session account of the existing secret, the key it is for, where it is
    #: (None: not looked up yet; the dialog asks the keychain thread).
    stored_account: str = ""
    stored_key_id: str = ""
    stored_in: SecretLocation | None = SecretLocation.NOWHERE
    #: True when the stored entry is this profile's own (moved on rename, deleted with it).
    owns_stored: bool = False
    touched: set[str] = field(default_factory=set)
    problems: dict[str, str] = field(default_factory=dict)
    #: Why the last save of this form's secret failed; shown (Save retries) until an edit.
    save_error: str = ""
    #: Set for the built-in connection (the sandbox): nothing but the version is editable.
    builtin: BuiltinConnection | None = None

    @classmethod
    def from_builtin(cls, builtin: BuiltinConnection) -> ProfileForm:
        """The form of the built-in connection (its secret stays in ``builtin``)."""
        return cls(
            name=builtin.name,
            region=Region.CUSTOM,
            custom_url=builtin.base_url,
            app_id=builtin.app_id,
            key_id=builtin.key_id,
            auth=builtin.auth,
            api_version=builtin.api_version,
            touched=set(FIELD_LABELS),
            builtin=builtin,
        )

    @classmethod
    def from_profile(cls, profile: Profile) -> ProfileForm:
        account = account_for(profile.name, profile.key_id) if profile.key_id else ""
        return cls(
            name=profile.name,
            region=profile.region,
            custom_url=profile.base_url,
            app_id=profile.app_id,
            key_id=profile.key_id,
            auth=profile.auth,
            api_version=profile.api_version,
            zendesk_subdomain=profile.zendesk_subdomain,
            original=profile,
            stored_account=account,
            stored_key_id=profile.key_id,
            stored_in=None if account else SecretLocation.NOWHERE,
            owns_stored=bool(account),
            touched=set(FIELD_LABELS),
        )

    def copy_as(self, name: str) -> ProfileForm:
        """A new, unsaved form with these values; it reuses the stored secret if any."""
        return ProfileForm(
            name=name,
            region=self.region,
            custom_url=self.custom_url,
            app_id=self.app_id,
            key_id=self.key_id,
            auth=self.auth,
            api_version=self.api_version,
            zendesk_subdomain=self.zendesk_subdomain,
            secret=self.secret,
            stored_account=self.stored_account,
            stored_key_id=self.stored_key_id,
            stored_in=self.stored_in,
            owns_stored=False,
        )

    @property
    def lookup_pending(self) -> bool:
        """True while it is not known yet where (or whether) the stored secret is."""
        return self.stored_in is None

    def secret_fate_on_delete(self) -> str:
        """One sentence for the delete confirmation: what happens to this profile's secret."""
        if self.stored_in is SecretLocation.NOWHERE:
            return "No secret is stored for it."
        if not self.owns_stored:
            return "The secret it uses is kept: it is stored for another connection."
        if self.stored_in is SecretLocation.SESSION:
            return "Its secret, kept for this session only, is forgotten."
        if self.stored_in is SecretLocation.KEYCHAIN:
            return "Its secret is also removed from the system keychain."
        return "Its secret is also removed from the system keychain if it is there."

    def has_stored_secret(self) -> bool:
        """True if a secret already stored for this very key can be used."""
        return (
            self.stored_in in (SecretLocation.KEYCHAIN, SecretLocation.SESSION)
            and self.key_id.strip() == self.stored_key_id
        )

    def values(self) -> tuple[str, ...]:
        url = self.custom_url.strip() if self.region is Region.CUSTOM else ""
        subdomain = self.zendesk_subdomain.strip() if self.region is Region.ZENDESK else ""
        return (
            self.name.strip(),
            self.region,
            url,
            subdomain,
            self.app_id.strip(),
            self.key_id.strip(),
            self.auth,
            self.api_version,
        )

    def is_dirty(self) -> bool:
        if self.builtin is not None:
            return self.api_version is not self.builtin.api_version
        # A stored region or auth this version can't read shows as the default: saving
        # what is shown is a change.
        if self.original is None or self.secret or self.original.unreadable:
            return True
        o = self.original
        saved = (
            o.name,
            o.region,
            o.base_url,
            o.zendesk_subdomain,
            o.app_id,
            o.key_id,
            o.auth,
            o.api_version,
        )
        return self.values() != saved


@dataclass(frozen=True)
class SecretStorage:
    """Where new secrets can go right now."""

    keychain_ok: bool
    keychain_reason: str
    session_only: bool

    @property
    def target(self) -> SecretLocation:
        return SecretLocation.SESSION if self.session_only else SecretLocation.KEYCHAIN

    @property
    def can_store(self) -> bool:
        return self.keychain_ok or self.session_only

    def blocked_message(self) -> str:
        return (
            f"The secret can't be saved: {self.keychain_reason} Tick “{_SESSION_ONLY_PLAIN}” "
            "below to use it until you quit."
        )


def form_problems(form: ProfileForm, taken: set[str], storage: SecretStorage) -> dict[str, str]:
    """Field → message for everything in ``form`` that keeps it from being saved."""
    problems: dict[str, str] = {}
    if form.builtin is not None:
        # Its other values are the running sandbox's own; only the version was chosen.
        version = version_problem(form.api_version)
        return {"api_version": version} if version else {}
    try:
        name = clean_profile_name(form.name)
    except ValidationError as exc:
        problems["profile_name"] = exc.message
    else:
        if name.casefold() in taken:
            problems["profile_name"] = (
                f"Another connection is already called “{name}”; choose a different name."
            )
    if form.region is Region.CUSTOM:
        try:
            validate_base_url(form.custom_url)
        except ConfigError as exc:
            problems["base_url"] = exc.message
    if form.region is Region.ZENDESK:
        try:
            validate_zendesk_subdomain(form.zendesk_subdomain)
        except ConfigError as exc:
            problems["zendesk_subdomain"] = exc.message
    version = version_problem(form.api_version, form.region)
    if version:
        problems["api_version"] = version
    for field_name, clean, raw in (
        ("app_id", clean_app_id, form.app_id),
        ("key_id", clean_key_id, form.key_id),
    ):
        try:
            clean(raw)
        except ValidationError as exc:
            problems[field_name] = exc.message
    secret_problem = _secret_problem(form, storage)
    if secret_problem:
        problems["secret"] = secret_problem
    return problems


def keychain_blocks(form: ProfileForm, storage: SecretStorage) -> bool:
    """True when the secret would be fine but the keychain can't take it (nor the session).

    What the form lacks is then not a value the agent can complete: the save hint names
    the keychain, not the Secret field.
    """
    if storage.can_store or form.builtin is not None:
        return False
    with_keychain = SecretStorage(True, "", storage.session_only)
    return bool(_secret_problem(form, storage)) and not _secret_problem(form, with_keychain)


def save_hint(form: ProfileForm, storage: SecretStorage) -> str:
    """What keeps ``form`` from being saved, in one sentence ("" when nothing does)."""
    blocked = keychain_blocks(form, storage)
    labels = [
        FIELD_LABELS[f]
        for f in FIELD_LABELS
        if f in form.problems and not (blocked and f == "secret")
    ]
    keychain = (
        f"the system keychain is not available, so tick “{_SESSION_ONLY_PLAIN}” to use "
        "the secret until you quit"
    )
    if labels and blocked:
        return "To save, complete: " + ", ".join(labels) + "; " + keychain + "."
    if blocked:
        return "To save: " + keychain + "."
    if labels:
        return "To save, complete: " + ", ".join(labels) + "."
    return ""


def _secret_problem(form: ProfileForm, storage: SecretStorage) -> str:
    if form.secret:
        try:
            clean_secret(form.secret)
        except ValidationError as exc:
            return exc.message
        return "" if storage.can_store else storage.blocked_message()
    if form.lookup_pending:
        return "Looking for the saved secret in the keychain…"
    if form.has_stored_secret():
        moves = form.stored_account != _account_or_empty(form)
        if moves and form.stored_in is SecretLocation.KEYCHAIN and not storage.keychain_ok:
            return (
                f"The saved secret can't be moved to the new name: {storage.keychain_reason} "
                "Enter the secret again."
            )
        return ""
    if form.stored_in in (SecretLocation.KEYCHAIN, SecretLocation.SESSION):
        return "The key ID changed: enter the secret of the new key."
    try:
        clean_secret("")
    except ValidationError as exc:
        return exc.message
    return ""  # pragma: no cover - clean_secret("") always raises


def _account_or_empty(form: ProfileForm) -> str:
    name, key_id = form.name.strip(), form.key_id.strip()
    return account_for(name, key_id) if name and key_id else ""
