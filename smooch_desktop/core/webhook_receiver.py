"""The app's own webhook receiver: a small HTTP server that Smooch posts events to.

:class:`WebhookReceiver` serves on a local port (``127.0.0.1`` by default; port 0 picks a
free one) with Werkzeug's threaded server on a daemon thread. Every call:

1. must be a ``POST`` (a ``HEAD``, as Smooch's target probe at creation, gets an empty
   200; anything else 405);
2. must carry the webhook's secret in ``X-API-Key`` (the header both v1.1 and v2 send:
   docs/architecture.md#sandbox-webhooks), compared in constant time
   (:func:`hmac.compare_digest`); otherwise 401 with a fixed body, nothing of the request
   echoed. Before a secret is set (registration still running) every call gets 401;
3. must be at most :data:`MAX_BODY_BYTES` (413; no more than that is ever read, with or
   without a ``Content-Length``);
4. must be a JSON object (400 otherwise).

A connection lasts at most :data:`REQUEST_DEADLINE_S` however it trickles, and at most
:data:`MAX_CONNECTIONS` are served at once (docs/architecture.md#live-webhooks-hostile).
Then it is queued and answered 200 at once; parsing, deduplication and the callback run
on one dispatcher thread, so a slow consumer never makes Smooch wait (its 20 s timeout
counts as a failure and is retried). A full queue (:data:`QUEUE_LIMIT` bodies or
:data:`QUEUE_BYTES`) answers 503, which Smooch retries.

:func:`parse_payload` turns a body into :class:`WebhookEvent`\\ s: v1.1 (``trigger``,
``app``, ``appUser``, ``messages``/``postbacks``/``activity``…, one trigger per call) and
v2 (``events`` arrays of ``conversation:message``, ``:postback``, ``:read``,
``:typing``…). Messages become :class:`~smooch_desktop.api.models.Message` through the
same ``from_v1``/``from_v2`` the history uses. Events are deduplicated by a bounded set of
recent ids (:class:`RecentIds`): the v2 event ``id``, the v1.1 message ``_id`` (a retried
delivery carries the same ones).

The secret lives in memory only, is never logged, never in an error text nor a ``repr``.
This module holds no Qt (docs/architecture.md#qt-free-core), no registration (that is
``api/webhooks.py``) and no idea of what the app does with an event (the callback's job).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import queue
import socket
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from smooch_desktop.api.models import Message
from smooch_desktop.core.conversation_places import ConversationPlaces
from smooch_desktop.core.inbox import MAX_ID, ConversationKey, HistoryUpdate, InboxStore

log = logging.getLogger(__name__)

SECRET_HEADER: Final = "X-API-Key"
#: Largest body accepted (bytes). A v1.1 call holds one message and the appUser; a v2 call
#: a batch of events. Smooch bounds a message at 4,096 characters of text plus a few
#: kilobytes of actions, items and metadata, so 1 MiB holds any realistic batch.
MAX_BODY_BYTES: Final = 1024 * 1024
#: Bodies waiting for the dispatcher; past it calls are answered 503 (Smooch retries).
QUEUE_LIMIT: Final = 1000
#: Bytes of bodies waiting for the dispatcher; past it 503 too. A parsed 1 MiB body of
#: tiny objects takes some 20 MiB of memory, so 1,000 of them must never wait at once.
QUEUE_BYTES: Final = 16 * 1024 * 1024
#: How many event ids are remembered to drop a redelivered one. Smooch retries within
#: 15 minutes; 10,000 ids cover far more than that at any realistic rate.
DEDUP_LIMIT: Final = 10_000
DEFAULT_HOST: Final = "127.0.0.1"
#: Longest public URL accepted (as the sandbox's webhook target limit).
MAX_URL_LENGTH: Final = 2048
#: Seconds a client may stall mid-request before its thread is freed.
SOCKET_TIMEOUT_S: Final = 10
#: Seconds a whole connection may last, however it trickles (a slow-loris client sending
#: a byte every few seconds never trips :data:`SOCKET_TIMEOUT_S`). 1 MiB in 15 s is
#: 70 kB/s, far slower than any tunnel Smooch calls through.
REQUEST_DEADLINE_S: Final = 15.0
#: Connections served at once; past it a new one gets a bare 503 and is closed (Smooch
#: retries), so a flood of connections can't pile up threads.
MAX_CONNECTIONS: Final = 32
#: Events read from one call (v1.1 ``messages``, v2 ``events``); the rest are dropped
#: (the poll catches up). Smooch sends one message per v1.1 call and small v2 batches.
MAX_EVENTS_PER_CALL: Final = 100
#: Longest user id or external id taken: the list's own limit (the store can key no longer
#: one), far above Smooch's 24-character ids; an event naming a longer one is dropped.
MAX_REF_LENGTH: Final = MAX_ID
#: Longest display name kept (given name and surname are 128 each in the spec).
MAX_NAME_LENGTH: Final = 256

_JSON: Final = "application/json"


class WebhookEvent(NamedTuple):
    """One event from a webhook call, version-neutral.

    ``kind``: ``message``, ``postback``, ``read``, ``typing`` or ``other``. ``user_id`` is
    the user's Smooch id (v1.1 ``appUser._id``, v2 ``user.id``); ``external_id`` the
    business's own id for them (v1.1 ``userId``, v2 ``externalId``), "" if not sent.
    ``app_id`` is the body's ``app._id`` / ``app.id`` ("" if not sent).
    """

    event_id: str
    version: str
    trigger: str
    kind: str
    user_id: str
    external_id: str
    conversation_id: str
    display_name: str = ""
    message: Message | None = None
    app_id: str = ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _kind_of(trigger: str) -> str:
    if trigger.startswith("message:app") or trigger == "conversation:message":
        return "message"
    if trigger.endswith("postback"):
        return "postback"
    if trigger == "conversation:read":
        return "read"
    if trigger in ("typing:appUser", "conversation:typing"):
        return "typing"
    return "other"


def _v1_name(app_user: dict[str, Any], message: dict[str, Any]) -> str:
    """As Smooch's own desk does: given name and surname, else the message's name."""
    name = " ".join(
        p for p in (_str(app_user.get("givenName")), _str(app_user.get("surname"))) if p
    )
    return name or _str(message.get("name"))


def _parse_v1(body: dict[str, Any]) -> list[WebhookEvent]:
    trigger = _str(body.get("trigger"))
    app_user = _dict(body.get("appUser"))
    user_id = _str(app_user.get("_id"))
    external = _str(app_user.get("userId"))
    conversation = _str(_dict(body.get("conversation")).get("_id"))
    app_id = _str(_dict(body.get("app")).get("_id"))
    kind = _kind_of(trigger)
    messages = body.get("messages")
    if kind == "message" and isinstance(messages, list):
        out = []
        for raw in messages[:MAX_EVENTS_PER_CALL]:
            if not isinstance(raw, dict):
                continue
            message = Message.from_v1(raw)
            if not message.id:
                continue
            out.append(
                WebhookEvent(
                    f"message:{message.id}",
                    "v1.1",
                    trigger,
                    kind,
                    user_id or message.author_id,
                    external,
                    conversation,
                    _v1_name(app_user, raw)[:MAX_NAME_LENGTH],
                    message,
                    app_id,
                )
            )
        return out
    # Events without a message id: the trigger, user and timestamp name them.
    stamp = body.get("timestamp")
    when = repr(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else ""
    postbacks = body.get("postbacks")
    action = (
        _dict(_dict(postbacks[0]).get("action"))
        if isinstance(postbacks, list) and postbacks
        else {}
    )
    detail = _str(action.get("_id")) or _str(_dict(body.get("activity")).get("type"))
    event_id = f"{trigger}:{user_id}:{when}:{detail}" if when else ""
    return [
        WebhookEvent(
            event_id, "v1.1", trigger, kind, user_id, external, conversation, app_id=app_id
        )
    ]


def _v2_user(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(user id, external id, display name) of a v2 event's end user."""
    message = _dict(payload.get("message"))
    author = _dict(message.get("author")) or _dict(_dict(payload.get("activity")).get("author"))
    user = _dict(author.get("user")) or _dict(payload.get("user"))
    user_id = _str(user.get("id")) or _str(author.get("userId"))
    external = _str(user.get("externalId"))
    name = _str(author.get("displayName"))
    if not name:
        profile = _dict(user.get("profile"))
        name = " ".join(
            p for p in (_str(profile.get("givenName")), _str(profile.get("surname"))) if p
        )
    return user_id, external, name


def _parse_v2(body: dict[str, Any]) -> list[WebhookEvent]:
    out = []
    app_id = _str(_dict(body.get("app")).get("id"))
    for raw in (body.get("events") or [])[:MAX_EVENTS_PER_CALL]:
        if not isinstance(raw, dict):
            continue
        trigger = _str(raw.get("type"))
        payload = _dict(raw.get("payload"))
        conversation = _str(_dict(payload.get("conversation")).get("id"))
        user_id, external, name = _v2_user(payload)
        kind = _kind_of(trigger)
        message = None
        if kind == "message":
            message = Message.from_v2(payload.get("message"))
            if not message.id:
                message = None
        event_id = _str(raw.get("id"))
        if event_id:
            event_id = f"event:{event_id}"
        elif message is not None:
            event_id = f"message:{message.id}"
        out.append(
            WebhookEvent(
                event_id,
                "v2",
                trigger,
                kind,
                user_id,
                external,
                conversation,
                name[:MAX_NAME_LENGTH],
                message,
                app_id,
            )
        )
    return out


def parse_payload(body: Any) -> list[WebhookEvent]:
    """The events of one webhook body (v1.1 or v2, told apart by their shape); [] for a
    body that is neither. Lenient like the models: an odd field becomes empty."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("events"), list):
        events = _parse_v2(body)
    elif isinstance(body.get("trigger"), str):
        events = _parse_v1(body)
    else:
        return []
    # An id no real user has (the spec bounds external ids at 1,024 characters) would
    # become a list row holding megabytes: such an event is dropped.
    return [
        e
        for e in events
        if len(e.user_id) <= MAX_REF_LENGTH and len(e.external_id) <= MAX_REF_LENGTH
    ]


class RecentIds:
    """The last ``limit`` ids seen, oldest forgotten first. Thread-safe."""

    def __init__(self, limit: int = DEDUP_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be positive")
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen (an empty id is always new)."""
        if not event_id:
            return True
        if len(event_id) > 128:  # a hostile id is remembered by its digest, not its megabytes
            event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            if event_id in self._ids:
                self._ids.move_to_end(event_id)
                return False
            self._ids[event_id] = None
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)


def public_url_problem(url: str) -> str:
    """Why ``url`` can't be a webhook target, as one sentence; "" if it can.

    An http or https URL with a host, no user name or password (Smooch would store them
    and they would travel with every call), no fragment, at most :data:`MAX_URL_LENGTH`.
    """
    text = url.strip()
    if not text:
        return "Enter the public URL that reaches this computer (for example https://…)."
    if len(text) > MAX_URL_LENGTH:
        return f"The URL is longer than {MAX_URL_LENGTH} characters."
    # Format characters too: a right-to-left override would show another address.
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text):
        return "The URL must not contain spaces, control or invisible characters."
    try:
        parts = urlsplit(text)
    except ValueError:  # "http://[::1" and the like
        return "The URL's host is not valid (an IPv6 address goes in [brackets])."
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 and parts.netloc.rsplit("]", 1)[-1].count(":"):
        return "The URL's port is not a number from 1 to 65535."
    if parts.scheme.lower() not in ("http", "https"):
        return "The URL must start with https:// (or http://)."
    if not parts.hostname:
        return "The URL has no host name."
    if parts.username is not None or parts.password is not None:
        return "Leave the user name and password out of the URL: Smooch would store them."
    if parts.fragment:
        return "Leave the #fragment out of the URL: it is never sent to a server."
    return ""


class Applied(NamedTuple):
    """What one pushed message did to the conversation list."""

    key: ConversationKey
    update: HistoryUpdate
    event: WebhookEvent


#: Users looked up per call to place a v2 message in their conversations; past it an
#: event is filed under the user's main conversation (nothing is lost), so a call can't
#: make the app send a hundred lookups.
MAX_LOOKUPS_PER_CALL: Final = 5


def inbox_key(
    store: InboxStore,
    profile: str,
    event: WebhookEvent,
    places: ConversationPlaces | None = None,
    *,
    may_look_up: bool = True,
) -> tuple[ConversationKey | None, str]:
    """The list row an event belongs to, and the conversation's name ("" if none or
    unknown).

    The user is the one already followed under their external id or Smooch id (the agent
    may have typed either), else a new one under the external id (what an agent types),
    else the Smooch id. The conversation (docs/architecture.md#conversations): on v1.1
    always the main one (""). On v2 (``places`` given) a conversation followed as a row
    of its own is that row; else ``places`` says whether it is the user's main one ("")
    or another (keyed by its id); a failed lookup (or none allowed: ``may_look_up``)
    files it under the main one."""
    candidates = [ref for ref in (event.external_id, event.user_id) if ref]
    if not candidates:
        return None, ""
    ref = next(
        (r for r in candidates if store.get(ConversationKey(profile, r, "")) is not None),
        candidates[0],
    )
    conversation = event.conversation_id
    if places is None or event.version != "v2" or not conversation:
        return ConversationKey(profile, ref, ""), ""
    for other in candidates:
        key = ConversationKey(profile, other, conversation)
        row = store.get(key)
        if row is not None:
            return key, row.conversation_name
    try:
        found = places.place(ref, conversation, may_look_up=may_look_up)
    except Exception as exc:  # the lookup failed (network, 404): keep it, on the main row
        log.info("conversation of a live update not placed: %s", type(exc).__name__)
        found = None
    if found is None or found[0]:
        return ConversationKey(profile, ref, ""), ""
    return ConversationKey(profile, ref, conversation), found[1]


class StoreFailed(Exception):
    """The store refused a pushed message (disk full, file gone): ``applied`` holds the
    changes made before it, which must still be announced."""

    def __init__(self, applied: list[Applied], cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.applied = applied
        self.cause = cause


def apply_to_inbox(
    store: InboxStore,
    profile: str,
    events: list[WebhookEvent],
    *,
    app_id: str = "",
    places: ConversationPlaces | None = None,
) -> list[Applied]:
    """Apply the message events to ``store`` (the others are left out); the changes.

    The business's own messages (v2 ``conversation:message`` reports them too) move the
    preview of a followed conversation but never start following one. With ``app_id``,
    an event that names another app is left out (a second app's webhook pointed at the
    same URL). With ``places`` (v2), each message goes to its own conversation's row
    (:func:`inbox_key`); at most :data:`MAX_LOOKUPS_PER_CALL` users are looked up for it
    per call. A store error raises :class:`StoreFailed` with what was applied before it."""
    out: list[Applied] = []
    first = places.lookups if places is not None else 0
    for event in events:
        if event.message is None:
            continue
        if app_id and event.app_id and event.app_id != app_id:
            log.debug("webhook event for another app dropped")
            continue
        try:
            more = places is not None and places.lookups - first < MAX_LOOKUPS_PER_CALL
            key, name = inbox_key(store, profile, event, places, may_look_up=more)
            if key is None or (event.message.is_business and store.get(key) is None):
                continue
            update = store.apply_pushed(
                key, event.message, display_name=event.display_name, conversation_name=name
            )
        except Exception as exc:  # sqlite3 errors (disk full…): stop here, keep what was done
            raise StoreFailed(out, exc) from exc
        out.append(Applied(key, update, event))
    return out


class ReceiverStats(NamedTuple):
    """Counts since start (for tests and the dialog)."""

    accepted: int
    rejected: int
    duplicates: int
    events: int


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging at debug level through ``logging`` (method, path,
    status: never a header, so never the secret)."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("webhook %s %s -> %s", self.command, getattr(self, "path", "?"), code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("webhook http error: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server with a bound on connections and on their life.

    At most ``max_connections`` are served at once (past it a bare 503, then closed); a
    connection older than ``deadline`` seconds is shut down from the serving loop's
    ``service_actions`` (run every poll interval), which ends its thread's read at once.
    """

    def __init__(self, *args: Any, deadline: float, max_connections: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.deadline = deadline
        self.max_connections = max_connections
        self._open: dict[socket.socket, float] = {}
        self._open_lock = threading.Lock()

    def open_connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            full = len(self._open) >= self.max_connections
            if not full:
                self._open[request] = time.monotonic() + self.deadline
        if full:
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def service_actions(self) -> None:
        now = time.monotonic()
        with self._open_lock:
            overdue = [conn for conn, end in self._open.items() if end <= now]
        for conn in overdue:
            _cut(conn)

    def cut_all(self) -> None:
        """Shut every open connection (at stop: their threads end at once)."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            _cut(conn)


_BUSY: Final = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _cut(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its thread
        conn.shutdown(socket.SHUT_RDWR)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: no timestamp or count is infinite
        raise ValueError("not a finite number")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json takes NaN and Infinity


def _reply(status: int, text: str) -> Response:
    body = json.dumps({"status": status, "text": text})
    return Response(body, status=status, content_type=_JSON)


EventsCallback = Callable[[list[WebhookEvent]], None]


class WebhookReceiver:
    """Receives webhook calls on ``host:port`` and hands new events to ``on_events``.

    ``on_events`` runs on the receiver's dispatcher thread, once per call that brought at
    least one new event (duplicates removed). :meth:`start` binds (``OSError`` if the port
    is taken) and serves; :meth:`stop` ends both threads. :meth:`set_secret` arms it.
    """

    def __init__(
        self,
        on_events: EventsCallback,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        max_body: int = MAX_BODY_BYTES,
        queue_limit: int = QUEUE_LIMIT,
        queue_bytes: int = QUEUE_BYTES,
        dedup_limit: int = DEDUP_LIMIT,
        deadline: float = REQUEST_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError("port must be 0 to 65535")
        self._on_events = on_events
        self.host = host
        self._port = port
        self.max_body = max_body
        self.deadline = deadline
        self.max_connections = max_connections
        self._secret = b""
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[dict[str, Any], int] | None] = queue.Queue(queue_limit)
        self.queue_bytes = queue_bytes
        self._queued_bytes = 0
        self._seen = RecentIds(dedup_limit)
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._accepted = self._rejected = self._duplicates = self._events = 0
        #: The WSGI app (a test may wrap it to play a lost answer).
        self.wsgi_app: Callable[..., Any] = self._app

    def __repr__(self) -> str:  # never the secret
        return f"WebhookReceiver({self.host!r}, port={self.port}, armed={self.armed})"

    # Lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port served on (the one chosen for port 0 once started)."""
        return self._server.port if self._server is not None else self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def armed(self) -> bool:
        """Whether a secret is set (calls can be accepted)."""
        with self._lock:
            return bool(self._secret)

    def set_secret(self, secret: str) -> None:
        """The secret calls must carry ("" refuses every call)."""
        with self._lock:
            self._secret = secret.encode("utf-8")

    def start(self) -> WebhookReceiver:
        """Bind and serve; raises ``OSError`` (port taken, not allowed). Idempotent."""
        if self._server is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # Bind ourselves: Werkzeug prints and exits on "address in use".
        listener = socket.create_server((self.host, self._port), family=family)
        try:
            server = _Server(
                self.host,
                self._port,
                lambda environ, start: self.wsgi_app(environ, start),
                _QuietHandler,
                fd=listener.fileno(),
                deadline=self.deadline,
                max_connections=self.max_connections,
            )
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        self._server = server
        serving = threading.Thread(
            target=server.serve_forever,
            # stop() waits up to one interval on the caller's (the GUI) thread.
            kwargs={"poll_interval": 0.05},
            name=f"webhook-receiver:{server.port}",
            daemon=True,
        )
        dispatching = threading.Thread(target=self._dispatch, name="webhook-dispatch", daemon=True)
        self._threads = [serving, dispatching]
        for thread in self._threads:
            thread.start()
        log.info("webhook receiver listening on %s:%s", self.host, server.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and dispatching (events still queued are dropped). Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.cut_all()  # a client still trickling loses its connection, not a thread
        self.set_secret("")
        while True:  # drop what is queued, then wake the dispatcher
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._release(item[1])
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def open_connections(self) -> int:
        """Connections being served now (0 once stopped and their threads ended)."""
        return self._server.open_connections() if self._server is not None else 0

    def stats(self) -> ReceiverStats:
        with self._lock:
            return ReceiverStats(self._accepted, self._rejected, self._duplicates, self._events)

    # HTTP -----------------------------------------------------------------------------------

    def _count(self, accepted: bool) -> None:
        with self._lock:
            if accepted:
                self._accepted += 1
            else:
                self._rejected += 1

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        with self._lock:
            secret = self._secret
        # compare_digest runs in time independent of where the values differ.
        return bool(secret) and hmac.compare_digest(given, secret)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._handle(request)
        self._count(response.status_code == 200 and request.method == "POST")
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status=200)  # Smooch probes a new target with HEAD
        if request.method != "POST":
            return Response(status=405, headers={"Allow": "POST, HEAD"})
        if not self._authorised(request):
            return _reply(401, "Unauthorized")
        length = request.content_length
        if length is not None and length > self.max_body:
            return _reply(413, f"The body is larger than {self.max_body} bytes.")
        stream = request.stream  # bounded by Content-Length when one was sent
        try:
            data = stream.read(self.max_body + 1)
        except (ClientDisconnected, OSError):  # shorter than announced, stalled, cut
            return _reply(400, "The body ended before its Content-Length.")
        if len(data) > self.max_body:
            return _reply(413, f"The body is larger than {self.max_body} bytes.")
        if length is not None and len(data) < length:  # the client gave up half-way
            return _reply(400, "The body ended before its Content-Length.")
        try:
            body = json.loads(data, parse_float=_finite, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return _reply(400, "The body is not JSON.")
        if not isinstance(body, dict):
            return _reply(400, "The body is not a JSON object.")
        size = len(data)
        with self._lock:
            busy = self._queued_bytes + size > self.queue_bytes
            if not busy:
                self._queued_bytes += size
        if busy:
            return _reply(503, "Busy; try again.")
        try:
            self._queue.put_nowait((body, size))
        except queue.Full:
            self._release(size)
            return _reply(503, "Busy; try again.")
        return _reply(200, "OK")

    def _release(self, size: int) -> None:
        with self._lock:
            self._queued_bytes -= size

    # Dispatch -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._server is None:
                return
            body, size = item
            self._release(size)
            events = parse_payload(body)
            fresh = [e for e in events if self._seen.first_time(e.event_id)]
            with self._lock:
                self._duplicates += len(events) - len(fresh)
                self._events += len(fresh)
            if not fresh:
                continue
            try:
                self._on_events(fresh)
            except Exception:  # one bad event must not end live updates
                log.exception("webhook events not handled")
