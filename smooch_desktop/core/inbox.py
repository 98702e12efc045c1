"""The conversations the agent follows, kept locally so the list paints before any request.

One row per followed conversation, keyed by :class:`ConversationKey` (the profile's
stable id, the end user's id as the agent typed it, and the conversation id, "" for the
user's main one: docs/architecture.md#conversations). On v2 a user's other conversations
are rows of their own (:attr:`InboxRow.label`: the user's name and the conversation's);
v1.1 has only the main one (:meth:`InboxStore.conversations` with ``main_only``). A row
holds what the list shows (display name, email, avatar URL, the conversation's name, the
last message's preview: text, who, when; the last activity; the unread count), what
polling needs (the newest server message id seen) and why the conversation is followed
(:class:`FollowReason`: opened, pre-created, reported by a live update, has queued or
failed messages, a sandbox demo user).

Rules kept here:

* **Updating from a history page is idempotent.** :meth:`InboxStore.apply_history` takes
  the *newest* page (``ConversationApi.history`` without a cursor) and counts only the
  messages after the newest one it has seen (by id; by time when that id is no longer in
  the page). The same page twice changes nothing, not even a timestamp. Only end-user
  messages (role ``user``) count as unread; the business's own messages move the preview
  and the activity time but never the count. The first page seen for a conversation is a
  baseline: what was there before the app followed it is not new, so nothing is unread
  (a conversation followed as pre-created is known to be empty, so its first messages do
  count), except the messages received after ``new_after`` when the caller gives it (the
  app's start in server time: a message that came in between the start and the first
  poll of its conversation is new, not part of the baseline). An older page (with a
  cursor) must not be passed; one that is holds nothing newer than what was seen and
  changes nothing.
* **Marking read clears the count** (:meth:`InboxStore.mark_read`).
* **Removed, not forgotten.** :meth:`InboxStore.remove` hides a conversation from the
  list and from polling (the rotation follows :meth:`InboxStore.conversations`); it
  comes back when a new end-user message is seen for it (a live update, an opened
  history) or when the agent follows it again (opens it). The business's own messages
  do not bring it back. Its unread count is kept but left out of the total while removed.
* **Last activity** is the later of the newest message's time and the time the
  conversation was first followed, so a conversation never jumps down when its history
  arrives. The list is sorted by it, newest first.
* **Filtering** matches the query, case-folded, anywhere in the display name, email,
  user id, conversation id or conversation name (a column kept case-folded at write
  time, searched with ``instr``: no ``LIKE`` wildcards to escape). 1,000 conversations
  filter in well under a frame (``benchmarks/bench_inbox_filter.py``).

Text from the server is stored bounded (:data:`MAX_NAME`, :data:`MAX_PREVIEW`…) with
lone surrogates replaced, so a hostile profile can't grow the file or break a write.

The file is ``DATA/inbox.sqlite3``, opened by :mod:`smooch_desktop.core.sqlite_store`
(private, WAL, ``synchronous=NORMAL``: a cache the server can refill, whose last commits
a power cut may lose; a damaged file is set aside and the list starts empty) and watched
by :mod:`smooch_desktop.core.storefile` (deleted or replaced while open: written back).

This module must not hold when to poll (:mod:`smooch_desktop.core.poll_budget`), the
outbox's states (the "queued or failed" icon is read from the outbox itself), nor
anything of Qt (docs/architecture.md#qt-free-core).
"""

from __future__ import annotations

import enum
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from smooch_desktop.core import paths, sqlite_store, storefile

if TYPE_CHECKING:  # imported where used: the first frame reads the list without them
    from smooch_desktop.api.models import HistoryPage, Message

DEFAULT_FILE_NAME: Final = "inbox.sqlite3"
#: Bounds on what is stored from the server (characters).
MAX_NAME: Final = 256
MAX_EMAIL: Final = 320
MAX_URL: Final = 2048
MAX_PREVIEW: Final = 200
MAX_ID: Final = 256
#: Longest conversation name in a row's label (as the window's conversation picker).
CONVERSATION_LABEL_MAX: Final = 60
#: Characters of a conversation id that name a conversation without a name.
SHORT_ID: Final = 12

#: What the preview says for a message without text, by its type.
_KIND_LABELS: Final = {
    "image": "Image",
    "file": "File",
    "location": "Location",
    "carousel": "Carousel",
    "list": "List",
    "form": "Form",
    "formResponse": "Form response",
}


class FollowReason(enum.IntFlag):
    """Why a conversation is in the list (several may hold at once)."""

    OPENED = 1
    PRECREATED = 2
    LIVE_UPDATE = 4
    OUTBOX = 8
    DEMO = 16


class ConversationKey(NamedTuple):
    """One followed conversation: profile id, user id, conversation id ("" = main one)."""

    profile: str
    user_ref: str
    conversation_id: str = ""


class Preview(NamedTuple):
    """The last message as the list shows it: one line of text, who wrote it, when."""

    text: str = ""
    #: ``user`` (the end user), ``business`` (the agent or a bot), "" (no message yet).
    role: str = ""
    author: str = ""
    at: float = 0.0


class InboxRow(NamedTuple):
    """One conversation of the list."""

    key: ConversationKey
    display_name: str
    email: str
    avatar_url: str
    preview: Preview
    last_activity: float
    unread: int
    last_seen_id: str
    reasons: FollowReason
    removed: bool
    #: The conversation's own name (v2 ``displayName``); "" for the main one or unknown.
    conversation_name: str = ""

    @property
    def user_label(self) -> str:
        """The user: the display name, else the user id."""
        return self.display_name or self.key.user_ref

    @property
    def conversation_label(self) -> str:
        """ "" for the user's main conversation; for another, its name cut to
        :data:`CONVERSATION_LABEL_MAX`, else "Conversation" and the start of its id (as the
        window's conversation picker tells unnamed ones apart)."""
        conversation_id = self.key.conversation_id
        if not conversation_id:
            return ""
        name = " ".join(self.conversation_name.split())
        if name:
            return _cut(name, CONVERSATION_LABEL_MAX)
        return "Conversation " + _cut(conversation_id, SHORT_ID)

    @property
    def label(self) -> str:
        """What the list names it by: the user, then the conversation's name when it is
        not their main one ("Chloé · Returns")."""
        other = self.conversation_label
        return f"{self.user_label} · {other}" if other else self.user_label


class HistoryUpdate(NamedTuple):
    """What :meth:`InboxStore.apply_history` changed."""

    changed: bool = False
    #: Ids of the end-user messages counted as new (unread), oldest first.
    new_user_ids: tuple[str, ...] = ()
    #: How many messages, either side, were new.
    new_messages: int = 0


class InboxTooNew(sqlite_store.StoreTooNew):
    """The inbox file was written by a newer version of the app; it is left untouched."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE conversations ("
        " profile TEXT NOT NULL,"
        " user_ref TEXT NOT NULL,"
        " conversation_id TEXT NOT NULL,"
        " display_name TEXT NOT NULL DEFAULT '',"
        " email TEXT NOT NULL DEFAULT '',"
        " avatar_url TEXT NOT NULL DEFAULT '',"
        " conversation_name TEXT NOT NULL DEFAULT '',"
        " preview_text TEXT NOT NULL DEFAULT '',"
        " preview_role TEXT NOT NULL DEFAULT '',"
        " preview_author TEXT NOT NULL DEFAULT '',"
        " preview_at REAL NOT NULL DEFAULT 0,"
        " last_activity REAL NOT NULL DEFAULT 0,"
        " unread INTEGER NOT NULL DEFAULT 0,"
        " synced INTEGER NOT NULL DEFAULT 0,"
        " last_seen_id TEXT NOT NULL DEFAULT '',"
        " last_seen_at REAL NOT NULL DEFAULT 0,"
        " reasons INTEGER NOT NULL DEFAULT 0,"
        " removed INTEGER NOT NULL DEFAULT 0,"
        " search TEXT NOT NULL DEFAULT '',"
        " followed_at REAL NOT NULL,"
        " PRIMARY KEY (profile, user_ref, conversation_id)"
        ") WITHOUT ROWID"
    )
    conn.execute(
        "CREATE INDEX conversations_by_activity"
        " ON conversations (profile, removed, last_activity DESC)"
    )


def _add_conversation_name(conn: sqlite3.Connection) -> None:
    """Version 1 → 2: a v2 user's other conversations are listed, named by their own name."""
    conn.execute("ALTER TABLE conversations ADD COLUMN conversation_name TEXT NOT NULL DEFAULT ''")


_FORMAT: Final = sqlite_store.StoreFormat(
    create=_create,
    steps=(_add_conversation_name,),
    too_new=InboxTooNew,
    synchronous="NORMAL",
    timeout_s=5.0,
)

_ROW_COLUMNS: Final = (
    "profile, user_ref, conversation_id, display_name, email, avatar_url, preview_text,"
    " preview_role, preview_author, preview_at, last_activity, unread, last_seen_id,"
    " reasons, removed, conversation_name"
)
_STATE_COLUMNS: Final = (
    "preview_text, preview_role, preview_author, preview_at, last_activity, unread,"
    " synced, last_seen_id, last_seen_at, removed"
)


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, lone surrogates (never valid text) as U+FFFD."""
    text = text[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def fold(text: str) -> str:
    """How names and queries are compared: case-folded, whitespace runs as one space, no
    NUL (the stored search text's field separator)."""
    return " ".join(text.replace("\0", "").casefold().split())


def _search_text(
    key: ConversationKey, display_name: str, email: str, conversation_name: str = ""
) -> str:
    # NUL between fields, so a query never matches across two of them.
    return "\0".join(
        fold(part)
        for part in (display_name, email, key.user_ref, key.conversation_id, conversation_name)
    )


def preview_of(message: Message) -> Preview:
    """The list's one line for ``message``: its text on one line, else what kind it is."""
    from smooch_desktop.api.models import ROLE_BUSINESS, ROLE_USER

    text = " ".join(message.text[: MAX_PREVIEW * 4].split())
    if not text:
        text = _KIND_LABELS.get(message.type, "Message")
    role = message.role if message.role in (ROLE_USER, ROLE_BUSINESS) else ""
    return Preview(
        _bounded(text, MAX_PREVIEW),
        role,
        _bounded(" ".join(message.author_name.split()), MAX_NAME),
        message.received,
    )


_REASONS: dict[int, FollowReason] = {}


def _reasons(bits: int) -> FollowReason:
    """``FollowReason(bits)``, made once per value (building a flag costs microseconds,
    and the list builds a thousand rows per keystroke)."""
    reasons = _REASONS.get(bits)
    if reasons is None:
        reasons = _REASONS[bits] = FollowReason(bits)
    return reasons


def _row(values: tuple[Any, ...]) -> InboxRow:
    """A row from the columns of :data:`_ROW_COLUMNS` (SQLite's column affinities already
    give str, float and int)."""
    return InboxRow(
        ConversationKey(values[0], values[1], values[2]),
        values[3],
        values[4],
        values[5],
        Preview(values[6], values[7], values[8], values[9]),
        values[10],
        values[11],
        values[12],
        _reasons(values[13]),
        values[14] != 0,
        values[15],
    )


class InboxStore(storefile.WatchedStore):
    """The followed conversations in one SQLite file.

    Thread-safe: one connection guarded by a lock (the GUI thread reads the list, a
    poller applies history pages). Each call is one transaction. ``clock`` gives the
    wall-clock time a conversation is followed at (tests pass their own).
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open(
            path,
            _FORMAT,
            "conversation list",
            "The list is kept while the app runs; the next change tries again.",
            (InboxTooNew,),
        )

    @staticmethod
    def default_path() -> Path:
        """``inbox.sqlite3`` in the per-user data dir, beside the outbox."""
        return paths.data_dir() / DEFAULT_FILE_NAME

    # Following ----------------------------------------------------------------------------

    def follow(
        self,
        key: ConversationKey,
        reason: FollowReason,
        *,
        display_name: str = "",
        email: str = "",
        avatar_url: str = "",
        conversation_name: str = "",
        at: float | None = None,
        preview: Preview | None = None,
    ) -> InboxRow:
        """Follow ``key`` for ``reason`` (added to the reasons it has); brings a removed
        conversation back. Non-empty ``display_name``/``email``/``avatar_url``/
        ``conversation_name`` replace the stored ones. ``at``: when it was followed
        (default now), and ``preview``: its last message as already known (the first poll
        replaces it), for a new row only.
        Returns the row as stored; changes nothing if it already says all that.
        """
        if not key.profile or not key.user_ref:
            raise ValueError("A followed conversation needs a profile and a user.")
        key = ConversationKey(
            _bounded(key.profile, MAX_ID),
            _bounded(key.user_ref, MAX_ID),
            _bounded(key.conversation_id, MAX_ID),
        )
        followed_at = self._clock() if at is None else at
        with self._lock:
            row = self._get(key)
            if row is None:
                name = _bounded(display_name, MAX_NAME)
                mail = _bounded(email, MAX_EMAIL)
                conversation = _bounded(conversation_name, MAX_NAME) if key[2] else ""
                # A pre-created user has no history yet: their first messages are new.
                synced = 1 if reason & FollowReason.PRECREATED else 0
                known = preview or Preview()
                self._conn.execute(
                    "INSERT INTO conversations (profile, user_ref, conversation_id,"
                    " display_name, email, avatar_url, conversation_name, last_activity,"
                    " reasons, search, followed_at, synced, preview_text, preview_role,"
                    " preview_author, preview_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *key,
                        name,
                        mail,
                        _bounded(avatar_url, MAX_URL),
                        conversation,
                        followed_at,
                        int(reason),
                        _search_text(key, name, mail, conversation),
                        followed_at,
                        synced,
                        _bounded(known.text, MAX_PREVIEW),
                        known.role,
                        _bounded(known.author, MAX_NAME),
                        known.at,
                    ),
                )
                self._check_file()
            else:
                self._set_identity(row, display_name, email, avatar_url, conversation_name)
                if not (row.reasons & reason) or row.removed:
                    self._conn.execute(
                        "UPDATE conversations SET reasons = ?, removed = 0"
                        " WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
                        (int(row.reasons | reason), *key),
                    )
                    self._check_file()
            stored = self._get(key)
        assert stored is not None
        return stored

    def set_identity(
        self,
        key: ConversationKey,
        *,
        display_name: str = "",
        email: str = "",
        avatar_url: str = "",
        conversation_name: str = "",
    ) -> bool:
        """Replace the name, email, avatar URL or conversation name of a followed
        conversation (non-empty values only; the main one has no conversation name). True
        if something changed; an unknown key changes nothing."""
        with self._lock:
            row = self._get(key)
            return row is not None and self._set_identity(
                row, display_name, email, avatar_url, conversation_name
            )

    def _set_identity(
        self,
        row: InboxRow,
        display_name: str,
        email: str,
        avatar_url: str,
        conversation_name: str = "",
    ) -> bool:
        name = _bounded(display_name, MAX_NAME) or row.display_name
        mail = _bounded(email, MAX_EMAIL) or row.email
        avatar = _bounded(avatar_url, MAX_URL) or row.avatar_url
        conversation = row.conversation_name
        if row.key.conversation_id:
            conversation = _bounded(conversation_name, MAX_NAME) or conversation
        if (name, mail, avatar, conversation) == (
            row.display_name,
            row.email,
            row.avatar_url,
            row.conversation_name,
        ):
            return False
        self._conn.execute(
            "UPDATE conversations SET display_name = ?, email = ?, avatar_url = ?,"
            " conversation_name = ?, search = ?"
            " WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
            (
                name,
                mail,
                avatar,
                conversation,
                _search_text(row.key, name, mail, conversation),
                *row.key,
            ),
        )
        self._check_file()
        return True

    def drop_reason(self, key: ConversationKey, reason: FollowReason) -> bool:
        """Take ``reason`` off (e.g. the outbox no longer holds a message for it); the
        conversation stays listed. True if it changed."""
        with self._lock:
            row = self._get(key)
            if row is None or not (row.reasons & reason):
                return False
            self._conn.execute(
                "UPDATE conversations SET reasons = ?"
                " WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
                (int(row.reasons & ~reason), *key),
            )
            self._check_file()
            return True

    def remove(self, key: ConversationKey) -> bool:
        """Hide ``key`` from the list and the polling (see the module docstring)."""
        return self._set_flag(key, "removed", 1)

    def mark_read(self, key: ConversationKey) -> bool:
        """Clear the unread count. True if there was one."""
        return self._set_flag(key, "unread", 0)

    def _set_flag(self, key: ConversationKey, column: str, value: int) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE conversations SET {column} = ?"  # a column name of ours, never input
                f" WHERE profile = ? AND user_ref = ? AND conversation_id = ? AND {column} != ?",
                (value, *key, value),
            )
            if cursor.rowcount:
                self._check_file()
            return cursor.rowcount > 0

    # History ------------------------------------------------------------------------------

    def apply_history(
        self, key: ConversationKey, page: HistoryPage, *, new_after: float | None = None
    ) -> HistoryUpdate:
        """Bring ``key`` up to date with its newest history page (see the module
        docstring: idempotent; only new end-user messages count as unread). A key that
        is not followed is left alone. On the first page (the baseline), messages received
        after ``new_after`` (server seconds) are new all the same."""
        ordered = sorted(page.messages, key=lambda m: m.received)  # stable: ties keep order
        from smooch_desktop.api.models import ROLE_USER

        with self._lock:
            state = self._conn.execute(
                f"SELECT {_STATE_COLUMNS} FROM conversations"
                " WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
                tuple(key),
            ).fetchone()
            if state is None:
                return HistoryUpdate()
            old = tuple(state)
            (
                p_text,
                p_role,
                p_author,
                p_at,
                activity,
                unread,
                synced,
                seen_id,
                seen_at,
                removed,
            ) = old
            new: list[Message] = []
            if synced:
                new = _after(ordered, str(seen_id), float(seen_at))
            elif new_after is not None:
                new = [m for m in ordered if m.received > new_after]  # a suffix: sorted
            newest = new[-1] if new else (ordered[-1] if ordered and not synced else None)
            new_user = [m for m in new if m.role == ROLE_USER]
            if newest is not None:
                preview = preview_of(newest)
                p_text, p_role, p_author, p_at = preview
                activity = max(float(activity), newest.received)
                seen_id, seen_at = _bounded(newest.id, MAX_ID), newest.received
            if new_user:
                unread = int(unread) + len(new_user)
                removed = 0
            values = (
                p_text,
                p_role,
                p_author,
                p_at,
                activity,
                unread,
                1,
                seen_id,
                seen_at,
                removed,
            )
            if values == old:
                return HistoryUpdate()
            self._conn.execute(
                "UPDATE conversations SET preview_text = ?, preview_role = ?,"
                " preview_author = ?, preview_at = ?, last_activity = ?, unread = ?,"
                " synced = ?, last_seen_id = ?, last_seen_at = ?, removed = ?"
                " WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
                (*values, *key),
            )
            self._check_file()
        return HistoryUpdate(True, tuple(m.id for m in new_user), len(new))

    def apply_pushed(
        self,
        key: ConversationKey,
        message: Message,
        *,
        display_name: str = "",
        conversation_name: str = "",
    ) -> HistoryUpdate:
        """One message a live update (webhook) reported: follows ``key`` for
        ``LIVE_UPDATE`` if it is not followed yet, then applies the message as a one-message
        newest page that is known to be new (a pushed message is never a baseline). The
        same message twice, or one older than the newest seen, changes nothing."""
        if self.get(key) is None:
            self.follow(
                key,
                FollowReason.LIVE_UPDATE,
                display_name=display_name,
                conversation_name=conversation_name,
            )
        with self._lock:
            self._conn.execute(
                "UPDATE conversations SET synced = 1"
                " WHERE profile = ? AND user_ref = ? AND conversation_id = ? AND synced = 0",
                tuple(key),
            )
        from smooch_desktop.api.models import HistoryPage

        return self.apply_history(key, HistoryPage((message,)))

    # Reading ------------------------------------------------------------------------------

    def get(self, key: ConversationKey) -> InboxRow | None:
        with self._lock:
            return self._get(key)

    def _get(self, key: ConversationKey) -> InboxRow | None:
        values = self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM conversations"
            " WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
            tuple(key),
        ).fetchone()
        return None if values is None else _row(values)

    def conversations(
        self,
        profile: str,
        query: str = "",
        *,
        include_removed: bool = False,
        main_only: bool = False,
    ) -> list[InboxRow]:
        """``profile``'s list, newest activity first, filtered by ``query`` (name, email,
        user id, conversation id or name containing it, case-insensitively; "" = all).
        ``main_only``: the users' main conversations only (what v1.1 has)."""
        sql, args = _listed_query(
            profile, query, include_removed=include_removed, main_only=main_only
        )
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [_row(values) for values in rows]

    def unread_total(self, profile: str, *, main_only: bool = False) -> int:
        """Unread end-user messages over ``profile``'s listed (not removed) conversations
        (``main_only``: the users' main conversations only)."""
        sql = "SELECT COALESCE(SUM(unread), 0) FROM conversations WHERE profile = ? AND removed = 0"
        if main_only:
            sql += " AND conversation_id = ''"
        with self._lock:
            row = self._conn.execute(sql, (profile,)).fetchone()
        return int(row[0])

    # File ---------------------------------------------------------------------------------

    def _check_file(self) -> None:
        """Write the list back if the path no longer leads to the open file (lock held)."""
        self._conn = self._watch.check(self._conn, self._reopen, _contents)


def _contents(_conn: sqlite3.Connection) -> str:
    return "followed conversation in it"


def _after(ordered: Iterable[Message], seen_id: str, seen_at: float) -> list[Message]:
    """The messages of ``ordered`` newer than the one seen last: after its id if the page
    holds it, else received later than it (it scrolled out of the page or was deleted)."""
    messages = list(ordered)
    if seen_id:
        for index in range(len(messages) - 1, -1, -1):
            if messages[index].id == seen_id:
                return messages[index + 1 :]
    return [m for m in messages if m.received > seen_at]


def _listed_query(
    profile: str, query: str = "", *, include_removed: bool = False, main_only: bool = False
) -> tuple[str, list[object]]:
    """The SELECT of ``profile``'s list and its arguments: the store's and the first
    frame's (:func:`read_listed`) read the same rows in the same order."""
    sql = f"SELECT {_ROW_COLUMNS} FROM conversations WHERE profile = ?"
    args: list[object] = [profile]
    if not include_removed:
        sql += " AND removed = 0"
    if main_only:
        sql += " AND conversation_id = ''"
    needle = fold(query)
    if needle:
        sql += " AND instr(search, ?) > 0"
        args.append(needle)
    return sql + " ORDER BY last_activity DESC, user_ref, conversation_id", args


def read_listed(path: Path, profile: str, *, main_only: bool = False) -> list[InboxRow]:
    """``profile``'s list as :meth:`InboxStore.conversations` gives it (``main_only``: the
    users' main conversations only), read from the file at ``path`` without opening the
    store: read-only, one ``SELECT``, nothing created, migrated or set aside (the store
    does that when it opens). For the window's first frame, before the session; [] when
    the file is missing, unreadable or of another version."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != _FORMAT.version:
            return []
        rows = conn.execute(*_listed_query(profile, main_only=main_only)).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [_row(values) for values in rows]
