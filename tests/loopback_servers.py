"""Purpose-built loopback peers for the network-edge tests (real sockets, port 0).

* :class:`RecordingProxy` — an HTTP "proxy" that records every request that reaches it
  (``CONNECT`` included, raw bytes too) and refuses all of them: a test asserts on what
  reached it, e.g. that nothing did.
* :class:`TrickleServer` — answers every request by trickling one byte every 0.1 s from
  a chosen point (status line, headers, body, or a TLS handshake record) for up to
  ``limit_s``, and records whether the client left first or the trickle ran its course.
* :class:`OneVersionApi` — a host that speaks only one API version. :func:`v2_only_api`:
  every request outside ``/v2/`` (and ``/sc/v2/``) gets the 404 a v2 host gives for a
  path it does not have, in v2's ``errors[]`` envelope (the OpenAPI spec's error shape).
  :func:`v1_only_api` the other way round: outside ``/v1/`` and ``/v1.1/`` a 404 in v1's
  ``{"error": …}`` envelope. Inside its own version every request is refused with a 401
  in that version's envelope. It records the paths asked for.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class RecordingProxy:
    server: ThreadingHTTPServer
    #: (method, target, headers) of every request that reached the proxy.
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: Every byte of every request head it received.
    raw: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def label(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: RecordingProxy
    raw_requestline: bytes  # set by BaseHTTPRequestHandler (typeshed does not declare it)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _refuse(self) -> None:
        head = self.raw_requestline + bytes(self.headers)
        self.proxy.raw.append(head)
        self.proxy.seen.append((self.command, self.path, dict(self.headers.items())))
        body = b"this proxy refuses everything"
        self.send_response(502 if self.command != "CONNECT" else 403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_CONNECT = _refuse


@contextmanager
def recording_proxy() -> Iterator[RecordingProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
    server.daemon_threads = True
    proxy = RecordingProxy(server)
    handler = type("_BoundProxyHandler", (_ProxyHandler,), {"proxy": proxy})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, name="recording-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def point_proxies_at(monkeypatch: pytest.MonkeyPatch, url: str, no_proxy: str = "") -> None:
    """Set every proxy variable (both spellings) to ``url``; NO_PROXY to ``no_proxy``."""
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, url)
        monkeypatch.setenv(name.lower(), url)
    for name in ("NO_PROXY", "no_proxy"):
        if no_proxy:
            monkeypatch.setenv(name, no_proxy)
        else:
            monkeypatch.delenv(name, raising=False)


# --- trickling answers -----------------------------------------------------------------------

STATUS_START = b"HTTP/1.1 200 O"  # the reason phrase never ends
HEADERS_START = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Slow: "
BODY_START = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n\x89PNG"
#: A TLS handshake record header announcing 16 KB that then never fully arrive.
TLS_START = b"\x16\x03\x03\x40\x00"


@dataclass
class TrickleServer:
    server: socketserver.ThreadingTCPServer
    start: bytes
    limit_s: float
    #: One entry per connection: "client left" or "server finished".
    outcomes: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    #: Set when the first connection has ended (an outcome is recorded).
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_for_outcome(self, timeout_s: float = 10.0) -> str:
        assert self.ended.wait(timeout_s), "the trickling connection never ended"
        return self.outcomes[0]


def _trickle(state: TrickleServer) -> Callable[..., socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(5.0)
            with contextlib.suppress(OSError):
                sock.recv(65536)  # the request head (or a TLS ClientHello)
            outcome = "server finished"
            deadline = time.monotonic() + state.limit_s
            try:
                sock.sendall(state.start)
                while time.monotonic() < deadline and not state.stop.is_set():
                    time.sleep(0.1)
                    sock.sendall(b"a" if state.start != TLS_START else b"\0")
            except OSError:
                outcome = "client left"
            state.outcomes.append(outcome)
            state.ended.set()

    return Handler


@contextmanager
def trickle_server(start: bytes, limit_s: float = 8.0) -> Iterator[TrickleServer]:
    """A loopback server that trickles from ``start`` on, for at most ``limit_s``."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    server.daemon_threads = True
    state = TrickleServer(server, start, limit_s)
    server.RequestHandlerClass = _trickle(state)
    thread = threading.Thread(target=server.serve_forever, name="trickle-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- a host that speaks only one API version ------------------------------------------------

#: Per version: the path prefixes it serves, its 401 for those and its 404 for the rest.
_ONE_VERSION_ANSWERS: dict[str, tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]] = {
    "v2": (
        ("/v2/", "/sc/v2/"),
        {"errors": [{"code": "unauthorized", "title": "Authorization is required"}]},
        {"errors": [{"code": "not_found", "title": "Not Found"}]},
    ),
    "v1.1": (
        ("/v1/", "/v1.1/"),
        {"error": {"code": "unauthorized", "description": "Authorization is required"}},
        {"error": {"code": "not_found", "description": "Resource not found"}},
    ),
}


@dataclass
class OneVersionApi:
    server: ThreadingHTTPServer
    #: The one version it speaks: "v2" or "v1.1".
    speaks: str
    #: Every request path, in order.
    paths: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


class _OneVersionHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: OneVersionApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.api.paths.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        prefixes, unauthorized, not_found = _ONE_VERSION_ANSWERS[self.api.speaks]
        own = self.path.startswith(prefixes)
        status, body = (401, unauthorized) if own else (404, not_found)
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


@contextmanager
def v2_only_api() -> Iterator[OneVersionApi]:
    """A loopback host that has only ``/v2/…`` routes (see :class:`OneVersionApi`)."""
    with one_version_api("v2") as api:
        yield api


@contextmanager
def v1_only_api() -> Iterator[OneVersionApi]:
    """A loopback host that has only ``/v1/…`` and ``/v1.1/…`` routes."""
    with one_version_api("v1.1") as api:
        yield api


@contextmanager
def one_version_api(speaks: str) -> Iterator[OneVersionApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneVersionHandler)
    server.daemon_threads = True
    api = OneVersionApi(server, speaks)
    bound = type("_BoundOneVersionHandler", (_OneVersionHandler,), {"api": api})
    server.RequestHandlerClass = bound
    thread = threading.Thread(target=server.serve_forever, name=f"{speaks}-only-api", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
