"""``core.inbox.read_listed``: the list the first frame shows, read from the file the last
run left without opening the store (docs/architecture.md#start-up)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smooch_desktop.api.models import HistoryPage, Message
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore, read_listed


def kept_list(path: Path) -> InboxStore:
    store = InboxStore(path)
    for n, user in enumerate(("old", "new", "gone")):
        key = ConversationKey("p1", user)
        store.follow(key, FollowReason.OPENED, display_name=user.title(), at=100.0 + n)
        message = Message(id=f"m{n}", role="user", text=f"text {n}", received=200.0 + n)
        store.apply_history(key, HistoryPage((message,)))
    store.remove(ConversationKey("p1", "gone"))
    store.follow(ConversationKey("p2", "other"), FollowReason.OPENED)
    return store


def test_it_gives_the_rows_the_store_lists_for_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = kept_list(path)
    try:
        expected = store.conversations("p1")
    finally:
        store.close()
    rows = read_listed(path, "p1")
    assert rows == expected
    assert [row.key.user_ref for row in rows] == ["new", "old"]
    assert rows[0].preview.text == "text 1"
    assert read_listed(path, "nobody") == []


def test_it_reads_while_the_store_is_open_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = kept_list(path)
    try:
        before = sorted(p.name for p in tmp_path.iterdir())
        assert [row.key.user_ref for row in read_listed(path, "p1")] == ["new", "old"]
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    finally:
        store.close()


def test_no_file_a_damaged_one_or_another_version_gives_an_empty_list(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    assert read_listed(missing, "p1") == []
    assert not missing.exists()  # nothing created: the store does that when it opens

    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database" * 100)
    assert read_listed(damaged, "p1") == []
    assert damaged.read_bytes() == b"not a database" * 100  # not set aside, not changed

    newer = tmp_path / "newer.sqlite3"
    kept_list(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    assert read_listed(newer, "p1") == []


def test_a_folder_name_with_uri_characters_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "a b?c#d%20e&mode=rwc"
    folder.mkdir()
    path = folder / "inbox.sqlite3"
    kept_list(path).close()
    assert [row.key.user_ref for row in read_listed(path, "p1")] == ["new", "old"]


def test_main_only_leaves_out_a_users_other_conversations(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = kept_list(path)
    store.follow(ConversationKey("p1", "new", "conv-2"), FollowReason.OPENED, at=500.0)
    store.close()
    everything = [(row.key.user_ref, row.key.conversation_id) for row in read_listed(path, "p1")]
    assert everything == [("new", "conv-2"), ("new", ""), ("old", "")]
    main = read_listed(path, "p1", main_only=True)
    assert [(row.key.user_ref, row.key.conversation_id) for row in main] == [
        ("new", ""),
        ("old", ""),
    ]
