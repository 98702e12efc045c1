"""Opening a store's SQLite file: what the outbox and the drafts do alike.

* The file is private from the start (``0600`` in a folder made ``0700``): it holds
  messages to customers. SQLite gives its ``-wal``/``-shm`` files the same mode.
* WAL journal; ``synchronous`` is the store's choice (the outbox needs ``FULL``, drafts
  settle for ``NORMAL``: see docs/architecture.md#where-state-lives).
* The schema version is ``PRAGMA user_version``, brought up to date by a *migration
  ladder* (:class:`StoreFormat`): an empty file gets the newest schema at once; an older
  file runs the steps it misses, in order, all in one transaction, so a failing step
  leaves the file exactly as it was. A file from a newer version of the app is refused
  (:class:`StoreTooNew`) before anything is written to it, never downgraded.
* A file SQLite says is not a database, or corrupt, is renamed aside
  (``NAME.corrupt-YYYYmmdd-HHMMSS``, its ``-wal``/``-shm`` beside it), never deleted, and
  a fresh file is started: a damaged file must not keep the app from starting
  (docs/architecture.md#never-lost). A ``-wal`` found at opening is copied first, since
  SQLite deletes it when the connection to a damaged file closes.

This module must not hold either store's tables, queries or migration steps (they live
in :mod:`smooch_desktop.core.outbox` and :mod:`smooch_desktop.core.drafts`), nor what a
store does when its file is deleted or replaced while open
(:mod:`smooch_desktop.core.storefile`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: One rung of a migration ladder: changes an open connection inside the ladder's
#: transaction (it must neither commit nor roll back).
Step = Callable[[sqlite3.Connection], None]


class StoreTooNew(RuntimeError):
    """The file was written by a newer version of the app; it is left untouched."""


@dataclass(frozen=True)
class StoreFormat:
    """One store's file: its newest schema, the ladder up to it, and how it is opened.

    ``create`` makes the newest schema in an empty file (version 0). ``steps[n - 1]``
    upgrades a file at version ``n`` to ``n + 1``, so the newest version is
    ``len(steps) + 1``: a schema change appends a step (and changes ``create`` to match).
    ``too_new`` is the store's own :class:`StoreTooNew`, raised for a file from a newer
    version. ``synchronous`` is SQLite's durability setting for this store's commits;
    ``timeout_s`` how long a write waits for another connection's lock.
    """

    create: Step
    steps: tuple[Step, ...]
    too_new: type[StoreTooNew]
    synchronous: Literal["FULL", "NORMAL"]
    timeout_s: float

    @property
    def version(self) -> int:
        """The version this code writes."""
        return len(self.steps) + 1


def connect(path: Path, fmt: StoreFormat) -> sqlite3.Connection:
    """Open ``path`` (created private if missing) and bring it to ``fmt``'s version.

    The connection is in autocommit mode (``BEGIN``/``COMMIT`` are the caller's) and may
    be used from any thread (the caller guards it with a lock). Raises ``fmt.too_new``
    for a file from a newer version, and :class:`sqlite3.DatabaseError` for a damaged
    file (see :func:`is_damaged`); the file is not set aside here.
    """
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(
        path, timeout=fmt.timeout_s, check_same_thread=False, isolation_level=None
    )
    try:
        # Before any write (the journal mode is one): a newer file is left as it is.
        _refuse_newer(path, fmt, _version(conn))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={fmt.synchronous}")
        if _version(conn) != fmt.version:
            _climb(conn, path, fmt)
    except BaseException:
        conn.close()
        raise
    return conn


def open_store(path: Path, fmt: StoreFormat) -> tuple[sqlite3.Connection, Path | None]:
    """:func:`connect`, after making the folder (``0700``), setting a damaged file aside.

    Returns the connection and where a damaged file was moved (None if it was not).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    kept_wal = _copy_wal(path)
    try:
        try:
            return connect(path, fmt), None
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                raise
        aside = set_aside(path)
        if kept_wal is not None and not Path(f"{aside}-wal").exists():
            # SQLite removed the -wal when the failed connection closed: put the copy
            # beside the damaged file, where it belongs (its unsaved changes are in it).
            os.replace(kept_wal, f"{aside}-wal")
            kept_wal = None
        return connect(path, fmt), aside
    finally:
        if kept_wal is not None:
            with contextlib.suppress(OSError):
                kept_wal.unlink()


def _copy_wal(path: Path) -> Path | None:
    """A private copy of ``path``'s ``-wal`` if one is there (left by a crash), else None.

    A ``-wal`` holds commits not yet copied into the main file. If the main file turns
    out damaged, SQLite deletes the ``-wal`` as the failed connection closes, so without
    this copy those commits (messages that left the composer) would be gone before the
    file could be set aside. A clean close leaves no ``-wal``: normally nothing to copy.
    """
    wal = Path(f"{path}-wal")
    copy = Path(f"{path}-wal.before-open")
    try:
        if wal.stat().st_size == 0:
            return None
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()  # one left by a process killed right here
        fd = os.open(copy, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as out, wal.open("rb") as source:
            shutil.copyfileobj(source, out)
    except FileNotFoundError:
        return None
    except OSError:
        # No room for the copy (a full disk): open as before rather than not at all.
        with contextlib.suppress(OSError):
            copy.unlink()
        return None
    return copy


def is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """True if SQLite says the file is not a database or is corrupt.

    Only then is a file set aside; "database is locked" (another app instance) and other
    errors propagate, so a healthy store is never put aside.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    return code in {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}


def set_aside(path: Path) -> Path:
    """Rename a damaged ``path`` (and its ``-wal``/``-shm``) to ``NAME.corrupt-<time>``."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(path: Path, fmt: StoreFormat, version: int) -> None:
    if version > fmt.version:
        raise fmt.too_new(f"{path} was written by a newer Smooch Desktop (schema {version}).")


def _climb(conn: sqlite3.Connection, path: Path, fmt: StoreFormat) -> None:
    """Create the schema, or run the missing steps, in one transaction."""
    # IMMEDIATE takes the write lock first, so the version read next is the one changed.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)
        _refuse_newer(path, fmt, version)
        if version == 0:
            fmt.create(conn)
        else:
            for step in fmt.steps[version - 1 :]:
                step(conn)
        conn.execute(f"PRAGMA user_version={fmt.version}")
    except BaseException:
        if conn.in_transaction:  # some errors (a full disk) end the transaction themselves
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
