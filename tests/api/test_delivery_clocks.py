"""Exactly once without trusting clocks or status codes: real engine, real HTTP, real sandbox.

The agent's clock is skewed (the engine's and the outbox's ``clock=`` are the whole
process's clock, minutes or hours off), the answer to a send is lost after the server
stored it (dropped connection, or a proxy's 5xx), and the end user keeps writing, so the
history check has to page through 150 newer messages. The outcome is read from the
sandbox's own store: the message is there exactly once and the outbox says sent — or,
when the history really can't tell, the entry says "unconfirmed" and nothing is resent.
Every test runs through the v1.1 and the v2 adapter (``api_version``): v2 pages its
history by cursor and writes ISO timestamps, and the rules must hold all the same.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from api_versions import connect_api, sandbox_api

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Backoff, DeliveryEngine
from smooch_desktop.core.outbox import EntryState, Outbox, OutboxEntry
from smooch_desktop.sandbox import FaultConfig, SandboxServer
from smooch_desktop.sandbox.faults import FaultPlan

PROFILE = "clocks"
USER = "chatty-user"
SENDER = Sender(name="Agent", email="agent@example.com")


@dataclass
class Rig:
    server: SandboxServer
    api: V1Api | V2Api
    outbox: Outbox
    engine: DeliveryEngine
    clock: Callable[[], float]

    def send(self, text: str) -> OutboxEntry:
        return self.engine.enqueue(USER, OutgoingMessage(text, sender=SENDER))

    def entry(self, entry: OutboxEntry) -> OutboxEntry:
        current = self.outbox.get(entry.client_id)
        assert current is not None
        return current

    def settle(self, timeout: float = 30.0) -> None:
        # run_until_idle's deadline is on the engine's (skewed) clock
        assert self.engine.run_until_idle(self.clock() + timeout), "did not settle"

    def copies(self, entry: OutboxEntry) -> int:
        return sum(
            1
            for m in self.server.store.messages(self.server.app_id, USER)
            if (m.get("metadata") or {}).get(CLIENT_ID_METADATA_KEY) == entry.wire_id
        )

    def chatter(self, count: int) -> None:
        """The end user writes ``count`` messages (over HTTP, as the end-user side does)."""
        url = f"{self.server.base_url}/_sandbox/apps/{self.server.app_id}/appusers/{USER}/messages"
        with requests.Session() as session:
            for i in range(count):
                answer = session.post(url, json={"text": f"are you there? {i}"}, timeout=10)
                assert answer.status_code == 201


@pytest.fixture
def make_rig(tmp_path: Path, api_version: str) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(server: SandboxServer, skew_s: float, **engine_options: Any) -> Rig:
        def clock() -> float:
            return time.time() + skew_s

        api = sandbox_api(server, api_version, connect_timeout=1.0, read_timeout=1.0)
        api.create_user(USER)
        outbox = Outbox(tmp_path / f"outbox-{len(made)}.sqlite3", clock=clock)
        engine = DeliveryEngine(
            outbox,
            api,
            PROFILE,
            clock=clock,
            rng=random.Random(5),
            backoff=Backoff(base_s=0.05, factor=2.0, cap_s=0.5),
            verify_grace_s=0.2,
            **engine_options,
        )
        rig = Rig(server, api, outbox, engine, clock)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.outbox.close()
        rig.api.close()


@pytest.mark.parametrize("skew_s", [90.0, 3 * 3600.0])
def test_clock_ahead_answer_lost_after_store_chatty_user_is_not_duplicated(
    sandbox: SandboxServer, make_rig: Callable[..., Rig], skew_s: float
) -> None:
    """Today: floor = local send time - 60 s lies in the server's future, so the newest
    page (150 newer user messages) "proves" absence and the message is sent again."""
    rig = make_rig(sandbox, skew_s)
    rig.send("warm-up")  # an ordinary send first: the app has talked to the server before
    rig.settle()
    sandbox.set_faults(FaultConfig(drop_after_rate=1.0))
    entry = rig.send("stored, answer lost")
    assert rig.engine.step()
    sandbox.set_faults(FaultConfig())
    assert rig.entry(entry).state is EntryState.UNKNOWN
    assert rig.copies(entry) == 1
    rig.chatter(150)
    rig.settle()
    done = rig.entry(entry)
    assert rig.copies(entry) == 1, "sent twice"
    assert (done.state, done.attempts) == (EntryState.SENT, 1)


def test_clock_behind_by_hours_message_not_stored_is_resent_not_failed(
    make_rig: Callable[..., Rig],
) -> None:
    """Today: floor = local send time - 60 s lies hours in the server's past, so four pages
    of history never reach it and a message the server provably lacks ends "unconfirmed"."""
    offset = [-1800.0]
    server = SandboxServer(host="127.0.0.1", port=0, clock=lambda: time.time() + offset[0])
    with server:
        rig = make_rig(server, -3 * 3600.0)
        for i in range(400):  # half an hour ago: an old, long conversation
            server.store.add_user_message(server.app_id, USER, f"earlier {i}")
        offset[0] = 0.0
        server.set_faults(FaultConfig(drop_before_rate=1.0))
        entry = rig.send("never arrived")
        assert rig.engine.step()
        server.set_faults(FaultConfig())
        assert rig.entry(entry).state is EntryState.UNKNOWN
        assert rig.copies(entry) == 0
        rig.chatter(150)
        rig.settle()
        done = rig.entry(entry)
        assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 2, 1)
        assert rig.copies(entry) == 1


# --- the client hands every answer's Date to the server clock ------------------------------


class _DateServer(ThreadingHTTPServer):
    date: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _DateHandler(BaseHTTPRequestHandler):
    server: _DateServer

    def do_GET(self) -> None:
        # The user "u" (id "u1") in the shape of the version asked, with no conversation.
        path = self.path.split("?", 1)[0]
        answer: dict[str, Any] = {"appUser": {"_id": "u1", "userId": "u"}}
        if path.startswith("/v2/"):
            answer = {"user": {"id": "u1", "externalId": "u"}}
            if path.endswith("/clients"):
                answer = {"clients": [], "meta": {"hasMore": False}}
            elif path.endswith("/conversations"):
                answer = {"conversations": [], "meta": {"hasMore": False}}
        body = json.dumps(answer).encode()
        self.send_response_only(200)
        if self.server.date is not None:
            self.send_header("Date", self.server.date)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def date_server() -> Iterator[_DateServer]:
    server = _DateServer(("127.0.0.1", 0), _DateHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.mark.parametrize(
    "date",
    [
        None,
        "",
        "yesterday",
        "Sun, 06 Nov 2011 08:49:37 +0200",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 2011 08:49:37 GMT; <script>",
        "x" * 5000,
    ],
)
def test_absent_or_garbage_date_gives_no_server_time(
    date_server: _DateServer, date: str | None, api_version: str
) -> None:
    date_server.date = date
    api = connect_api(api_version, date_server.base_url, "app", Credentials("k", "s"))
    try:
        assert api.get_user("u").id == "u1"  # the answer itself is fine
        assert api.server_clock is not None and not api.server_clock.known
    finally:
        api.close()


def test_every_answer_tells_the_server_time_whatever_the_local_clock(
    date_server: _DateServer, api_version: str
) -> None:
    server_now = time.time() + 5 * 3600  # the server is hours "ahead" of this machine
    date_server.date = formatdate(server_now, usegmt=True)
    api = connect_api(api_version, date_server.base_url, "app", Credentials("k", "s"))
    try:
        api.get_user("u")
        bound = api.server_clock.lower_bound() if api.server_clock else None
        assert bound is not None
        assert server_now - 2.0 <= bound <= server_now + 0.5
    finally:
        api.close()


# --- a proxy's 5xx after the API stored the message ----------------------------------------


def proxy_seed(status: int, retry_after: bool) -> int:
    """A seed whose first ``error_after_store`` decision is ``status`` (± Retry-After)."""
    for seed in range(1000):
        decision = FaultPlan(FaultConfig(error_after_store_rate=1.0, seed=seed)).decide()
        if (decision.status, decision.retry_after) == (status, retry_after):
            return seed
    raise AssertionError(f"no seed gives {status}")


@pytest.mark.parametrize("skew_s", [0.0, 600.0])
@pytest.mark.parametrize("retry_after", [False, True])
@pytest.mark.parametrize("status", [502, 503, 504])
def test_proxy_5xx_after_store_is_found_not_resent(
    sandbox: SandboxServer,
    make_rig: Callable[..., Rig],
    status: int,
    retry_after: bool,
    skew_s: float,
) -> None:
    """Today a 503 is resent blindly: the message is on the server twice."""
    rig = make_rig(sandbox, skew_s)
    sandbox.set_faults(
        FaultConfig(error_after_store_rate=1.0, seed=proxy_seed(status, retry_after))
    )
    entry = rig.send("stored, then the proxy said 5xx")
    assert rig.engine.step()
    sandbox.set_faults(FaultConfig())
    waiting = rig.entry(entry)
    assert waiting.error_status == status
    assert rig.copies(entry) == 1
    assert waiting.state is EntryState.UNKNOWN
    assert "checking before resending" in (waiting.error_text or "")
    assert waiting.next_attempt_at is not None
    wait = waiting.next_attempt_at - waiting.updated_at
    assert wait == pytest.approx(1.0 if retry_after else 0.2, abs=0.05)  # Retry-After first
    rig.chatter(120)
    rig.settle()
    done = rig.entry(entry)
    assert rig.copies(entry) == 1, "sent twice"
    assert (done.state, done.attempts, done.verifications) == (EntryState.SENT, 1, 1)
