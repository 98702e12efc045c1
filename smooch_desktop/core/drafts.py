"""Unsent composer text per (profile, user), kept in SQLite so it survives a crash.

The composer saves its text here as the user types (debounced by the UI) and loads it
back when the user switches to that conversation again, or after a restart. Unlike the
outbox, which guards messages the user already sent, a draft is a convenience — but
losing a long half-written reply to a crash is exactly the loss principle 1 forbids.

Durability choice: WAL journal with ``synchronous=NORMAL``. In WAL mode a committed
transaction survives any crash of the *process* (kill -9, segfault, Qt abort), which is
the failure that matters here; only an OS crash or power cut can roll back the last few
commits, i.e. the last second or two of typing. ``FULL`` would close that gap at the
cost of an fsync on every debounced save, which on slow disks is noticeable while
typing. The outbox, which must not lose a sent message, is where ``FULL`` belongs.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from smooch_desktop.core import paths

_SCHEMA_VERSION: Final = 1
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


def _is_damaged_file(exc: sqlite3.DatabaseError) -> bool:
    """True if SQLite says the file is not a database or is corrupt.

    Only then is the file moved aside; "database is locked" (another app instance) and
    other errors propagate, so a healthy store is never discarded.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    return code in {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}


class DraftStoreTooNew(RuntimeError):
    """The drafts file was written by a newer version of the app; it is left untouched."""


class DraftStore:
    """Draft text per ``(profile, user_id)`` in one SQLite file.

    Thread-safe: one connection guarded by a lock, so the GUI thread and a worker may
    both use the store. Each call is one transaction, so a draft is either the old text
    or the new text, never a mix.

    If the file exists but is not a readable database, it is renamed aside (its path is
    then in :attr:`recovered_from`) and a fresh store is started, so a damaged draft
    file can never keep the app from starting.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self.recovered_from: Path | None = None
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if not _is_damaged_file(exc):
                raise
            self.recovered_from = self._move_aside()
            self._conn = self._open()

    @staticmethod
    def default_path() -> Path:
        """Where the app keeps its drafts: ``drafts.sqlite3`` in the per-user data dir."""
        return paths.data_dir() / DEFAULT_FILE_NAME

    @property
    def path(self) -> Path:
        return self._path

    def _open(self) -> sqlite3.Connection:
        # Create the file ourselves so it is private from the start: drafts are messages
        # to customers. SQLite gives its -wal/-shm files the database file's mode.
        if not self._path.exists():
            fd = os.open(self._path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = sqlite3.connect(
            self._path, timeout=5.0, check_same_thread=False, isolation_level=None
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS drafts ("
                    " profile TEXT NOT NULL,"
                    " user_id TEXT NOT NULL,"
                    " text TEXT NOT NULL,"
                    " updated_at REAL NOT NULL,"
                    " PRIMARY KEY (profile, user_id)"
                    ") WITHOUT ROWID"
                )
                conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            elif version > _SCHEMA_VERSION:
                raise DraftStoreTooNew(
                    f"{self._path} was written by a newer Smooch Desktop (schema {version})."
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self._path.with_name(f"{self._path.name}.corrupt-{stamp}")
        os.replace(self._path, aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self._path}{suffix}", f"{aside}{suffix}")
        return aside

    def save(self, profile: str, user_id: str, text: str) -> None:
        """Store ``text`` as the draft; empty or whitespace-only text deletes it."""
        if not text.strip():
            self.delete(profile, user_id)
            return
        with self._lock:
            self._conn.execute(
                "INSERT INTO drafts (profile, user_id, text, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (profile, user_id)"
                " DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
                (profile, user_id, _storable(text), time.time()),
            )

    def load(self, profile: str, user_id: str) -> str:
        """Return the draft for this user, or "" if there is none."""
        with self._lock:
            row = self._conn.execute(
                "SELECT text FROM drafts WHERE profile = ? AND user_id = ?", (profile, user_id)
            ).fetchone()
        return "" if row is None else str(row[0])

    def delete(self, profile: str, user_id: str) -> None:
        """Forget the draft (after it was sent); a missing draft is fine."""
        with self._lock:
            self._conn.execute(
                "DELETE FROM drafts WHERE profile = ? AND user_id = ?", (profile, user_id)
            )

    def all(self, profile: str) -> dict[str, str]:
        """Return every draft of ``profile`` as ``{user_id: text}``, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT user_id, text FROM drafts WHERE profile = ? ORDER BY updated_at DESC",
                (profile,),
            ).fetchall()
        return {str(user_id): str(text) for user_id, text in rows}

    def close(self) -> None:
        """Close the database; calling it again is harmless."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
