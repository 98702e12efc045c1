"""The real delivery engine + real API adapter + real sandbox over HTTP, one fault at a time.

The tests on the ``rig`` fixtures run twice: through ``V1Api`` (v1.1) and ``V2Api`` (v2)
against the same sandbox store; the exactly-once rules must not care which.

Each test switches a fault on for exactly the request it is about (the sandbox applies
faults to every API request, history checks included), then off, and checks the outcome
from the sandbox's own store: every message exactly once, in order per user, or failed
with its text and the server's error kept. Backoff and grace are tiny so each test takes
a second or two; the mixed run keeps every fault on for ~100 messages.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import RATE_LIMITED_REASON, Backoff, DeliveryEngine
from smooch_desktop.core.outbox import EntryState, Outbox, OutboxEntry
from smooch_desktop.sandbox import DEMO_ALICE_ID, FaultConfig, SandboxServer
from smooch_desktop.sandbox.faults import FaultPlan

PROFILE = "sandbox"
SENDER = Sender(name="Agent", email="agent@example.com")
USERS = ("fault-user-a", "fault-user-b")


def seed_for(status: int) -> int:
    """A seed whose first fault decision at ``error_rate=1`` answers ``status``."""
    for seed in range(1000):
        if FaultPlan(FaultConfig(error_rate=1.0, seed=seed)).decide().status == status:
            return seed
    raise AssertionError(f"no seed gives {status}")


@dataclass
class Rig:
    server: SandboxServer
    api: V1Api | V2Api
    outbox: Outbox
    engine: DeliveryEngine

    def send(self, user: str, text: str) -> OutboxEntry:
        return self.engine.enqueue(user, OutgoingMessage(text, sender=SENDER))

    def entry(self, entry: OutboxEntry) -> OutboxEntry:
        current = self.outbox.get(entry.client_id)
        assert current is not None
        return current

    def settle(self, timeout: float = 20.0) -> None:
        assert self.engine.run_until_idle(time.time() + timeout), "deliveries did not settle"

    def faults(self, **config: Any) -> None:
        self.server.set_faults(FaultConfig(**config))

    def stored(self, user: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.server.store.messages(self.server.app_id, user)
            if CLIENT_ID_METADATA_KEY in (m.get("metadata") or {})
        ]

    def assert_exactly_once_in_order(self, users: tuple[str, ...] = USERS) -> None:
        """The store holds each sent entry once, in seq order; failed ones are kept, absent."""
        for user in users:
            stored = self.stored(user)
            wires = [m["metadata"][CLIENT_ID_METADATA_KEY] for m in stored]
            assert len(wires) == len(set(wires)), f"duplicate delivered to {user}"
            entries = self.outbox.entries_for(PROFILE, user)
            assert all(e.is_terminal for e in entries), [e.state for e in entries]
            sent = [e for e in entries if e.state is EntryState.SENT]
            assert wires == [e.wire_id for e in sent], f"lost or out of order for {user}"
            for entry, message in zip(sent, stored, strict=True):
                assert entry.server_id == message["_id"]
                assert message["text"] == entry.message.text
            for entry in entries:
                if entry.state is EntryState.FAILED:
                    assert entry.message.text is not None
                    assert entry.error_text
                    assert entry.wire_id not in wires


API_VERSIONS = ("v1.1", "v2")


def make_rig(
    server: SandboxServer, path: Path, *, read_timeout: float = 1.0, api_version: str = "v1.1"
) -> Rig:
    connect = V2Api.connect if api_version == "v2" else V1Api.connect
    api = connect(
        server.base_url,
        server.app_id,
        Credentials(server.key_id, server.secret),
        connect_timeout=1.0,
        read_timeout=read_timeout,
    )
    outbox = Outbox(path / "outbox.sqlite3")
    engine = DeliveryEngine(
        outbox,
        api,
        PROFILE,
        rng=random.Random(3),
        backoff=Backoff(base_s=0.05, factor=2.0, cap_s=0.5, jitter=0.5),
        verify_grace_s=0.2,
    )
    return Rig(server, api, outbox, engine)


@pytest.fixture(params=API_VERSIONS)
def rig(sandbox: SandboxServer, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    made = make_rig(sandbox, tmp_path, api_version=request.param)
    for user in USERS:
        made.api.create_user(user)
    yield made
    made.outbox.close()
    made.api.close()


@pytest.fixture(params=API_VERSIONS)
def short_timeout_rig(
    sandbox: SandboxServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Rig]:
    made = make_rig(sandbox, tmp_path, read_timeout=0.5, api_version=request.param)
    for user in USERS:
        made.api.create_user(user)
    yield made
    made.outbox.close()
    made.api.close()


# --- one fault at a time ---------------------------------------------------------------------


def test_no_faults_delivers_in_order(rig: Rig) -> None:
    for i in range(5):
        rig.send(USERS[i % 2], f"message {i}")
    rig.settle()
    rig.assert_exactly_once_in_order()
    assert all(e.attempts == 1 for e in rig.outbox.all_entries())


def test_latency_is_just_slower(rig: Rig) -> None:
    rig.faults(latency_ms=150)
    started = time.time()
    for i in range(4):
        rig.send(USERS[i % 2], f"slow {i}")
    rig.settle()
    assert time.time() - started >= 4 * 0.15
    rig.assert_exactly_once_in_order()
    assert all(e.attempts == 1 and e.verifications == 0 for e in rig.outbox.all_entries())


def test_500_is_checked_then_resent_once(rig: Rig) -> None:
    rig.faults(error_rate=1.0, seed=seed_for(500))
    entry = rig.send(USERS[0], "after a 500")
    later = rig.send(USERS[0], "next one")
    rig.engine.step()
    unknown = rig.entry(entry)
    assert unknown.state is EntryState.UNKNOWN
    assert unknown.error_status == 500
    assert "checking" in (unknown.error_text or "")
    rig.faults()
    rig.settle()
    done = rig.entry(entry)
    assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 2, 1)
    assert rig.entry(later).state is EntryState.SENT
    rig.assert_exactly_once_in_order()


@pytest.mark.parametrize("retry_after", [None, 1.0])
def test_503_is_checked_after_retry_after_then_resent(rig: Rig, retry_after: float | None) -> None:
    """A 503 proves nothing (a proxy may send it after the API stored the message): the
    history is checked first — no sooner than Retry-After — and only then resent."""
    rig.faults(error_rate=1.0, seed=seed_for(503), retry_after=retry_after)
    entry = rig.send(USERS[0], "after a 503")
    rig.engine.step()
    after = time.time()
    waiting = rig.entry(entry)
    assert waiting.state is EntryState.UNKNOWN
    assert "(503" in (waiting.error_text or "")
    assert "checking before resending" in (waiting.error_text or "")
    assert waiting.error_status == 503
    assert waiting.next_attempt_at is not None
    if retry_after is None:
        assert waiting.next_attempt_at - after == pytest.approx(0.2, abs=0.1)  # the grace
    else:
        assert waiting.next_attempt_at - after == pytest.approx(1.0, abs=0.15)
    rig.faults()
    rig.settle()
    done = rig.entry(entry)
    assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 2, 1)
    rig.assert_exactly_once_in_order()


@pytest.mark.parametrize("retry_after", [None, 1.0])
def test_429_waits_for_its_user_only(rig: Rig, retry_after: float | None) -> None:
    a, b = USERS
    rig.faults(rate_limit_rate=1.0, retry_after=retry_after)
    a1 = rig.send(a, "a1")
    a2 = rig.send(a, "a2")
    b1 = rig.send(b, "b1")
    rig.engine.step()  # a1 → 429
    limited_at = time.time()
    waiting = rig.entry(a1)
    assert waiting.state is EntryState.QUEUED
    assert waiting.error_text == RATE_LIMITED_REASON
    assert waiting.error_status == 429
    assert waiting.next_attempt_at is not None
    if retry_after is not None:
        assert waiting.next_attempt_at - limited_at == pytest.approx(1.0, abs=0.15)
        rig.faults()
        # b's message does not wait behind a's rate limit; a2 waits behind a1.
        assert rig.engine.step()
        assert rig.entry(b1).state is EntryState.SENT
        assert rig.entry(a2).state is EntryState.QUEUED
    rig.faults()
    rig.settle()
    first = rig.entry(a1)
    assert first.state is EntryState.SENT
    assert first.attempts == 2
    if retry_after is not None:
        assert first.sent_at is not None and first.sent_at >= limited_at + 0.9
    rig.assert_exactly_once_in_order()


def test_drop_before_processing_is_checked_then_resent(rig: Rig) -> None:
    rig.faults(drop_before_rate=1.0)
    entry = rig.send(USERS[0], "dropped before")
    rig.engine.step()
    assert rig.entry(entry).state is EntryState.UNKNOWN
    rig.faults()
    rig.settle()
    done = rig.entry(entry)
    assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 2, 1)
    rig.assert_exactly_once_in_order()


def test_drop_after_processing_is_found_not_resent(rig: Rig) -> None:
    rig.faults(drop_after_rate=1.0)
    entry = rig.send(USERS[0], "dropped after")
    rig.engine.step()
    assert rig.entry(entry).state is EntryState.UNKNOWN
    assert len(rig.stored(USERS[0])) == 1  # the server did store it
    rig.faults()
    rig.settle()
    done = rig.entry(entry)
    assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 1, 1)
    rig.assert_exactly_once_in_order()


def test_hang_times_out_then_is_checked_and_resent(short_timeout_rig: Rig) -> None:
    rig = short_timeout_rig
    rig.faults(hang_rate=1.0)
    entry = rig.send(USERS[0], "into the void")
    started = time.time()
    rig.engine.step()
    assert 0.4 <= time.time() - started < 3.0
    unknown = rig.entry(entry)
    assert unknown.state is EntryState.UNKNOWN
    assert "did not answer" in (unknown.error_text or "")
    rig.faults()
    rig.settle()
    done = rig.entry(entry)
    assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 2, 1)
    rig.assert_exactly_once_in_order()


def test_server_still_processing_after_the_timeout_is_not_duplicated(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The subtle case: latency beyond the read timeout stores the message *after* the
    client gave up. A check at the bare grace (0.2 s) would miss it and resend; the engine
    waits at least as long as the attempt took (0.6 s), and finds it."""
    rig = make_rig(sandbox, tmp_path, read_timeout=0.6)
    try:
        rig.api.create_user(USERS[0])
        rig.faults(latency_ms=950)  # > the 0.6 s read timeout, < 2 x 0.6 s
        entry = rig.send(USERS[0], "slow server")
        rig.engine.step()
        rig.faults()  # the next request (the history check) is fast: it could overtake
        unknown = rig.entry(entry)
        assert unknown.state is EntryState.UNKNOWN
        assert unknown.next_attempt_at is not None
        assert unknown.next_attempt_at - unknown.updated_at >= 0.55
        assert rig.stored(USERS[0]) == []  # not stored yet when the client gave up
        rig.settle()
        done = rig.entry(entry)
        assert (done.state, done.attempts) == (EntryState.SENT, 1)
        rig.assert_exactly_once_in_order((USERS[0],))
    finally:
        rig.outbox.close()
        rig.api.close()


def test_failing_history_check_stays_unknown_and_tries_again(rig: Rig) -> None:
    rig.faults(drop_after_rate=1.0)
    entry = rig.send(USERS[0], "check me")
    rig.engine.step()
    rig.faults(error_rate=1.0, seed=seed_for(500))
    deadline = time.time() + 10
    while rig.entry(entry).verifications < 2 and time.time() < deadline:
        if not rig.engine.step():
            time.sleep(0.02)
    checking = rig.entry(entry)
    assert checking.state is EntryState.UNKNOWN
    assert checking.verifications >= 2
    assert "Could not check" in (checking.error_text or "")
    rig.faults()
    rig.settle()
    done = rig.entry(entry)
    assert (done.state, done.attempts) == (EntryState.SENT, 1)
    rig.assert_exactly_once_in_order()


def test_connection_refused_retries_until_the_server_is_there(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SandboxServer(host="127.0.0.1", port=port)
    api = V1Api.connect(
        f"http://127.0.0.1:{port}", server.app_id, Credentials(server.key_id, server.secret)
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    engine = DeliveryEngine(
        outbox, api, PROFILE, backoff=Backoff(base_s=0.1, cap_s=0.3), verify_grace_s=0.2
    )
    try:
        entry = engine.enqueue(DEMO_ALICE_ID, OutgoingMessage("are you there?"))
        engine.step()
        waiting = outbox.get(entry.client_id)
        assert waiting is not None
        assert waiting.state is EntryState.QUEUED
        assert waiting.next_attempt_at is not None
        assert "refused" in (waiting.error_text or "")
        assert not engine.run_until_idle(time.time() + 0.5)  # keeps retrying, in vain
        server.start()
        assert engine.run_until_idle(time.time() + 10)
        done = outbox.get(entry.client_id)
        assert done is not None
        assert done.state is EntryState.SENT
        assert done.attempts >= 2
        assert done.verifications == 0
        stored = [
            m
            for m in server.store.messages(server.app_id, DEMO_ALICE_ID)
            if (m.get("metadata") or {}).get(CLIENT_ID_METADATA_KEY) == entry.client_id
        ]
        assert len(stored) == 1
    finally:
        server.stop()
        outbox.close()
        api.close()


@pytest.mark.parametrize(
    ("user", "text", "status", "code"),
    [
        (USERS[0], "   ", 400, "bad_request"),
        ("no-such-user", "hello?", 404, "not_found"),
        (USERS[0], "x" * 200_000, 413, None),
    ],
)
def test_rejections_fail_keep_text_and_do_not_block(
    rig: Rig, user: str, text: str, status: int, code: str | None
) -> None:
    rejected = rig.send(user, text)
    after = rig.send(user, "the next reply")
    rig.settle()
    failed = rig.entry(rejected)
    assert failed.state is EntryState.FAILED
    assert failed.message.text == text
    assert failed.error_status == status
    if code is not None:
        if isinstance(rig.api, V2Api) and code == "not_found":
            code = "user_not_found"  # v2's code for an unknown user
        assert failed.error_code == code
    assert failed.error_text  # the server's own description
    assert failed.attempts == 1
    if status != 404:
        assert rig.entry(after).state is EntryState.SENT
        rig.assert_exactly_once_in_order((user,))


def test_bad_credentials_fail_with_401_and_the_servers_words(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    api = V1Api.connect(sandbox.base_url, sandbox.app_id, Credentials(sandbox.key_id, "wrong"))
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        engine = DeliveryEngine(outbox, api, PROFILE)
        entry = engine.enqueue(DEMO_ALICE_ID, OutgoingMessage("hi"))
        assert engine.run_until_idle(time.time() + 5)
        failed = outbox.get(entry.client_id)
        assert failed is not None
        assert failed.state is EntryState.FAILED
        assert failed.error_status == 401
        assert failed.error_text == "Invalid key id or secret"
        engine.retry(entry.client_id)  # the user fixes nothing: it fails again, still kept
        assert engine.run_until_idle(time.time() + 5)
        again = outbox.get(entry.client_id)
        assert again is not None and again.state is EntryState.FAILED
    api.close()


# --- everything at once ----------------------------------------------------------------------


def test_mixed_faults_100_messages_to_3_users(short_timeout_rig: Rig) -> None:
    rig = short_timeout_rig
    users = (*USERS, DEMO_ALICE_ID)  # alice already has a conversation to search through
    rng = random.Random(11)
    invalid = {17, 58, 91}
    for i in range(100):
        rig.send(rng.choice(users), "  " if i in invalid else f"mixed {i}")
    rig.faults(
        latency_ms=2,
        error_rate=0.06,
        rate_limit_rate=0.06,
        drop_before_rate=0.06,
        drop_after_rate=0.06,
        hang_rate=0.03,
        seed=5,
    )
    rig.settle(timeout=60)
    rig.faults()
    rig.assert_exactly_once_in_order(users)
    entries = rig.outbox.all_entries(PROFILE)
    failed = [e for e in entries if e.state is EntryState.FAILED]
    assert sorted(e.message.text for e in failed) == ["  "] * 3
    assert all(e.error_status == 400 for e in failed)
    hit = {e["fault"] for e in rig.server.log() if e.get("fault")}
    assert hit == {"error", "rate_limit", "drop_before", "drop_after", "hang"}
    assert sum(e.verifications for e in entries) > 0
