"""Version-neutral models the UI and outbox use; adapters convert API bodies into these.

Each model converts a v1/v1.1 body (``from_v1``) and a v2 body (``from_v2``) into the same
fields, so nothing above the adapters knows which version answered. Conversion is
lenient: a missing or mistyped field becomes an empty value instead of an exception,
because one odd message from the server must not hide a whole history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Roles, normalised across API versions (v1 appMaker/appUser, v2 business/user).
ROLE_BUSINESS = "business"
ROLE_USER = "user"
ROLE_WHISPER = "whisper"

#: Platforms that cannot receive a business message (none known yet; kept for clarity).
_NON_RECEIVING_STATUSES = {"blocked", "inactive", "pending"}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            from datetime import datetime  # only ISO timestamps need it

            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 0.0


def _iso_seconds(value: Any) -> float:
    """Unix seconds from a v2 ISO-8601 timestamp (UTC when it names no zone); 0.0 if none."""
    if isinstance(value, str) and value:
        from datetime import UTC, datetime

        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return _float(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    return _float(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> tuple[dict[str, Any], ...]:
    """The objects of a list (other entries dropped); () for anything but a list."""
    return tuple(v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()


def _content(source: dict[str, Any]) -> dict[str, Any]:
    """A message's content fields, named alike in both versions: v1 has them on the
    message, v2 in its ``content`` object."""
    return {
        "text": _str(source.get("text")),
        "type": _str(source.get("type")) or "text",
        "media_url": _str(source.get("mediaUrl")),
        "media_type": _str(source.get("mediaType")),
        "actions": _dicts(source.get("actions")),
        "items": _dicts(source.get("items")),
        "payload": _str(source.get("payload")),
        "coordinates": _coordinates(source.get("coordinates")),
        "fields": _dicts(source.get("fields")),
        "alt_text": _str(source.get("altText")),
        "media_size": _size(source.get("mediaSize")),
    }


def _coordinates(value: Any) -> tuple[float, float] | None:
    """``{lat, long}`` as (latitude, longitude) if both are numbers in range, else None."""
    body = _dict(value)
    lat, long = body.get("lat"), body.get("long")
    if isinstance(lat, bool) or isinstance(long, bool):
        return None
    if not isinstance(lat, int | float) or not isinstance(long, int | float):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= long <= 180.0):
        return None
    return float(lat), float(long)


def _size(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True)
class Sender:
    """How the business appears: display name, email (for Gravatar) and avatar override."""

    name: str = ""
    email: str = ""
    avatar_url: str = ""


@dataclass(frozen=True)
class Client:
    """One channel through which the end user can be reached."""

    id: str
    platform: str
    status: str = "active"
    primary: bool = False
    last_seen: float = 0.0
    display_name: str = ""

    @property
    def can_receive(self) -> bool:
        return self.status not in _NON_RECEIVING_STATUSES

    @classmethod
    def from_v1(cls, body: Any) -> Client:
        body = body if isinstance(body, dict) else {}
        status = _str(body.get("status"))
        if not status:
            status = "inactive" if body.get("active") is False else "active"
        return cls(
            id=_str(body.get("id") or body.get("_id")),
            platform=_str(body.get("platform")) or "unknown",
            status=status,
            primary=bool(body.get("primary")),
            last_seen=_float(body.get("lastSeen")),
            display_name=_str(body.get("displayName")),
        )

    @classmethod
    def from_v2(cls, body: Any) -> Client:
        """A v2 ``client`` (``type`` is the channel; v2 has no primary client)."""
        body = _dict(body)
        return cls(
            id=_str(body.get("id")),
            platform=_str(body.get("type")) or "unknown",
            status=_str(body.get("status")) or "active",
            last_seen=_iso_seconds(body.get("lastSeen")),
            display_name=_str(body.get("displayName")),
        )


@dataclass(frozen=True)
class Conversation:
    """One v2 conversation of a user (v1 users have exactly one, implicit)."""

    id: str
    type: str = "personal"
    is_default: bool = False
    display_name: str = ""
    last_updated: float = 0.0

    @classmethod
    def from_v2(cls, body: Any) -> Conversation:
        body = _dict(body)
        return cls(
            id=_str(body.get("id")),
            type=_str(body.get("type")) or "personal",
            is_default=body.get("isDefault") is True,
            display_name=_str(body.get("displayName")),
            last_updated=_iso_seconds(body.get("lastUpdatedAt") or body.get("createdAt")),
        )


@dataclass(frozen=True)
class AppUser:
    """An end user ("app user" in v1, "user" in v2)."""

    id: str
    user_id: str = ""
    given_name: str = ""
    surname: str = ""
    email: str = ""
    signed_up_at: float = 0.0
    conversation_started: bool = False
    clients: tuple[Client, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)
    #: v2: every conversation of the user, and the id of the one messages go to (the
    #: default personal one); empty for v1, where a user has exactly one.
    conversations: tuple[Conversation, ...] = ()
    conversation_id: str = ""

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.surname) if p).strip()
        return full or self.email or self.user_id or self.id

    @property
    def reachable_clients(self) -> tuple[Client, ...]:
        return tuple(c for c in self.clients if c.can_receive)

    @property
    def last_seen(self) -> float:
        return max((c.last_seen for c in self.clients), default=0.0)

    @classmethod
    def from_v1(cls, body: Any) -> AppUser:
        body = body if isinstance(body, dict) else {}
        clients = body.get("clients")
        props = body.get("properties")
        return cls(
            id=_str(body.get("_id")),
            user_id=_str(body.get("userId")),
            given_name=_str(body.get("givenName")),
            surname=_str(body.get("surname")),
            email=_str(body.get("email")),
            signed_up_at=_float(body.get("signedUpAt")),
            conversation_started=bool(body.get("conversationStarted")),
            clients=tuple(Client.from_v1(c) for c in clients) if isinstance(clients, list) else (),
            properties=dict(props) if isinstance(props, dict) else {},
        )

    @classmethod
    def from_v2(
        cls,
        body: Any,
        *,
        clients: tuple[Client, ...] = (),
        conversations: tuple[Conversation, ...] = (),
        conversation_id: str = "",
    ) -> AppUser:
        """A v2 ``user``: ``externalId`` is the business's own id (v1's ``userId``)."""
        body = _dict(body)
        profile = _dict(body.get("profile"))
        meta = body.get("metadata")
        return cls(
            id=_str(body.get("id")),
            user_id=_str(body.get("externalId")),
            given_name=_str(profile.get("givenName")),
            surname=_str(profile.get("surname")),
            email=_str(profile.get("email")),
            signed_up_at=_iso_seconds(body.get("signedUpAt")),
            conversation_started=bool(conversation_id),
            clients=clients,
            properties=dict(meta) if isinstance(meta, dict) else {},
            conversations=conversations,
            conversation_id=conversation_id,
        )


@dataclass(frozen=True)
class Message:
    """One message of a conversation, either side."""

    id: str
    role: str
    text: str = ""
    type: str = "text"
    author_name: str = ""
    author_id: str = ""
    avatar_url: str = ""
    received: float = 0.0
    media_url: str = ""
    media_type: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    actions: tuple[dict[str, Any], ...] = ()
    #: Carousel / list items as the server sent them (v1 and v2 share the item shape:
    #: ``title``, ``description``, ``mediaUrl``, ``mediaType``, ``actions``…).
    items: tuple[dict[str, Any], ...] = ()
    #: A user's reply to a ``reply`` button carries that button's payload.
    payload: str = ""
    #: A location message's (latitude, longitude); None if absent or out of range.
    coordinates: tuple[float, float] | None = None
    #: Form / form response fields as sent (``name``, ``label``, ``text``/``email``…).
    fields: tuple[dict[str, Any], ...] = ()
    #: Image/file description (v2 ``altText``) and size in bytes (v2 ``mediaSize``; 0: unknown).
    alt_text: str = ""
    media_size: int = 0

    @property
    def is_business(self) -> bool:
        return self.role == ROLE_BUSINESS

    @property
    def client_id(self) -> str:
        """The outbox id this app put in ``metadata`` when it sent the message, if any."""
        value = self.metadata.get(CLIENT_ID_METADATA_KEY)
        return value if isinstance(value, str) else ""

    @classmethod
    def from_v1(cls, body: Any) -> Message:
        body = body if isinstance(body, dict) else {}
        role = _str(body.get("role"))
        role = {"appMaker": ROLE_BUSINESS, "appUser": ROLE_USER}.get(role, role or ROLE_USER)
        meta = body.get("metadata")
        return cls(
            id=_str(body.get("_id")),
            role=role,
            author_name=_str(body.get("name")),
            author_id=_str(body.get("authorId")),
            avatar_url=_str(body.get("avatarUrl")),
            received=_float(body.get("received")),
            metadata=dict(meta) if isinstance(meta, dict) else {},
            **_content(body),  # v1 keeps the content fields on the message itself
        )

    @classmethod
    def from_v2(cls, body: Any) -> Message:
        """A v2 message: ``author`` and ``content`` objects, an ISO ``received``."""
        body = _dict(body)
        author = _dict(body.get("author"))
        content = _dict(body.get("content"))
        kind = _str(author.get("type"))
        role = kind if kind in (ROLE_BUSINESS, ROLE_USER) else ROLE_USER
        meta = body.get("metadata")
        return cls(
            id=_str(body.get("id")),
            role=role,
            author_name=_str(author.get("displayName")),
            author_id=_str(author.get("userId")),
            avatar_url=_str(author.get("avatarUrl")),
            received=_iso_seconds(body.get("received")),
            metadata=dict(meta) if isinstance(meta, dict) else {},
            **_content(content),
        )


#: Metadata key carrying the outbox's client-generated id, so the app can find its own
#: messages in the history after an ambiguous failure.
CLIENT_ID_METADATA_KEY = "smoochDesktopClientId"


@dataclass(frozen=True)
class OutgoingMessage:
    """What the business sends: text (and optional structure) as a given sender."""

    text: str
    sender: Sender = Sender()
    type: str = "text"
    actions: tuple[dict[str, Any], ...] = ()
    media_url: str = ""
    media_type: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Carousel / list items (``type`` carousel or list): ``title``, ``description``,
    #: ``mediaUrl``, ``mediaType``, ``actions`` — the same shape in v1.1 and v2.
    items: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class HistoryPage:
    """A page of history, oldest first, and the cursor for the page before it."""

    messages: tuple[Message, ...]
    older_cursor: str | None = None

    @property
    def has_older(self) -> bool:
        return self.older_cursor is not None
