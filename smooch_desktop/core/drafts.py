"""Unsent composer text per (profile, user), kept in SQLite so it survives a crash.

The composer saves its text here as the user types (debounced by the UI) and loads it
back when the user switches to that conversation again, or after a restart. Unlike the
outbox, which guards messages the user already sent, a draft is a convenience — but
losing a long half-written reply to a crash is exactly the loss the app promises never
to cause (docs/architecture.md#never-lost).

Durability choice: WAL journal with ``synchronous=NORMAL``. In WAL mode a committed
transaction survives any crash of the *process* (kill -9, segfault, Qt abort), which is
the failure that matters here; only an OS crash or power cut can roll back the last few
commits, i.e. the last second or two of typing. ``FULL`` would close that gap at the
cost of an fsync on every debounced save, which on slow disks is noticeable while
typing. The outbox, which must not lose a sent message, is where ``FULL`` belongs.

Drafts are keyed by the profile's stable id (schema 2; schema 1 stored its name and is
migrated like the outbox, see :mod:`smooch_desktop.core.profiles`; the file is opened and
migrated by :mod:`smooch_desktop.core.sqlite_store`). Text typed before a
user is picked, or while not connected, is one more draft: the *unaddressed* one
(:meth:`DraftStore.save_unaddressed`), not tied to a profile, restored into the composer
at the next start. If the file is deleted or replaced while the app runs, the next save
writes every draft back (see :mod:`smooch_desktop.core.storefile`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Final

from smooch_desktop.core import paths, profiles, sqlite_store, storefile

#: One row at most: text typed with no user picked or no connection.
_CREATE_UNADDRESSED: Final = (
    "CREATE TABLE IF NOT EXISTS unaddressed ("
    " slot INTEGER PRIMARY KEY CHECK (slot = 0),"
    " text TEXT NOT NULL,"
    " updated_at REAL NOT NULL)"
)
DEFAULT_FILE_NAME: Final = "drafts.sqlite3"


def _storable(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates (never valid text) become U+FFFD.

    Anything else, NUL included, is stored exactly.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


class DraftStoreTooNew(sqlite_store.StoreTooNew):
    """The drafts file was written by a newer version of the app; it is left untouched."""


_CREATE_STRUCTURES: Final = (
    "CREATE TABLE IF NOT EXISTS structures ("
    " profile TEXT NOT NULL,"
    " user_id TEXT NOT NULL,"
    " structure TEXT NOT NULL,"
    " updated_at REAL NOT NULL,"
    " PRIMARY KEY (profile, user_id)"
    ") WITHOUT ROWID"
)


def _create_tables(conn: sqlite3.Connection) -> None:
    """The newest schema, in an empty file."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS drafts ("
        " profile TEXT NOT NULL,"
        " user_id TEXT NOT NULL,"
        " text TEXT NOT NULL,"
        " updated_at REAL NOT NULL,"
        " PRIMARY KEY (profile, user_id)"
        ") WITHOUT ROWID"
    )
    conn.execute(_CREATE_UNADDRESSED)
    conn.execute(_CREATE_STRUCTURES)


def _profile_names_to_ids(conn: sqlite3.Connection) -> None:
    """1 → 2: profile names become their ids, and the unaddressed draft gets its table."""
    profiles.profile_names_to_ids(conn, "drafts")
    conn.execute(_CREATE_UNADDRESSED)


def _add_structures(conn: sqlite3.Connection) -> None:
    """2 → 3: a structured message attached in the composer is kept per user too."""
    conn.execute(_CREATE_STRUCTURES)


#: ``synchronous=NORMAL``: see the module docstring.
_FORMAT: Final = sqlite_store.StoreFormat(
    create=_create_tables,
    steps=(_profile_names_to_ids, _add_structures),
    too_new=DraftStoreTooNew,
    synchronous="NORMAL",
    timeout_s=5.0,
)


class DraftStore(storefile.WatchedStore):
    """Draft text per ``(profile, user_id)`` in one SQLite file.

    Thread-safe: one connection guarded by a lock, so the GUI thread and a worker may
    both use the store. Each call is one transaction, so a draft is either the old text
    or the new text, never a mix.

    If the file exists but is not a readable database, it is renamed aside (its path is
    then in :attr:`recovered_from`) and a fresh store is started, so a damaged draft
    file can never keep the app from starting.
    """

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._open(
            path,
            _FORMAT,
            "drafts",
            "Drafts are kept while the app runs; the next save tries again.",
            (DraftStoreTooNew,),
        )

    @staticmethod
    def default_path() -> Path:
        """Where the app keeps its drafts: ``drafts.sqlite3`` in the per-user data dir."""
        return paths.data_dir() / DEFAULT_FILE_NAME

    def save(self, profile: str, user_id: str, text: str) -> None:
        """Store ``text`` as the draft; empty or whitespace-only text deletes it."""
        self._put(profile, user_id, text)

    def _put(self, profile: str, user_id: str, text: str) -> None:
        with self._lock:
            if not text.strip():
                self._conn.execute(
                    "DELETE FROM drafts WHERE profile = ? AND user_id = ?", (profile, user_id)
                )
            else:
                self._conn.execute(
                    "INSERT INTO drafts (profile, user_id, text, updated_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (profile, user_id)"
                    " DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
                    (profile, user_id, _storable(text), time.time()),
                )
            self._check_file()

    def load(self, profile: str, user_id: str) -> str:
        """Return the draft for this user, or "" if there is none."""
        with self._lock:
            row = self._conn.execute(
                "SELECT text FROM drafts WHERE profile = ? AND user_id = ?", (profile, user_id)
            ).fetchone()
        return "" if row is None else str(row[0])

    def delete(self, profile: str, user_id: str) -> None:
        """Forget the draft (after it was sent); a missing draft is fine."""
        self._put(profile, user_id, "")

    # The attached structured message ------------------------------------------------------

    def save_structure(self, profile: str, user_id: str, structure: str) -> None:
        """Keep the structured message attached for this user (its JSON; "" forgets it)."""
        with self._lock:
            if not structure:
                self._conn.execute(
                    "DELETE FROM structures WHERE profile = ? AND user_id = ?",
                    (profile, user_id),
                )
            else:
                self._conn.execute(
                    "INSERT INTO structures (profile, user_id, structure, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (profile, user_id) DO UPDATE SET"
                    " structure = excluded.structure, updated_at = excluded.updated_at",
                    (profile, user_id, _storable(structure), time.time()),
                )
            self._check_file()

    def load_structure(self, profile: str, user_id: str) -> str:
        """The JSON kept by :meth:`save_structure`, or ""."""
        with self._lock:
            row = self._conn.execute(
                "SELECT structure FROM structures WHERE profile = ? AND user_id = ?",
                (profile, user_id),
            ).fetchone()
        return "" if row is None else str(row[0])

    # The unaddressed draft ----------------------------------------------------------------

    def save_unaddressed(self, text: str) -> None:
        """Keep text typed before a user was picked or while not connected ("" forgets it).

        One slot for the whole app, like the one composer box it comes from: it is
        restored into the composer at the next start, whichever profile is then used.
        """
        with self._lock:
            if not text.strip():
                self._conn.execute("DELETE FROM unaddressed")
            else:
                self._conn.execute(
                    "INSERT INTO unaddressed (slot, text, updated_at) VALUES (0, ?, ?)"
                    " ON CONFLICT (slot)"
                    " DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
                    (_storable(text), time.time()),
                )
            self._check_file()

    def load_unaddressed(self) -> str:
        with self._lock:
            row = self._conn.execute("SELECT text FROM unaddressed").fetchone()
        return "" if row is None else str(row[0])

    def address(self, profile: str, user_id: str, text: str) -> None:
        """The unaddressed text now belongs to a user: store ``text`` as that user's draft
        and forget the unaddressed one, in one transaction (never both lost, never kept
        twice)."""
        if not profile or not user_id:
            raise ValueError("A draft needs a profile and a user.")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM unaddressed")
                if text.strip():
                    self._conn.execute(
                        "INSERT INTO drafts (profile, user_id, text, updated_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (profile, user_id)"
                        " DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
                        (profile, user_id, _storable(text), time.time()),
                    )
                else:
                    self._conn.execute(
                        "DELETE FROM drafts WHERE profile = ? AND user_id = ?",
                        (profile, user_id),
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._check_file()

    # Per profile --------------------------------------------------------------------------

    def count(self, profile: str) -> int:
        """How many drafts ``profile`` has (a user's text and attached structured
        message count as one draft)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM (SELECT user_id FROM drafts WHERE profile = ?"
                " UNION SELECT user_id FROM structures WHERE profile = ?)",
                (profile, profile),
            ).fetchone()
        return int(row[0])

    def delete_profile(self, profile: str) -> int:
        """Forget every draft of ``profile`` (it was deleted); returns how many."""
        if not profile:
            return 0
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM (SELECT user_id FROM drafts WHERE profile = ?"
                " UNION SELECT user_id FROM structures WHERE profile = ?)",
                (profile, profile),
            ).fetchone()
            self._conn.execute("DELETE FROM drafts WHERE profile = ?", (profile,))
            self._conn.execute("DELETE FROM structures WHERE profile = ?", (profile,))
            self._check_file()
            return int(row[0])

    def _check_file(self) -> None:
        """Write the drafts back if the path no longer leads to the open file (lock held)."""
        self._conn = self._watch.check(self._conn, self._reopen, lambda _conn: "draft in it")

    def all(self, profile: str) -> dict[str, str]:
        """Return every draft of ``profile`` as ``{user_id: text}``, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT user_id, text FROM drafts WHERE profile = ? ORDER BY updated_at DESC",
                (profile,),
            ).fetchall()
        return {str(user_id): str(text) for user_id, text in rows}
