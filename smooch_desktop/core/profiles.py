"""Stable connection-profile ids, and what a profile still holds in the outbox and drafts.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import sqlite3

    from smooch_desktop.core.drafts import DraftStore
    from smooch_desktop.core.outbox import Outbox

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
