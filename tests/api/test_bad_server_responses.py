"""Bad input from the server, over real HTTP: every broken answer becomes one typed error.

The peer is a tiny misbehaving HTTP server written here (``http.server`` on a loopback
port 0, one thread per connection). The first path segment of the base URL picks how it
misbehaves, e.g. ``http://127.0.0.1:PORT/truncated`` — the client appends its usual
``/v1.1/apps/…`` path behind it. For each misbehaviour this checks that

* the adapter of each API version (:class:`V1Api`, :class:`V2Api`: every test here that
  goes through an adapter runs on v1.1 and on v2, the ``api_version`` fixture) raises
  the right typed error
  (:class:`BadResponse`, :class:`HttpError`, :class:`ReadTimedOut`,
  :class:`ConnectionDropped`) whose message is one clear sentence naming the host and the
  problem — no traceback text, no library jargon, never the secret or the Authorization
  header (not even in the formatted traceback);
* on the send path the real :class:`DeliveryEngine` with a real :class:`Outbox` keeps the
  message: its text is unchanged, it ends ``unknown`` (may have arrived: checked before
  any resend) or ``failed`` (rejected: the user decides), with the error's words.

v2 first looks the user's conversation up (``GET …/users/{id}``, ``GET …/conversations``).
A base URL made with ``lookups_ok`` (``/{scenario}~ok``) answers those lookups properly and
misbehaves on the rest, so a send's misbehaviour hits the send itself; without it every
request misbehaves, lookups included. An error answer comes in the envelope of the
version asked (v1 ``error``, v2 ``errors[]``). v2's own ways to answer badly (an
``errors`` that is not a list, a 404 without any envelope, a user or a sent message
without its id, a page that says "more" without a cursor) are tested after the shared
ones.

Rows of the "Bad input, everywhere" table (docs/bad-input.md) that need the sandbox —
path-like user IDs and attachments over the limit — are at the end.
"""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import pytest
from api_versions import connect_api, sandbox_api

from smooch_desktop.api import client as client_module
from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.client import MAX_RESPONSE_BYTES
from smooch_desktop.api.errors import (
    ApiError,
    BadResponse,
    ConfigError,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
)
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Action, DeliveryEngine, classify
from smooch_desktop.core.outbox import EntryState, Outbox, OutboxEntry

KEY_ID = "app_5e1f00000000000000000001"
SECRET = "s3cr3t-ZmFrZS1zZWNyZXQtZm9yLXRlc3Rz"
BASIC_HEADER = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode("ascii")
#: Short, so "never answers" costs half a second, not twenty.
READ_TIMEOUT_S = 0.5
TEXT = "Hello — your order shipped 📦 today."
#: How long the trickling server keeps a single answer going.
TRICKLE_S = 4.0
#: How long a status line or headers trickle at most: far past the client's deadline
#: (3 x the read timeout), so only the deadline can end the call before the server does.
HEAD_TRICKLE_S = 8.0

# --- the misbehaving server ------------------------------------------------------------------

Behaviour = Callable[["_Handler"], None]
#: Marks a scenario whose v2 user and conversation lookups are answered properly.
LOOKUPS_OK = "~ok"
#: The user and conversation a properly answered v2 lookup gives.
V2_USER_ID = "5f00000000000000000000u1"
V2_CONVERSATION_ID = "5f00000000000000000000c1"


@dataclass
class Misbehaving:
    """A loopback HTTP server that answers each request with the chosen misbehaviour."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    release: threading.Event
    #: (path, headers) of every request received, in order.
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: How each head-trickling answer ended, by path: "client left" (it gave up first)
    #: or "server finished" (the trickle ran its full course).
    trickles: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def base_url(self, scenario: str, *, lookups_ok: bool = False) -> str:
        """The base URL for ``scenario``; ``lookups_ok``: v2's conversation lookups are
        answered properly, so only the request after them misbehaves."""
        return f"http://{self.host}/{scenario}{LOOKUPS_OK if lookups_ok else ''}"

    def paths_seen(self, prefix: str) -> list[str]:
        return [path for path, _ in self.seen if path.startswith(f"/{prefix}/")]


def _send_head(
    handler: _Handler, status: int, headers: dict[str, str], *, reason: str | None = None
) -> None:
    handler.send_response(status, reason)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()


def _answer(handler: _Handler, status: int, body: bytes, content_type: str, **extra: str) -> None:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **extra}
    _send_head(handler, status, headers)
    handler.wfile.write(body)


def _not_json(h: _Handler) -> None:
    _answer(h, 200, b"OK, message received. Have a nice day!\n", "text/plain")


def _truncated_json(h: _Handler) -> None:
    _answer(
        h, 201, b'{"message": {"_id": "5f0000000000000000000001", "text": "Hel', "application/json"
    )


def _short_body(h: _Handler) -> None:
    # Promises 4 KB, sends 40 bytes, closes: the body is cut off by the connection.
    _send_head(h, 201, {"Content-Type": "application/json", "Content-Length": "4096"})
    h.wfile.write(b'{"message": {"_id": "5f00000000000000000')
    h.wfile.flush()
    h.close_connection = True


def _invalid_utf8(h: _Handler) -> None:
    _answer(
        h,
        201,
        b'{"message": {"_id": "5f0000000000000000000001", "text": "caf\xe9 \xff\xfe"}}',
        "application/json; charset=utf-8",
    )


def _json_array(h: _Handler) -> None:
    _answer(h, 201, b'[{"_id": "5f0000000000000000000001", "text": "hi"}]', "application/json")


def _proxy_502(h: _Handler) -> None:
    page = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )
    _answer(h, 502, page, "text/html")


def _empty_200(h: _Handler) -> None:
    _send_head(h, 200, {"Content-Type": "application/json", "Content-Length": "0"})


def _redirect(h: _Handler) -> None:
    # Another host name (same loopback listener, so a followed redirect would be seen).
    target = f"http://localhost:{h.server_state.port}/landing{h.path}"
    _answer(h, 302, b"", "text/plain", Location=target)


def _landing(h: _Handler) -> None:
    _answer(h, 201, b'{"message": {"_id": "5f0000000000000000000099"}}', "application/json")


def _oversized(h: _Handler) -> None:
    size = MAX_RESPONSE_BYTES + 2 * 1024 * 1024
    _send_head(h, 200, {"Content-Type": "application/json", "Content-Length": str(size)})
    chunk = b" " * (1024 * 1024)
    try:
        for _ in range(size // len(chunk)):
            h.wfile.write(chunk)
    except OSError:
        pass  # the client stopped reading at its limit and closed: expected
    h.close_connection = True


def _never_answers(h: _Handler) -> None:
    h.server_state.release.wait(10.0)
    h.close_connection = True


def _reset(h: _Handler) -> None:
    # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.close_connection = True


def _close_silently(h: _Handler) -> None:
    h.close_connection = True


def _not_http(h: _Handler) -> None:
    h.wfile.write(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n")
    h.close_connection = True


def _bad_gzip(h: _Handler) -> None:
    _answer(
        h, 201, b"this is not gzip data at all", "application/json", **{"Content-Encoding": "gzip"}
    )


def _wrong_shape(h: _Handler) -> None:
    _answer(h, 201, b'{"ok": true}', "application/json")


def _is_v2(h: _Handler) -> bool:
    return "/v2/" in h.path


def _error_body(h: _Handler, code: bytes, text: bytes) -> bytes:
    """An error envelope of the version asked: v1 ``error``, v2 ``errors[]``."""
    if _is_v2(h):
        return b'{"errors": [{"code": "' + code + b'", "title": "' + text + b'"}]}'
    return b'{"error": {"code": "' + code + b'", "description": "' + text + b'"}}'


def _huge_error(h: _Handler) -> None:
    _answer(h, 400, _error_body(h, b"bad_request", b"x" * (100 * 1024)), "application/json")


def _error_with_bad_utf8(h: _Handler) -> None:
    _answer(h, 400, _error_body(h, b"bad_request", b"\xff"), "application/json")


def _trickle(h: _Handler) -> None:
    # Headers at once, then one byte every 0.1 s: each read is quick, the answer never ends.
    _send_head(h, 200, {"Content-Type": "application/json", "Content-Length": "100000"})
    deadline = time.monotonic() + TRICKLE_S
    try:
        while time.monotonic() < deadline and not h.server_state.release.is_set():
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass  # the client gave up: what it should do
    h.close_connection = True


def _trickle_head(h: _Handler, start: bytes) -> None:
    # ``start`` at once, then one more byte every 0.1 s: quick reads, no end of the head.
    outcome = "server finished"
    deadline = time.monotonic() + HEAD_TRICKLE_S
    try:
        h.wfile.write(start)
        h.wfile.flush()
        while time.monotonic() < deadline and not h.server_state.release.is_set():
            time.sleep(0.1)
            h.wfile.write(b"a")
            h.wfile.flush()
    except OSError:
        outcome = "client left"
    h.server_state.trickles[h.path] = outcome
    h.close_connection = True


def _trickle_status(h: _Handler) -> None:
    _trickle_head(h, b"HTTP/1.1 200 O")  # the reason phrase never ends


def _trickle_headers(h: _Handler) -> None:
    _trickle_head(h, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ")


def _odd_history(h: _Handler) -> None:
    if _is_v2(h):
        _answer(h, 200, ODD_V2_HISTORY, "application/json")
        return
    body = (
        b'{"conversation": "not an object", "previous": 12, "messages": [null, 5, "text",'
        b' {"_id": 7, "text": ["x"], "role": {}, "received": "yesterday", "actions": "no"},'
        b' {"_id": "m2", "text": "still here", "role": "appUser", "received": 1700000000.5,'
        b' "metadata": [], "name": null}]}'
    )
    _answer(h, 200, body, "application/json")


#: v2's odd page: entries that aren't messages, wrong types, and "more" with a number for
#: a cursor (the oldest message's id is used instead).
ODD_V2_HISTORY = (
    b'{"messages": [null, 5, "text",'
    b' {"id": "m1", "content": ["x"], "author": {}, "received": "yesterday"},'
    b' {"id": "m2", "content": {"type": "text", "text": "still here"},'
    b' "author": {"type": "user", "displayName": null}, "received": "2023-11-14T22:13:20.500Z",'
    b' "metadata": []}], "meta": {"hasMore": true, "beforeCursor": 12}}'
)


def _json(status: int, body: bytes) -> Behaviour:
    return lambda h: _answer(h, status, body, "application/json")


def _upload_without_url(h: _Handler) -> None:
    body = b'{"attachment": {"mediaType": "image/png"}}' if _is_v2(h) else b'{"mediaType": "x"}'
    _answer(h, 201, body, "application/json")


def _answer_v2_lookup(h: _Handler, path: str) -> bool:
    """Answer v2's user and conversation lookups properly; False for any other request."""
    if h.command != "GET" or "/v2/apps/" not in path:
        return False
    route = path.split("/v2/apps/", 1)[1].split("/")[1:]
    if route[:1] == ["users"] and len(route) == 2:
        ref = route[1]
        body = f'{{"user": {{"id": "{V2_USER_ID}", "externalId": "{ref}"}}}}'.encode()
    elif route == ["conversations"]:
        body = (
            b'{"conversations": [{"id": "' + V2_CONVERSATION_ID.encode() + b'", "type":'
            b' "personal", "isDefault": true}], "meta": {"hasMore": false}}'
        )
    else:
        return False
    _answer(h, 200, body, "application/json")
    return True


BEHAVIOURS: dict[str, Behaviour] = {
    "not-json": _not_json,
    "truncated-json": _truncated_json,
    "short-body": _short_body,
    "invalid-utf8": _invalid_utf8,
    "json-array": _json_array,
    "proxy-502": _proxy_502,
    "empty-200": _empty_200,
    "redirect": _redirect,
    "landing": _landing,
    "oversized": _oversized,
    "never-answers": _never_answers,
    "reset": _reset,
    "close-silently": _close_silently,
    "not-http": _not_http,
    "bad-gzip": _bad_gzip,
    "wrong-shape": _wrong_shape,
    "huge-error": _huge_error,
    "error-bad-utf8": _error_with_bad_utf8,
    "trickle": _trickle,
    "trickle-status": _trickle_status,
    "trickle-headers": _trickle_headers,
    "odd-history": _odd_history,
    "upload-without-url": _upload_without_url,
    # v2's own: error envelopes that are not what the spec says, missing ids.
    "errors-object": _json(400, b'{"errors": {"code": "bad_request", "title": "not a list"}}'),
    "errors-string": _json(400, b'{"errors": "bad_request"}'),
    "errors-empty": _json(400, b'{"errors": []}'),
    "errors-odd-items": _json(400, b'{"errors": [{"code": 5, "title": ["x"]}, "x"]}'),
    "errors-object-503": _json(503, b'{"errors": {"code": "service_unavailable"}}'),
    "404-no-envelope": _json(404, b""),
    "404-html": lambda h: _answer(h, 404, b"<h1>Not Found</h1>", "text/html"),
    "user-without-id": _json(200, b'{"user": {"externalId": "user-1", "profile": {}}}'),
    "user-not-object": _json(200, b'{"user": "user-1"}'),
    "messages-not-list": _json(201, b'{"messages": {"id": "5f0000000000000000000001"}}'),
    "messages-without-id": _json(201, b'{"messages": [{"id": 5, "content": {"type": "text"}}]}'),
    "history-no-cursor": _json(
        200,
        b'{"messages": [{"content": {"type": "text", "text": "no id"}, "author": {"type":'
        b' "user"}, "received": "2024-01-01T00:00:00Z"}], "meta": {"hasMore": true}}',
    ),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: Misbehaving

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # read it all, so closing never resets by accident
        self.server_state.seen.append((self.path, dict(self.headers.items())))
        scenario = self.path.split("/")[1]
        if scenario.endswith(LOOKUPS_OK):
            scenario = scenario.removesuffix(LOOKUPS_OK)
            if _answer_v2_lookup(self, self.path.split("?", 1)[0]):
                return
        behaviour = BEHAVIOURS.get(scenario)
        if behaviour is None:
            _answer(self, 500, b"unknown scenario", "text/plain")
            return
        behaviour(self)

    do_GET = do_POST = do_PUT = _handle


@pytest.fixture(scope="module")
def bad_server() -> Iterator[Misbehaving]:
    release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="misbehaving-http", daemon=True)
    state = Misbehaving(server, thread, release)
    _Handler.server_state = state
    thread.start()
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- helpers ---------------------------------------------------------------------------------


def make_api(
    base_url: str, api_version: str, *, read_timeout: float = READ_TIMEOUT_S
) -> V1Api | V2Api:
    return connect_api(
        api_version,
        base_url,
        "5e1f00000000000000000000",
        Credentials(KEY_ID, SECRET),
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )


def assert_clean_message(exc: BaseException, host: str) -> str:
    """The error's text is one sentence naming the host, free of jargon and secrets."""
    assert isinstance(exc, ApiError)
    text = exc.user_message
    assert text == str(exc)
    assert host in text, f"host not named in {text!r}"
    assert "\n" not in text and text.endswith((".", ")")), text
    assert len(text) < 400, text
    for jargon in ("Traceback", "urllib3", "HTTPConnectionPool", "Max retries", "Errno", "0x"):
        assert jargon not in text, text
    assert_no_secret(exc)
    return text


def assert_no_secret(exc: BaseException) -> None:
    """Neither the message nor the whole printed traceback holds the secret or its header."""
    printed = "".join(traceback.format_exception(exc)) + repr(exc)
    for secret in (SECRET, BASIC_HEADER, "Authorization"):
        assert secret not in printed


@dataclass
class SendRig:
    outbox: Outbox
    engine: DeliveryEngine
    entry: OutboxEntry

    def current(self) -> OutboxEntry:
        found = self.outbox.get(self.entry.client_id)
        assert found is not None, "the message was lost from the outbox"
        return found


class SendThrough(Protocol):
    def __call__(self, base_url: str, *, lookups_ok: bool = True) -> SendRig: ...


@pytest.fixture
def send_through(tmp_path: Path, api_version: str) -> Iterator[SendThrough]:
    """Sends one message through the real engine and outbox to ``base_url`` (one step).

    v2's conversation lookups are answered properly: what is tested is the send itself.
    """
    rigs: list[SendRig] = []
    apis: list[V1Api | V2Api] = []

    def make(base_url: str, *, lookups_ok: bool = True) -> SendRig:
        api = make_api(base_url + (LOOKUPS_OK if lookups_ok else ""), api_version)
        apis.append(api)
        outbox = Outbox(tmp_path / f"outbox-{len(rigs)}.sqlite3")
        engine = DeliveryEngine(outbox, api, "p", verify_grace_s=0)
        entry = engine.enqueue("user-1", OutgoingMessage(TEXT, sender=Sender(name="Agent")))
        rig = SendRig(outbox, engine, entry)
        rigs.append(rig)
        assert engine.step() is True
        return rig

    yield make
    for rig in rigs:
        rig.outbox.close()
    for api in apis:
        api.close()


def assert_kept(rig: SendRig, state: EntryState, words: str) -> OutboxEntry:
    """The message is still in the outbox with its text, in ``state``, saying ``words``."""
    entry = rig.current()
    assert entry.message.text == TEXT
    assert entry.state is state, (entry.state, entry.error_text)
    assert entry.error_text and words in entry.error_text, entry.error_text
    for secret in (SECRET, BASIC_HEADER):
        assert secret not in entry.error_text
    return entry


# --- 2xx answers that are not the JSON object the API promises -------------------------------


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("not-json", "(HTTP 200) is not valid JSON"),
        ("truncated-json", "(HTTP 201) is not valid JSON (it may be truncated)"),
        ("invalid-utf8", "(HTTP 201) is not valid UTF-8"),
        ("json-array", "(HTTP 201) is not a JSON object"),
    ],
)
def test_unreadable_2xx_body_is_a_bad_response(
    bad_server: Misbehaving,
    send_through: SendThrough,
    scenario: str,
    words: str,
    api_version: str,
) -> None:
    api = make_api(bad_server.base_url(scenario, lookups_ok=True), api_version)
    with pytest.raises(BadResponse) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    text = assert_clean_message(info.value, bad_server.host)
    assert words in text
    assert info.value.may_have_reached_server
    api.close()

    rig = send_through(bad_server.base_url(scenario))
    assert_kept(rig, EntryState.UNKNOWN, words)


def test_empty_200_body_is_a_bad_response(bad_server: Misbehaving, api_version: str) -> None:
    api = make_api(bad_server.base_url("empty-200"), api_version)
    with pytest.raises(BadResponse) as info:
        api.get_user("user-1")
    text = assert_clean_message(info.value, bad_server.host)
    assert "(HTTP 200)" in text
    api.close()


def test_empty_200_body_says_it_is_empty(bad_server: Misbehaving, api_version: str) -> None:
    api = make_api(bad_server.base_url("empty-200"), api_version)
    with pytest.raises(BadResponse) as info:
        api.get_user("user-1")
    assert "empty" in info.value.user_message
    api.close()


def test_empty_200_on_send_keeps_the_message(
    bad_server: Misbehaving, send_through: SendThrough
) -> None:
    rig = send_through(bad_server.base_url("empty-200"))
    assert_kept(rig, EntryState.UNKNOWN, bad_server.host)


def test_body_cut_short_by_the_connection_is_a_drop(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("short-body", lookups_ok=True), api_version)
    with pytest.raises(ConnectionDropped) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    text = assert_clean_message(info.value, bad_server.host)
    assert "dropped while reading the answer" in text
    assert info.value.may_have_reached_server
    api.close()

    rig = send_through(bad_server.base_url("short-body"))
    assert_kept(rig, EntryState.UNKNOWN, "dropped while reading the answer")


def test_2xx_object_without_a_message_id(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("wrong-shape", lookups_ok=True), api_version)
    with pytest.raises(BadResponse) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    assert "no message id" in info.value.user_message
    assert_no_secret(info.value)
    api.close()

    rig = send_through(bad_server.base_url("wrong-shape"))
    assert_kept(rig, EntryState.UNKNOWN, "no message id")


def test_2xx_object_without_a_message_id_names_the_host(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("wrong-shape", lookups_ok=True), api_version)
    with pytest.raises(BadResponse) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    assert_clean_message(info.value, bad_server.host)
    api.close()


# --- error answers that are not Smooch's -----------------------------------------------------


def test_html_502_from_a_proxy_is_an_http_error(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("proxy-502", lookups_ok=True), api_version)
    with pytest.raises(HttpError) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    err = info.value
    assert err.status == 502 and err.code is None and err.server_description is None
    assert (
        err.user_message == f"Bad gateway between you and the server (502 from {bad_server.host})"
    )
    assert "<html" not in err.user_message and "nginx" not in err.user_message
    assert err.may_have_reached_server and err.is_retryable
    assert_no_secret(err)
    api.close()

    rig = send_through(bad_server.base_url("proxy-502"))
    assert_kept(rig, EntryState.UNKNOWN, "Bad gateway between you and the server (502 from")


def test_html_502_names_the_host(bad_server: Misbehaving, api_version: str) -> None:
    api = make_api(bad_server.base_url("proxy-502"), api_version)
    with pytest.raises(HttpError) as info:
        api.get_user("user-1")
    assert_clean_message(info.value, bad_server.host)
    api.close()


def test_error_envelope_with_invalid_utf8_still_gives_the_status(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("error-bad-utf8"), api_version)
    with pytest.raises(HttpError) as info:
        api.get_user("user-1")
    assert info.value.status == 400
    assert info.value.user_message == (
        f"The server rejected the request as malformed (400 from {bad_server.host})"
    )
    api.close()


def test_100_kb_error_description_is_kept_whole_on_the_error(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("huge-error"), api_version)
    with pytest.raises(HttpError) as info:
        api.get_user("user-1")
    assert info.value.code == "bad_request"
    assert info.value.server_description == "x" * (100 * 1024)
    api.close()

    rig = send_through(bad_server.base_url("huge-error"))
    entry = rig.current()
    assert entry.state is EntryState.FAILED and entry.message.text == TEXT


def test_100_kb_error_description_is_shortened_for_display(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("huge-error"), api_version)
    with pytest.raises(HttpError) as info:
        api.get_user("user-1")
    assert len(info.value.user_message) <= 1000
    api.close()


def test_redirect_to_another_host_is_not_followed(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("redirect", lookups_ok=True), api_version)
    with pytest.raises(HttpError) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    err = info.value
    assert err.status == 302
    assert "redirected the request; check the base URL" in err.user_message
    assert f"redirect to http://localhost:{bad_server.port}/landing/" in err.user_message
    assert_no_secret(err)
    api.close()

    rig = send_through(bad_server.base_url("redirect"))
    assert_kept(rig, EntryState.FAILED, "redirected the request; check the base URL")
    # Nobody followed it: the other host never saw a request (nor the Authorization header).
    assert bad_server.paths_seen("landing") == []


def test_body_over_the_client_limit_is_refused(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("oversized"), api_version, read_timeout=5.0)
    with pytest.raises(BadResponse) as info:
        api.get_user("user-1")
    assert f"larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB" in info.value.user_message
    assert_no_secret(info.value)
    api.close()


def test_body_over_the_client_limit_names_the_host(
    bad_server: Misbehaving, monkeypatch: pytest.MonkeyPatch, api_version: str
) -> None:
    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 1024 * 1024)
    api = make_api(bad_server.base_url("oversized"), api_version, read_timeout=5.0)
    with pytest.raises(BadResponse) as info:
        api.get_user("user-1")
    assert_clean_message(info.value, bad_server.host)
    api.close()


def test_body_over_the_client_limit_on_send_keeps_the_message(
    bad_server: Misbehaving,
    send_through: SendThrough,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 1024 * 1024)
    rig = send_through(bad_server.base_url("oversized"))
    assert_kept(rig, EntryState.UNKNOWN, "larger than 1 MB")


# --- no answer at all ------------------------------------------------------------------------


def test_server_that_never_answers_times_out(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("never-answers"), api_version)
    started = time.monotonic()
    with pytest.raises(ReadTimedOut) as info:
        api.get_user("user-1")
    assert time.monotonic() - started < READ_TIMEOUT_S + 2
    text = assert_clean_message(info.value, bad_server.host)
    assert f"did not answer within {READ_TIMEOUT_S:g} s" in text
    api.close()

    rig = send_through(bad_server.base_url("never-answers"))
    assert_kept(rig, EntryState.UNKNOWN, "did not answer within")
    # The history check (due once as long as the attempt took) meets the same silent
    # server: still unknown, still kept.
    assert rig.engine.next_due() is not None
    wait_for(rig.engine.step)  # nothing to do until the check is due; then it runs
    entry = assert_kept(rig, EntryState.UNKNOWN, "Could not check whether the message arrived")
    assert entry.verifications == 1


def test_server_that_trickles_forever_times_out(bad_server: Misbehaving, api_version: str) -> None:
    # 1 s per read against a byte every 0.1 s: only a total deadline can end this.
    api = make_api(bad_server.base_url("trickle"), api_version, read_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(ReadTimedOut) as info:
            api.get_user("user-1")
        assert time.monotonic() - started < TRICKLE_S
        assert_clean_message(info.value, bad_server.host)
    finally:
        api.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll until ``condition`` holds (a sanity bound, not a speed requirement)."""
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def client_gave_up_first(server: Misbehaving, *path_parts: str) -> bool:
    """True once the trickling answer for the request whose path contains all of
    ``path_parts`` ended because the client left, not because the server ran its course."""

    def matching() -> list[str]:
        return [
            outcome
            for path, outcome in list(server.trickles.items())
            if all(part in path for part in path_parts)
        ]

    wait_for(lambda: bool(matching()))
    return matching() == ["client left"]


@pytest.mark.parametrize("scenario", ["trickle-status", "trickle-headers"])
def test_server_that_trickles_its_status_line_or_headers_times_out(
    bad_server: Misbehaving, scenario: str, api_version: str
) -> None:
    # Per-read timeout 0.5 s against a byte every 0.1 s: the reads never time out, and
    # before the deadline covered the head, the call waited for the server to give up.
    api = make_api(bad_server.base_url(scenario), api_version)
    user = f"head-{scenario}-{api_version}"
    try:
        with pytest.raises(ReadTimedOut) as info:
            api.get_user(user)
    finally:
        api.close()
    text = assert_clean_message(info.value, bad_server.host)
    assert text == f"{bad_server.host} sent its answer too slowly and was given up on."
    assert info.value.may_have_reached_server
    assert client_gave_up_first(bad_server, user)


@pytest.mark.parametrize("scenario", ["trickle-status", "trickle-headers", "trickle"])
def test_trickled_answer_on_send_keeps_the_message_unknown(
    bad_server: Misbehaving, send_through: SendThrough, scenario: str, api_version: str
) -> None:
    rig = send_through(bad_server.base_url(scenario))
    entry = assert_kept(rig, EntryState.UNKNOWN, "sent its answer too slowly and was given up on")
    assert entry.attempts == 1
    if scenario != "trickle":
        messages = (
            f"/conversations/{V2_CONVERSATION_ID}/messages"
            if api_version == "v2"
            else "/user-1/messages"
        )
        assert client_gave_up_first(bad_server, f"/{scenario}{LOOKUPS_OK}/", messages)


def test_trickling_answer_does_not_hold_the_queue_behind_it(
    bad_server: Misbehaving, qtbot: Any, api_version: str
) -> None:
    """The API queue is one FIFO thread: a trickling head must not keep the next call
    waiting until the server stops. The first call ends by its deadline while the server
    is still trickling, then the next one runs."""
    from smooch_desktop.ui.workers import TaskQueue

    slow = make_api(bad_server.base_url("trickle-status"), api_version)
    fast = make_api(bad_server.base_url("odd-history", lookups_ok=True), api_version)
    behind = f"queued-behind-{api_version}"
    queue = TaskQueue("api-under-test")
    events: list[tuple[str, object]] = []

    def record(name: str) -> Callable[[object], None]:
        return lambda outcome: events.append((name, outcome))

    try:
        for name, call in (
            ("slow", lambda: slow.get_user(behind)),
            ("fast", lambda: fast.history("user-1")),
        ):
            queue.submit(call, record(name), record(name))
        # A sanity bound far above the 1.5 s deadline; what matters is how it ended.
        qtbot.waitUntil(lambda: len(events) == 2, timeout=int(HEAD_TRICKLE_S * 3000))
    finally:
        bad_server.release.set()  # never leave the worker stuck (it was, before the fix)
        queue.stop(int(HEAD_TRICKLE_S * 2000))
        bad_server.release.clear()
        queue.deleteLater()
        slow.close()
        fast.close()
    assert [name for name, _ in events] == ["slow", "fast"]
    assert isinstance(events[0][1], ReadTimedOut), events[0][1]
    assert not isinstance(events[1][1], BaseException), events[1][1]
    assert client_gave_up_first(bad_server, behind)


@pytest.mark.parametrize("scenario", ["reset", "close-silently"])
def test_connection_closed_without_an_answer(
    bad_server: Misbehaving, send_through: SendThrough, scenario: str, api_version: str
) -> None:
    api = make_api(bad_server.base_url(scenario, lookups_ok=True), api_version)
    with pytest.raises(ConnectionDropped) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    text = assert_clean_message(info.value, bad_server.host)
    assert "closed before an answer arrived; the request may have reached the server" in text
    api.close()

    rig = send_through(bad_server.base_url(scenario))
    assert_kept(rig, EntryState.UNKNOWN, "closed before an answer arrived")


def test_non_http_answer_is_a_drop_without_secrets(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("not-http"), api_version)
    with pytest.raises(ConnectionDropped) as info:
        api.get_user("user-1")
    assert_clean_message(info.value, bad_server.host)
    api.close()


def test_non_http_answer_says_it_is_not_http(bad_server: Misbehaving, api_version: str) -> None:
    api = make_api(bad_server.base_url("not-http"), api_version)
    with pytest.raises(ApiError) as info:
        api.get_user("user-1")
    assert "HTTP" in info.value.user_message
    api.close()


def test_corrupt_compressed_body_is_kept_on_send(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("bad-gzip"), api_version)
    with pytest.raises(ApiError) as info:
        api.get_user("user-1")
    assert_clean_message(info.value, bad_server.host)
    assert info.value.may_have_reached_server
    api.close()

    rig = send_through(bad_server.base_url("bad-gzip"))
    assert rig.current().state is EntryState.UNKNOWN
    assert rig.current().message.text == TEXT


def test_corrupt_compressed_body_is_a_bad_response(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("bad-gzip"), api_version)
    with pytest.raises(BadResponse):
        api.get_user("user-1")
    api.close()


def test_history_with_wrong_typed_fields_shows_what_it_can(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("odd-history", lookups_ok=True), api_version)
    page = api.history("user-1")
    assert page.messages[-1].text == "still here" and page.messages[-1].id == "m2"
    assert page.messages[-1].role == "user" and page.messages[-1].author_name == ""
    assert page.has_older
    api.close()


def test_history_skips_entries_that_are_not_messages(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("odd-history", lookups_ok=True), api_version)
    page = api.history("user-1")
    assert len(page.messages) == 2
    api.close()


# --- missing ids and URLs, on both versions ---------------------------------------------------


def test_2xx_user_lookup_without_a_user_is_a_bad_response(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("wrong-shape"), api_version)
    with pytest.raises(BadResponse) as info:
        api.get_user("user-1")
    text = assert_clean_message(info.value, bad_server.host)
    assert "user in it" in text and info.value.may_have_reached_server
    api.close()


def test_upload_answer_without_a_url_is_a_bad_response(
    bad_server: Misbehaving, api_version: str
) -> None:
    api = make_api(bad_server.base_url("upload-without-url", lookups_ok=True), api_version)
    with pytest.raises(BadResponse) as info:
        api.upload("a.png", b"\x89PNG", "image/png", user_ref="user-1")
    text = assert_clean_message(info.value, bad_server.host)
    assert "has no" in text and "mediaUrl" in text
    api.close()


# --- v2's own bad answers ----------------------------------------------------------------------

#: The tests below are about v2 answers: ``send_through`` and ``make_api`` speak v2 only.
only_v2 = pytest.mark.parametrize("api_version", ["v2"])


@only_v2
@pytest.mark.parametrize(
    "scenario", ["errors-object", "errors-string", "errors-empty", "errors-odd-items"]
)
def test_v2_errors_that_are_not_the_spec_envelope_still_give_the_status(
    bad_server: Misbehaving, send_through: SendThrough, scenario: str, api_version: str
) -> None:
    """``errors`` must be a list of objects with string ``code`` and ``title``; anything
    else is no envelope at all: the status alone decides, in the status's own words."""
    api = make_api(bad_server.base_url(scenario, lookups_ok=True), api_version)
    with pytest.raises(HttpError) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    err = info.value
    assert err.status == 400 and err.code is None and err.server_description is None
    # A list of objects is v2's envelope even when their fields are of the wrong types.
    assert err.envelope == ("v2" if scenario == "errors-odd-items" else None)
    assert err.user_message == (
        f"The server rejected the request as malformed (400 from {bad_server.host})"
    )
    assert not err.may_have_reached_server and classify(err).action is Action.FAIL
    api.close()
    rig = send_through(bad_server.base_url(scenario))
    assert_kept(rig, EntryState.FAILED, "rejected the request as malformed (400 from")


@only_v2
def test_v2_5xx_with_a_broken_envelope_may_have_arrived(
    bad_server: Misbehaving, send_through: SendThrough, api_version: str
) -> None:
    api = make_api(bad_server.base_url("errors-object-503", lookups_ok=True), api_version)
    with pytest.raises(HttpError) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    err = info.value
    assert (err.status, err.code, err.envelope) == (503, None, None)
    assert err.may_have_reached_server and classify(err).action is Action.VERIFY
    api.close()
    rig = send_through(bad_server.base_url("errors-object-503"))
    assert_kept(rig, EntryState.UNKNOWN, "temporarily unavailable (503 from")


@only_v2
@pytest.mark.parametrize("scenario", ["404-no-envelope", "404-html"])
def test_v2_404_without_an_envelope_is_not_a_working_connection(
    bad_server: Misbehaving, send_through: SendThrough, scenario: str, api_version: str
) -> None:
    """Only v2's own ``user_not_found`` proves host, app and key; a bare 404 (another web
    server, a wrong path) is refused as such, and a send to it is refused, not resent."""
    api = make_api(bad_server.base_url(scenario), api_version)
    with pytest.raises(HttpError) as probe:
        api.check_connection()
    assert (probe.value.status, probe.value.code, probe.value.envelope) == (404, None, None)
    assert_clean_message(probe.value, bad_server.host)
    api.close()
    sender = make_api(bad_server.base_url(scenario, lookups_ok=True), api_version)
    before = len(bad_server.paths_seen(scenario + LOOKUPS_OK))
    with pytest.raises(HttpError) as refused:
        sender.send_message("user-1", OutgoingMessage("hi"))
    assert refused.value.status == 404 and not refused.value.may_have_reached_server
    # The remembered conversation answered 404: looked up once more, then given up.
    posts = [
        p for p in bad_server.paths_seen(scenario + LOOKUPS_OK)[before:] if p.endswith("/messages")
    ]
    assert len(posts) == 2
    sender.close()
    rig = send_through(bad_server.base_url(scenario))
    assert_kept(rig, EntryState.FAILED, "Not found (404 from")


@only_v2
@pytest.mark.parametrize("scenario", ["user-without-id", "user-not-object"])
def test_v2_user_without_an_id_is_a_bad_response(
    bad_server: Misbehaving, send_through: SendThrough, scenario: str, api_version: str
) -> None:
    api = make_api(bad_server.base_url(scenario), api_version)
    with pytest.raises(BadResponse) as info:
        api.get_user("user-1")
    assert_clean_message(info.value, bad_server.host)
    assert "has no user in it" in info.value.user_message
    api.close()
    # On the send path the lookup fails before anything is posted: kept, checked, not lost.
    rig = send_through(bad_server.base_url(scenario), lookups_ok=False)
    assert_kept(rig, EntryState.UNKNOWN, "has no user in it")
    assert not [p for p in bad_server.paths_seen(scenario) if p.endswith("/messages")]


@only_v2
@pytest.mark.parametrize("scenario", ["messages-not-list", "messages-without-id"])
def test_v2_message_answer_without_a_message_id_keeps_the_message_unknown(
    bad_server: Misbehaving, send_through: SendThrough, scenario: str, api_version: str
) -> None:
    api = make_api(bad_server.base_url(scenario, lookups_ok=True), api_version)
    with pytest.raises(BadResponse) as info:
        api.send_message("user-1", OutgoingMessage("hi"))
    assert_clean_message(info.value, bad_server.host)
    assert "accepted the message but its answer has no message id" in info.value.user_message
    api.close()
    rig = send_through(bad_server.base_url(scenario))
    assert_kept(rig, EntryState.UNKNOWN, "no message id")


@only_v2
def test_v2_history_with_more_but_no_usable_cursor_is_not_the_end(
    bad_server: Misbehaving, api_version: str
) -> None:
    """``hasMore`` with neither a ``beforeCursor`` nor a message id to page from: the page
    can't be continued, and must not claim to be the start of the conversation (a history
    check would take that as proof a message never arrived, and send it again)."""
    api = make_api(bad_server.base_url("history-no-cursor", lookups_ok=True), api_version)
    with pytest.raises(BadResponse) as info:
        api.history("user-1")
    text = assert_clean_message(info.value, bad_server.host)
    assert "older messages" in text
    api.close()


# --- rows that need the sandbox: path-like user IDs, attachments -----------------------------


@pytest.mark.parametrize("user_id", ["a/../b", "../admin", "a?b=c#d", "%2e%2e", "x/./y/"])
def test_path_like_user_id_reaches_the_sandbox_as_one_segment(
    sandbox: Any, user_id: str, api_version: str
) -> None:
    api = sandbox_api(sandbox, api_version)
    created = api.create_user(user_id, given_name="Path")
    assert created.user_id == user_id
    fetched = api.get_user(user_id)
    assert fetched.id == created.id and fetched.user_id == user_id
    lookup = next(e for e in reversed(sandbox.log()) if "/conversations" not in e["path"])
    assert lookup["method"] == "GET" and lookup["status"] == 200
    users = "/appusers/" if api_version == "v1.1" else "/users/"
    segment = lookup["path"].rsplit(users, 1)[1].removesuffix("/clients")
    assert "/" not in segment  # one literal segment, nothing resolved on the way
    sent = api.send_message(user_id, OutgoingMessage("to a path-like id"))
    assert sent.id
    stored = sandbox.store.messages(sandbox.app_id, user_id)
    assert stored[-1]["text"] == "to a path-like id"
    api.close()


@pytest.mark.parametrize("user_id", ["..", ".", "..."])
def test_dot_only_user_id_fails_locally_and_is_kept(
    sandbox: Any, tmp_path: Path, user_id: str, api_version: str
) -> None:
    api = sandbox_api(sandbox, api_version)
    with pytest.raises(ConfigError) as info:
        api.get_user(user_id)
    assert info.value.field == "user_id" and "only of dots" in info.value.message
    before = len(sandbox.log())
    with Outbox(tmp_path / "dots.sqlite3") as outbox:
        engine = DeliveryEngine(outbox, api, "p", verify_grace_s=0)
        entry = engine.enqueue(user_id, OutgoingMessage(TEXT))
        assert engine.step() is True
        kept = outbox.get(entry.client_id)
        assert kept is not None and kept.state is EntryState.FAILED
        assert kept.message.text == TEXT and kept.error_text == info.value.message
    assert len(sandbox.log()) == before  # nothing was sent
    api.close()


def test_attachment_over_10_mb_is_the_sandbox_413_on_v1_1(sandbox: Any) -> None:
    # v1.1 takes 10 MB; v2 takes 50 MB and refuses more before sending (test_client_sandbox).
    api = sandbox_api(sandbox, "v1.1")
    data = b"\0" * (10 * 1024 * 1024 + 1)
    with pytest.raises(HttpError) as info:
        api.upload("big.bin", data, "application/octet-stream")
    err = info.value
    assert err.status == 413 and err.code == "payload_too_large"
    assert err.server_description == "Attachments are limited to 10 MB"
    assert err.user_message == (
        "Too large for the server (413 payload_too_large from "
        f"{api.host}): Attachments are limited to 10 MB"
    )
    assert not err.is_retryable
    api.close()


def test_empty_attachment(sandbox: Any, api_version: str) -> None:
    api = sandbox_api(sandbox, api_version)
    url, kind = api.upload("empty.txt", b"", "text/plain")
    assert url.startswith(sandbox.base_url) and kind == "text/plain"
    api.close()
