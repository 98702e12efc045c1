"""What the outbox and drafts do when their file is deleted or replaced under them.

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
import time
from pathlib import Path

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
