"""The sandbox's HTTP server: Werkzeug serving on a loopback port, in a daemon thread.

Holds :class:`SandboxServer` (store + fault plan + webhook service + the WSGI app, bound
to a port — port 0 picks a free one — and served by Werkzeug's threaded server, started
and stopped from any thread) and the loopback check. What a request gets is not here: the
WSGI application is ``dispatch.py``, the route table ``routes.py``, the endpoints
``*_handlers.py``; webhook delivery is ``webhooks.py``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from smooch_desktop.sandbox.demo import DEMO_APP_ID, DEMO_KEY_ID, DEMO_SECRET
from smooch_desktop.sandbox.dispatch import DEFAULT_HANG_SECONDS, SandboxApp
from smooch_desktop.sandbox.faults import FaultConfig, FaultPlan
from smooch_desktop.sandbox.store import SandboxStore
from smooch_desktop.sandbox.webhooks import DEFAULT_RETRY_DELAYS, DEFAULT_TIMEOUT, WebhookService

logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging through ``logging`` at debug level instead of stderr.

    A socket timeout keeps a client that stalls mid-request from pinning a thread forever.
    """

    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, getattr(self, "path", "?"), code)

    def log_error(self, format: str, *args: Any) -> None:
        logger.debug("http error: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (IPv4 127/8, IPv6 ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SandboxServer:
    """A running (or startable) sandbox: store + fault plan + threaded HTTP server.

    ``port=0`` picks a free port; :attr:`base_url` tells which. ``demo`` seeds the demo
    users (the demo app and its credentials always exist). ``data_dir`` persists the
    store. ``gravatar_base`` replaces the sandbox's own ``{base_url}/avatar`` in derived
    avatar URLs (e.g. ``https://www.gravatar.com/avatar``). ``clock`` drives message times
    and typing expiry (tests). Non-loopback hosts need ``allow_remote=True``.
    Webhooks go to loopback targets only unless ``allow_remote_webhooks=True`` (an open
    relay otherwise: ``webhooks.py``); ``webhook_retry_delays`` and ``webhook_timeout``
    shorten the retry policy's waits (tests).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        demo: bool = True,
        *,
        gravatar_base: str | None = None,
        clock: Callable[[], float] | None = None,
        allow_remote: bool = False,
        hang_seconds: float = DEFAULT_HANG_SECONDS,
        allow_remote_webhooks: bool = False,
        webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        webhook_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing non-loopback host {host!r} without allow_remote=True")
        self.host = host
        self.port = port
        self.store = SandboxStore(data_dir, demo=demo, clock=clock, gravatar_base=gravatar_base)
        self._plan = FaultPlan(faults or FaultConfig())
        self.webhooks = WebhookService(
            self.store.new_id,
            allow_remote=allow_remote_webhooks,
            retry_delays=webhook_retry_delays,
            timeout=webhook_timeout,
        )
        self.app = SandboxApp(
            self.store, self._plan, hang_seconds=hang_seconds, webhooks=self.webhooks
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # demo credentials (constants; kept as attributes so callers need not import them)
    @property
    def app_id(self) -> str:
        """The demo app id."""
        return DEMO_APP_ID

    @property
    def key_id(self) -> str:
        """The demo app key id."""
        return DEMO_KEY_ID

    @property
    def secret(self) -> str:
        """The demo app key secret (a published constant, not a real secret)."""
        return DEMO_SECRET

    @property
    def faults(self) -> FaultConfig:
        """The active fault configuration."""
        return self._plan.config

    def set_faults(self, faults: FaultConfig) -> None:
        """Switch fault injection at runtime (thread-safe; affects the next request)."""
        self._plan.set_config(faults)

    @property
    def base_url(self) -> str:
        """``http://host:port`` without a trailing slash (port known once started)."""
        if self._server is None and self.port == 0:
            raise RuntimeError("the sandbox is not started: its port is not known yet")
        port = self._server.port if self._server is not None else self.port
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; returns self. Idempotent."""
        with self._lock:
            if self._server is not None:
                return self
            # Bind ourselves: make_server would print and sys.exit(1) on "address in use",
            # which must be a plain OSError for an embedded server.
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            listener = socket.create_server((self.host.strip("[]"), self.port), family=family)
            try:
                server = make_server(
                    self.host,
                    self.port,
                    self.app,
                    threaded=True,
                    request_handler=_QuietHandler,
                    fd=listener.fileno(),
                )
            finally:
                listener.close()  # make_server holds its own duplicate of the socket
            self._server = server
            self.store.base_url = self.base_url
            self.app.stopping.clear()
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"smooch-sandbox:{server.port}",
                daemon=True,
            )
            self._thread.start()
            logger.info("sandbox serving on %s", self.base_url)
            return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: wake hanging/latent requests (they drop), close the socket."""
        with self._lock:
            server, thread = self._server, self._thread
            if server is None:
                return
            self.app.stopping.set()
            server.shutdown()
            if thread is not None:
                thread.join(timeout)
            server.server_close()
            self.app.wait_idle(min(timeout, 2.0))
            self.webhooks.close()  # pending deliveries and retries end with the server
            self._server = None
            self._thread = None

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log (same entries as ``GET /_sandbox/log``)."""
        return self.app.log.entries(since)

    def webhook_log(self, since: int = 0) -> list[dict[str, Any]]:
        """Every webhook delivery attempt and its outcome (``GET /_sandbox/webhooks/log``)."""
        return self.webhooks.deliveries(since)

    def clear_log(self) -> None:
        """Empty the request log."""
        self.app.log.clear()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
