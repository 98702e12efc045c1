"""The persistent outbox: state machine, ordering, persistence and crash atomicity."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.core.outbox import (
    SENT_RETENTION_S,
    EntryNotFound,
    EntryState,
    Outbox,
    OutboxEntry,
    OutboxStateError,
    OutboxTooNew,
)


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3", clock=clock)
    yield box
    box.close()


def msg(text: str = "Hello") -> OutgoingMessage:
    return OutgoingMessage(text=text, sender=Sender(name="Alice", email="alice@example.com"))


def failed(outbox: Outbox, entry: OutboxEntry) -> OutboxEntry:
    outbox.mark_sending(entry.client_id)
    return outbox.mark_failed(
        entry.client_id, status=400, code="bad_request", text="Text too long", retryable=False
    )


# --- enqueue and reading ------------------------------------------------------------------


def test_enqueue_returns_a_queued_entry_with_its_id_in_the_metadata(outbox: Outbox) -> None:
    entry = outbox.enqueue("prod", "user-1", msg())
    assert entry.state is EntryState.QUEUED
    assert len(entry.client_id) == 32
    int(entry.client_id, 16)
    assert entry.message.metadata[CLIENT_ID_METADATA_KEY] == entry.client_id
    assert entry.wire_id == entry.client_id
    assert entry.message.text == "Hello"
    assert entry.message.sender == Sender(name="Alice", email="alice@example.com")
    assert entry.attempts == 0
    assert entry.next_attempt_at is None
    assert entry.created_at == entry.updated_at == 1_000.0
    assert outbox.get(entry.client_id) == entry


def test_enqueue_keeps_the_callers_metadata(outbox: Outbox) -> None:
    message = OutgoingMessage(text="x", metadata={"ticket": 42, "vip": True})
    entry = outbox.enqueue("prod", "u", message)
    assert entry.message.metadata == {
        "ticket": 42,
        "vip": True,
        CLIENT_ID_METADATA_KEY: entry.client_id,
    }
    assert message.metadata == {"ticket": 42, "vip": True}  # caller's object untouched


def test_enqueue_needs_profile_and_user(outbox: Outbox) -> None:
    with pytest.raises(ValueError):
        outbox.enqueue("", "u", msg())
    with pytest.raises(ValueError):
        outbox.enqueue("p", "", msg())
    assert outbox.all_entries() == []


def test_lone_surrogates_become_replacement_characters(outbox: Outbox) -> None:
    entry = outbox.enqueue("p", "u", msg("bad \ud800 half"))
    assert entry.message.text == "bad \ufffd half"


def test_seq_orders_entries_per_user_and_profile(outbox: Outbox) -> None:
    a1 = outbox.enqueue("p", "a", msg("a1"))
    b1 = outbox.enqueue("p", "b", msg("b1"))
    a2 = outbox.enqueue("p", "a", msg("a2"))
    other = outbox.enqueue("q", "a", msg("other profile"))
    assert a1.seq < b1.seq < a2.seq < other.seq
    assert [e.message.text for e in outbox.entries_for("p", "a")] == ["a1", "a2"]
    assert [e.message.text for e in outbox.active("p")] == ["a1", "b1", "a2"]
    assert [e.message.text for e in outbox.all_entries("q")] == ["other profile"]


def test_the_conversation_is_stored_with_the_entry_and_survives_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        main = outbox.enqueue("p", "a", msg("to the main one"))
        other = outbox.enqueue("p", "a", msg("to the other one"), conversation_id="c2")
        assert (main.conversation_id, other.conversation_id) == ("", "c2")
        outbox.mark_sending(other.client_id)
        outbox.mark_failed(other.client_id, status=400, code="x", text="no", retryable=False)
        edited = outbox.edit(other.client_id, "again")
        assert edited.conversation_id == "c2"
    with Outbox(path) as again:
        assert [(e.message.text, e.conversation_id) for e in again.entries_for("p", "a")] == [
            ("to the main one", ""),
            ("again", "c2"),
        ]


def test_active_excludes_sent_and_failed(outbox: Outbox) -> None:
    sent = outbox.enqueue("p", "u", msg("sent"))
    outbox.mark_sending(sent.client_id)
    outbox.mark_sent(sent.client_id, "srv1", 1_001.0)
    failed(outbox, outbox.enqueue("p", "u", msg("failed")))
    unknown = outbox.enqueue("p", "u", msg("unknown"))
    outbox.mark_sending(unknown.client_id)
    outbox.mark_unknown(unknown.client_id, "timed out")
    sending = outbox.enqueue("p", "u", msg("sending"))
    outbox.mark_sending(sending.client_id)
    outbox.enqueue("p", "u", msg("queued"))
    assert [e.message.text for e in outbox.active("p")] == ["unknown", "sending", "queued"]


def test_get_unknown_id_is_none_and_changes_raise(outbox: Outbox) -> None:
    assert outbox.get("nope") is None
    with pytest.raises(EntryNotFound):
        outbox.mark_sending("nope")
    with pytest.raises(KeyError):  # EntryNotFound is a KeyError too
        outbox.discard("nope")


# --- the state machine --------------------------------------------------------------------


def test_happy_path_records_attempt_and_server_id(outbox: Outbox, clock: FakeClock) -> None:
    entry = outbox.enqueue("p", "u", msg())
    clock.now = 1_005.0
    sending = outbox.mark_sending(entry.client_id)
    assert sending.state is EntryState.SENDING
    assert sending.attempts == 1
    assert sending.first_attempt_at == sending.last_attempt_at == 1_005.0
    clock.now = 1_006.0
    sent = outbox.mark_sent(entry.client_id, "5f0000000000000000000001", 1_005.5)
    assert sent.state is EntryState.SENT
    assert (sent.server_id, sent.sent_at, sent.updated_at) == (
        "5f0000000000000000000001",
        1_005.5,
        1_006.0,
    )
    assert sent.is_terminal


def test_backoff_keeps_first_attempt_and_counts_attempts(outbox: Outbox, clock: FakeClock) -> None:
    entry = outbox.enqueue("p", "u", msg())
    outbox.mark_sending(entry.client_id)
    scheduled = outbox.schedule(
        entry.client_id, 1_010.0, "Rate limited by the server", status=429, code="throttled"
    )
    assert scheduled.state is EntryState.QUEUED
    assert scheduled.next_attempt_at == 1_010.0
    assert (scheduled.error_text, scheduled.error_status, scheduled.error_code) == (
        "Rate limited by the server",
        429,
        "throttled",
    )
    assert scheduled.retryable
    clock.now = 1_010.0
    again = outbox.mark_sending(entry.client_id)
    assert again.attempts == 2
    assert again.first_attempt_at == 1_000.0
    assert again.last_attempt_at == 1_010.0
    assert again.next_attempt_at is None


def test_unknown_can_be_confirmed_resent_or_failed(outbox: Outbox) -> None:
    a, b, c = (outbox.enqueue("p", "u", msg(t)) for t in "abc")
    for entry in (a, b, c):
        outbox.mark_sending(entry.client_id)
        unknown = outbox.mark_unknown(entry.client_id, "Read timed out", verify_at=1_002.0)
        assert unknown.state is EntryState.UNKNOWN
        assert unknown.next_attempt_at == 1_002.0
        assert outbox.count_verification(entry.client_id).verifications == 1
    assert outbox.mark_sent(a.client_id, "srv", 1.0).state is EntryState.SENT
    assert outbox.schedule(b.client_id, 1_000.0, "not there").state is EntryState.QUEUED
    assert outbox.mark_sending(b.client_id).attempts == 2
    gave_up = outbox.mark_failed(
        c.client_id, status=None, code="delivery_unconfirmed", text="?", retryable=True
    )
    assert gave_up.state is EntryState.FAILED


def test_failed_keeps_text_and_server_error(outbox: Outbox) -> None:
    entry = failed(outbox, outbox.enqueue("p", "u", msg("my long reply")))
    assert entry.state is EntryState.FAILED
    assert entry.message.text == "my long reply"
    assert (entry.error_status, entry.error_code, entry.error_text) == (
        400,
        "bad_request",
        "Text too long",
    )
    assert not entry.retryable


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("queued", "mark_sent"),
        ("queued", "mark_unknown"),
        ("queued", "mark_failed"),
        ("queued", "retry"),
        ("queued", "edit"),
        ("sending", "mark_sending"),
        ("sending", "discard"),
        ("sending", "retry"),
        ("sending", "due_now"),
        ("sent", "mark_sending"),
        ("sent", "mark_sent"),
        ("sent", "schedule"),
        ("sent", "retry"),
        ("failed", "mark_sending"),
        ("failed", "schedule"),
        ("failed", "due_now"),
        ("unknown", "edit"),
    ],
)
def test_invalid_transitions_are_refused_and_change_nothing(
    outbox: Outbox, setup: str, action: str
) -> None:
    entry = outbox.enqueue("p", "u", msg())
    cid = entry.client_id
    if setup != "queued":
        outbox.mark_sending(cid)
    if setup == "sent":
        outbox.mark_sent(cid, "srv", 1.0)
    elif setup == "failed":
        outbox.mark_failed(cid, status=400, code="x", text="y", retryable=False)
    elif setup == "unknown":
        outbox.mark_unknown(cid, "timeout")
    before = outbox.get(cid)
    calls = {
        "mark_sending": lambda: outbox.mark_sending(cid),
        "mark_sent": lambda: outbox.mark_sent(cid, "srv2", 2.0),
        "mark_unknown": lambda: outbox.mark_unknown(cid, "r"),
        "mark_failed": lambda: outbox.mark_failed(
            cid, status=500, code=None, text="t", retryable=False
        ),
        "schedule": lambda: outbox.schedule(cid, 5.0, "r"),
        "retry": lambda: outbox.retry(cid),
        "edit": lambda: outbox.edit(cid, "new"),
        "discard": lambda: outbox.discard(cid),
        "due_now": lambda: outbox.due_now(cid),
    }
    with pytest.raises(OutboxStateError):
        calls[action]()
    assert outbox.get(cid) == before


def test_retry_of_failed_goes_to_the_end_of_the_line(outbox: Outbox, clock: FakeClock) -> None:
    first = failed(outbox, outbox.enqueue("p", "u", msg("first")))
    later = outbox.enqueue("p", "u", msg("later"))
    clock.now = 1_100.0
    retried = outbox.retry(first.client_id)
    assert retried.state is EntryState.QUEUED
    assert retried.seq > later.seq
    assert retried.client_id == first.client_id
    assert retried.wire_id == first.client_id  # same message, same wire id
    assert retried.attempts == 0
    assert retried.next_attempt_at is None
    assert retried.first_attempt_at == first.first_attempt_at  # the search reaches back
    assert (retried.error_text, retried.error_status, retried.error_code) == (None, None, None)
    assert [e.message.text for e in outbox.entries_for("p", "u")] == ["later", "first"]


def test_retry_of_unknown_means_check_now_not_resend(outbox: Outbox, clock: FakeClock) -> None:
    entry = outbox.enqueue("p", "u", msg())
    outbox.mark_sending(entry.client_id)
    outbox.mark_unknown(entry.client_id, "timeout", verify_at=2_000.0)
    clock.now = 1_050.0
    retried = outbox.retry(entry.client_id)
    assert retried.state is EntryState.UNKNOWN
    assert retried.next_attempt_at == 1_050.0
    assert retried.seq == entry.seq


def test_due_now_skips_the_countdown(outbox: Outbox, clock: FakeClock) -> None:
    entry = outbox.enqueue("p", "u", msg())
    outbox.mark_sending(entry.client_id)
    outbox.schedule(entry.client_id, 1_060.0, "Could not connect")
    clock.now = 1_001.0
    assert outbox.due_now(entry.client_id).next_attempt_at == 1_001.0


def test_edit_changes_text_revision_and_wire_id(outbox: Outbox) -> None:
    original = failed(outbox, outbox.enqueue("p", "u", msg("too long")))
    later = outbox.enqueue("p", "u", msg("later"))
    edited = outbox.edit(original.client_id, "short")
    assert edited.state is EntryState.QUEUED
    assert edited.client_id == original.client_id
    assert edited.message.text == "short"
    assert edited.message.sender == original.message.sender
    assert edited.revision == 1
    assert edited.wire_id == f"{original.client_id}.1"
    assert edited.message.metadata[CLIENT_ID_METADATA_KEY] == edited.wire_id
    assert edited.seq > later.seq
    assert edited.error_text is None
    assert edited.first_attempt_at is None  # a new wire id: nothing earlier to find
    again = outbox.edit(failed(outbox, edited).client_id, "shorter")
    assert again.wire_id == f"{original.client_id}.2"


def test_discard_removes_and_returns_the_entry(outbox: Outbox) -> None:
    entry = failed(outbox, outbox.enqueue("p", "u", msg("gone")))
    removed = outbox.discard(entry.client_id)
    assert removed.message.text == "gone"
    assert outbox.get(entry.client_id) is None


def test_recover_turns_sending_into_unknown(outbox: Outbox, clock: FakeClock) -> None:
    in_flight = outbox.enqueue("p", "u", msg("in flight"))
    outbox.mark_sending(in_flight.client_id)
    queued = outbox.enqueue("p", "v", msg("queued"))
    clock.now = 1_200.0
    recovered = outbox.recover()
    assert [e.client_id for e in recovered] == [in_flight.client_id]
    assert recovered[0].state is EntryState.UNKNOWN
    assert recovered[0].next_attempt_at is None
    assert recovered[0].updated_at == 1_200.0
    assert recovered[0].error_text
    assert outbox.get(queued.client_id) == queued
    assert outbox.recover() == []


def test_prune_old_sent_deletes_only_sent_entries_past_the_retention(
    outbox: Outbox, clock: FakeClock
) -> None:
    start = clock.now
    old = outbox.enqueue("p", "u", msg("old"))
    outbox.mark_sending(old.client_id)
    outbox.mark_sent(old.client_id, "s1", 1.0)
    failed_old = failed(outbox, outbox.enqueue("p", "u", msg("failed")))
    clock.now = start + 1_000.0
    new = outbox.enqueue("p", "u", msg("new"))
    outbox.mark_sending(new.client_id)
    outbox.mark_sent(new.client_id, "s2", 2.0)
    clock.now = start + SENT_RETENTION_S  # not yet past it
    assert outbox.prune_old_sent() == 0
    clock.now = start + SENT_RETENTION_S + 500.0
    assert outbox.prune_old_sent() == 1
    assert outbox.get(old.client_id) is None
    assert outbox.get(failed_old.client_id) is not None
    assert outbox.get(new.client_id) is not None
    # seq keeps growing after the highest seq was pruned.
    clock.now = start + SENT_RETENTION_S + 1_500.0
    assert outbox.prune_old_sent() == 1
    assert outbox.enqueue("p", "u", msg()).seq > new.seq


# --- persistence --------------------------------------------------------------------------


def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as box:
        message = OutgoingMessage(
            text="Hi 👋 «ü»",
            sender=Sender("Bob", "bob@example.com", "https://example.com/a.png"),
            actions=({"type": "link", "text": "Docs", "uri": "https://example.com"},),
            metadata={"n": 1},
        )
        entry = box.enqueue("p", "user/with?odd#chars", message)
        box.mark_sending(entry.client_id)
        box.schedule(entry.client_id, 9e9, "Could not connect", status=None, code=None)
        before = box.get(entry.client_id)
    with Outbox(path) as box:
        assert box.get(entry.client_id) == before
        assert box.all_entries() == [before]


def test_database_is_wal_with_full_sync_and_private(tmp_path: Path, outbox: Outbox) -> None:
    outbox.enqueue("p", "u", msg())
    conn = sqlite3.connect(outbox.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    # synchronous is per connection, so only the outbox's own connection can tell.
    assert outbox._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    if os.name == "posix":
        assert outbox.path.stat().st_mode & 0o777 == 0o600


def test_default_path_is_in_the_data_dir(isolated_dirs: Path) -> None:
    assert Outbox.default_path() == Path(os.environ["SMOOCH_DESKTOP_DATA_DIR"]) / "outbox.sqlite3"


def test_a_damaged_file_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with Outbox(path) as box:
        assert box.recovered_from is not None
        assert box.recovered_from.read_bytes().startswith(b"this is not")
        assert box.enqueue("p", "u", msg()).state is EntryState.QUEUED


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(OutboxTooNew):
        Outbox(path)


def test_closed_outbox_refuses_use(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.close()
    box.close()
    with pytest.raises(Exception, match="closed"):
        box.enqueue("p", "u", msg())


def test_concurrent_enqueues_from_threads_all_land_in_order(outbox: Outbox) -> None:
    results: dict[int, list[OutboxEntry]] = {}

    def worker(n: int) -> None:
        results[n] = [outbox.enqueue("p", f"user-{n}", msg(f"{n}-{i}")) for i in range(25)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = outbox.all_entries("p")
    assert len(entries) == 100
    assert len({e.seq for e in entries}) == 100
    for n, mine in results.items():
        # Each thread's enqueue order is the seq order of its user.
        assert [e.client_id for e in outbox.entries_for("p", f"user-{n}")] == [
            e.client_id for e in mine
        ]


_BURST_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from smooch_desktop.api.models import OutgoingMessage
    from smooch_desktop.core.outbox import Outbox

    box = Outbox(Path(sys.argv[1]))
    i = 0
    while True:
        entry = box.enqueue("p", f"user-{i % 3}", OutgoingMessage(text=f"message {i}"))
        # Printed only after enqueue returned: the composer would clear now.
        print(entry.client_id, entry.message.text, flush=True)
        i += 1
    """
)


def test_sigkill_during_a_burst_loses_no_returned_enqueue(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", _BURST_SCRIPT, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    returned: list[tuple[str, str]] = []
    try:
        assert child.stdout is not None
        while len(returned) < 60:
            line = child.stdout.readline()
            assert line, "child stopped early"
            cid, text = line.rstrip("\n").split(" ", 1)
            returned.append((cid, text))
        child.send_signal(signal.SIGKILL)
        # Lines the child printed before it died count too.
        for line in child.stdout:
            cid, text = line.rstrip("\n").split(" ", 1)
            returned.append((cid, text))
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with Outbox(path) as box:
        stored = {e.client_id: e for e in box.all_entries()}
        for cid, text in returned:
            assert stored[cid].message.text == text
            assert stored[cid].state is EntryState.QUEUED
        # At most the one enqueue in progress at the kill may be there without being printed.
        assert len(stored) - len(returned) in (0, 1)
        seqs = [e.seq for e in box.all_entries()]
        assert seqs == sorted(set(seqs))


def test_heads_are_each_users_first_active_entry_as_the_engine_needs_them(
    tmp_path: Path,
) -> None:
    import random

    rng = random.Random(7)
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        for n in range(300):
            entry = outbox.enqueue(rng.choice("pq"), f"u{rng.randrange(6)}", msg(f"m{n}"))
            fate = rng.random()
            if fate < 0.6:
                outbox.mark_sending(entry.client_id)
                if fate < 0.3:
                    outbox.mark_sent(entry.client_id, f"s{n}", 1.0)
                elif fate < 0.45:
                    outbox.mark_failed(
                        entry.client_id, status=400, code="x", text="no", retryable=False
                    )
                elif fate < 0.5:
                    outbox.mark_unknown(entry.client_id, "dropped", verify_at=2.0)
        for profile in "pq":
            expected: dict[str, str] = {}
            for entry in outbox.active(profile):
                expected.setdefault(entry.user_ref, entry.client_id)
            assert [e.client_id for e in outbox.heads(profile)] == list(expected.values())
            assert outbox.has_active(profile) == bool(expected)
        assert outbox.heads("nobody") == [] and not outbox.has_active("nobody")
        # The heads come from the index of active entries, not a scan of every row: the
        # statement heads() really runs (traced with its values) is planned on it.
        statements: list[str] = []
        outbox._conn.set_trace_callback(statements.append)
        outbox.heads("p")
        outbox._conn.set_trace_callback(None)
        [statement] = [s for s in statements if "MIN(seq)" in s]
        plan = outbox._conn.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
        assert any("outbox_active" in str(row) for row in plan), plan


def test_open_states_name_each_users_undelivered_states_without_reading_messages(
    outbox: Outbox,
) -> None:
    sent = outbox.enqueue("p", "a", msg("delivered"))
    outbox.mark_sending(sent.client_id)
    outbox.mark_sent(sent.client_id, "s1", 1.0)
    outbox.enqueue("p", "b", msg("waiting"))
    failed = outbox.enqueue("p", "b", msg("refused"))
    outbox.mark_sending(failed.client_id)
    outbox.mark_failed(failed.client_id, status=400, code="x", text="no", retryable=False)
    outbox.enqueue("q", "c", msg("other profile"))
    assert outbox.open_states("p") == {"b": {"queued", "failed"}}
    assert outbox.open_states("p", "b") == {"b": {"queued", "failed"}}
    assert outbox.open_states("p", "a") == {}
