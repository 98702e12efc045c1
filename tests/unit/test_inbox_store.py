"""The followed-conversations store (core/inbox.py) on a real SQLite file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from smooch_desktop.api.models import ROLE_BUSINESS, ROLE_USER, HistoryPage, Message
from smooch_desktop.core.inbox import (
    MAX_NAME,
    MAX_PREVIEW,
    ConversationKey,
    FollowReason,
    InboxStore,
    InboxTooNew,
)

P = "profile-1"
ALICE = ConversationKey(P, "alice")
BOB = ConversationKey(P, "bob")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[InboxStore]:
    with InboxStore(tmp_path / "data" / "inbox.sqlite3", clock=clock) as opened:
        yield opened


def msg(mid: str, at: float, role: str = ROLE_USER, text: str = "", **kw: str) -> Message:
    return Message(id=mid, role=role, text=text or f"text {mid}", received=at, **kw)  # type: ignore[arg-type]


def page(*messages: Message) -> HistoryPage:
    return HistoryPage(tuple(messages))


def raw_row(store: InboxStore, key: ConversationKey) -> tuple[object, ...]:
    """Every column of the row, as stored (to prove 'changes nothing')."""
    conn = store._conn
    row = conn.execute(
        "SELECT * FROM conversations WHERE profile = ? AND user_ref = ? AND conversation_id = ?",
        tuple(key),
    ).fetchone()
    return tuple(row)


def test_file_is_private_and_reopens_with_the_rows(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "d" / "inbox.sqlite3"
    with InboxStore(path, clock=clock) as first:
        first.follow(ALICE, FollowReason.OPENED, display_name="Alice", email="a@example.com")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    with InboxStore(path, clock=clock) as again:
        [row] = again.conversations(P)
    assert (row.key, row.display_name, row.email) == (ALICE, "Alice", "a@example.com")
    assert row.reasons == FollowReason.OPENED and row.last_activity == 1_000.0


def test_damaged_file_is_set_aside_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with InboxStore(path) as store:
        assert store.recovered_from is not None and store.recovered_from.exists()
        assert store.conversations(P) == []
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(InboxTooNew):
        InboxStore(path)


def test_first_page_is_a_baseline_then_only_new_end_user_messages_count(
    store: InboxStore,
) -> None:
    store.follow(ALICE, FollowReason.OPENED)
    first = page(msg("m1", 10.0), msg("m2", 20.0, ROLE_BUSINESS, "Hello from us"))
    update = store.apply_history(ALICE, first)
    assert update.changed and update.new_user_ids == ()
    row = store.get(ALICE)
    assert row is not None and row.unread == 0 and row.last_seen_id == "m2"
    assert row.preview.text == "Hello from us" and row.preview.role == ROLE_BUSINESS

    second = page(
        msg("m1", 10.0),
        msg("m2", 20.0, ROLE_BUSINESS),
        msg("m3", 30.0),
        msg("m4", 40.0, ROLE_BUSINESS),
        msg("m5", 50.0, text="  Are you\nthere?  "),
    )
    update = store.apply_history(ALICE, second)
    assert update.new_user_ids == ("m3", "m5") and update.new_messages == 3
    row = store.get(ALICE)
    assert row is not None and row.unread == 2
    assert row.preview.text == "Are you there?" and row.preview.at == 50.0
    assert store.unread_total(P) == 2


def test_the_same_page_twice_changes_nothing(store: InboxStore, clock: Clock) -> None:
    store.follow(ALICE, FollowReason.OPENED)
    store.apply_history(ALICE, page(msg("m1", 10.0)))
    newer = page(msg("m1", 10.0), msg("m2", 2_000.0), msg("m3", 2_001.0, ROLE_BUSINESS))
    assert store.apply_history(ALICE, newer).changed
    before = raw_row(store, ALICE)
    clock.now += 500
    for _ in range(3):
        assert store.apply_history(ALICE, newer) == (False, (), 0)
    assert raw_row(store, ALICE) == before
    assert store.unread_total(P) == 1


def test_empty_first_page_then_messages_count(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.OPENED)
    assert store.apply_history(ALICE, page()).changed
    assert not store.apply_history(ALICE, page()).changed
    update = store.apply_history(ALICE, page(msg("m1", 10.0)))
    assert update.new_user_ids == ("m1",)


def test_precreated_user_has_no_history_so_the_first_messages_are_unread(
    store: InboxStore,
) -> None:
    store.follow(BOB, FollowReason.PRECREATED)
    assert store.apply_history(BOB, page(msg("b1", 5.0))).new_user_ids == ("b1",)
    row = store.get(BOB)
    assert row is not None and row.unread == 1


def test_seen_message_out_of_the_page_falls_back_to_time(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.OPENED)
    store.apply_history(ALICE, page(msg("m1", 10.0), msg("m2", 20.0)))
    # m2 is no longer in the newest page (a full page of newer ones, or deleted)
    update = store.apply_history(ALICE, page(msg("m3", 30.0), msg("m4", 40.0)))
    assert update.new_user_ids == ("m3", "m4")
    # an older page (one that should not be passed) holds nothing newer: no change
    assert not store.apply_history(ALICE, page(msg("m1", 10.0), msg("m2", 20.0))).changed
    row = store.get(ALICE)
    assert row is not None and row.unread == 2 and row.last_seen_id == "m4"


def test_mark_read_clears_and_business_messages_never_count(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.PRECREATED)
    store.apply_history(ALICE, page(msg("m1", 1.0), msg("m2", 2.0)))
    assert store.mark_read(ALICE) and not store.mark_read(ALICE)
    store.apply_history(ALICE, page(msg("m2", 2.0), msg("m3", 3.0, ROLE_BUSINESS)))
    row = store.get(ALICE)
    assert row is not None and row.unread == 0 and row.preview.role == ROLE_BUSINESS


def test_unfollowed_key_is_left_alone(store: InboxStore) -> None:
    assert store.apply_history(ALICE, page(msg("m1", 1.0))) == (False, (), 0)
    assert store.get(ALICE) is None and not store.mark_read(ALICE) and not store.remove(ALICE)


def test_removed_comes_back_on_a_new_end_user_message_or_when_followed_again(
    store: InboxStore,
) -> None:
    store.follow(ALICE, FollowReason.PRECREATED)
    store.follow(BOB, FollowReason.PRECREATED)
    store.apply_history(ALICE, page(msg("m1", 1.0)))
    assert store.remove(ALICE) and not store.remove(ALICE)
    assert [r.key for r in store.conversations(P)] == [BOB]
    assert store.unread_total(P) == 0  # kept, but not counted while removed
    assert [r.key for r in store.conversations(P, include_removed=True)] == [ALICE, BOB]
    # the business's own message does not bring it back
    store.apply_history(ALICE, page(msg("m1", 1.0), msg("m2", 2.0, ROLE_BUSINESS)))
    assert ALICE not in [r.key for r in store.conversations(P)]
    # a new end-user message does
    store.apply_history(ALICE, page(msg("m2", 2.0, ROLE_BUSINESS), msg("m3", 3.0)))
    row = store.get(ALICE)
    assert row is not None and not row.removed and row.unread == 2
    store.remove(BOB)
    store.follow(BOB, FollowReason.OPENED)
    row = store.get(BOB)
    assert row is not None and not row.removed
    assert row.reasons == FollowReason.PRECREATED | FollowReason.OPENED


def test_reasons_add_and_drop(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.OUTBOX)
    store.follow(ALICE, FollowReason.LIVE_UPDATE)
    assert store.drop_reason(ALICE, FollowReason.OUTBOX)
    assert not store.drop_reason(ALICE, FollowReason.OUTBOX)
    row = store.get(ALICE)
    assert row is not None and row.reasons == FollowReason.LIVE_UPDATE


def test_list_sorted_by_last_activity(store: InboxStore, clock: Clock) -> None:
    for name, at in (("a", 100.0), ("b", 300.0), ("c", 200.0)):
        store.follow(ConversationKey(P, name), FollowReason.DEMO, at=at)
    assert [r.key.user_ref for r in store.conversations(P)] == ["b", "c", "a"]
    store.apply_history(ConversationKey(P, "a"), page(msg("x", 400.0)))
    assert [r.key.user_ref for r in store.conversations(P)] == ["a", "b", "c"]
    # a history older than when it was followed does not move it down
    store.apply_history(ConversationKey(P, "b"), page(msg("y", 1.0)))
    assert [r.key.user_ref for r in store.conversations(P)] == ["a", "b", "c"]
    # another profile's rows are not listed
    store.follow(ConversationKey("other", "z"), FollowReason.OPENED)
    assert len(store.conversations(P)) == 3


def test_filter_by_name_email_and_id_case_insensitively(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.OPENED, display_name="Zoë Ålander", email="ZOE@Example.com")
    store.follow(BOB, FollowReason.OPENED, display_name="Bob", email="bob@corp.test")
    store.follow(ConversationKey(P, "carol", "conv_42"), FollowReason.OPENED)

    def hits(query: str) -> list[str]:
        return [r.key.user_ref for r in store.conversations(P, query)]

    assert hits("zoë") == ["alice"] and hits("ÅLAND") == ["alice"]
    assert hits("example.COM") == ["alice"] and hits("corp") == ["bob"]
    assert hits("ali") == ["alice"] and hits("CONV_4") == ["carol"]
    assert hits("%") == [] and hits("_") == ["carol"]  # no LIKE wildcards
    assert sorted(hits("  ")) == ["alice", "bob", "carol"]
    assert hits("bob bob@corp") == []  # never across two fields
    assert hits("b\0ob") == ["bob"]  # a pasted NUL is not a field separator
    # a renamed user is found by the new name
    store.set_identity(BOB, display_name="Robert")
    assert hits("robert") == ["bob"]


def test_hostile_server_text_is_bounded_and_storable(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.OPENED, display_name="N" * 10_000 + "\ud800")
    store.apply_history(ALICE, page())
    store.apply_history(ALICE, page(msg("m\ud800", 1.0, text="x\ud83d" * 10_000)))
    row = store.get(ALICE)
    assert row is not None and len(row.display_name) == MAX_NAME
    assert len(row.preview.text) <= MAX_PREVIEW and "\ud83d" not in row.preview.text
    assert store.apply_history(ALICE, page(msg("m\ud800", 1.0))).changed is False


def test_preview_of_a_message_without_text_says_its_kind(store: InboxStore) -> None:
    store.follow(ALICE, FollowReason.PRECREATED)
    image = Message(id="i", role=ROLE_USER, type="image", received=1.0, author_name="Ann")
    store.apply_history(ALICE, page(image))
    row = store.get(ALICE)
    assert row is not None and row.preview.text == "Image" and row.preview.author == "Ann"


def test_deleted_file_is_written_back(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "inbox.sqlite3"
    said: list[str] = []
    with InboxStore(path, clock=clock) as store:
        store.on_rewritten = said.append
        store.follow(ALICE, FollowReason.OPENED)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store.follow(BOB, FollowReason.OPENED)
    assert said and "conversation list" in said[0]
    with InboxStore(path, clock=clock) as again:
        assert {r.key for r in again.conversations(P)} == {ALICE, BOB}


def test_follow_needs_a_profile_and_user(store: InboxStore) -> None:
    with pytest.raises(ValueError):
        store.follow(ConversationKey(P, ""), FollowReason.OPENED)


#: The inbox file as version 1 wrote it (before other conversations had names): kept
#: literally here, so the migration is tested from what users' files really hold.
_SCHEMA_1 = (
    "CREATE TABLE conversations ("
    " profile TEXT NOT NULL, user_ref TEXT NOT NULL, conversation_id TEXT NOT NULL,"
    " display_name TEXT NOT NULL DEFAULT '', email TEXT NOT NULL DEFAULT '',"
    " avatar_url TEXT NOT NULL DEFAULT '', preview_text TEXT NOT NULL DEFAULT '',"
    " preview_role TEXT NOT NULL DEFAULT '', preview_author TEXT NOT NULL DEFAULT '',"
    " preview_at REAL NOT NULL DEFAULT 0, last_activity REAL NOT NULL DEFAULT 0,"
    " unread INTEGER NOT NULL DEFAULT 0, synced INTEGER NOT NULL DEFAULT 0,"
    " last_seen_id TEXT NOT NULL DEFAULT '', last_seen_at REAL NOT NULL DEFAULT 0,"
    " reasons INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0,"
    " search TEXT NOT NULL DEFAULT '', followed_at REAL NOT NULL,"
    " PRIMARY KEY (profile, user_ref, conversation_id)) WITHOUT ROWID",
    "CREATE INDEX conversations_by_activity"
    " ON conversations (profile, removed, last_activity DESC)",
)


def test_a_version_1_file_is_migrated_in_place_without_losing_a_row(
    tmp_path: Path, clock: Clock
) -> None:
    import sqlite3

    path = tmp_path / "inbox.sqlite3"
    conn = sqlite3.connect(path)
    for statement in _SCHEMA_1:
        conn.execute(statement)
    columns = (
        "profile, user_ref, conversation_id, display_name, email, preview_text, preview_role,"
        " preview_at, last_activity, unread, synced, last_seen_id, last_seen_at, reasons,"
        " removed, search, followed_at"
    )
    rows = [
        (P, "alice", "", "Alice", "a@example.com", "Hi", "user", 900.0, 900.0, 2, 1, "m1",
         900.0, 1, 0, "alice\0a@example.com\0alice\0", 800.0),
        (P, "bob", "", "", "", "Done", "business", 700.0, 700.0, 0, 1, "m9", 700.0, 16, 1,
         "\0\0bob\0", 600.0),
        ("other", "carol", "c-77", "Carol", "", "", "", 0.0, 500.0, 0, 0, "", 0.0, 4, 0,
         "carol\0\0carol\0c-77", 500.0),
    ]  # fmt: skip
    conn.executemany(f"INSERT INTO conversations ({columns}) VALUES ({', '.join('?' * 17)})", rows)
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()

    with InboxStore(path, clock=clock) as store:
        assert store.recovered_from is None  # migrated, not set aside
        [alice] = store.conversations(P)
        assert (alice.display_name, alice.unread, alice.last_seen_id) == ("Alice", 2, "m1")
        assert alice.preview.text == "Hi" and alice.reasons == FollowReason.OPENED
        [_, bob] = store.conversations(P, include_removed=True)
        assert bob.removed and bob.preview.role == "business" and bob.label == "bob"
        assert store.unread_total(P) == 2
        carol = store.get(ConversationKey("other", "carol", "c-77"))
        assert carol is not None and carol.conversation_name == ""
        assert carol.label == "Carol · Conversation c-77"
        assert store.conversations("other", "carol")  # the old search text still matches
        assert store.set_identity(carol.key, conversation_name="Billing")
        assert store.conversations("other", "billing")[0].label == "Carol · Billing"
        assert store.apply_history(ALICE, page(msg("m1", 900.0), msg("m2", 950.0))).changed
        assert getattr(store.get(ALICE), "unread", 0) == 3
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 2
    assert check.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 3
    check.close()


def test_other_conversations_are_named_and_main_only_leaves_them_out(
    store: InboxStore, clock: Clock
) -> None:
    returns = ConversationKey(P, "chloe", "5e1f000c0000000000000067")
    unnamed = ConversationKey(P, "chloe", "5e1f000c0000000000000068")
    main = ConversationKey(P, "chloe")
    store.follow(main, FollowReason.OPENED, display_name="Chloé Martin")
    store.follow(returns, FollowReason.OPENED, display_name="Chloé Martin",
                 conversation_name="Returns")  # fmt: skip
    store.follow(unnamed, FollowReason.LIVE_UPDATE)
    # The main one has no conversation name, whatever is passed.
    store.set_identity(main, conversation_name="Not mine")
    rows = {r.key: r for r in store.conversations(P)}
    assert rows[main].label == "Chloé Martin" and rows[main].conversation_name == ""
    assert rows[returns].label == "Chloé Martin · Returns"
    assert rows[unnamed].label == "chloe · Conversation 5e1f000c000…"
    long = ConversationKey(P, "chloe", "x")
    store.follow(long, FollowReason.OPENED, conversation_name="R" * 300 + "\n tail")
    row = store.get(long)
    assert row is not None and len(row.conversation_name) == MAX_NAME
    assert row.conversation_label == "R" * 59 + "…"
    # Filtering finds a conversation by its name; main_only is the main ones (v1.1).
    assert [r.key for r in store.conversations(P, "RETURNS")] == [returns]
    assert [r.key for r in store.conversations(P, main_only=True)] == [main]
    for key in (returns, unnamed):
        store.apply_pushed(key, msg(f"n-{key[2]}", 2_000.0))
    assert store.unread_total(P) == 2 and store.unread_total(P, main_only=True) == 0
