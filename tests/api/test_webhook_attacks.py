"""The webhook receiver and its registration attacked as a hostile internet would.

The receiver may be reachable by anyone through the agent's tunnel, so: clients that
trickle their headers or body (slow-loris), floods of connections, bodies that lie about
their length, JSON that Python parses but nothing should (NaN, 1e999, nesting 100,000
deep), valid JSON with hostile contents (thousands of messages, megabyte ids, another
app's events, a replay after the dedup window), a full disk under the store, a hostile
server's registration answers, and the secret in logs. Real sockets and real HTTP to the
receiver, and to the sandbox (v1.1 and v2) on loopback port 0; nothing mocked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from api_versions import connect_api, sandbox_api

from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.errors import BadResponse
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.api.webhooks import (
    INTEGRATION_NAME,
    MAX_LEFTOVERS,
    Registration,
    webhooks_for,
)
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.core.webhook_receiver import (
    MAX_EVENTS_PER_CALL,
    MAX_REF_LENGTH,
    SECRET_HEADER,
    StoreFailed,
    WebhookEvent,
    WebhookReceiver,
    apply_to_inbox,
    parse_payload,
    public_url_problem,
)
from smooch_desktop.sandbox import SandboxServer

PROFILE = "attack-profile"
SECRET = "s3cret-for-tests"
DEADLINE = 0.5


class Sink:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.cond = threading.Condition()

    def __call__(self, events: list[WebhookEvent]) -> None:
        with self.cond:
            self.events.extend(events)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
        end = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def receiver(sink: Sink) -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver(sink, port=0, deadline=DEADLINE, max_connections=4).start()
    rec.set_secret(SECRET)
    yield rec
    rec.stop()


def connect(rec: WebhookReceiver) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", rec.port), timeout=5)
    return conn


def read_all(conn: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := conn.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def closed_within(conn: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``conn`` within ``seconds`` (it reads to the end)."""
    conn.settimeout(seconds)
    try:
        while conn.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def head(length: int | None = None, secret: str = SECRET) -> bytes:
    lines = ["POST /hook HTTP/1.1", "Host: x", f"{SECRET_HEADER}: {secret}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --- Slow clients and floods -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_client_is_cut_at_the_deadline(receiver: WebhookReceiver, where: str) -> None:
    """A byte every 0.1 s never trips the per-read timeout; the deadline cuts it."""
    conn = connect(receiver)
    conn.sendall(
        b"POST /hook HTTP/1.1\r\nHost: x\r\nX-Slow: " if where == "headers" else head(1000)
    )
    started = time.monotonic()
    cut = False
    while time.monotonic() - started < 5 * DEADLINE + 2:
        try:
            conn.sendall(b"a")
        except OSError:
            cut = True
            break
        time.sleep(0.1)
    else:
        cut = closed_within(conn, 0.2)
    conn.close()
    assert cut, "a trickling client kept its connection"
    assert wait_for(lambda: receiver.open_connections() == 0)


def test_a_flood_of_connections_is_bounded_and_a_real_call_gets_through_after(
    receiver: WebhookReceiver, sink: Sink
) -> None:
    idle = [connect(receiver) for _ in range(4)]
    assert wait_for(lambda: receiver.open_connections() == 4)
    extra = connect(receiver)
    assert read_all(extra).startswith(b"HTTP/1.1 503")  # not a fifth thread
    extra.close()
    # The idle ones are cut at the deadline; then Smooch's retry is served.
    assert wait_for(lambda: receiver.open_connections() == 0, 5 * DEADLINE + 2)
    body = {"trigger": "message:appUser", "appUser": {"_id": "u1"}, "messages": []}
    response = requests.post(
        f"http://127.0.0.1:{receiver.port}/hook", json=body, headers={SECRET_HEADER: SECRET}
    )
    assert response.status_code == 200
    for conn in idle:
        conn.close()


def test_stopping_cuts_open_connections_at_once(sink: Sink) -> None:
    rec = WebhookReceiver(sink, port=0, deadline=60).start()
    rec.set_secret(SECRET)
    before = threading.active_count()
    conn = connect(rec)
    conn.sendall(head(1000) + b"{")
    assert wait_for(lambda: rec.open_connections() == 1)
    started = time.monotonic()
    rec.stop()
    assert time.monotonic() - started < 1.0
    assert closed_within(conn, 1.0)
    conn.close()
    assert wait_for(lambda: threading.active_count() <= before - 2)  # server + dispatcher too


# --- Bodies that lie or that JSON should not take ----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"events": [], "at": NaN}',
        b'{"events": [], "at": Infinity}',
        b'{"events": [], "at": 1e999}',
        b'{"events": [], "n": ' + b"9" * 5000 + b"}",
        b'{"events": ["\xff\xfe"]}',
    ],
    ids=["nested", "nan", "infinity", "1e999", "huge-int", "not-utf8"],
)
def test_bodies_json_should_not_take_get_400_and_no_server_error(
    receiver: WebhookReceiver, sink: Sink, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conn = connect(receiver)
    conn.sendall(head(len(body)) + body)
    answer = read_all(conn)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:60]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert receiver.stats().accepted == 0


def test_a_body_shorter_than_its_content_length_gets_400_not_500(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conn = connect(receiver)
    conn.sendall(head(100) + b'{"events": []}')
    conn.shutdown(socket.SHUT_WR)  # the client says it is done
    answer = read_all(conn)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:60]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_body_that_never_reaches_its_content_length_is_cut_at_the_deadline(
    receiver: WebhookReceiver,
) -> None:
    conn = connect(receiver)
    conn.sendall(head(100) + b'{"events": []}')
    assert closed_within(conn, 5 * DEADLINE + 2)
    conn.close()


# --- Valid JSON with hostile contents ----------------------------------------------------------


def v1_body(user: str, ids: list[str], app: str = "app1", name: str = "") -> dict[str, Any]:
    return {
        "trigger": "message:appUser",
        "app": {"_id": app},
        "appUser": {"_id": user, "givenName": name},
        "messages": [
            {"_id": i, "type": "text", "text": "hi", "role": "appUser", "received": 1000.0 + n}
            for n, i in ((int(i.strip("mkn") or 0), i) for i in ids)
        ],
    }


def test_a_call_with_thousands_of_messages_yields_at_most_the_cap() -> None:
    body = v1_body("u1", [f"m{n}" for n in range(20_000)])
    assert len(json.dumps(body)) < 2 * 1024 * 1024
    assert len(parse_payload(body)) == MAX_EVENTS_PER_CALL
    v2 = {"app": {"id": "a"}, "events": [{"id": f"e{n}", "type": "x"} for n in range(20_000)]}
    assert len(parse_payload(v2)) == MAX_EVENTS_PER_CALL


def test_an_event_naming_a_megabyte_user_id_is_dropped_and_a_name_is_bounded() -> None:
    assert parse_payload(v1_body("u" * (MAX_REF_LENGTH + 1), ["m1"])) == []
    (event,) = parse_payload(v1_body("u1", ["m1"], name="\u202eevil<b>" * 10_000))
    assert len(event.display_name) <= 256


def test_a_megabyte_event_id_is_remembered_by_its_digest(sink: Sink) -> None:
    rec = WebhookReceiver(sink)
    long_id = "e" * 500_000
    assert rec._seen.first_time(long_id)
    assert not rec._seen.first_time(long_id)
    assert all(len(k) < 200 for k in rec._seen._ids)


def test_events_for_another_app_are_left_out(tmp_path: Path) -> None:
    with InboxStore(tmp_path / "inbox.sqlite3") as store:
        theirs = parse_payload(v1_body("u1", ["m1"], app="other-app"))
        assert apply_to_inbox(store, PROFILE, theirs, app_id="app1") == []
        assert store.conversations(PROFILE) == []
        ours = parse_payload(v1_body("u1", ["m2"], app="app1"))
        assert len(apply_to_inbox(store, PROFILE, ours, app_id="app1")) == 1


def test_a_replay_after_the_dedup_window_changes_nothing(tmp_path: Path) -> None:
    with InboxStore(tmp_path / "inbox.sqlite3") as store:
        applied: list[int] = []
        rec = WebhookReceiver(
            lambda events: applied.append(len(apply_to_inbox(store, PROFILE, events))),
            dedup_limit=2,
        ).start()
        rec.set_secret(SECRET)
        url = f"http://127.0.0.1:{rec.port}/hook"
        try:
            for ids in (["m1"], ["m2"], ["m3"], ["m4"], ["m1"]):  # m1 is forgotten by then
                body = v1_body("u1", ids)
                r = requests.post(url, json=body, headers={SECRET_HEADER: SECRET}, timeout=5)
                assert r.status_code == 200
            assert wait_for(lambda: len(applied) == 5)
        finally:
            rec.stop()
        row = store.get(ConversationKey(PROFILE, "u1"))
        assert row is not None
        assert row.unread == 4  # m1 once, not twice
        assert row.last_seen_id == "m4"


def test_a_full_disk_keeps_what_went_in_before_it(tmp_path: Path) -> None:
    with InboxStore(tmp_path / "inbox.sqlite3") as store:
        store.follow(ConversationKey(PROFILE, "known"), FollowReason.OPENED)
        conn = store._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk is full"
        events = parse_payload(v1_body("known", ["k1"]))
        for n in range(200):  # new users until the file can't grow
            events += parse_payload(v1_body(f"new-user-{n}", [f"n{n}"], name="N" * 200))
        with pytest.raises(StoreFailed) as failed:
            apply_to_inbox(store, PROFILE, events)
        applied = failed.value.applied
        assert applied[0].key.user_ref == "known"
        assert 1 <= len(applied) < len(events)
        assert all(store.get(a.key) is not None for a in applied)


# --- URLs the agent types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:0/hook",
        "http://example.com:99999/hook",
        "http://[::1/hook",
        "https://exa\u202emple.com/hook",
        "https://example.com/ho\u200bok",
        "javascript:alert(1)",
        "https://example.com/" + "a" * 2100,
        "https://example.com/a b",
        "https://user:pw@example.com/",
    ],
)
def test_urls_no_webhook_can_use_are_refused(url: str) -> None:
    assert public_url_problem(url)


@pytest.mark.parametrize(
    "url",
    ["https://bücher.example/hook", "http://[::1]:8742/hook", " https://example.com/hook "],
)
def test_urls_a_webhook_can_use_are_taken(url: str) -> None:
    assert public_url_problem(url) == ""


# --- Registration: a hostile server, the secret in logs ---------------------------------------


class Hostile(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, Any]] = {}
    deletes: ClassVar[list[str]] = []

    def _send(self) -> None:
        if self.command == "DELETE":
            self.deletes.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        key = "list" if self.command == "GET" else "create"
        payload = json.dumps(self.answers[key]).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _send

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "hook",
    [{"id": "w1"}, {"id": "w1", "secret": 5}, {"id": "w1", "secret": "x" * 100_000}],
    ids=["no-secret", "number", "huge"],
)
def test_a_hostile_registration_answer_is_a_bad_response(
    hostile: ThreadingHTTPServer, api_version: str, hook: dict[str, Any]
) -> None:
    Hostile.answers = {
        # A listing whose webhooks are not a list, and a create answer with a bad secret.
        "list": {
            "webhooks": 5,
            "integrations": [
                {"id": "i1", "displayName": "Smooch Desktop live updates", "webhooks": 5}
            ],
        },
        "create": {
            "webhook": {"_id": "w1"} | hook,
            "integration": {"id": "i1", "webhooks": [hook]},
        },
    }
    base = f"http://127.0.0.1:{hostile.server_address[1]}"
    api = connect_api(api_version, base, "app1", Credentials("key", "secret", AuthMethod.BASIC))
    try:
        admin = webhooks_for(api)
        assert admin is not None
        with pytest.raises(BadResponse) as refused:
            admin.register("https://example.com/hook")
        assert "x" * 100 not in str(refused.value)
    finally:
        api.close()


def test_the_secret_is_in_no_log_nor_repr_even_at_debug(
    api_version: str, caplog: pytest.LogCaptureFixture, sink: Sink
) -> None:
    caplog.set_level(logging.DEBUG)
    with SandboxServer(host="127.0.0.1", port=0, demo=False) as server:
        api: ConversationApi = sandbox_api(server, api_version)
        rec = WebhookReceiver(sink, port=0).start()
        try:
            admin = webhooks_for(api)
            assert admin is not None
            registration = admin.register(f"http://127.0.0.1:{rec.port}/hook")
            assert isinstance(registration, Registration)
            assert registration.app_id == server.app_id  # what events are checked against
            rec.set_secret(registration.secret)
            url = f"http://127.0.0.1:{rec.port}/hook"
            for secret in (registration.secret, registration.secret[:-1], ""):
                requests.post(url, data=b"{", headers={SECRET_HEADER: secret}, timeout=5)
            admin.unregister(registration.id)
            texts = [caplog.text, repr(rec), repr(registration), str(rec.stats())]
            assert not [t for t in texts if registration.secret in t]
        finally:
            rec.stop()
            api.close()


def test_huge_headers_are_refused_before_the_secret_is_looked_at(
    receiver: WebhookReceiver,
) -> None:
    conn = connect(receiver)
    long_line = b"X-Big: " + b"a" * 70_000 + b"\r\n"
    with contextlib.suppress(OSError):  # closed while sending: refused all the same
        conn.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\n" + long_line + b"\r\n")
    answer = read_all(conn)
    conn.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431") or answer.startswith(b"HTTP/1.0 4")
    assert receiver.stats().accepted == 0
    assert wait_for(lambda: receiver.open_connections() == 0)


def test_either_shape_is_taken_whatever_was_registered() -> None:
    """A v1.1 body and a v2 body both give their message (the secret proves the caller)."""
    v1 = parse_payload(v1_body("u1", ["m1"]))
    v2 = parse_payload(
        {
            "app": {"id": "app1"},
            "events": [
                {
                    "id": "e1",
                    "type": "conversation:message",
                    "payload": {
                        "message": {
                            "id": "m2",
                            "author": {"type": "user", "userId": "u1"},
                            "content": {"type": "text", "text": "hi"},
                        }
                    },
                }
            ],
        }
    )
    assert [e.version for e in v1 + v2] == ["v1.1", "v2"]
    assert all(e.message is not None and e.user_id == "u1" for e in v1 + v2)


def test_a_hostile_listing_of_thousands_of_leftovers_is_not_deleted_one_by_one(
    hostile: ThreadingHTTPServer, api_version: str
) -> None:
    target = "https://example.com/hook"
    many = [{"_id": f"w{n}", "target": target} for n in range(3000)]
    Hostile.answers = {
        "list": {
            "webhooks": many,
            "integrations": [
                {"id": f"i{n}", "displayName": INTEGRATION_NAME, "webhooks": [{"target": target}]}
                for n in range(100)
            ],
            "meta": {"hasMore": True, "afterCursor": "next"},
        },
        "create": {
            "webhook": {"_id": "w1", "secret": "ok"},
            "integration": {"id": "i1", "webhooks": [{"id": "w1", "secret": "ok"}]},
        },
    }
    Hostile.deletes = []
    base = f"http://127.0.0.1:{hostile.server_address[1]}"
    api = connect_api(api_version, base, "app1", Credentials("key", "secret", AuthMethod.BASIC))
    try:
        admin = webhooks_for(api)
        assert admin is not None
        assert admin.register(target).secret == "ok"
    finally:
        api.close()
    assert len(Hostile.deletes) <= MAX_LEFTOVERS


def test_bodies_waiting_for_a_stuck_consumer_are_bounded_in_bytes_too() -> None:
    """1,000 parsed 1 MiB bodies would take gigabytes: the bytes waiting are bounded."""
    release = threading.Event()
    handled: list[int] = []

    def stuck(events: list[WebhookEvent]) -> None:
        release.wait(10)
        handled.append(len(events))

    rec = WebhookReceiver(stuck, queue_bytes=3000).start()
    rec.set_secret(SECRET)
    url = f"http://127.0.0.1:{rec.port}/hook"
    try:
        statuses = []
        for n in range(10):
            body = v1_body("u1", [f"m{n}"], name="x" * 800)
            r = requests.post(url, json=body, headers={SECRET_HEADER: SECRET}, timeout=5)
            statuses.append(r.status_code)
            time.sleep(0.05)  # the dispatcher takes the first one out (and is stuck in it)
        assert 503 in statuses
        assert statuses.count(200) <= 5
        release.set()
        assert wait_for(lambda: len(handled) == statuses.count(200))
        body = v1_body("u1", ["m99"])
        r = requests.post(url, json=body, headers={SECRET_HEADER: SECRET}, timeout=5)
        assert r.status_code == 200  # room again once the consumer caught up
    finally:
        release.set()
        rec.stop()
