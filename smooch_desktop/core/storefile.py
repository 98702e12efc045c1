"""What the stores (outbox, drafts, inbox) do when their file is deleted or replaced under them.

SQLite keeps writing to the file it opened. If that file is deleted (a clean-up tool, a
user emptying the data folder) or another file is moved to its path, every commit still
succeeds — into a file nobody will open again — and is lost at the next start, silently.
The stores therefore compare the path's device and inode with the file they opened after
each write, and when they differ, copy their whole database back to the path.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from smooch_desktop.core import sqlite_store

FileId = tuple[int, int]


def file_id(path: Path) -> FileId | None:
    """The (device, inode) of ``path``, or None if nothing is there (or it can't be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _remove_quietly(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def restore_file(conn: sqlite3.Connection, path: Path) -> Path | None:
    """Write the database open on ``conn`` (no longer at ``path``) back to ``path``.

    The copy is made next to ``path`` first, so on failure (a full disk) ``conn`` stays
    open and intact and the error propagates; on success ``conn`` is closed. Whatever
    was at ``path`` (a file moved there) is renamed aside, never deleted; its path is
    returned (None if ``path`` was empty). Leftover ``-wal``/``-shm`` files of the lost
    file go aside too: a stale write-ahead log must never be applied to the new file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.restoring")
    for suffix in ("", "-journal", "-wal", "-shm"):
        _remove_quietly(f"{tmp}{suffix}")
    os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    try:
        target = sqlite3.connect(tmp)
        try:
            conn.backup(target)
        finally:
            target.close()
    except BaseException:
        for suffix in ("", "-journal"):
            _remove_quietly(f"{tmp}{suffix}")
        raise
    conn.close()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved: Path | None = None
    if os.path.lexists(path):
        moved = path.with_name(f"{path.name}.replaced-{stamp}")
        os.replace(path, moved)
    stale = moved or path.with_name(f"{path.name}.stale-{stamp}")
    for suffix in ("-wal", "-shm"):
        if os.path.lexists(f"{path}{suffix}"):
            os.replace(f"{path}{suffix}", f"{stale}{suffix}")
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return moved


class FileWatch:
    """Notices the file a store opened being deleted or replaced, and writes it back.

    One per store, created right after the store opened its file. ``what`` names the
    store in the sentences ("outbox", "drafts"), ``kept`` is the sentence said after a
    write-back that failed, ``report`` receives each sentence for the agent, and
    ``errors`` are the store's own exceptions that reopening the file may raise.
    """

    def __init__(
        self,
        path: Path,
        what: str,
        kept: str,
        report: Callable[[str], None],
        errors: tuple[type[Exception], ...] = (),
    ) -> None:
        self.path = path
        self._what = what
        self._kept = kept
        self._report = report
        self._errors: tuple[type[Exception], ...] = (OSError, sqlite3.Error, *errors)
        self._opened = file_id(path)
        self._failing = False

    def check(
        self,
        conn: sqlite3.Connection,
        reopen: Callable[[], sqlite3.Connection],
        contents: Callable[[sqlite3.Connection], str],
    ) -> sqlite3.Connection:
        """The connection to use from now on (call it with the store's lock held).

        ``conn`` itself while the path still leads to its file. Otherwise the database is
        written back to the path and ``reopen()`` gives the new connection; the report
        ends "It was written again with every " + ``contents(new connection)``. If that
        fails (a full disk), ``conn`` is returned and the failure said once, until a
        later check succeeds.
        """
        if file_id(self.path) == self._opened:
            return conn
        gone = (
            f"The {self._what} file {self.path} was deleted or replaced while the app was running"
        )
        try:
            moved = restore_file(conn, self.path)
            self._opened = file_id(self.path)
            reopened = reopen()
        except self._errors as exc:
            if not self._failing:
                self._failing = True
                self._report(f"{gone}, and it could not be written again: {exc}. {self._kept}")
            return conn
        self._failing = False
        aside = f" The file found at that path was moved to {moved}." if moved else ""
        self._report(f"{gone}. It was written again with every {contents(reopened)}.{aside}")
        return reopened


class WatchedStore:
    """What every store (outbox, drafts, inbox) does alike around its SQLite file: open it
    (:func:`~smooch_desktop.core.sqlite_store.open_store`: a damaged file set aside),
    watch it (:class:`FileWatch`), report a write-back, reopen it, and close it after a
    last check (a deleted file is written back before the app lets go of the only copy),
    also with ``with``.

    A subclass sets ``_lock``, calls :meth:`_open` in its ``__init__`` and defines
    ``_check_file`` (what its file holds, for the sentences).
    """

    _lock: threading.Lock | threading.RLock
    _conn: sqlite3.Connection
    _closed: bool
    _path: Path
    _format: sqlite_store.StoreFormat
    _watch: FileWatch
    #: Where a damaged file was moved at opening (None: it wasn't).
    recovered_from: Path | None
    #: Called with a sentence for the agent when the file was found deleted or replaced
    #: and written back (or could not be).
    on_rewritten: Callable[[str], None] | None

    def _open(
        self,
        path: Path,
        fmt: sqlite_store.StoreFormat,
        what: str,
        kept: str,
        errors: tuple[type[Exception], ...],
    ) -> None:
        """Open ``path`` in ``fmt`` and start watching it (see :class:`FileWatch`)."""
        self._path = Path(path)
        self._format = fmt
        self._closed = False
        self.on_rewritten = None
        self._conn, self.recovered_from = sqlite_store.open_store(self._path, fmt)
        self._watch = FileWatch(self._path, what, kept, self._report, errors)

    @property
    def path(self) -> Path:
        return self._path

    def _reopen(self) -> sqlite3.Connection:
        return sqlite_store.connect(self._path, self._format)

    def _report(self, text: str) -> None:
        if self.on_rewritten is not None:
            self.on_rewritten(text)

    def _check_file(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close the database (after a last check of its file); calling it again is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(sqlite3.Error):
                self._check_file()
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
