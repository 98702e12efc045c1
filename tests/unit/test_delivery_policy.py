"""Delivery policy, without a network: the classify table, backoff bounds, and the engine's
ordering, verification and recovery rules against a small in-test fake of the API.

The fake is only for these pure policy tests (fake clock, scripted failures); the real
engine meets the real client and sandbox over HTTP in ``tests/api/``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO, Literal

import pytest

from smooch_desktop.api.errors import (
    ApiError,
    BadResponse,
    ConnectFailed,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
    TlsFailed,
)
from smooch_desktop.api.models import (
    AppUser,
    HistoryPage,
    Message,
    OutgoingMessage,
    Sender,
)
from smooch_desktop.api.multipart import Progress
from smooch_desktop.api.server_clock import ServerClock
from smooch_desktop.core.delivery import (
    RATE_LIMITED_REASON,
    UNCONFIRMED_CODE,
    Action,
    Backoff,
    DeliveryEngine,
    classify,
)
from smooch_desktop.core.outbox import EntryState, Outbox, OutboxEntry

# --- classify -----------------------------------------------------------------------------


def http(status: int, retry_after: float | None = None) -> HttpError:
    return HttpError(
        status, code=f"code_{status}", description=f"server says {status}", retry_after=retry_after
    )


@pytest.mark.parametrize(
    ("error", "action", "delay"),
    [
        (ConnectFailed("Could not connect to h: the connection was refused."), Action.RETRY, None),
        (TlsFailed("certificate not accepted"), Action.FAIL, None),
        (ReadTimedOut("h did not answer within 20 s."), Action.VERIFY, None),
        (ConnectionDropped("dropped"), Action.VERIFY, None),
        (BadResponse("truncated", status=201), Action.VERIFY, None),
        (http(429), Action.RETRY, None),
        (http(429, retry_after=7.0), Action.RETRY, 7.0),
        (http(503), Action.VERIFY, None),
        (http(503, retry_after=3.0), Action.VERIFY, 3.0),
        (http(500), Action.VERIFY, None),
        (http(502), Action.VERIFY, None),
        (http(502, retry_after=2.0), Action.VERIFY, 2.0),
        (http(504), Action.VERIFY, None),
        (http(501), Action.VERIFY, None),
        (http(599), Action.VERIFY, None),
        (http(400), Action.FAIL, None),
        (http(401), Action.FAIL, None),
        (http(402), Action.FAIL, None),
        (http(403), Action.FAIL, None),
        (http(404), Action.FAIL, None),
        (http(409), Action.FAIL, None),
        (http(413), Action.FAIL, None),
        (http(422), Action.FAIL, None),
        (http(302), Action.FAIL, None),
        (ApiError("something else"), Action.FAIL, None),
    ],
)
def test_classify_table(error: ApiError, action: Action, delay: float | None) -> None:
    decision = classify(error)
    assert decision.action is action
    assert decision.delay_s == delay
    assert decision.reason
    assert decision.status == error.status


def test_rate_limit_and_unavailable_reasons_are_words() -> None:
    assert classify(http(429)).reason == RATE_LIMITED_REASON == "Rate limited by the server"
    unavailable = classify(http(503)).reason
    assert unavailable.startswith("The server is temporarily unavailable (503")
    assert unavailable.endswith("It may have been stored; checking before resending.")


def test_rejections_keep_the_servers_own_description_and_code() -> None:
    decision = classify(http(400))
    assert (decision.reason, decision.code, decision.status) == ("server says 400", "code_400", 400)
    bare = classify(HttpError(413, code=None, description=None))
    assert bare.reason.startswith("Too large for the server")


def test_ambiguous_reasons_say_what_happened() -> None:
    assert "did not answer" in classify(ReadTimedOut("h did not answer within 20 s.")).reason
    assert "(500" in classify(http(500)).reason


# --- backoff ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_backoff_stays_within_jitter_bounds_and_cap(seed: int) -> None:
    backoff = Backoff(base_s=1.0, factor=2.0, cap_s=60.0, jitter=0.5)
    rng = random.Random(seed)
    for failures in range(1, 40):
        ceiling = min(60.0, 2.0 ** (failures - 1))
        assert backoff.ceiling(failures) == ceiling
        for _ in range(20):
            delay = backoff.delay(failures, rng)
            assert 0.5 * ceiling <= delay <= ceiling


def test_backoff_is_reproducible_with_a_seed_and_exact_without_jitter() -> None:
    backoff = Backoff()
    a = [backoff.delay(n, random.Random(7)) for n in range(1, 10)]
    b = [backoff.delay(n, random.Random(7)) for n in range(1, 10)]
    assert a == b
    exact = Backoff(base_s=0.1, factor=3.0, cap_s=1.0, jitter=0.0)
    assert [exact.delay(n, random.Random()) for n in range(1, 5)] == pytest.approx(
        [0.1, 0.3, 0.9, 1.0]
    )
    assert Backoff().ceiling(0) == 1.0
    assert Backoff().ceiling(10**9) == 60.0


# --- the fake API ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreThen:
    """Store the message, then fail with ``error`` (a proxy's answer after the API's)."""

    error: Exception


Outcome = Literal["ok", "store-then-timeout", "store-then-drop"] | Exception | StoreThen


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # the server clock refuses years before 2000

    def __call__(self) -> float:
        return self.now


class FakeApi:
    """Stores sent messages per user; fails sends and history reads as scripted."""

    host = "fake.invalid"

    def __init__(self, clock: FakeClock, page_size: int = 100) -> None:
        self.clock = clock
        #: The fake server's clock is the test's clock; its pages carry it as ``Date``.
        self.server_clock = ServerClock(monotonic=clock)
        self.send_dates = True
        self.page_size = page_size
        self.stored: dict[str, list[Message]] = {}
        self.script: list[Outcome] = []
        self.history_failures: list[Exception] = []
        #: Fail every n-th history call (0: never), e.g. a flaky network.
        self.history_fail_every = 0
        self.send_calls: list[tuple[str, str]] = []
        self.history_calls = 0
        #: Seconds a send takes on the fake clock (to test "wait at least as long").
        self.send_duration = 0.0
        self._n = 0

    def store(self, user_ref: str, text: str, wire_id: str = "") -> Message:
        self._n += 1
        metadata = {"smoochDesktopClientId": wire_id} if wire_id else {}
        stored = self.stored.setdefault(user_ref, [])
        received = max(self.clock.now, stored[-1].received + 0.001 if stored else 0.0)
        message = Message(
            id=f"srv{self._n}", role="business", text=text, received=received, metadata=metadata
        )
        stored.append(message)
        return message

    def texts(self, user_ref: str) -> list[str]:
        return [m.text for m in self.stored.get(user_ref, [])]

    # ConversationApi ------------------------------------------------------------------

    @staticmethod
    def line(user_ref: str, conversation_id: str) -> str:
        """Where a conversation's messages are kept: the main one under the user's id."""
        return f"{user_ref}#{conversation_id}" if conversation_id else user_ref

    def send_message(
        self, user_ref: str, message: OutgoingMessage, *, conversation_id: str = ""
    ) -> Message:
        self.clock.now += self.send_duration
        wire_id = str(message.metadata["smoochDesktopClientId"])
        user_ref = self.line(user_ref, conversation_id)
        self.send_calls.append((user_ref, message.text))
        outcome: Outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        stored = self.store(user_ref, message.text, wire_id)
        if isinstance(outcome, StoreThen):
            raise outcome.error
        if outcome == "store-then-timeout":
            raise ReadTimedOut("fake did not answer within 0.5 s.")
        if outcome == "store-then-drop":
            raise ConnectionDropped("fake dropped the connection.")
        return stored

    def history(
        self, user_ref: str, older_cursor: str | None = None, *, conversation_id: str = ""
    ) -> HistoryPage:
        user_ref = self.line(user_ref, conversation_id)
        self.history_calls += 1
        if self.history_failures:
            raise self.history_failures.pop(0)
        if self.history_fail_every and self.history_calls % self.history_fail_every == 0:
            raise ConnectionDropped("fake dropped the history page.")
        if self.send_dates:
            self.server_clock.observe_date(formatdate(self.clock.now, usegmt=True))
        messages = self.stored.get(user_ref, [])
        if older_cursor is not None:
            messages = [m for m in messages if m.received < float(older_cursor)]
        page = tuple(messages[-self.page_size :])
        has_older = len(messages) > len(page)
        return HistoryPage(page, repr(page[0].received) if page and has_older else None)

    def check_connection(self) -> None:
        pass

    def get_user(self, user_ref: str) -> AppUser:
        return AppUser(id=user_ref)

    def create_user(
        self, user_id: str, *, given_name: str = "", surname: str = "", email: str = ""
    ) -> AppUser:
        return AppUser(id=user_id)

    def send_activity(
        self,
        user_ref: str,
        activity: str,
        sender: Sender | None = None,
        *,
        avatar_url: str = "",
        conversation_id: str = "",
    ) -> None:
        pass

    def upload(
        self,
        filename: str,
        data: bytes | BinaryIO,
        media_type: str,
        *,
        user_ref: str | None = None,
        conversation_id: str = "",
        progress: Progress | None = None,
    ) -> tuple[str, str]:
        return "https://media.invalid/x", media_type

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> FakeApi:
    return FakeApi(clock)


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3", clock=clock)
    yield box
    box.close()


@pytest.fixture
def changes() -> list[OutboxEntry]:
    return []


@pytest.fixture
def engine(
    outbox: Outbox, api: FakeApi, clock: FakeClock, changes: list[OutboxEntry]
) -> DeliveryEngine:
    return DeliveryEngine(
        outbox,
        api,
        "prod",
        clock=clock,
        rng=random.Random(1),
        backoff=Backoff(base_s=1.0, factor=2.0, cap_s=30.0, jitter=0.5),
        verify_grace_s=2.0,
        verify_pages=3,
        unanchored_pages=6,
        server_time_margin_s=5.0,
        on_change=changes.append,
    )


def drain(engine: DeliveryEngine, clock: FakeClock, limit: int = 500) -> None:
    """Run the engine, jumping the fake clock to each due time, until nothing is active."""
    for _ in range(limit):
        if engine.step():
            continue
        due = engine.next_due()
        if due is None:
            return
        clock.now = max(clock.now, due)
    raise AssertionError("engine did not settle")


def state(outbox: Outbox, entry: OutboxEntry) -> EntryState:
    current = outbox.get(entry.client_id)
    assert current is not None
    return current.state


# --- engine: the single-message rules ------------------------------------------------------


def test_success_marks_sent_with_the_servers_id(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, changes: list[OutboxEntry]
) -> None:
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    assert engine.next_due() == 0.0
    assert engine.step()
    sent = outbox.get(entry.client_id)
    assert sent is not None
    assert sent.state is EntryState.SENT
    assert sent.server_id == "srv1"
    assert api.stored["u"][0].client_id == entry.client_id
    assert [c.state for c in changes] == [EntryState.QUEUED, EntryState.SENDING, EntryState.SENT]
    assert not engine.step()
    assert engine.next_due() is None


def test_never_reached_server_retries_after_backoff(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [ConnectFailed("refused"), ConnectFailed("refused")]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    engine.step()
    waiting = outbox.get(entry.client_id)
    assert waiting is not None
    assert waiting.state is EntryState.QUEUED
    assert waiting.next_attempt_at is not None
    assert 0.5 <= waiting.next_attempt_at - clock.now <= 1.0
    assert waiting.error_text == "refused"
    assert not engine.step()  # not due yet
    clock.now = waiting.next_attempt_at
    engine.step()
    second = outbox.get(entry.client_id)
    assert second is not None and second.next_attempt_at is not None
    assert 1.0 <= second.next_attempt_at - clock.now <= 2.0  # doubled
    drain(engine, clock)
    assert api.texts("u") == ["hi"]
    assert len(api.send_calls) == 3


def test_retry_after_is_honoured_and_send_now_skips_it(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [http(429, retry_after=7.0)]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    engine.step()
    waiting = outbox.get(entry.client_id)
    assert waiting is not None
    assert waiting.next_attempt_at == clock.now + 7.0
    assert waiting.error_text == RATE_LIMITED_REASON
    assert waiting.error_status == 429
    assert engine.next_due() == clock.now + 7.0
    engine.send_now(entry.client_id)
    assert engine.step()
    assert state(outbox, entry) is EntryState.SENT


@pytest.mark.parametrize(("retry_after", "wait"), [(None, 2.0), (1.0, 2.0), (7.0, 7.0)])
def test_unavailable_is_checked_not_retried_and_retry_after_delays_the_check(
    engine: DeliveryEngine,
    outbox: Outbox,
    api: FakeApi,
    clock: FakeClock,
    retry_after: float | None,
    wait: float,
) -> None:
    api.script = [http(503, retry_after=retry_after)]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    engine.step()
    waiting = outbox.get(entry.client_id)
    assert waiting is not None and waiting.next_attempt_at is not None
    assert waiting.state is EntryState.UNKNOWN
    assert "checking before resending" in (waiting.error_text or "")
    assert waiting.next_attempt_at - clock.now == wait  # max(grace, Retry-After)
    drain(engine, clock)
    assert api.texts("u") == ["hi"]  # absent, so resent once


@pytest.mark.parametrize("status", [502, 503, 504])
def test_proxy_5xx_after_the_message_was_stored_is_not_resent(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock, status: int
) -> None:
    api.script = [StoreThen(http(status, retry_after=1.0))]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    drain(engine, clock)
    assert state(outbox, entry) is EntryState.SENT
    assert api.texts("u") == ["hi"]
    assert len(api.send_calls) == 1


@pytest.mark.parametrize("outcome", ["store-then-timeout", "store-then-drop"])
def test_ambiguous_failure_that_arrived_is_confirmed_not_resent(
    engine: DeliveryEngine,
    outbox: Outbox,
    api: FakeApi,
    clock: FakeClock,
    outcome: Outcome,
) -> None:
    api.script = [outcome]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    engine.step()
    unknown = outbox.get(entry.client_id)
    assert unknown is not None
    assert unknown.state is EntryState.UNKNOWN
    assert unknown.next_attempt_at == clock.now + 2.0  # the grace
    clock.now += 1.9
    assert not engine.step()  # too early to look
    drain(engine, clock)
    sent = outbox.get(entry.client_id)
    assert sent is not None
    assert sent.state is EntryState.SENT
    assert sent.server_id == api.stored["u"][0].id
    assert sent.verifications == 1
    assert api.texts("u") == ["hi"]
    assert len(api.send_calls) == 1


@pytest.mark.parametrize("outcome", ["store-then-timeout", "store-then-drop"])
def test_a_check_looks_in_the_conversation_the_message_was_sent_to(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock, outcome: Outcome
) -> None:
    """A user with two conversations: a message that may have reached the second one is
    looked for there, not in the main one (where it is absent, and a resend would make a
    duplicate), and the main one's messages still go to the main one."""
    api.script = [outcome]
    other = engine.enqueue("u", OutgoingMessage("to the other one"), conversation_id="c2")
    main = engine.enqueue("u", OutgoingMessage("to the main one"))
    drain(engine, clock)
    done = outbox.get(other.client_id)
    assert done is not None and done.state is EntryState.SENT
    assert done.verifications == 1 and done.attempts == 1
    assert done.server_id == api.stored["u#c2"][0].id
    assert api.texts("u#c2") == ["to the other one"]
    assert api.texts("u") == ["to the main one"]
    assert state(outbox, main) is EntryState.SENT


def test_a_message_proven_absent_from_its_conversation_is_resent_there(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.store("u", "already in the main one")
    api.script = [ReadTimedOut("t")]
    entry = engine.enqueue("u", OutgoingMessage("hi"), conversation_id="c2")
    drain(engine, clock)
    done = outbox.get(entry.client_id)
    assert done is not None and done.state is EntryState.SENT and done.attempts == 2
    assert api.texts("u#c2") == ["hi"]
    assert api.texts("u") == ["already in the main one"]


@pytest.mark.parametrize(
    "error", [ReadTimedOut("t"), ConnectionDropped("d"), http(500), http(502), http(504)]
)
def test_ambiguous_failure_that_did_not_arrive_is_resent_once(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock, error: ApiError
) -> None:
    api.script = [error]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    drain(engine, clock)
    done = outbox.get(entry.client_id)
    assert done is not None
    assert done.state is EntryState.SENT
    assert done.attempts == 2
    assert done.verifications == 1
    assert api.texts("u") == ["hi"]


def test_check_waits_at_least_as_long_as_the_failed_attempt_took(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.send_duration = 20.0
    api.script = [ReadTimedOut("no answer within 20 s")]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    engine.step()
    unknown = outbox.get(entry.client_id)
    assert unknown is not None
    assert unknown.next_attempt_at == clock.now + 20.0


def test_repeated_ambiguous_failures_space_out_the_resends(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [http(500)] * 6
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    waits = []
    for _ in range(6):
        engine.step()  # send → 500 → unknown
        unknown = outbox.get(entry.client_id)
        assert unknown is not None and unknown.next_attempt_at is not None
        waits.append(unknown.next_attempt_at - clock.now)
        clock.now = unknown.next_attempt_at
        engine.step()  # check → absent → queued due now
    assert waits[0] == 2.0
    assert waits[-1] >= 8.0  # backoff(5) >= 16 * 0.5
    drain(engine, clock)
    assert api.texts("u") == ["hi"]


def test_failed_check_stays_unknown_and_checks_again_with_backoff(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = ["store-then-timeout"]
    api.history_failures = [ConnectFailed("refused"), http(503)]
    entry = engine.enqueue("u", OutgoingMessage("hi"))
    engine.step()
    clock.now += 2.0
    engine.step()  # check 1 fails
    after_one = outbox.get(entry.client_id)
    assert after_one is not None and after_one.next_attempt_at is not None
    assert after_one.state is EntryState.UNKNOWN
    assert after_one.verifications == 1
    assert "Could not check" in (after_one.error_text or "")
    assert 0.5 <= after_one.next_attempt_at - clock.now <= 1.0
    clock.now = after_one.next_attempt_at
    engine.step()  # check 2 fails
    after_two = outbox.get(entry.client_id)
    assert after_two is not None and after_two.next_attempt_at is not None
    assert 1.0 <= after_two.next_attempt_at - clock.now <= 2.0
    drain(engine, clock)
    done = outbox.get(entry.client_id)
    assert done is not None
    assert done.state is EntryState.SENT
    assert done.verifications == 3
    assert api.texts("u") == ["hi"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_rejection_fails_and_keeps_text_and_server_error(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, status: int
) -> None:
    api.script = [http(status)]
    entry = engine.enqueue("u", OutgoingMessage("my reply"))
    engine.step()
    failed = outbox.get(entry.client_id)
    assert failed is not None
    assert failed.state is EntryState.FAILED
    assert failed.message.text == "my reply"
    assert (failed.error_status, failed.error_code, failed.error_text) == (
        status,
        f"code_{status}",
        f"server says {status}",
    )
    assert not failed.retryable
    assert not engine.step()
    assert engine.next_due() is None


def test_tls_failure_fails_without_retry(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi
) -> None:
    api.script = [TlsFailed("Secure connection failed")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    assert state(outbox, entry) is EntryState.FAILED
    assert len(api.send_calls) == 1


def test_unexpected_exception_is_treated_as_maybe_arrived(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [RuntimeError("bug")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    assert state(outbox, entry) is EntryState.UNKNOWN
    drain(engine, clock)
    assert api.texts("u") == ["x"]


def test_retry_of_failed_really_resends(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [http(400)]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    engine.retry(entry.client_id)
    drain(engine, clock)
    assert state(outbox, entry) is EntryState.SENT
    assert api.texts("u") == ["x"]


def test_edit_sends_the_new_text_under_a_new_wire_id(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [http(413)]
    entry = engine.enqueue("u", OutgoingMessage("x" * 1000))
    engine.step()
    engine.edit(entry.client_id, "short")
    drain(engine, clock)
    assert api.texts("u") == ["short"]
    assert api.stored["u"][0].client_id == f"{entry.client_id}.1"


def test_retry_of_unknown_checks_before_resending(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = ["store-then-timeout"]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    engine.retry(entry.client_id)  # user impatient: Retry right away
    assert engine.step()
    assert state(outbox, entry) is EntryState.SENT
    assert len(api.send_calls) == 1
    assert api.texts("u") == ["x"]


def test_discarded_entry_is_left_alone(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [ConnectFailed("refused")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    engine.discard(entry.client_id)
    drain(engine, clock)
    assert outbox.get(entry.client_id) is None
    assert len(api.send_calls) == 1


# --- engine: the search --------------------------------------------------------------------


def test_search_stops_once_messages_are_older_than_the_first_attempt(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.page_size = 10
    for i in range(100):  # old conversation
        api.store("u", f"old {i}")
    clock.now += 1_000.0
    for i in range(15):  # recent messages
        api.store("u", f"recent {i}")
    api.script = [ConnectionDropped("dropped")]  # not stored
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    clock.now += 2.0
    engine.step()
    assert api.history_calls == 2  # newest page, then one that reaches the old ones
    assert state(outbox, entry) is EntryState.QUEUED
    drain(engine, clock)
    assert api.texts("u")[-1] == "x"
    assert api.texts("u").count("x") == 1


def test_search_finds_a_message_on_an_older_page(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.page_size = 5
    api.script = ["store-then-timeout"]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    for i in range(12):  # the user wrote a lot meanwhile
        api.store("u", f"user {i}")
    drain(engine, clock)
    assert state(outbox, entry) is EntryState.SENT
    assert api.texts("u").count("x") == 1


def test_inconclusive_search_fails_instead_of_risking_a_duplicate(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.page_size = 5
    api.script = [ConnectionDropped("dropped")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    for i in range(40):  # more newer messages than verify_pages + 1 pages hold
        api.store("u", f"user {i}")
    drain(engine, clock)
    failed = outbox.get(entry.client_id)
    assert failed is not None
    assert failed.state is EntryState.FAILED
    assert failed.error_code == UNCONFIRMED_CODE
    assert failed.retryable
    assert api.history_calls == 4  # newest + verify_pages older
    assert "x" not in api.texts("u")


# --- engine: ordering ----------------------------------------------------------------------


def test_a_users_messages_wait_behind_one_in_backoff_other_users_do_not(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [http(429, retry_after=30.0)]
    a1 = engine.enqueue("a", OutgoingMessage("a1"))
    a2 = engine.enqueue("a", OutgoingMessage("a2"))
    b1 = engine.enqueue("b", OutgoingMessage("b1"))
    engine.step()  # a1 → 429
    while engine.step():
        pass
    assert api.texts("b") == ["b1"]
    assert api.texts("a") == []
    assert state(outbox, a2) is EntryState.QUEUED
    assert engine.next_due() == clock.now + 30.0
    drain(engine, clock)
    assert api.texts("a") == ["a1", "a2"]
    assert state(outbox, a1) is state(outbox, b1) is EntryState.SENT


def test_a_users_messages_wait_behind_an_unknown_one(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [ReadTimedOut("t")]
    engine.enqueue("a", OutgoingMessage("a1"))
    engine.enqueue("a", OutgoingMessage("a2"))
    engine.step()
    assert not engine.step()
    assert api.texts("a") == []
    drain(engine, clock)
    assert api.texts("a") == ["a1", "a2"]


def test_a_failed_message_does_not_block_and_its_retry_goes_last(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.script = [http(400)]
    a1 = engine.enqueue("a", OutgoingMessage("a1"))
    engine.enqueue("a", OutgoingMessage("a2"))
    engine.enqueue("a", OutgoingMessage("a3"))
    drain(engine, clock)
    assert api.texts("a") == ["a2", "a3"]
    assert state(outbox, a1) is EntryState.FAILED
    engine.retry(a1.client_id)
    engine.enqueue("a", OutgoingMessage("a4"))
    drain(engine, clock)
    assert api.texts("a") == ["a2", "a3", "a1", "a4"]
    assert [e.message.text for e in outbox.entries_for("prod", "a")] == ["a2", "a3", "a1", "a4"]


def test_due_work_is_done_in_due_order_then_seq(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    for user in ("c", "a", "b"):
        engine.enqueue(user, OutgoingMessage(user))
    drain(engine, clock)
    assert [call[0] for call in api.send_calls] == ["c", "a", "b"]


def test_other_profiles_are_not_touched(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    other = outbox.enqueue("staging", "u", OutgoingMessage("other"))
    assert engine.next_due() is None
    assert not engine.step()
    assert state(outbox, other) is EntryState.QUEUED


# --- engine: restart -----------------------------------------------------------------------


def test_recovered_entry_is_checked_after_the_grace_then_confirmed(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    entry = outbox.enqueue("prod", "u", OutgoingMessage("x"))
    outbox.mark_sending(entry.client_id)
    api.store("u", "x", entry.client_id)  # it arrived; the process died before mark_sent
    recovered = engine.recover()
    assert [e.state for e in recovered] == [EntryState.UNKNOWN]
    assert engine.next_due() == clock.now + 2.0
    assert not engine.step()
    drain(engine, clock)
    assert state(outbox, entry) is EntryState.SENT
    assert api.send_calls == []


def test_recovered_entry_that_never_left_is_sent(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    entry = outbox.enqueue("prod", "u", OutgoingMessage("x"))
    outbox.mark_sending(entry.client_id)
    engine.recover()
    drain(engine, clock)
    assert state(outbox, entry) is EntryState.SENT
    assert api.texts("u") == ["x"]


def test_run_until_idle_returns_true_when_done_and_false_at_deadline(
    outbox: Outbox, api: FakeApi
) -> None:
    real = DeliveryEngine(outbox, api, "prod", verify_grace_s=0.01)
    real.enqueue("u", OutgoingMessage("x"))
    assert real.run_until_idle(deadline=float("inf"))
    assert not real.has_pending()
    api.script = [http(429, retry_after=60.0)]
    real.enqueue("u", OutgoingMessage("y"))
    assert not real.run_until_idle(deadline=time.time() + 0.2)
    assert real.has_pending()


# --- engine: the floor is server time, never the local clock -------------------------------


def skewed_engine(path: Path, api: FakeApi, clock: FakeClock, skew_s: float) -> DeliveryEngine:
    """An engine and outbox whose wall clock is ``skew_s`` off the server's (the fake clock)."""
    return DeliveryEngine(
        Outbox(path / "outbox.sqlite3", clock=lambda: clock.now + skew_s),
        api,
        "prod",
        clock=lambda: clock.now + skew_s,
        rng=random.Random(1),
        backoff=Backoff(base_s=1.0, factor=2.0, cap_s=30.0, jitter=0.5),
        verify_grace_s=2.0,
        verify_pages=3,
        unanchored_pages=6,
        server_time_margin_s=5.0,
    )


def drain_skewed(engine: DeliveryEngine, clock: FakeClock, skew_s: float) -> None:
    for _ in range(500):
        if engine.step():
            continue
        due = engine.next_due()
        if due is None:
            return
        clock.now = max(clock.now, due - skew_s)
    raise AssertionError("engine did not settle")


@pytest.mark.parametrize("skew_s", [-3 * 3600.0, -90.0, 90.0, 3 * 3600.0])
@pytest.mark.parametrize("stored", [True, False])
def test_local_clock_skew_changes_nothing(
    tmp_path: Path, api: FakeApi, clock: FakeClock, skew_s: float, stored: bool
) -> None:
    api.page_size = 10
    for i in range(100):  # an older conversation
        api.store("u", f"old {i}")
    clock.now += 600.0
    engine = skewed_engine(tmp_path, api, clock, skew_s)
    outbox = engine.outbox
    api.script = ["store-then-drop" if stored else ConnectionDropped("dropped")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    for i in range(25):  # the end user keeps writing: 3 pages of newer messages
        clock.now += 0.5
        api.store("u", f"user {i}")
    drain_skewed(engine, clock, skew_s)
    done = outbox.get(entry.client_id)
    outbox.close()
    assert done is not None
    assert api.texts("u").count("x") == 1
    assert (done.state, done.attempts) == (EntryState.SENT, 1 if stored else 2)
    assert api.history_calls <= 4  # the floor, not the page limit, ended the search


def test_without_server_time_the_search_never_guesses(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.send_dates = False
    api.page_size = 10
    for i in range(100):
        api.store("u", f"old {i}")
    api.script = [ConnectionDropped("dropped")]  # not stored
    entry = engine.enqueue("u", OutgoingMessage("x"))
    drain(engine, clock)
    failed = outbox.get(entry.client_id)
    assert failed is not None
    assert failed.state is EntryState.FAILED
    assert failed.error_code == UNCONFIRMED_CODE
    assert "does not say what time it is" in (failed.error_text or "")
    assert api.history_calls == 7  # newest + unanchored_pages older
    assert "x" not in api.texts("u")


def test_without_server_time_reaching_the_start_proves_absence(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    api.send_dates = False
    api.page_size = 10
    for i in range(35):
        api.store("u", f"old {i}")
    api.script = [ConnectionDropped("dropped")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    drain(engine, clock)
    assert state(outbox, entry) is EntryState.SENT
    assert api.texts("u").count("x") == 1


@pytest.mark.parametrize("stored", [True, False])
def test_first_attempt_by_an_earlier_run_is_searched_without_a_floor(
    tmp_path: Path, api: FakeApi, clock: FakeClock, stored: bool
) -> None:
    """The dead process's clock was 2 h ahead; the new one's is right. Its first_attempt_at
    is worthless as a floor (it is 2 h in the server's future): no floor, no guess."""
    api.page_size = 10
    for i in range(100):
        api.store("u", f"old {i}")
    before = skewed_engine(tmp_path, api, clock, 2 * 3600.0)
    entry = before.enqueue("u", OutgoingMessage("x"))
    before.outbox.mark_sending(entry.client_id)  # and the process dies
    before.outbox.close()
    if stored:
        api.store("u", "x", entry.client_id)
    for i in range(25):
        api.store("u", f"user {i}")
    after = skewed_engine(tmp_path, api, clock, 0.0)  # its clock was set right meanwhile
    after.recover()
    drain(after, clock)
    done = after.outbox.get(entry.client_id)
    after.outbox.close()
    assert done is not None
    assert api.texts("u").count("x") == (1 if stored else 0)
    if stored:
        assert done.state is EntryState.SENT
    else:  # 126 messages > 7 pages of 10: can't be ruled out, so not resent
        assert done.state is EntryState.FAILED
        assert done.error_code == UNCONFIRMED_CODE
        assert "before the app was last started" in (done.error_text or "")


def test_after_an_unanchored_search_proved_absence_the_resend_is_anchored(
    outbox: Outbox, api: FakeApi, clock: FakeClock
) -> None:
    engine = DeliveryEngine(
        outbox, api, "prod", clock=clock, verify_pages=3, unanchored_pages=1,
        server_time_margin_s=5.0, verify_grace_s=2.0, rng=random.Random(1),
    )  # fmt: skip
    api.page_size = 10
    for i in range(5):
        api.store("u", f"old {i}")
    clock.now += 100.0
    entry = outbox.enqueue("prod", "u", OutgoingMessage("x"))
    outbox.mark_sending(entry.client_id)  # an earlier run died here; nothing was stored
    engine.recover()
    api.script = [ConnectionDropped("dropped")]  # the resend is lost too (not stored)
    clock.now += 2.0
    assert engine.step()  # unanchored check: 5 messages, the start: proven absent
    assert engine.step()  # the resend, anchored now
    assert state(outbox, entry) is EntryState.UNKNOWN
    for i in range(25):  # 3 pages of newer messages: more than 1 + unanchored_pages
        clock.now += 0.1
        api.store("u", f"user {i}")
    calls = api.history_calls
    drain(engine, clock)
    assert api.history_calls - calls == 3  # stopped at the floor, not at the page limit
    assert state(outbox, entry) is EntryState.SENT
    assert api.texts("u").count("x") == 1


@pytest.mark.parametrize("status", [429, 503])
def test_a_clock_set_back_does_not_stretch_a_wait(
    tmp_path: Path, api: FakeApi, clock: FakeClock, status: int
) -> None:
    """A 2 s wait written as wall-clock time would last an hour after the clock is set an
    hour back (or the app restarts on a clock an hour behind): it lasts 2 s."""
    wall = [0.0]
    mono = FakeClock()
    outbox = Outbox(tmp_path / "outbox.sqlite3", clock=lambda: clock.now + wall[0])
    engine = DeliveryEngine(
        outbox, api, "prod", clock=lambda: clock.now + wall[0], monotonic=mono,
        rng=random.Random(1), verify_grace_s=2.0, server_time_margin_s=5.0,
    )  # fmt: skip
    api.script = [http(status, retry_after=2.0)]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    wall[0] = -3600.0  # the clock is set an hour back
    due = engine.next_due()
    assert due is not None and due - (clock.now + wall[0]) == pytest.approx(2.0)
    clock.now += 1.0
    mono.now += 1.0
    assert not engine.step()
    clock.now += 1.0
    mono.now += 1.0
    assert engine.step()
    for _ in range(5):
        engine.step()
    current = outbox.get(entry.client_id)
    outbox.close()
    assert current is not None and current.state is EntryState.SENT
    assert api.texts("u") == ["x"]


@pytest.mark.parametrize("stored", [True, False])
def test_a_long_search_on_a_flaky_network_resumes_instead_of_starting_over(
    engine: DeliveryEngine, outbox: Outbox, api: FakeApi, clock: FakeClock, stored: bool
) -> None:
    """Every third page fails: a search that starts over never reads 7 pages in a row; one
    that rereads the newest page and resumes where it stopped gets to the start."""
    api.send_dates = False  # no floor: the search must reach the start of the conversation
    api.page_size = 10
    if stored:
        api.script = ["store-then-drop"]
    else:
        api.script = [ConnectionDropped("dropped")]
    entry = engine.enqueue("u", OutgoingMessage("x"))
    engine.step()
    for i in range(55):
        api.store("u", f"user {i}")
    api.history_fail_every = 3
    drain(engine, clock)
    done = outbox.get(entry.client_id)
    assert done is not None
    assert done.state is EntryState.SENT
    assert api.texts("u").count("x") == 1
    assert done.verifications >= 3  # it did fail along the way
