"""The conversation's rows as plain data: :class:`ConversationItem` and the row flags.

A row is a message from the server's history or a local outbox entry not (yet) replaced
by the server's copy. This module is Qt-free (tests/unit/test_qt_free.py imports it with
Qt blocked): no PySide6 import here, directly or through what it imports. Qt roles, the
list model and anything drawn belong in :mod:`.model`, :mod:`.bubbles` and :mod:`.view`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Final

from smooch_desktop.api.models import ROLE_BUSINESS, ROLE_USER, ROLE_WHISPER, Message
from smooch_desktop.core.outbox import OPEN_STATES, EntryState

#: Row flags computed by the model from the previous row.
FLAG_STARTS_DAY: Final = 1
FLAG_FIRST_IN_GROUP: Final = 2
#: Consecutive messages of one author closer than this share one avatar and name.
GROUP_GAP_S: Final = 5 * 60

_DAY_BUCKET_S = 900
_day_cache: dict[int, tuple[int, int]] = {}


def local_day(timestamp: float) -> tuple[int, int]:
    """Local (year, day of year) of ``timestamp``; (0, 0) for an unknown time.

    Cached per 15-minute bucket: every time zone offset and DST switch in use is a whole
    number of quarter hours, so the local date never changes inside a bucket.
    """
    if timestamp <= 0:
        return (0, 0)
    bucket = int(timestamp // _DAY_BUCKET_S)
    found = _day_cache.get(bucket)
    if found is None:
        if len(_day_cache) > 100_000:
            _day_cache.clear()
        local = time.localtime(bucket * _DAY_BUCKET_S)
        found = _day_cache[bucket] = (local.tm_year, local.tm_yday)
    return found


def format_time(timestamp: float) -> str:
    """``HH:MM`` in local time, or "" for an unknown time."""
    return time.strftime("%H:%M", time.localtime(timestamp)) if timestamp > 0 else ""


def action_label(action: dict[str, Any]) -> str:
    """The label of a message action (a reply button, a link...), "Action" if it has none."""
    for key in ("text", "label", "title", "payload", "type"):
        value = action.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "Action"


@dataclass(frozen=True, slots=True)
class ConversationItem:
    """One row of the conversation: a message from history or a local outbox entry.

    ``key`` is the server message id, or the outbox's client id while not yet sent.
    ``received`` is in Unix seconds (for local items: when it was queued).
    ``state`` is None for a message from the server's history, else the outbox entry's
    :class:`~smooch_desktop.core.outbox.EntryState`. ``error_text`` is the server's own
    error text shown under a failed bubble. ``next_attempt_at`` (Unix seconds) drives the
    retry countdown. ``author_email`` is optional; it only picks the initials avatar's colour.
    """

    key: str
    role: str = ROLE_USER
    text: str = ""
    author_name: str = ""
    avatar_url: str = ""
    received: float = 0.0
    state: EntryState | None = None
    error_text: str = ""
    client_id: str = ""
    media_url: str = ""
    media_type: str = ""
    msg_type: str = "text"
    next_attempt_at: float | None = None
    actions: tuple[dict[str, Any], ...] = ()
    author_email: str = ""
    #: Carousel / list items, a reply's payload, a location, form fields, the image or
    #: file's description and size, and the message metadata, as the server sent them.
    items: tuple[dict[str, Any], ...] = ()
    payload: str = ""
    coordinates: tuple[float, float] | None = None
    fields: tuple[dict[str, Any], ...] = ()
    alt_text: str = ""
    media_size: int = 0
    metadata: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.state is not None and not isinstance(self.state, EntryState):
            raise ValueError(f"unknown conversation item state: {self.state!r}")
        if self.state is not None and not self.client_id:
            raise ValueError("a local conversation item needs its outbox client_id")

    @classmethod
    def from_message(cls, m: Message) -> ConversationItem:
        """A history row for a server message (its client id comes from the metadata)."""
        role = m.role if m.role in (ROLE_BUSINESS, ROLE_WHISPER) else ROLE_USER
        return cls(
            key=m.id,
            role=role,
            text=m.text,
            author_name=m.author_name,
            avatar_url=m.avatar_url,
            received=m.received,
            client_id=m.client_id,
            media_url=m.media_url,
            media_type=m.media_type,
            msg_type=m.type or "text",
            actions=m.actions,
            items=m.items,
            payload=m.payload,
            coordinates=m.coordinates,
            fields=m.fields,
            alt_text=m.alt_text,
            media_size=m.media_size,
            metadata=tuple(m.metadata.items()),
        )

    @classmethod
    def local(
        cls,
        client_id: str,
        text: str,
        *,
        state: EntryState = EntryState.QUEUED,
        queued_at: float | None = None,
        author_name: str = "",
        author_email: str = "",
        avatar_url: str = "",
        error_text: str = "",
        next_attempt_at: float | None = None,
        server_id: str = "",
        msg_type: str = "text",
        media_url: str = "",
        media_type: str = "",
        actions: tuple[dict[str, Any], ...] = (),
        items: tuple[dict[str, Any], ...] = (),
    ) -> ConversationItem:
        """A row for an outbox entry sent by this app (always the business side)."""
        return cls(
            key=server_id or client_id,
            role=ROLE_BUSINESS,
            text=text,
            author_name=author_name,
            avatar_url=avatar_url,
            received=time.time() if queued_at is None else queued_at,
            state=state,
            error_text=error_text,
            client_id=client_id,
            media_url=media_url,
            media_type=media_type,
            msg_type=msg_type,
            next_attempt_at=next_attempt_at,
            actions=actions,
            author_email=author_email,
            items=items,
        )

    @property
    def is_local(self) -> bool:
        """A row from the outbox rather than from the server's history."""
        return self.state is not None

    @property
    def is_pending(self) -> bool:
        """Not delivered yet: kept below the history, in queue order.

        These are the outbox's ``OPEN_STATES`` (queued, sending, unknown, failed), not its
        ``ACTIVE_STATES``: a failed entry is no longer worked on by the delivery engine,
        but it is still not on the server, so it waits at the bottom for Retry or Edit.
        """
        return self.state in OPEN_STATES

    @property
    def is_outgoing(self) -> bool:
        """Drawn on the right (business side)."""
        return self.role != ROLE_USER

    @property
    def server_id(self) -> str:
        """The server's message id if known."""
        if self.state is None:
            return self.key
        if self.state == EntryState.SENT and self.key != self.client_id:
            return self.key
        return ""

    @property
    def has_image(self) -> bool:
        return self.msg_type == "image" and bool(self.media_url)

    @property
    def has_file(self) -> bool:
        """A file (or media that is not an image) to open or save."""
        return bool(self.media_url) and not self.has_image

    @property
    def has_cards(self) -> bool:
        return self.msg_type in ("carousel", "list") and bool(self.items)

    @property
    def display_text(self) -> str:
        """The message as text, for copying: a file gets a line with its name, a place its
        coordinates, a card message its titles."""
        extra: list[str] = []
        if self.has_file:
            name = self.media_url.rsplit("/", 1)[-1].split("?", 1)[0] or self.media_url
            extra.append(f"📎 {name}")
        if self.coordinates is not None:
            extra.append(f"📍 {self.coordinates[0]:.5f}, {self.coordinates[1]:.5f}")
        if self.has_cards:
            for card in self.items:
                title = card.get("title")
                if isinstance(title, str) and title:
                    extra.append(f"▪ {title}")
        if not extra:
            return self.text
        return "\n".join([self.text, *extra] if self.text else extra)

    def status_text(self, now: float | None = None) -> str:
        """The state in words, as shown under the bubble ("" for history)."""
        if self.state == EntryState.QUEUED:
            current = time.time() if now is None else now
            if self.next_attempt_at is not None and self.next_attempt_at > current:
                seconds = max(1, math.ceil(self.next_attempt_at - current))
                return f"Queued — retrying in {seconds} s"
            return "Queued"
        if self.state == EntryState.SENDING:
            return "Sending…"
        if self.state == EntryState.UNKNOWN:
            return "Not confirmed yet — checking"
        if self.state == EntryState.FAILED:
            return f"Failed: {self.error_text or 'the server gave no reason'}"
        if self.state == EntryState.SENT:
            return "Sent"
        return ""


def row_flags(previous: ConversationItem | None, current: ConversationItem) -> int:
    """``FLAG_STARTS_DAY`` / ``FLAG_FIRST_IN_GROUP`` of ``current``, shown below ``previous``."""
    if previous is None or local_day(previous.received) != local_day(current.received):
        return FLAG_STARTS_DAY | FLAG_FIRST_IN_GROUP
    if (
        previous.role != current.role
        or previous.author_name != current.author_name
        or current.received - previous.received > GROUP_GAP_S
    ):
        return FLAG_FIRST_IN_GROUP
    return 0
