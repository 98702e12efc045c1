"""Connection profiles: what one holds, its stable id, and what it still has unsent.

:class:`Profile` is one connection as stored in the settings (the secret is in the
keychain, never here); :class:`~smooch_desktop.ui.settings.AppSettings` reads and writes
the list.

The outbox, the drafts and the recent users are keyed by a profile's *id*, never by its
name: a name is something the agent edits, and a rename must carry every queued message
and draft with it.

* A new profile gets a random id (:func:`new_profile_id`), stored with it in the settings.
* A profile saved before ids existed, and the built-in profiles (the sandbox and the
  command-line one, which have no settings entry), get :func:`legacy_profile_id` of their
  name. That id is a pure function of the name, so the outbox and drafts files (which
  were keyed by the name) are migrated to the very same id without knowing the settings,
  in whatever order the settings and the files are first opened.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypeVar

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region

if TYPE_CHECKING:
    import sqlite3

    from smooch_desktop.core.drafts import DraftStore
    from smooch_desktop.core.outbox import Outbox

_E = TypeVar("_E", bound=StrEnum)

#: Prefix of ids derived from a name (readable in the files; random ids have none).
LEGACY_PREFIX: Final = "n-"


def new_profile_id() -> str:
    """A fresh random id for a new profile (32 hex digits)."""
    return os.urandom(16).hex()


def legacy_profile_id(name: str) -> str:
    """The stable id of a profile that had only its ``name`` (old settings, built-ins)."""
    import hashlib  # lazy: not needed to paint the first window

    return LEGACY_PREFIX + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def profile_names_to_ids(conn: sqlite3.Connection, table: str) -> None:
    """Schema 1 → 2 of the outbox and the drafts: each name in ``table.profile`` becomes
    :func:`legacy_profile_id` of it (a rung of their migration ladders, inside its
    transaction)."""
    names = [row[0] for row in conn.execute(f"SELECT DISTINCT profile FROM {table}")]
    for name in names:
        conn.execute(
            f"UPDATE {table} SET profile = ? WHERE profile = ?", (legacy_profile_id(name), name)
        )


@dataclass(frozen=True)
class Profile:
    """A connection to one Smooch app (the secret is in the keychain, never here).

    ``id`` never changes (a rename keeps it): the outbox, drafts and recent users are
    keyed by it. New profiles get a random one; one saved before ids existed gets
    :func:`legacy_profile_id` of its name on load. ``region``, ``auth`` and
    ``api_version`` are stored as their enum values (``"us"``, ``"basic"``, ``"v1.1"``…),
    the strings the settings always held. ``zendesk_subdomain`` (just ``acme`` for
    ``acme.zendesk.com``) is used by the Zendesk region only, and stored only when set, so
    a settings file without it is written back unchanged.

    ``unreadable`` holds the stored ``region``/``auth``/``api_version`` values this version
    does not know (hand-edited, or written by a later version), as ``(key, value)`` pairs:
    the fields then show the defaults, but the profile is not used to connect (that would
    send the key to a host, or in a form, the agent never chose) and the values are
    written back as they were.
    """

    name: str
    region: Region = Region.US
    base_url: str = ""  # custom region only
    app_id: str = ""
    key_id: str = ""
    auth: AuthMethod = AuthMethod.BASIC
    api_version: ApiVersion = ApiVersion.V1_1
    id: str = field(default_factory=new_profile_id)
    unreadable: tuple[tuple[str, str], ...] = ()
    zendesk_subdomain: str = ""  # Zendesk region only

    def __post_init__(self) -> None:
        # A plain "eu" or "jwt" is accepted and stored as the enum; an unknown one raises.
        object.__setattr__(self, "region", Region(self.region))
        object.__setattr__(self, "auth", AuthMethod(self.auth))
        object.__setattr__(self, "api_version", ApiVersion(self.api_version))

    @classmethod
    def from_dict(cls, raw: Any) -> Profile | None:
        """The profile stored as ``raw`` (a dict from the settings JSON), None if unusable.

        Unknown keys are ignored, every value is read as a string, and a region, auth
        method or API version this version does not know reads as the default (US,
        Basic, v1.1), as the connection dialog has always shown it, and is kept in
        :attr:`unreadable`.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            return None
        known = {k: str(v) for k, v in raw.items() if k in _STORED_FIELDS}
        if not known.get("id"):
            known["id"] = legacy_profile_id(known["name"])
        unreadable: list[tuple[str, str]] = []
        region = _member(Region, known, "region", Region.US, unreadable)
        auth = _member(AuthMethod, known, "auth", AuthMethod.BASIC, unreadable)
        version = _member(ApiVersion, known, "api_version", ApiVersion.V1_1, unreadable)
        return cls(
            region=region,
            auth=auth,
            api_version=version,
            unreadable=tuple(unreadable),
            **known,
        )

    def unusable_reason(self, *, auth_given: bool = False, version_given: bool = False) -> str:
        """Why this profile can't be used to connect as stored ("" if it can).

        ``auth_given``/``version_given``: the authentication method or API version comes
        from elsewhere (``--auth``, ``--api-version``), so an unreadable stored one does
        not matter.
        """
        for key, value in self.unreadable:
            if (key == "auth" and auth_given) or (key == "api_version" and version_given):
                continue
            return (
                f"its {_UNREADABLE_WORDS.get(key, key)} “{value}” is not one this version "
                "knows; choose one in Connection settings"
            )
        return ""

    def to_dict(self) -> dict[str, str]:
        """The JSON-ready form :meth:`from_dict` reads back (enums as their string values,
        unreadable values as they were read)."""
        stored = {k: v for k, v in asdict(self).items() if k in _STORED_FIELDS}
        if not self.zendesk_subdomain:
            del stored["zendesk_subdomain"]  # as files written before it existed
        enums = {
            "region": self.region.value,
            "auth": self.auth.value,
            "api_version": self.api_version.value,
        }
        return {**stored, **enums, **dict(self.unreadable)}


#: The keys a profile has in the settings JSON.
_STORED_FIELDS: Final = frozenset(
    (
        "name",
        "region",
        "base_url",
        "app_id",
        "key_id",
        "auth",
        "api_version",
        "id",
        "zendesk_subdomain",
    )
)
#: How an unreadable stored value is named to the agent.
_UNREADABLE_WORDS: Final = {
    "region": "region",
    "auth": "authentication method",
    "api_version": "API version",
}


def _member(
    kind: type[_E], known: dict[str, str], key: str, default: _E, unreadable: list[tuple[str, str]]
) -> _E:
    """``known[key]`` (removed from ``known``) as a member of ``kind``; ``default`` if it
    is missing, or unknown (then ``(key, value)`` is noted in ``unreadable``)."""
    value = known.pop(key, None)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        unreadable.append((key, value))
        return default


#: How each open state is named to the agent (plural forms; the count goes in front).
_STATE_WORDS: Final = (
    ("queued", "waiting to be sent"),
    ("sending", "being sent right now"),
    ("unknown", "not confirmed yet"),
    ("failed", "failed"),
)


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@dataclass(frozen=True)
class UnsentSummary:
    """What a profile still has that was typed and not delivered."""

    #: Open outbox entries per state (``queued``, ``sending``, ``unknown``, ``failed``).
    states: Mapping[str, int] = field(default_factory=dict)
    drafts: int = 0

    @property
    def messages(self) -> int:
        return sum(self.states.values())

    @property
    def empty(self) -> bool:
        return not self.messages and not self.drafts

    def things(self) -> str:
        """E.g. "3 unsent messages and 1 draft" ("" when there is nothing)."""
        parts = []
        if self.messages:
            parts.append(_count(self.messages, "unsent message", "unsent messages"))
        if self.drafts:
            parts.append(_count(self.drafts, "draft", "drafts"))
        return " and ".join(parts)

    def details(self) -> str:
        """E.g. "2 waiting to be sent, 1 failed" (states with a count only)."""
        return ", ".join(
            f"{self.states[state]:,} {words}"
            for state, words in _STATE_WORDS
            if self.states.get(state)
        )


class ProfileData:
    """The outbox and drafts as seen by one profile: what it holds, and forgetting it."""

    def __init__(self, outbox: Outbox, drafts: DraftStore) -> None:
        self.outbox = outbox
        self.drafts = drafts

    def unsent(self, profile_id: str) -> UnsentSummary:
        return UnsentSummary(
            states=self.outbox.open_counts(profile_id), drafts=self.drafts.count(profile_id)
        )

    def forget(self, profile_id: str) -> UnsentSummary:
        """Drop every outbox entry and draft of the profile (the agent confirmed it)."""
        before = self.unsent(profile_id)
        self.outbox.discard_profile(profile_id)
        self.drafts.delete_profile(profile_id)
        return before
