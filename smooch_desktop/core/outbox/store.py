"""The outbox store: every message the user sent, from "composer cleared" to "delivered".

Nothing the user typed is ever lost and nothing is delivered twice
(docs/architecture.md#principles). The outbox is the half of that promise that lives on
disk (the delivery rules are in :mod:`smooch_desktop.core.delivery`):

* :meth:`Outbox.enqueue` commits the message before it returns, so the composer may clear
  as soon as it has an :class:`OutboxEntry` back.
* SQLite with a WAL journal and ``synchronous=FULL``: a commit survives kill -9 *and* a
  power cut (FULL fsyncs the WAL on every commit; NORMAL could lose the last commits on
  power loss, i.e. a message the user saw leave the composer).
* Every state change is one ``BEGIN IMMEDIATE`` transaction that checks the current
  state first, so the GUI thread (Retry, Edit, Discard) and the delivery worker can use
  one outbox without a change being lost or applied to a state it was not meant for.

State machine (``seq`` orders a user's messages; the states are
:class:`~smooch_desktop.core.outbox.entry.EntryState`)::

    enqueue                                → queued
    mark_sending   queued | unknown        → sending   committed before the request
    mark_sent      sending | unknown       → sent      the answer, or found in the history
    schedule       sending | unknown | queued → queued with next_attempt_at (backoff,
                                             or "not in the history: resend")
    mark_unknown   sending | unknown       → unknown   may have arrived: check first
    mark_failed    sending | unknown       → failed    rejected, or delivery unconfirmed
    set_media      queued (file not yet uploaded) → queued with the file's mediaUrl,
                                             committed before the message is sent
    fail_upload    queued                  → failed    the file's upload was refused
    retry          failed                  → queued    new seq (end of the line)
                   unknown                 → unknown   history check due now
    edit           failed                  → queued    new text, new seq, new wire id
    due_now        queued | unknown        → same state, due now ("send now")
    discard        anything but sending    → removed
    recover        sending                 → unknown   at start-up

An entry may carry a file (:mod:`.attachments`: a private copy in ``attachments/``
beside the outbox file, named in the ``attachment`` column, schema 5). It stays
``queued`` while the file is uploaded (repeating an upload stores nothing the end user
sees, so no ``sending`` state guards it); :meth:`Outbox.set_media` commits the answer's
``mediaUrl`` into the message *before* it is sent, so the file is never uploaded again
after that; the copy is deleted once the message is sent or the entry discarded.

``recover()`` (start-up) turns every ``sending`` entry into ``unknown``: the process died
while a request was in flight, so the message may or may not be on the server, and only a
look at the history can tell.

The message carries its *wire id* in ``metadata[CLIENT_ID_METADATA_KEY]`` so it can be
found in the user's history after an ambiguous failure. The wire id is the client id,
except after :meth:`Outbox.edit`, which appends ``.<revision>`` — an edited message is a
different message, and must never be mistaken for an earlier text that may already be on
the server under the old id.

Entries are keyed by the connection profile's stable *id* (see
:mod:`smooch_desktop.core.profiles`), so renaming a profile carries its messages. Schema
1 (before ids) stored the profile's name; opening such a file migrates every name to
:func:`~smooch_desktop.core.profiles.legacy_profile_id` of it, the id that profile gets:
the first rung of the outbox's migration ladder (:data:`_FORMAT`; opening, the ladder and
a damaged file set aside are :mod:`smooch_desktop.core.sqlite_store`'s).

If the file is deleted or replaced while the app runs, the next write notices (the
path no longer leads to the open file), writes the whole outbox back to the path and
reports it through :attr:`Outbox.on_rewritten` (see :mod:`smooch_desktop.core.storefile`).

The file is not meant to be shared by two running app instances (one instance's
``recover()`` would declare the other's in-flight sends unknown); keeping one instance
per data directory is the app's job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from smooch_desktop.api.models import OutgoingMessage
from smooch_desktop.core import profiles, sqlite_store, storefile
from smooch_desktop.core.outbox.attachments import DIR_NAME, Attachment, AttachmentFiles
from smooch_desktop.core.outbox.entry import (
    ACTIVE_STATES,
    OPEN_STATES,
    EntryState,
    OutboxEntry,
    clean_text,
    message_from_json,
    message_to_json,
    wire_id_for,
    with_wire_id,
)

DEFAULT_FILE_NAME: Final = "outbox.sqlite3"
#: How long a delivered message stays in the outbox (the server's history has it).
SENT_RETENTION_S: Final = 30 * 24 * 3600.0
_COLUMNS: Final = (
    "client_id",
    "seq",
    "profile",
    "user_ref",
    "message",
    "revision",
    "state",
    "attempts",
    "verifications",
    "next_attempt_at",
    "first_attempt_at",
    "last_attempt_at",
    "server_id",
    "sent_at",
    "error_code",
    "error_text",
    "error_status",
    "retryable",
    "created_at",
    "updated_at",
    "conversation_id",
    "attachment",
)
_SELECT: Final = f"SELECT {', '.join(_COLUMNS)} FROM outbox"


class OutboxError(Exception):
    """Base class of outbox errors."""


class EntryNotFound(OutboxError, KeyError):
    """No entry with that client id (never enqueued, discarded or pruned)."""


class OutboxStateError(OutboxError):
    """The requested change does not apply to the entry's current state.

    E.g. Discard while a request is in flight, or Edit on a message that is not failed.
    The UI should disable such actions; the delivery engine uses this to notice that the
    user changed an entry under it.
    """


class OutboxTooNew(OutboxError, sqlite_store.StoreTooNew):
    """The outbox file was written by a newer version of the app; it is left untouched."""


def _entry(row: Sequence[Any]) -> OutboxEntry:
    r = dict(zip(_COLUMNS, row, strict=True))
    return OutboxEntry(
        client_id=r["client_id"],
        seq=r["seq"],
        profile=r["profile"],
        user_ref=r["user_ref"],
        message=message_from_json(r["message"]),
        state=EntryState(r["state"]),
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        server_id=r["server_id"],
        sent_at=r["sent_at"],
        error_code=r["error_code"],
        error_text=r["error_text"],
        error_status=r["error_status"],
        retryable=bool(r["retryable"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        verifications=r["verifications"],
        first_attempt_at=r["first_attempt_at"],
        last_attempt_at=r["last_attempt_at"],
        revision=r["revision"],
        conversation_id=r["conversation_id"],
        attachment=Attachment.from_json(r["attachment"]) if r["attachment"] else None,
    )


def _open_messages_in(conn: sqlite3.Connection) -> str:
    """What a written-back outbox holds, for the agent: "message in it (3 unsent messages)"."""
    marks = ", ".join("?" for _ in OPEN_STATES)
    count = conn.execute(
        f"SELECT COUNT(*) FROM outbox WHERE state IN ({marks})", tuple(sorted(OPEN_STATES))
    ).fetchone()[0]
    unsent = f"{count:,} unsent message" + ("" if count == 1 else "s")
    return f"message in it ({unsent})"


def _create_tables(conn: sqlite3.Connection) -> None:
    """The newest schema, in an empty file."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS outbox ("
        " client_id TEXT PRIMARY KEY,"
        " seq INTEGER NOT NULL UNIQUE,"
        " profile TEXT NOT NULL,"
        " user_ref TEXT NOT NULL,"
        " message TEXT NOT NULL,"
        " revision INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " verifications INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at REAL,"
        " first_attempt_at REAL,"
        " last_attempt_at REAL,"
        " server_id TEXT,"
        " sent_at REAL,"
        " error_code TEXT,"
        " error_text TEXT,"
        " error_status INTEGER,"
        " retryable INTEGER NOT NULL DEFAULT 0,"
        " created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL,"
        " conversation_id TEXT NOT NULL DEFAULT '',"
        " attachment TEXT)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS outbox_line ON outbox (profile, user_ref, seq)")
    conn.execute("CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, seq)")
    _index_active_entries(conn)
    # seq survives pruning: a counter, not MAX(seq) + 1.
    conn.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER)")
    conn.execute("INSERT OR IGNORE INTO counters VALUES ('seq', 0)")


def _profile_names_to_ids(conn: sqlite3.Connection) -> None:
    """1 → 2: the profile column held the profile's name; now its stable id."""
    profiles.profile_names_to_ids(conn, "outbox")


def _add_conversation_id(conn: sqlite3.Connection) -> None:
    """2 → 3: entries name the user's conversation they go to ("" = the main one, which
    is where every earlier entry went)."""
    conn.execute("ALTER TABLE outbox ADD COLUMN conversation_id TEXT NOT NULL DEFAULT ''")


#: The states of :data:`ACTIVE_STATES` as an SQL list: a partial index is used only by a
#: query whose WHERE repeats its condition literally (parameters can't prove it).
_ACTIVE_SQL: Final = "(" + ", ".join(f"'{state.value}'" for state in sorted(ACTIVE_STATES)) + ")"


def _index_active_entries(conn: sqlite3.Connection) -> None:
    """3 → 4: an index of the active entries alone, by user and seq, so the delivery
    engine's heads (:meth:`Outbox.heads`) are read without visiting the queued rows."""
    conn.execute(
        "CREATE INDEX IF NOT EXISTS outbox_active ON outbox (profile, user_ref, seq)"
        f" WHERE state IN {_ACTIVE_SQL}"
    )


def _add_attachment(conn: sqlite3.Connection) -> None:
    """4 → 5: an entry may carry a file (JSON of its private copy; NULL for none)."""
    conn.execute("ALTER TABLE outbox ADD COLUMN attachment TEXT")


#: ``synchronous=FULL``: a commit is a message the user saw leave the composer.
_FORMAT: Final = sqlite_store.StoreFormat(
    create=_create_tables,
    steps=(_profile_names_to_ids, _add_conversation_id, _index_active_entries, _add_attachment),
    too_new=OutboxTooNew,
    synchronous="FULL",
    timeout_s=10.0,
)


@dataclass(frozen=True)
class _Tx:
    """The open transaction of one outbox call: its connection and its clock reading."""

    conn: sqlite3.Connection
    now: float


class Outbox(storefile.WatchedStore):
    """Messages on their way out, in one SQLite file.

    Thread-safe: one connection (``check_same_thread=False``) guarded by a lock; every
    public method is one transaction. Methods that change an entry return the entry as
    stored afterwards, raise :class:`EntryNotFound` for an unknown client id and
    :class:`OutboxStateError` when the change does not apply to the entry's state.

    If the file exists but is not a database, it is renamed aside (path in
    :attr:`recovered_from`, for the UI to mention) and a fresh outbox is started: a
    damaged file must not keep the app from starting, and renaming never deletes it.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        # on_rewritten is called on the thread that wrote.
        self._open(
            path,
            _FORMAT,
            "outbox",
            "Unsent messages are kept while the app runs; don't quit until this is solved "
            "(the next change of a message tries again).",
            (OutboxError,),
        )
        #: The private copies of attached files (``attachments/`` beside the file).
        self.files = AttachmentFiles(self._path.parent / DIR_NAME)

    @staticmethod
    def default_path() -> Path:
        """Where the app keeps its outbox: ``outbox.sqlite3`` in the per-user data dir."""
        from smooch_desktop.core import paths  # lazy: importing the outbox needs no dirs

        return paths.data_dir() / DEFAULT_FILE_NAME

    # Transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._lock:
            if self._closed:
                raise OutboxError("The outbox is closed.")
            # IMMEDIATE takes the write lock up front: read-check-write can't interleave
            # with another connection (e.g. a second process inspecting the file).
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self._conn, self._clock())
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._check_file()

    def _check_file(self) -> None:
        """Write the outbox back if its path no longer leads to the open file (lock held).

        Called after every commit: a commit into a deleted or replaced file would be
        lost at the next start. If writing it back fails (a full disk), the open file
        keeps everything while the app runs and the next commit tries again.
        """
        self._conn = self._watch.check(self._conn, self._reopen, _open_messages_in)

    @staticmethod
    def _fetch(tx: _Tx, client_id: str) -> OutboxEntry:
        row = tx.conn.execute(f"{_SELECT} WHERE client_id = ?", (client_id,)).fetchone()
        if row is None:
            raise EntryNotFound(client_id)
        return _entry(row)

    @staticmethod
    def _next_seq(tx: _Tx) -> int:
        tx.conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq'")
        return int(tx.conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0])

    def _change(
        self,
        client_id: str,
        allowed: frozenset[EntryState] | set[EntryState],
        action: str,
        changes: Callable[[OutboxEntry, float], dict[str, Any]],
    ) -> OutboxEntry:
        """Apply ``changes(entry, now)`` if the entry is in an ``allowed`` state."""
        with self._tx() as tx:
            entry = self._fetch(tx, client_id)
            if entry.state not in allowed:
                raise OutboxStateError(
                    f"Can't {action} a message that is {entry.state.value} ({client_id})."
                )
            values = changes(entry, tx.now)
            values["updated_at"] = tx.now
            assignments = ", ".join(f"{name} = ?" for name in values)
            tx.conn.execute(
                f"UPDATE outbox SET {assignments} WHERE client_id = ?",
                (*values.values(), client_id),
            )
            return self._fetch(tx, client_id)

    # Adding and reading -------------------------------------------------------------------

    def enqueue(
        self,
        profile: str,
        user_ref: str,
        message: OutgoingMessage,
        *,
        conversation_id: str = "",
        attachment: Attachment | None = None,
    ) -> OutboxEntry:
        """Store a new message as ``queued`` (durable before returning) and return it.

        The client id (uuid4 hex) is generated here and put in the message metadata.
        ``conversation_id`` names one of the user's conversations ("" = their main one).
        ``attachment`` is a file already copied into :attr:`files` (the message's
        ``mediaUrl`` stays empty until :meth:`set_media` records the upload).
        """
        if not profile or not user_ref:
            raise ValueError("A message needs a profile and a user.")
        client_id = uuid.uuid4().hex
        stored = message_to_json(with_wire_id(message, client_id))
        with self._tx() as tx:
            seq = self._next_seq(tx)
            tx.conn.execute(
                "INSERT INTO outbox (client_id, seq, profile, user_ref, message, state,"
                " created_at, updated_at, conversation_id, attachment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    seq,
                    profile,
                    user_ref,
                    stored,
                    EntryState.QUEUED,
                    tx.now,
                    tx.now,
                    conversation_id,
                    attachment.to_json() if attachment is not None else None,
                ),
            )
            return self._fetch(tx, client_id)

    def get(self, client_id: str) -> OutboxEntry | None:
        """The entry, or None if there is no such entry (discarded, pruned, never made)."""
        rows = self._query("WHERE client_id = ?", (client_id,))
        return rows[0] if rows else None

    def entries_for(self, profile: str, user_ref: str) -> list[OutboxEntry]:
        """Every entry of one conversation, in send order (``seq``)."""
        return self._query("WHERE profile = ? AND user_ref = ? ORDER BY seq", (profile, user_ref))

    def active(self, profile: str) -> list[OutboxEntry]:
        """Entries of ``profile`` still in progress (queued, sending, unknown), by ``seq``."""
        marks = ", ".join("?" for _ in ACTIVE_STATES)
        return self._query(
            f"WHERE profile = ? AND state IN ({marks}) ORDER BY seq",
            (profile, *sorted(ACTIVE_STATES)),
        )

    def heads(self, profile: str) -> list[OutboxEntry]:
        """The first active entry (lowest ``seq``) of each user of ``profile``, by ``seq``.

        What the delivery engine looks at on every step: only a user's head may be worked
        on. Answered from the ``outbox_active`` index, reading just the heads' rows, so a
        step stays cheap with thousands queued (``benchmarks/bench_outbox.py``).
        """
        heads = (
            f"SELECT MIN(seq) FROM outbox WHERE profile = ? AND state IN {_ACTIVE_SQL}"
            " GROUP BY user_ref"
        )
        return self._query(f"WHERE seq IN ({heads}) ORDER BY seq", (profile,))

    def has_active(self, profile: str) -> bool:
        """Whether any entry of ``profile`` is queued, sending or unknown."""
        with self._lock:
            if self._closed:
                raise OutboxError("The outbox is closed.")
            row = self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE profile = ?"
                f" AND state IN {_ACTIVE_SQL})",
                (profile,),
            ).fetchone()
        return bool(row[0])

    def open_counts(self, profile: str) -> dict[str, int]:
        """How many entries of ``profile`` are not delivered, per state (no zero counts)."""
        marks = ", ".join("?" for _ in OPEN_STATES)
        with self._lock:
            if self._closed:
                raise OutboxError("The outbox is closed.")
            rows = self._conn.execute(
                f"SELECT state, COUNT(*) FROM outbox WHERE profile = ? AND state IN ({marks})"
                " GROUP BY state",
                (profile, *sorted(OPEN_STATES)),
            ).fetchall()
        return {str(state): int(n) for state, n in rows}

    def open_states(self, profile: str, user_ref: str | None = None) -> dict[str, set[str]]:
        """Per user of ``profile`` (or just ``user_ref``), the states of their entries not
        delivered yet — for marks in a list: no message is read or decoded."""
        marks = ", ".join("?" for _ in OPEN_STATES)
        where = f"profile = ? AND state IN ({marks})"
        params: list[str] = [profile, *sorted(OPEN_STATES)]
        if user_ref is not None:
            where += " AND user_ref = ?"
            params.append(user_ref)
        with self._lock:
            if self._closed:
                raise OutboxError("The outbox is closed.")
            rows = self._conn.execute(
                f"SELECT DISTINCT user_ref, state FROM outbox WHERE {where}", params
            ).fetchall()
        found: dict[str, set[str]] = {}
        for ref, state in rows:
            found.setdefault(str(ref), set()).add(str(state))
        return found

    def discard_profile(self, profile: str) -> int:
        """Remove every entry of ``profile`` (the agent deleted it, knowing what it held).

        Unlike :meth:`discard` this includes ``sending`` entries: the request's outcome
        then finds no entry, which the engine treats like a discard (see ``step``).
        Returns how many entries were not delivered.
        """
        with self._tx() as tx:
            marks = ", ".join("?" for _ in OPEN_STATES)
            count = int(
                tx.conn.execute(
                    f"SELECT COUNT(*) FROM outbox WHERE profile = ? AND state IN ({marks})",
                    (profile, *sorted(OPEN_STATES)),
                ).fetchone()[0]
            )
            tx.conn.execute("DELETE FROM outbox WHERE profile = ?", (profile,))
            return count

    def all_entries(self, profile: str | None = None) -> list[OutboxEntry]:
        """Every entry (of one profile, or of all), by ``seq`` — for reports and tests."""
        if profile is None:
            return self._query("ORDER BY seq", ())
        return self._query("WHERE profile = ? ORDER BY seq", (profile,))

    def _query(self, where: str, params: Sequence[Any]) -> list[OutboxEntry]:
        with self._lock:
            if self._closed:
                raise OutboxError("The outbox is closed.")
            rows = self._conn.execute(f"{_SELECT} {where}", tuple(params)).fetchall()
        return [_entry(row) for row in rows]

    # Engine transitions -------------------------------------------------------------------

    def mark_sending(self, client_id: str) -> OutboxEntry:
        """queued/unknown → sending, just before the request goes out (counts the attempt).

        Committed before the request, so a crash during it leaves ``sending`` for
        :meth:`recover` to turn into ``unknown``.
        """

        def changes(entry: OutboxEntry, now: float) -> dict[str, Any]:
            return {
                "state": EntryState.SENDING,
                "attempts": entry.attempts + 1,
                "first_attempt_at": entry.first_attempt_at or now,
                "last_attempt_at": now,
                "next_attempt_at": None,
            }

        return self._change(client_id, {EntryState.QUEUED, EntryState.UNKNOWN}, "send", changes)

    def mark_sent(self, client_id: str, server_id: str, sent_at: float) -> OutboxEntry:
        """sending/unknown → sent, with the server's message id and time.

        An attached file's private copy is deleted after the commit: the server has it.
        """
        entry = self._mark_sent(client_id, server_id, sent_at)
        if entry.attachment is not None:
            self.files.remove(entry.attachment)
        return entry

    def _mark_sent(self, client_id: str, server_id: str, sent_at: float) -> OutboxEntry:
        return self._change(
            client_id,
            {EntryState.SENDING, EntryState.UNKNOWN},
            "mark as sent",
            lambda _e, _now: {
                "state": EntryState.SENT,
                "server_id": server_id,
                "sent_at": sent_at,
                "next_attempt_at": None,
                "error_code": None,
                "error_text": None,
                "error_status": None,
                "retryable": False,
            },
        )

    def mark_unknown(
        self,
        client_id: str,
        reason: str,
        *,
        verify_at: float | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> OutboxEntry:
        """sending/unknown → unknown: the message may be on the server; check before resending.

        ``verify_at`` is when the history check is due (None: the engine's grace after
        :attr:`OutboxEntry.updated_at`). ``reason`` says in words what happened.
        """
        return self._change(
            client_id,
            {EntryState.SENDING, EntryState.UNKNOWN},
            "mark as unknown",
            lambda _e, _now: {
                "state": EntryState.UNKNOWN,
                "next_attempt_at": verify_at,
                "error_text": reason,
                "error_status": status,
                "error_code": code,
                "retryable": True,
            },
        )

    def mark_failed(
        self,
        client_id: str,
        *,
        status: int | None,
        code: str | None,
        text: str,
        retryable: bool,
    ) -> OutboxEntry:
        """sending/unknown → failed: no automatic retry; the text and the error are kept."""
        return self._change(
            client_id,
            {EntryState.SENDING, EntryState.UNKNOWN},
            "mark as failed",
            lambda _e, _now: {
                "state": EntryState.FAILED,
                "next_attempt_at": None,
                "error_status": status,
                "error_code": code,
                "error_text": text,
                "retryable": retryable,
            },
        )

    def schedule(
        self,
        client_id: str,
        at: float,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> OutboxEntry:
        """→ queued, to be sent at ``at`` (backoff; ``reason`` is shown with the countdown).

        From ``sending`` (the attempt never reached the server), ``unknown`` (the
        history proved it is not there) or ``queued`` (rescheduled).
        """
        return self._change(
            client_id,
            {EntryState.SENDING, EntryState.UNKNOWN, EntryState.QUEUED},
            "schedule",
            lambda _e, _now: {
                "state": EntryState.QUEUED,
                "next_attempt_at": at,
                "error_text": reason,
                "error_status": status,
                "error_code": code,
                "retryable": True,
            },
        )

    def set_media(self, client_id: str, media_url: str, media_type: str) -> OutboxEntry:
        """queued → queued with the uploaded file's ``mediaUrl``: due to be sent now.

        Committed before the message is sent, so a crash from here on never uploads the
        file again: the entry is an ordinary message with a ``mediaUrl`` from now on.
        """
        if not media_url:
            raise ValueError("An upload without a mediaUrl can't be recorded.")

        def changes(entry: OutboxEntry, _now: float) -> dict[str, Any]:
            if entry.attachment is None or entry.message.media_url:
                raise OutboxStateError(f"Nothing to upload for this message ({client_id}).")
            message = dataclasses.replace(
                entry.message,
                media_url=media_url,
                media_type=media_type or entry.attachment.media_type,
            )
            return {
                "message": message_to_json(message),
                "next_attempt_at": None,
                "error_code": None,
                "error_text": None,
                "error_status": None,
                "retryable": False,
            }

        return self._change(client_id, {EntryState.QUEUED}, "record the upload of", changes)

    def fail_upload(
        self, client_id: str, *, status: int | None, code: str | None, text: str
    ) -> OutboxEntry:
        """queued → failed: the file's upload was refused (Retry uploads it again)."""
        return self._change(
            client_id,
            {EntryState.QUEUED},
            "fail the upload of",
            lambda _e, _now: {
                "state": EntryState.FAILED,
                "next_attempt_at": None,
                "error_status": status,
                "error_code": code,
                "error_text": text,
                "retryable": True,
            },
        )

    def count_verification(self, client_id: str) -> OutboxEntry:
        """Count one history check of an ``unknown`` entry (report and backoff exponent)."""
        return self._change(
            client_id,
            {EntryState.UNKNOWN},
            "check",
            lambda e, _now: {"verifications": e.verifications + 1},
        )

    # User actions -------------------------------------------------------------------------

    def due_now(self, client_id: str) -> OutboxEntry:
        """The user's "send now": a queued entry in backoff, or an unknown one, is due now.

        For ``unknown`` that means "check the history now", never a blind resend.
        """
        return self._change(
            client_id,
            {EntryState.QUEUED, EntryState.UNKNOWN},
            "send now",
            lambda _e, now: {"next_attempt_at": now},
        )

    def retry(self, client_id: str) -> OutboxEntry:
        """The user's Retry.

        * failed → queued, due now, at the end of its user's line (a new ``seq``: the
          user's later messages went out meanwhile), attempts and error cleared. The
          wire id is kept: it is the same message.
        * unknown → checked now. It stays ``unknown`` because it may be on the server:
          the check is what decides between "sent" and a real resend, so Retry can never
          deliver it twice.
        """
        with self._tx() as tx:
            entry = self._fetch(tx, client_id)
            if entry.state is EntryState.UNKNOWN:
                tx.conn.execute(
                    "UPDATE outbox SET next_attempt_at = ?, updated_at = ? WHERE client_id = ?",
                    (tx.now, tx.now, client_id),
                )
            elif entry.state is EntryState.FAILED:
                # first_attempt_at is kept: a history check must reach back to the
                # earliest attempt of this wire id, which may be on the server already.
                self._requeue(tx, entry, entry.message, entry.revision, entry.first_attempt_at)
            else:
                raise OutboxStateError(
                    f"Can't retry a message that is {entry.state.value} ({client_id})."
                )
            return self._fetch(tx, client_id)

    def edit(self, client_id: str, text: str) -> OutboxEntry:
        """Change a failed message's text and queue it again (end of the line, due now).

        Decision: the entry stays in the outbox (same ``client_id``, so the UI row keeps
        its identity) rather than going back to the composer, because the text must
        never exist only in a widget. Its wire id gets a new revision, so a history check
        can't mistake an earlier revision already on the server for this one.
        """
        with self._tx() as tx:
            entry = self._fetch(tx, client_id)
            if entry.state is not EntryState.FAILED:
                raise OutboxStateError(
                    f"Only a failed message can be edited; this one is {entry.state.value}."
                )
            revision = entry.revision + 1
            message = with_wire_id(
                entry.message, wire_id_for(client_id, revision), clean_text(text)
            )
            self._requeue(tx, entry, message, revision, None)
            return self._fetch(tx, client_id)

    def _requeue(
        self,
        tx: _Tx,
        entry: OutboxEntry,
        message: OutgoingMessage,
        revision: int,
        first_attempt_at: float | None,
    ) -> None:
        tx.conn.execute(
            "UPDATE outbox SET seq = ?, message = ?, revision = ?, state = ?, attempts = 0,"
            " verifications = 0, next_attempt_at = NULL, first_attempt_at = ?,"
            " error_code = NULL, error_text = NULL, error_status = NULL, retryable = 0,"
            " updated_at = ? WHERE client_id = ?",
            (
                self._next_seq(tx),
                message_to_json(message),
                revision,
                EntryState.QUEUED,
                first_attempt_at,
                tx.now,
                entry.client_id,
            ),
        )

    def discard(self, client_id: str) -> OutboxEntry:
        """Remove an entry (the user gave up on it); returns what was removed.

        Not while ``sending``: the request's outcome must land somewhere. Discarding an
        ``unknown`` entry only forgets it locally — it may still be on the server.
        """
        with self._tx() as tx:
            entry = self._fetch(tx, client_id)
            if entry.state is EntryState.SENDING:
                raise OutboxStateError("Can't discard a message while it is being sent.")
            tx.conn.execute("DELETE FROM outbox WHERE client_id = ?", (client_id,))
        if entry.attachment is not None:
            self.files.remove(entry.attachment)
        return entry

    # Housekeeping -------------------------------------------------------------------------

    def recover(self) -> list[OutboxEntry]:
        """At start-up: every ``sending`` entry becomes ``unknown`` and is returned.

        The previous process died with those requests in flight; they may have reached
        the server, so they are checked in the history before any resend.
        """
        with self._tx() as tx:
            rows = tx.conn.execute(
                f"{_SELECT} WHERE state = ? ORDER BY seq", (EntryState.SENDING,)
            ).fetchall()
            tx.conn.execute(
                "UPDATE outbox SET state = ?, next_attempt_at = NULL, retryable = 1,"
                " error_text = ?, updated_at = ? WHERE state = ?",
                (
                    EntryState.UNKNOWN,
                    "The app stopped while sending; checking whether the message arrived.",
                    tx.now,
                    EntryState.SENDING,
                ),
            )
            return [self._fetch(tx, _entry(row).client_id) for row in rows]

    def prune_old_sent(self) -> int:
        """Forget ``sent`` entries last changed over :data:`SENT_RETENTION_S` ago; say how many.

        Called once per start. Delivered messages are in the server's history; without
        this every user's outbox read (and the file) grows with every reply ever sent.
        Nothing else is ever pruned: queued, unknown and failed entries wait for the
        engine or the agent however old they are.
        """
        with self._tx() as tx:
            cursor = tx.conn.execute(
                "DELETE FROM outbox WHERE state = ? AND updated_at < ?",
                (EntryState.SENT, tx.now - SENT_RETENTION_S),
            )
            return cursor.rowcount

    def prune_attachments(self) -> int:
        """Delete the private copies no undelivered entry names; say how many.

        Called once per start, before anything can be attached: a copy is left behind
        when the app died between making it and the commit that names it, or when the
        agent removed an attachment from the composer and its deletion failed.
        """
        marks = ", ".join("?" for _ in OPEN_STATES)
        with self._lock:
            if self._closed:
                raise OutboxError("The outbox is closed.")
            rows = self._conn.execute(
                f"SELECT attachment FROM outbox WHERE attachment IS NOT NULL"
                f" AND state IN ({marks})",
                tuple(sorted(OPEN_STATES)),
            ).fetchall()
        keep = {Attachment.from_json(raw).file for (raw,) in rows}
        return self.files.prune(keep)
