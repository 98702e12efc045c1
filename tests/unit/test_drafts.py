"""Drafts in SQLite: round trips, re-open, a process killed mid-write, odd text.

Also covers ``core.paths``, which decides where the drafts database lives.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smooch_desktop.core import paths
from smooch_desktop.core.drafts import DraftStore, DraftStoreTooNew

POSIX = os.name == "posix"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "drafts.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[DraftStore]:
    with DraftStore(db_path) as opened:
        yield opened


def test_missing_draft_is_empty(store: DraftStore) -> None:
    assert store.load("prod", "user-1") == ""
    assert store.all("prod") == {}


def test_save_load_overwrite(store: DraftStore) -> None:
    store.save("prod", "user-1", "Hello")
    assert store.load("prod", "user-1") == "Hello"
    store.save("prod", "user-1", "Hello there")
    assert store.load("prod", "user-1") == "Hello there"


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_saving_empty_text_deletes(store: DraftStore, empty: str) -> None:
    store.save("prod", "user-1", "Hello")
    store.save("prod", "user-1", empty)
    assert store.load("prod", "user-1") == ""
    assert store.all("prod") == {}


def test_delete_and_delete_missing(store: DraftStore) -> None:
    store.save("prod", "user-1", "Hello")
    store.delete("prod", "user-1")
    store.delete("prod", "user-1")
    store.delete("nope", "nobody")
    assert store.load("prod", "user-1") == ""


def test_profiles_and_users_are_separate(store: DraftStore) -> None:
    store.save("prod", "u1", "prod u1")
    store.save("prod", "u2", "prod u2")
    store.save("staging", "u1", "staging u1")
    assert store.all("prod") == {"u1": "prod u1", "u2": "prod u2"}
    assert store.all("staging") == {"u1": "staging u1"}
    assert store.load("staging", "u2") == ""


def test_all_is_newest_first(store: DraftStore, monkeypatch: pytest.MonkeyPatch) -> None:
    now = iter([100.0, 300.0, 200.0])
    monkeypatch.setattr("smooch_desktop.core.drafts.time.time", lambda: next(now))
    store.save("p", "a", "first")
    store.save("p", "b", "second")
    store.save("p", "c", "third")
    assert list(store.all("p")) == ["b", "c", "a"]


@pytest.mark.parametrize(
    "text",
    [
        "مرحبا 🙂 👨‍👩‍👧 Ünïcödé 山田",
        "with\x00nul\x00chars",
        "\x00",
        "tabs\tand\r\nline\rendings\n",
        "x" * 100_000,
        "🙂" * 100_000,
        "'; DROP TABLE drafts; --",
    ],
)
def test_text_is_stored_exactly(store: DraftStore, db_path: Path, text: str) -> None:
    store.save("p", "u", text)
    assert store.load("p", "u") == text
    store.close()
    with DraftStore(db_path) as reopened:
        assert reopened.load("p", "u") == text


@pytest.mark.parametrize("key", ["a/../b", "", "🙂", "x\x00y", "x" * 10_000])
def test_odd_keys(store: DraftStore, key: str) -> None:
    store.save(key, key, "text")
    assert store.load(key, key) == "text"
    assert store.all(key) == {key: "text"}


def test_lone_surrogates_become_replacement_characters(store: DraftStore) -> None:
    store.save("p", "u", "a\ud800b")
    assert store.load("p", "u") == "a\ufffdb"


def test_survives_reopen(db_path: Path) -> None:
    first = DraftStore(db_path)
    first.save("prod", "u1", "kept across restarts")
    first.close()
    second = DraftStore(db_path)
    assert second.load("prod", "u1") == "kept across restarts"
    assert second.recovered_from is None
    second.close()


def test_close_is_idempotent_and_later_use_fails(db_path: Path) -> None:
    store = DraftStore(db_path)
    store.close()
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.load("p", "u")


def test_uses_a_wal_journal(store: DraftStore, db_path: Path) -> None:
    store.save("p", "u", "x")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_database_file_is_private(store: DraftStore, db_path: Path) -> None:
    store.save("p", "u", "x")
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    wal = Path(f"{db_path}-wal")
    assert wal.exists()
    assert stat.S_IMODE(wal.stat().st_mode) & 0o077 == 0


def test_threads_can_share_a_store(store: DraftStore) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(100):
                store.save("p", f"user{worker}", f"{worker}:{i}")
                assert store.load("p", f"user{worker}") == f"{worker}:{i}"
                store.all("p")
        except BaseException as exc:  # collected and asserted on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.all("p") == {f"user{n}": f"{n}:99" for n in range(8)}


def test_garbage_file_is_moved_aside(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database" * 500)
    with DraftStore(db_path) as store:
        assert store.recovered_from is not None
        assert store.recovered_from.read_bytes().startswith(b"this is not a database")
        assert store.recovered_from.parent == db_path.parent
        store.save("p", "u", "fresh start")
        assert store.load("p", "u") == "fresh start"


def test_newer_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    DraftStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(DraftStoreTooNew):
        DraftStore(db_path)
    assert db_path.read_bytes() == before
    assert sorted(p.name for p in db_path.parent.iterdir() if "corrupt" in p.name) == []


WRITER = """
import sys
from pathlib import Path
from smooch_desktop.core.drafts import DraftStore

store = DraftStore(Path(sys.argv[1]))
start = int(sys.argv[2])
i = start
while True:
    i += 1
    store.save("prod", "user-1", f"draft {i} " + "x" * (i % 5000))
    store.save("prod", f"other-{i % 40}", f"other {i}")
    print(i, flush=True)
"""


def test_kill_9_mid_writes_leaves_the_last_committed_draft(db_path: Path) -> None:
    last_seen = 0
    for _round in range(3):
        with subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), str(last_seen)],
            stdout=subprocess.PIPE,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            target = last_seen + 300
            for line in proc.stdout:
                last_seen = int(line)
                if last_seen >= target:
                    break
            proc.kill()  # SIGKILL on POSIX: no cleanup, no close()
            proc.wait(timeout=30)
        assert last_seen >= target

        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        with DraftStore(db_path) as store:
            assert store.recovered_from is None
            text = store.load("prod", "user-1")
            number = int(text.split()[1])
            # Printed only after the commit; the writer may have committed one or two more.
            assert number >= last_seen
            assert text == f"draft {number} " + "x" * (number % 5000)
            assert len(store.all("prod")) == 41
            last_seen = number


# --- where the drafts live (core.paths) --------------------------------------------


def test_default_path_uses_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "d"))
    assert DraftStore.default_path() == tmp_path / "d" / "drafts.sqlite3"
    assert (tmp_path / "d").is_dir()


def test_data_and_cache_dir_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "data" / "nested"))
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    assert paths.data_dir() == tmp_path / "data" / "nested"
    assert paths.cache_dir() == tmp_path / "cache"
    assert paths.data_dir().is_dir() and paths.cache_dir().is_dir()


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_new_directories_are_private_existing_ones_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_umask = os.umask(0o022)
    try:
        monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "new"))
        assert stat.S_IMODE(paths.data_dir().stat().st_mode) == 0o700
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        monkeypatch.setenv(paths.CACHE_DIR_ENV, str(shared))
        assert stat.S_IMODE(paths.cache_dir().stat().st_mode) == 0o755
    finally:
        os.umask(old_umask)


def test_xdg_defaults() -> None:
    home = Path("/home/ada")
    env: dict[str, str] = {}
    assert paths.default_data_dir(platform="linux", environ=env, home=home) == Path(
        "/home/ada/.local/share/smooch-desktop"
    )
    assert paths.default_cache_dir(platform="linux", environ=env, home=home) == Path(
        "/home/ada/.cache/smooch-desktop"
    )
    env = {"XDG_DATA_HOME": "/xdg/data", "XDG_CACHE_HOME": "/xdg/cache"}
    assert paths.default_data_dir(platform="linux", environ=env, home=home) == Path(
        "/xdg/data/smooch-desktop"
    )
    assert paths.default_cache_dir(platform="freebsd14", environ=env, home=home) == Path(
        "/xdg/cache/smooch-desktop"
    )
    relative = {"XDG_DATA_HOME": "relative/dir", "XDG_CACHE_HOME": ""}
    assert paths.default_data_dir(platform="linux", environ=relative, home=home) == Path(
        "/home/ada/.local/share/smooch-desktop"
    )
    assert paths.default_cache_dir(platform="linux", environ=relative, home=home) == Path(
        "/home/ada/.cache/smooch-desktop"
    )


def test_windows_defaults() -> None:
    home = Path("/users/ada")
    env = {"LOCALAPPDATA": "/appdata/local"}
    assert paths.default_data_dir(platform="win32", environ=env, home=home) == Path(
        "/appdata/local/smooch-desktop"
    )
    assert paths.default_cache_dir(platform="win32", environ=env, home=home) == Path(
        "/appdata/local/smooch-desktop/Cache"
    )
    assert paths.default_data_dir(platform="win32", environ={}, home=home) == Path(
        "/users/ada/AppData/Local/smooch-desktop"
    )


def test_macos_defaults() -> None:
    home = Path("/Users/ada")
    env = {"XDG_DATA_HOME": "/ignored"}
    assert paths.default_data_dir(platform="darwin", environ=env, home=home) == Path(
        "/Users/ada/Library/Application Support/smooch-desktop"
    )
    assert paths.default_cache_dir(platform="darwin", environ=env, home=home) == Path(
        "/Users/ada/Library/Caches/smooch-desktop"
    )


def test_real_defaults_without_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(paths.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    data, cache = paths.data_dir(), paths.cache_dir()
    assert data.is_dir() and cache.is_dir()
    assert tmp_path in data.parents and tmp_path in cache.parents
    assert data.name == "smooch-desktop"


def test_an_attached_structure_is_kept_per_user_counted_and_deleted_with_the_profile(
    tmp_path: Path,
) -> None:
    with DraftStore(tmp_path / "drafts.sqlite3") as drafts:
        drafts.save_structure("p", "alice", '{"type": "carousel"}')
        drafts.save("p", "alice", "text too")
        drafts.save_structure("p", "bob", '{"type": "list"}')
        assert drafts.load_structure("p", "alice") == '{"type": "carousel"}'
        assert drafts.load_structure("q", "alice") == ""
        assert drafts.count("p") == 2  # alice (text and card) and bob (card only)
        drafts.save_structure("p", "bob", "")
        assert drafts.load_structure("p", "bob") == "" and drafts.count("p") == 1
        drafts.save_structure("p", "bob", '{"type": "list"}')
        assert drafts.delete_profile("p") == 2
        assert drafts.load_structure("p", "alice") == "" and drafts.load("p", "alice") == ""
    with DraftStore(tmp_path / "drafts.sqlite3") as again:
        assert again.count("p") == 0
