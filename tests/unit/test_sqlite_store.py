"""Opening a store's SQLite file (core.sqlite_store): privacy, the migration ladder, set-aside.

Real files in a temp folder; the steps are small schema changes that record their order.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from smooch_desktop.core import sqlite_store
from smooch_desktop.core.drafts import DraftStore, DraftStoreTooNew
from smooch_desktop.core.outbox import Outbox, OutboxError, OutboxTooNew
from smooch_desktop.core.sqlite_store import StoreFormat, StoreTooNew

POSIX = os.name == "posix"


class Ladder:
    """A format whose steps each add one column ``cN`` and note that they ran."""

    def __init__(self, steps: int, *, failing: int | None = None) -> None:
        self.ran: list[str] = []
        self._failing = failing
        self.format = StoreFormat(
            create=self._create,
            steps=tuple(self._step(n) for n in range(1, steps + 1)),
            too_new=StoreTooNew,
            synchronous="NORMAL",
            timeout_s=0.2,
        )

    def _create(self, conn: sqlite3.Connection) -> None:
        self.ran.append("create")
        columns = "".join(f", c{n} INTEGER" for n in range(2, self.format.version + 1))
        conn.execute(f"CREATE TABLE t (c1 TEXT{columns})")
        conn.execute("INSERT INTO t (c1) VALUES ('row')")

    def _step(self, n: int) -> Callable[[sqlite3.Connection], None]:
        def step(conn: sqlite3.Connection) -> None:
            self.ran.append(f"{n}->{n + 1}")
            conn.execute(f"ALTER TABLE t ADD COLUMN c{n + 1} INTEGER")
            conn.execute(f"UPDATE t SET c{n + 1} = {n + 1}")
            if n == self._failing:
                raise RuntimeError(f"step {n} failed")

        return step


def file_at(path: Path, version: int) -> Path:
    """A store file as the code of schema ``version`` left it (closed, checkpointed)."""
    ladder = Ladder(version - 1)
    conn = sqlite_store.connect(path, ladder.format)
    conn.close()
    return path


def columns(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(t)")]
    finally:
        conn.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


# --- the ladder ----------------------------------------------------------------------------------


def test_an_empty_file_gets_the_newest_schema_without_climbing(tmp_path: Path) -> None:
    ladder = Ladder(3)
    conn = sqlite_store.connect(tmp_path / "s.sqlite3", ladder.format)
    conn.close()
    assert ladder.ran == ["create"]
    assert user_version(tmp_path / "s.sqlite3") == 4
    assert columns(tmp_path / "s.sqlite3") == ["c1", "c2", "c3", "c4"]


@pytest.mark.parametrize(
    ("start", "expected"),
    [(1, ["1->2", "2->3", "3->4"]), (2, ["2->3", "3->4"]), (3, ["3->4"]), (4, [])],
)
def test_the_ladder_runs_only_the_missing_steps_in_order(
    tmp_path: Path, start: int, expected: list[str]
) -> None:
    path = file_at(tmp_path / "s.sqlite3", start)
    ladder = Ladder(3)
    conn = sqlite_store.connect(path, ladder.format)
    try:
        assert conn.execute("SELECT c1, c4 FROM t").fetchall() == [
            ("row", 4 if start < 4 else None)
        ]
    finally:
        conn.close()
    assert ladder.ran == expected
    assert user_version(path) == 4
    assert columns(path) == ["c1", "c2", "c3", "c4"]


def test_a_failing_step_leaves_the_file_at_its_old_version_untouched(tmp_path: Path) -> None:
    path = file_at(tmp_path / "s.sqlite3", 1)
    before = path.read_bytes()
    ladder = Ladder(3, failing=2)
    with pytest.raises(RuntimeError, match="step 2 failed"):
        sqlite_store.connect(path, ladder.format)
    assert ladder.ran == ["1->2", "2->3"]
    # One transaction: step 1's change is rolled back with step 2's.
    assert user_version(path) == 1
    assert columns(path) == ["c1"]
    assert path.read_bytes() == before
    # The next start (with the step fixed) climbs from where the file really is.
    fixed = Ladder(3)
    sqlite_store.connect(path, fixed.format).close()
    assert fixed.ran == ["1->2", "2->3", "3->4"]


def test_a_file_from_a_newer_version_is_refused_not_downgraded(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = file_at(tmp_path / "data" / "s.sqlite3", 5)
    before = path.read_bytes()
    ladder = Ladder(1)
    with pytest.raises(StoreTooNew, match=r"newer Smooch Desktop \(schema 5\)"):
        sqlite_store.open_store(path, ladder.format)
    assert ladder.ran == []
    assert path.read_bytes() == before
    assert user_version(path) == 5
    assert [p.name for p in path.parent.iterdir()] == ["s.sqlite3"]  # nothing set aside


def test_a_newer_file_keeps_even_its_journal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(path)  # rollback journal, as another tool might leave it
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreTooNew):
        sqlite_store.connect(path, Ladder(1).format)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("store", "too_new", "base"),
    [(Outbox, OutboxTooNew, OutboxError), (DraftStore, DraftStoreTooNew, RuntimeError)],
)
def test_each_store_refuses_a_newer_file_with_its_own_error(
    tmp_path: Path, store: Callable[[Path], object], too_new: type[Exception], base: type[Exception]
) -> None:
    # The start-up catches these by the store's own class; they are StoreTooNew too.
    path = file_at(tmp_path / "s.sqlite3", 99)
    with pytest.raises(too_new) as info:
        store(path)
    assert isinstance(info.value, StoreTooNew) and isinstance(info.value, base)
    assert str(info.value) == f"{path} was written by a newer Smooch Desktop (schema 99)."


# --- privacy and settings ------------------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_new_file_is_private_in_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "s.sqlite3"
    conn, aside = sqlite_store.open_store(path, Ladder(1).format)
    try:
        conn.execute("INSERT INTO t (c1) VALUES ('x')")
        assert aside is None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(f"{path}-wal").stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        conn.close()


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_wal_and_the_stores_synchronous_setting(
    tmp_path: Path, synchronous: str, level: int
) -> None:
    fmt = StoreFormat(
        create=lambda conn: None,
        steps=(),
        too_new=StoreTooNew,
        synchronous="FULL" if synchronous == "FULL" else "NORMAL",
        timeout_s=1.0,
    )
    conn = sqlite_store.connect(tmp_path / "s.sqlite3", fmt)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == level
        assert conn.isolation_level is None  # BEGIN/COMMIT are the store's
    finally:
        conn.close()


# --- a damaged file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_a_damaged_file_is_set_aside_and_a_fresh_one_started(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(content)
    ladder = Ladder(2)
    conn, aside = sqlite_store.open_store(path, ladder.format)
    conn.close()
    assert aside is not None
    assert re.fullmatch(r"store\.sqlite3\.corrupt-\d{8}-\d{6}", aside.name)
    assert aside.parent == path.parent
    assert aside.read_bytes() == content  # kept, byte for byte
    assert ladder.ran == ["create"]
    assert user_version(path) == 3


def test_a_locked_file_is_not_taken_for_a_damaged_one(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "s.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)  # another app instance, say
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite_store.open_store(path, Ladder(1).format)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "corrupt" not in " ".join(p.name for p in path.parent.iterdir())


def test_set_aside_takes_the_wal_and_shm_along(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    for suffix, data in (("", b"main"), ("-wal", b"wal"), ("-shm", b"shm")):
        Path(f"{path}{suffix}").write_bytes(data)
    aside = sqlite_store.set_aside(path)
    assert re.fullmatch(r"store\.sqlite3\.corrupt-\d{8}-\d{6}", aside.name)
    assert [Path(f"{aside}{s}").read_bytes() for s in ("", "-wal", "-shm")] == [
        b"main",
        b"wal",
        b"shm",
    ]
    assert not any(Path(f"{path}{s}").exists() for s in ("", "-wal", "-shm"))


def test_a_damaged_file_keeps_the_commits_of_its_wal_beside_it(tmp_path: Path) -> None:
    """After a crash the newest messages are in the ``-wal`` only; if the main file is
    then found damaged, that ``-wal`` goes aside with it (SQLite itself deletes it when
    the failed connection closes), so the messages can still be recovered from it."""
    import shutil

    from smooch_desktop.api.models import OutgoingMessage

    source = tmp_path / "live" / "outbox.sqlite3"
    source.parent.mkdir()
    with Outbox(source) as outbox:
        outbox.enqueue("p", "u", OutgoingMessage("checkpointed"))
    live = Outbox(source)
    try:
        live.enqueue("p", "u", OutgoingMessage("only in the wal"))
        path = tmp_path / "outbox.sqlite3"
        shutil.copyfile(source, path)  # the files as a crash right now would leave them
        wal = Path(f"{source}-wal").read_bytes()
        Path(f"{path}-wal").write_bytes(wal)
    finally:
        live.close()
    assert b"only in the wal" in wal
    path.write_bytes(b"not a database any more " * 200)  # the main file is damaged

    with Outbox(path) as fresh:
        aside = fresh.recovered_from
        assert aside is not None and fresh.all_entries() == []
    assert Path(f"{aside}-wal").read_bytes() == wal
    assert not Path(f"{path}-wal.before-open").exists()
    if POSIX:
        assert stat.S_IMODE(Path(f"{aside}-wal").stat().st_mode) == 0o600


def test_a_healthy_file_opened_after_a_crash_leaves_no_copy_of_its_wal(tmp_path: Path) -> None:
    from smooch_desktop.api.models import OutgoingMessage

    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.enqueue("p", "u", OutgoingMessage("kept"))
    Path(f"{path}-wal").write_bytes(b"")  # an empty -wal: nothing to copy
    with Outbox(path) as again:
        assert [e.message.text for e in again.all_entries()] == ["kept"]
    assert sorted(p.name for p in tmp_path.iterdir() if "before-open" in p.name) == []
