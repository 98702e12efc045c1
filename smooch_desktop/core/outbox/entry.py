"""One message in the outbox: where it is on its way (:class:`EntryState`), the entry as
stored (:class:`OutboxEntry`), its wire id, and the JSON its message is stored as.

Plain values only: this module must not open files or hold the store's transactions
(those are in :mod:`smooch_desktop.core.outbox.store`), so the UI and the delivery rules
can use the model without the SQLite side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.core.outbox.attachments import Attachment


class EntryState(StrEnum):
    """Where a message is on its way to the user."""

    #: Waiting to be sent; ``next_attempt_at`` set means "not before then" (backoff).
    QUEUED = "queued"
    #: A request is (or, after a crash, may have been) in flight.
    SENDING = "sending"
    #: Delivered; ``server_id`` and ``sent_at`` are the server's.
    SENT = "sent"
    #: Not delivered and not retried automatically; text and the server's error kept.
    FAILED = "failed"
    #: May or may not be on the server; the history will be checked before any resend.
    UNKNOWN = "unknown"


#: States the delivery engine still has work for; they hold back a user's later messages.
ACTIVE_STATES: Final = frozenset({EntryState.QUEUED, EntryState.SENDING, EntryState.UNKNOWN})
#: Not delivered (yet): the agent's text exists nowhere else.
OPEN_STATES: Final = ACTIVE_STATES | {EntryState.FAILED}


@dataclass(frozen=True)
class OutboxEntry:
    """One message in the outbox, as stored (a snapshot; it never changes in place)."""

    client_id: str
    seq: int
    profile: str
    user_ref: str
    message: OutgoingMessage
    state: EntryState
    #: Send attempts (POSTs) since it was enqueued or last retried/edited by the user.
    attempts: int = 0
    #: When the engine will next act on it (send after backoff, or check the history).
    next_attempt_at: float | None = None
    server_id: str | None = None
    sent_at: float | None = None
    #: Server error code (``invalid_auth``, ``bad_request``…) or an outbox code.
    error_code: str | None = None
    #: Why it is not delivered (yet), in words: the server's own description when it gave
    #: one. For queued/unknown entries, the reason for the wait.
    error_text: str | None = None
    #: HTTP status of the last failure (401 → the UI offers the connection settings).
    error_status: int | None = None
    #: Whether a retry may succeed as is (False: fix something first, e.g. the text).
    retryable: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    #: History checks done after ambiguous failures (also the backoff exponent of checks).
    verifications: int = 0
    #: Start of the first send attempt: the server cannot have the message from before it.
    first_attempt_at: float | None = None
    last_attempt_at: float | None = None
    #: 0 until the user edits the text; part of the wire id.
    revision: int = 0
    #: The user's conversation it goes to; "" is their main one (the only one in v1).
    #: Stored with the message so the send and any history check address the same one.
    conversation_id: str = ""
    #: A file sent with the message (image or file message), kept as a private copy
    #: until delivered; its ``mediaUrl`` is in :attr:`message` once uploaded.
    attachment: Attachment | None = None

    @property
    def needs_upload(self) -> bool:
        """True while the attached file has not been uploaded (no ``mediaUrl`` yet)."""
        return self.attachment is not None and not self.message.media_url

    @property
    def wire_id(self) -> str:
        """The id sent in ``metadata`` and looked for in the history."""
        value = self.message.metadata.get(CLIENT_ID_METADATA_KEY)
        return value if isinstance(value, str) else self.client_id

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_terminal(self) -> bool:
        """Sent or failed: the engine will not touch it again without the user."""
        return not self.is_active


def wire_id_for(client_id: str, revision: int) -> str:
    """The metadata id of ``revision`` of a message (the client id itself for revision 0)."""
    return client_id if revision == 0 else f"{client_id}.{revision}"


def clean_text(value: str) -> str:
    """``value`` with lone surrogates (never valid text) replaced by U+FFFD.

    They can't be encoded to UTF-8 for the request; U+FFFD keeps the rest of what the
    user typed intact instead of failing the send.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def message_to_json(message: OutgoingMessage) -> str:
    """Serialise an outgoing message for storage (stable key order, plain JSON)."""
    data = {
        "text": message.text,
        "type": message.type,
        "sender": {
            "name": message.sender.name,
            "email": message.sender.email,
            "avatar_url": message.sender.avatar_url,
        },
        "actions": [dict(a) for a in message.actions],
        "media_url": message.media_url,
        "media_type": message.media_type,
        "metadata": dict(message.metadata),
        "items": [dict(i) for i in message.items],
    }
    try:
        return json.dumps(_clean(data), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The message can't be stored: {exc}") from None


def message_from_json(raw: str) -> OutgoingMessage:
    """The inverse of :func:`message_to_json`."""
    data = json.loads(raw)
    sender = data.get("sender") or {}
    return OutgoingMessage(
        text=data.get("text", ""),
        sender=Sender(
            name=sender.get("name", ""),
            email=sender.get("email", ""),
            avatar_url=sender.get("avatar_url", ""),
        ),
        type=data.get("type", "text"),
        actions=tuple(data.get("actions") or ()),
        media_url=data.get("media_url", ""),
        media_type=data.get("media_type", ""),
        metadata=dict(data.get("metadata") or {}),
        items=tuple(data.get("items") or ()),
    )


def with_wire_id(
    message: OutgoingMessage, wire_id: str, text: str | None = None
) -> OutgoingMessage:
    """``message`` carrying ``wire_id`` in its metadata (and ``text``, if given)."""
    metadata = {**message.metadata, CLIENT_ID_METADATA_KEY: wire_id}
    return OutgoingMessage(
        text=message.text if text is None else text,
        sender=message.sender,
        type=message.type,
        actions=message.actions,
        media_url=message.media_url,
        media_type=message.media_type,
        metadata=metadata,
        items=message.items,
    )
