"""HTTP transport shared by every request the app makes: total deadlines and proxy choice.

**One deadline per request.** ``requests``/``urllib3`` only know per-operation timeouts: a
connect timeout and a timeout for each single read. A server that trickles its status
line, headers or body one byte at a time never trips either, and would hold the calling
worker (and every request queued behind it) for as long as it likes. Here every request
runs inside a :func:`deadline` scope: a single watchdog thread shuts the request's socket
down (``shutdown(SHUT_RDWR)``, which wakes a blocked ``recv``/``send`` on every platform;
the socket is never closed from the watchdog, so its descriptor can't be reused under the
worker's feet) once the deadline passes, wherever the request is — TLS handshake, CONNECT
through a proxy, sending, waiting for the status line, headers or body. The worker then
gets an ordinary socket error from ``urllib3``, and the caller checks
:attr:`Deadline.expired` to turn it into a timeout. Shutting the socket down from outside
was chosen over recomputing per-``recv`` timeouts because it needs no wrapper around the
socket objects ``http.client`` and ``ssl`` read from: the only hooks are four small
overrides on ``urllib3``'s connection classes (:class:`_DeadlineConnection`).

The connect itself is bounded by the connect timeout, clamped to the time left; the one
stage nothing can interrupt is the system's DNS lookup, which has its own timeouts.

The hooks also record how far the request got (:attr:`Deadline.sent`): as long as no byte
of the request itself has been handed to the socket (only the connect, TLS handshake or a
proxy's CONNECT), the server provably never saw it, and a failure is a "never sent" one.

**Proxies.** The environment's proxy settings (``HTTPS_PROXY``, ``HTTP_PROXY``,
``ALL_PROXY``, ``NO_PROXY``; lower-case names win; the system settings on Windows and
macOS) apply to remote hosts only, see :func:`proxy_for`. A loopback host (the local
sandbox) is always reached directly: its plain-http requests carry the API key and secret,
which must never travel in clear to a proxy. Sessions made here ignore every other
environment setting ``requests`` would read (``.netrc`` credentials, which would replace
the app's own ``Authorization``), except the CA bundle variables ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` that TLS-inspecting corporate proxies need.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils
import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from smooch_desktop.api.hosts import is_loopback_host


class Deadline:
    """The total time budget of one request, enforced by the watchdog.

    ``expired`` turns True once the budget ran out and the socket was shut down;
    ``sent`` once the first byte of the request was handed to the socket (until then
    the server can't have seen the request); ``answering`` once the request was sent
    in full and the answer is awaited.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.sent = False
        self.answering = False
        self._lock = threading.Lock()
        self._done = False
        self._conn: HTTPConnection | None = None
        #: A duplicate of the socket this request connected (covers the TLS handshake,
        #: during which the connection's own socket object is already detached).
        self._dup: socket.socket | None = None

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def phase(self) -> str:
        """ "connecting", "sending" or "answering": how far the request got."""
        if self.answering:
            return "answering"
        return "sending" if self.sent else "connecting"

    # The three calls below belong to this module: its connection hooks (attach, on the
    # requesting thread), its watchdog (expire) and the send wrapper (finish).
    def attach(self, conn: HTTPConnection, sock: socket.socket | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._conn = conn
            if sock is not None:
                if self._dup is not None:
                    self._dup.close()
                try:
                    self._dup = sock.dup()
                except OSError:
                    self._dup = None
            if self.expired:  # ran out while connecting: stop right here
                self._shutdown()

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        targets: list[Any] = [self._dup]
        if self._conn is not None:
            targets.append(self._conn.sock)
        for sock in targets:
            # A TLS-in-TLS transport keeps the real socket in ``.socket``.
            while sock is not None and not isinstance(sock, socket.socket):
                sock = getattr(sock, "socket", None)
            if sock is None:
                continue
            try:
                # The plain socket's shutdown, also for an SSLSocket: SSLSocket.shutdown
                # would drop its TLS state under the reading thread's feet.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                continue  # not connected (any more), or already detached: try the next
            return

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._conn = None
            if self._dup is not None:
                self._dup.close()
                self._dup = None


class _Watchdog:
    """One daemon thread that expires deadlines in time order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._ids), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="http-deadline-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2]._done:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        due = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            due.expire()


_WATCHDOG = _Watchdog()
_current = threading.local()


def current_deadline() -> Deadline | None:
    """The deadline of the request running on this thread, if any."""
    found: Deadline | None = getattr(_current, "deadline", None)
    return found


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run the requests made in this block (on this thread) under one total deadline.

    Put the whole request in it, the body read included; leave the block before the
    response is released to the connection pool (``response.close()``), so the watchdog
    can never shut down a connection another request has taken from the pool meanwhile.
    """
    guard = Deadline(seconds)
    outer = current_deadline()
    _current.deadline = guard
    _WATCHDOG.watch(guard)
    try:
        yield guard
    finally:
        guard.finish()
        _current.deadline = outer


class _DeadlineConnection(HTTPConnection):
    """urllib3's connection, telling the running :class:`Deadline` about its socket."""

    _in_connect = False

    def _new_conn(self) -> socket.socket:
        guard = current_deadline()
        saved = self.timeout
        if guard is not None and isinstance(saved, int | float):
            # A connect attempt may not outlast the request's whole budget.
            self.timeout = max(0.001, min(float(saved), guard.remaining()))
        try:
            sock = super()._new_conn()
        finally:
            self.timeout = saved
        if guard is not None:
            guard.attach(self, sock)
        return sock

    def connect(self) -> None:
        # A proxy's CONNECT is sent from here: it is not a byte of the request itself.
        self._in_connect = True
        try:
            super().connect()
        finally:
            self._in_connect = False

    def request(self, *args: Any, **kwargs: Any) -> None:
        guard = current_deadline()
        if guard is not None:
            guard.attach(self)
        super().request(*args, **kwargs)

    def send(self, data: Any) -> None:
        guard = current_deadline()
        if guard is not None and not self._in_connect:
            if self.sock is None and self.auto_open:
                self.connect()  # so a failed connect is not mistaken for a sent request
            guard.sent = True
        super().send(data)

    def getresponse(self) -> Any:
        guard = current_deadline()
        if guard is not None and not guard.expired:
            # (urllib3 also looks for an answer after a failed send: that's no answer.)
            guard.answering = True
        return super().getresponse()


class _DeadlineHTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {
    "http": _DeadlineHTTPPool,
    "https": _DeadlineHTTPSPool,
}


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connection pools (direct and through proxies) use the hooks."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


def configure_session(session: requests.Session) -> requests.Session:
    """Make ``session`` honour deadlines and take proxies only from :func:`proxies_for`."""
    session.trust_env = False  # no environment proxies or .netrc behind the app's back
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def new_session() -> requests.Session:
    return configure_session(requests.Session())


_T = TypeVar("_T")


def fetch_streamed(
    session: requests.Session,
    url: str,
    read: Callable[[requests.Response], _T],
    *,
    timeout: tuple[float, float],
    deadline_s: float,
    host: str,
    error: Callable[[str], Exception],
) -> _T:
    """GET ``url`` streamed (no proxy for a loopback host) under one total deadline, and
    hand the response to ``read``, which reads the body inside that deadline.

    A network failure raises ``error("couldn't reach HOST")``, a timeout or the deadline
    ``error("HOST did not answer in time")`` (so a body cut short by the deadline is never
    returned as whole); what ``read`` raises passes through. The response is closed either
    way. For images and files, whose errors are shown to the agent by ``host`` only.
    """
    resp: requests.Response | None = None
    try:
        with deadline(deadline_s) as guard:
            try:
                resp = session.get(url, timeout=timeout, stream=True, proxies=proxies_for(url))
                result = read(resp)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if guard.expired or isinstance(exc, requests.Timeout):
                    raise error(f"{host} did not answer in time") from None
                raise error(f"couldn't reach {host}") from None
            if guard.expired:
                raise error(f"{host} did not answer in time")
    finally:
        if resp is not None:
            resp.close()
    return result


def proxy_for(url: str) -> str | None:
    """The proxy to reach ``url`` through, or None for a direct connection.

    * A loopback host (``localhost``, 127.0.0.0/8, ``::1``) never goes through a proxy.
    * A host listed in ``NO_PROXY`` (host names match their subdomains too; IPv4
      addresses also by CIDR, e.g. ``10.0.0.0/8``; ``*`` means every host) goes direct.
    * Otherwise the environment's proxy for the scheme (``HTTPS_PROXY``/``HTTP_PROXY``,
      else ``ALL_PROXY``; on Windows and macOS the system settings when none is set) is
      used. For ``https://`` the proxy only sees ``CONNECT host:port``: TLS runs end to
      end, so the key and secret stay encrypted. The API itself is only ever reached
      over ``http://`` on loopback, so no credential ever crosses a proxy in clear.
    """
    host = urlsplit(url).hostname or ""
    if not host or is_loopback_host(host):
        return None
    proxies = requests.utils.get_environ_proxies(url)
    return requests.utils.select_proxy(url, proxies) or None


def proxies_for(url: str) -> dict[str, str]:
    """``proxies=`` for a ``requests`` call on a session from :func:`new_session`."""
    proxy = proxy_for(url)
    if proxy is None:
        return {}
    return {urlsplit(url).scheme: proxy}


def proxy_label(proxy: str) -> str:
    """The proxy's host and port, for messages: never its user name or password."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host
