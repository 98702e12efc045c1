"""The REST client: plain Python on a ``requests.Session``.

:class:`HttpClient` is the part every API version shares: base URL, credentials,
timeouts, the one ``send()`` and how its failures are classified.
:class:`SmoochClient` adds the v1.1 (and v1) paths and operations; the v2 adapter
(:mod:`~smooch_desktop.api.v2`) builds its own requests and sends them through an
:class:`HttpClient`, so both versions share one HTTP stack and one set of error rules.

Requests are built by pure functions (``prepare_*``, returning :class:`ApiRequest`) and
sent by :meth:`SmoochClient.send`, so path building, encoding and bodies are testable
without a socket. Every call has connect and read timeouts and one total deadline that
covers all of it (connect, sending, status line, headers, body; see
:mod:`~smooch_desktop.api.transport`); every failure becomes a typed
:mod:`~smooch_desktop.api.errors` exception. Nothing here retries: retry policy belongs to
the outbox, which knows whether a resend is safe.

Proxies: a loopback base URL (the local sandbox, the only place plain ``http://`` is
allowed) is always reached directly, never through a proxy from the environment, so the
key and secret never travel in clear to a proxy. A remote ``https://`` host uses the
environment's proxy (``HTTPS_PROXY``, else ``ALL_PROXY``) unless ``NO_PROXY`` lists it;
the proxy only sees ``CONNECT host:443``, TLS runs end to end.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions

from smooch_desktop import appinfo
from smooch_desktop.api import transport
from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import (
    ApiError,
    BadResponse,
    ConfigError,
    ConnectFailed,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
    TlsFailed,
    error_envelope_kind,
    parse_error_envelope,
    parse_retry_after,
)
from smooch_desktop.api.hosts import validate_base_url
from smooch_desktop.api.multipart import Progress, UploadBody
from smooch_desktop.api.server_clock import ServerClock

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0
#: Largest answer body the client will read, so a misbehaving server can't exhaust memory.
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
#: The slowest upload speed (bytes/s) an upload's total deadline allows for, on top of
#: the usual three read timeouts: 50 MB may take 26 minutes over a poor uplink.
MIN_UPLOAD_RATE = 32 * 1024
ACTIVITY_TYPES = ("typing:start", "typing:stop", "conversation:read")


def encode_segment(value: str) -> str:
    """Percent-encode one path segment so any user ID reaches the server as one literal segment.

    ``/``, ``?``, ``#``, spaces and non-ASCII are all encoded. A segment made only of dots
    would be collapsed by URL normalisation on the way, so it is refused.
    """
    if value.strip(".") == "":
        raise ConfigError("user_id", "A user ID made only of dots can't be used in a URL.")
    return quote(value, safe="")


@dataclass(frozen=True)
class ApiRequest:
    """A request ready to send: method, path (already encoded), query, JSON or file body."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json_body: Any = None
    files: Mapping[str, tuple[str, bytes, str]] | None = field(default=None, repr=False)
    #: A streamed file upload (sent with its own multipart Content-Type and length).
    upload: UploadBody | None = field(default=None, repr=False)
    #: True when resending cannot have an additional effect on the server.
    idempotent: bool = False


@dataclass(frozen=True)
class PathBuilder:
    """Builds v1/v1.1 paths in the full ``/apps/{appId}`` form or the app-scope short form."""

    app_id: str
    version: str = "v1.1"
    short_form: bool = False

    def app(self, *segments: str) -> str:
        prefix = f"/{self.version}"
        if not self.short_form:
            prefix += f"/apps/{encode_segment(self.app_id)}"
        return prefix + "".join(f"/{s}" for s in segments)

    def user(self, user_ref: str, *segments: str) -> str:
        return self.app("appusers", encode_segment(user_ref), *segments)


# --- prepare: pure request builders -------------------------------------------------------


def prepare_post_message(
    paths: PathBuilder, user_ref: str, message: Mapping[str, Any]
) -> ApiRequest:
    body = dict(message)
    body.setdefault("role", "appMaker")
    body.setdefault("type", "text")
    return ApiRequest("POST", paths.user(user_ref, "messages"), json_body=body)


def prepare_activity(
    paths: PathBuilder,
    user_ref: str,
    activity: str,
    *,
    name: str | None = None,
    avatar_url: str | None = None,
) -> ApiRequest:
    if activity not in ACTIVITY_TYPES:
        raise ValueError(f"unknown activity type {activity!r}")
    body: dict[str, Any] = {"role": "appMaker", "type": activity}
    if name:
        body["name"] = name
    if avatar_url:
        body["avatarUrl"] = avatar_url
    return ApiRequest(
        "POST", paths.user(user_ref, "conversation", "activity"), json_body=body, idempotent=True
    )


def prepare_get_app_user(paths: PathBuilder, user_ref: str) -> ApiRequest:
    return ApiRequest("GET", paths.user(user_ref), idempotent=True)


def prepare_create_app_user(
    paths: PathBuilder,
    user_id: str,
    *,
    given_name: str | None = None,
    surname: str | None = None,
    email: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> ApiRequest:
    body: dict[str, Any] = {"userId": user_id}
    for key, value in (("givenName", given_name), ("surname", surname), ("email", email)):
        if value:
            body[key] = value
    if properties:
        body["properties"] = dict(properties)
    return ApiRequest("POST", paths.app("appusers"), json_body=body)


def prepare_get_messages(
    paths: PathBuilder, user_ref: str, *, before: float | None = None, after: float | None = None
) -> ApiRequest:
    if before is not None and after is not None:
        raise ValueError("before and after are mutually exclusive")
    params: dict[str, str] = {}
    if before is not None:
        params["before"] = repr(float(before))
    if after is not None:
        params["after"] = repr(float(after))
    return ApiRequest(
        "GET", paths.user(user_ref, "messages"), params=params or None, idempotent=True
    )


def prepare_upload(
    paths: PathBuilder,
    filename: str,
    data: bytes | BinaryIO,
    media_type: str,
    *,
    for_user: str | None = None,
    progress: Progress | None = None,
) -> ApiRequest:
    """``POST …/attachments``: the file streamed as the multipart field ``source``."""
    owner = ("userId", for_user) if for_user else None
    return attachment_upload(paths.app("attachments"), filename, data, media_type, owner, progress)


def attachment_upload(
    path: str,
    filename: str,
    data: bytes | BinaryIO,
    media_type: str,
    owner: tuple[str, str] | None,
    progress: Progress | None,
) -> ApiRequest:
    """``POST {path}?access=public``, the file streamed as the multipart field ``source``
    (both versions). ``owner`` — v1 ``("userId", …)``, v2 ``("conversationId", …)`` — adds
    ``for=message``: Smooch deletes the file with the message, conversation or user."""
    params = {"access": "public"}
    if owner is not None:
        params["for"] = "message"
        params[owner[0]] = owner[1]
    return ApiRequest(
        "POST",
        path,
        params=params,
        upload=UploadBody("source", filename, data, media_type, progress=progress),
    )


def upload_timeout(
    timeout: tuple[float, float], body: UploadBody
) -> tuple[tuple[float, float], float]:
    """(connect, read) timeouts and the total deadline for an upload of ``body``."""
    read = max(timeout[1], 60.0)
    return (timeout[0], read), 3 * read + len(body) / MIN_UPLOAD_RATE


# --- run ----------------------------------------------------------------------------------


class HttpClient:
    """A thread-safe client for one API host and one API key, whatever the API version.

    One client is shared by the worker threads; ``requests.Session`` connection pools are
    thread-safe for concurrent requests, and nothing else here is mutable.

    Every call has one total deadline of three times its read timeout (60 s by default,
    180 s for uploads), covering connect, sending, status line, headers and body.

    Proxies: a loopback base URL (``localhost``, 127.0.0.0/8, ``::1``) is never reached
    through a proxy. A remote (always ``https://``) base URL uses the environment's proxy
    (``HTTPS_PROXY``, else ``ALL_PROXY``; the system settings on Windows/macOS) unless
    ``NO_PROXY`` lists the host; the proxy sees only ``CONNECT host:port``. Nothing else is
    taken from the environment (no ``.netrc``), except ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE``. A ``session`` given here is configured the same way.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.base_url = validate_base_url(base_url)
        self.host = urlsplit(self.base_url).netloc
        self.credentials = credentials
        self.timeout = (connect_timeout, read_timeout)
        self._session = transport.configure_session(session or requests.Session())
        self._owns_session = session is None
        #: None on loopback (never proxied: the key would cross it in clear) and for hosts
        #: in NO_PROXY; otherwise the environment's proxy, reached with CONNECT.
        self._proxy = transport.proxy_for(self.base_url)
        self._lock = threading.Lock()
        self._closed = False
        #: The server's time, from the ``Date`` of every answer (see ``server_clock``).
        self.server_clock = ServerClock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, {self.credentials!r})"

    def close(self) -> None:
        with self._lock:
            if self._owns_session and not self._closed:
                self._session.close()
            self._closed = True

    # Transport ----------------------------------------------------------------------------

    def send(
        self,
        request: ApiRequest,
        *,
        timeout: tuple[float, float] | None = None,
        deadline_s: float | None = None,
    ) -> dict[str, Any]:
        """Send a prepared request and return the decoded JSON object of a 2xx answer.

        ``deadline_s`` replaces the total deadline of three read timeouts (an upload's
        grows with its size: :func:`upload_timeout`).
        """
        headers = {
            "Authorization": self.credentials.authorization_header(),
            "Accept": "application/json",
            "User-Agent": f"{appinfo.APP_ID}/{appinfo.VERSION}",
        }
        kwargs: dict[str, Any] = {}
        if request.json_body is not None:
            kwargs["data"] = json.dumps(request.json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if request.files is not None:
            kwargs["files"] = dict(request.files)
        if request.upload is not None:
            kwargs["data"] = request.upload
            headers["Content-Type"] = request.upload.content_type
        timeouts = timeout or self.timeout
        kwargs["headers"] = headers
        kwargs["timeout"] = timeouts
        response: requests.Response | None = None
        try:
            # A server that trickles bytes never trips the per-read timeout: one deadline
            # caps the whole call, wherever it is (connect, status line, headers, body).
            # It ends before response.close() hands the connection back to the pool.
            with transport.deadline(deadline_s or 3 * timeouts[1]) as guard:
                try:
                    response = self._open(request, kwargs)
                    return self._read(response, guard.at)
                except ApiError as exc:
                    settled = self._settle(exc, guard)
                    if settled is None:
                        raise
                    raise settled from None
        finally:
            if response is not None:
                response.close()

    def _open(self, request: ApiRequest, kwargs: dict[str, Any]) -> requests.Response:
        """Send the request and return the response once its headers are in."""
        timeouts = kwargs["timeout"]
        try:
            return self._session.request(
                request.method,
                self.base_url + request.path,
                params=request.params,
                allow_redirects=False,
                stream=True,
                proxies={urlsplit(self.base_url).scheme: self._proxy} if self._proxy else {},
                **kwargs,
            )
        except (requests.exceptions.InvalidURL, urllib3.exceptions.LocationValueError):
            raise ConfigError(
                "base_url",
                f"The request URL for {self.host[:80]} is not valid; check the base URL.",
            ) from None
        except requests.exceptions.SSLError:
            raise TlsFailed(
                f"Secure connection to {self.host} failed: its TLS certificate was not accepted."
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise ConnectFailed(
                f"Could not connect to {self.host}: connection timed out."
            ) from None
        except requests.exceptions.ReadTimeout:
            raise ReadTimedOut(f"{self.host} did not answer within {timeouts[1]:g} s.") from None
        except requests.exceptions.ConnectionError as exc:
            raise _classify_connection_error(exc, self.host) from None
        except requests.exceptions.InvalidSchema:
            raise ConnectFailed(
                f"Could not connect to {self.host}: the proxy set in the environment "
                f"({transport.proxy_label(self._proxy or '')}) is not an HTTP proxy; only "
                "HTTP proxies are supported."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ConnectionDropped(
                f"Request to {self.host} failed: {type(exc).__name__}."
            ) from None

    def _settle(self, exc: ApiError, guard: transport.Deadline) -> ApiError | None:
        """The error to raise instead of ``exc``, given how far the request got; or None.

        A failure before the first byte of the request went out (connect, TLS handshake,
        a proxy refusing CONNECT, the deadline passing meanwhile) means the server never
        saw it; once a byte went out, it may have reached the server.
        """
        if isinstance(exc, HttpError):
            return None  # the server's own answer
        if not guard.sent:
            if guard.expired or isinstance(exc, ReadTimedOut):
                return ConnectFailed(f"Could not connect to {self.host}: connection timed out.")
            if isinstance(exc, ConnectFailed | TlsFailed):
                return None  # already "never sent", with its reason
            if self._proxy:
                return ConnectFailed(
                    f"Could not connect to {self.host} through the proxy "
                    f"{transport.proxy_label(self._proxy)}."
                )
            return ConnectFailed(
                f"Could not connect to {self.host}: the connection closed before the "
                "request was sent."
            )
        if not guard.expired or isinstance(exc, ReadTimedOut):
            return None
        if not guard.answering:
            return ReadTimedOut(
                f"Sending the request to {self.host} took too long and was given up on; "
                "it may have reached the server."
            )
        return ReadTimedOut(f"{self.host} sent its answer too slowly and was given up on.")

    def _read(self, response: requests.Response, deadline: float) -> dict[str, Any]:
        status = response.status_code
        self.server_clock.observe_date(response.headers.get("Date"))
        try:
            raw = _read_limited(response, MAX_RESPONSE_BYTES, deadline)
        except _TooSlow:
            raise ReadTimedOut(
                f"{self.host} sent its answer too slowly and was given up on."
            ) from None
        except _TooLarge:
            raise BadResponse(
                f"The answer from {self.host} (HTTP {status}) is larger than "
                f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MB.",
                status=status,
            ) from None
        except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
            raise ReadTimedOut(f"{self.host} stopped answering mid-response.") from None
        except (requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError):
            raise BadResponse(
                f"The answer from {self.host} (HTTP {status}) could not be decompressed.",
                status=status,
            ) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError):
            raise ConnectionDropped(
                f"The connection to {self.host} dropped while reading the answer."
            ) from None
        body: Any = None
        decode_problem: str | None = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                decode_problem = "is not valid UTF-8"
            except json.JSONDecodeError:
                decode_problem = "is not valid JSON (it may be truncated)"
        if status >= 400 or 300 <= status < 400:
            code, description = parse_error_envelope(body)
            if 300 <= status < 400:
                description = description or (
                    "The server redirected the request; check the base URL "
                    f"(redirect to {response.headers.get('Location', '?')[:200]})."
                )
            raise HttpError(
                status,
                code=code,
                description=description,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                host=self.host,
                envelope=error_envelope_kind(body),
            )
        if decode_problem:
            raise BadResponse(
                f"The answer from {self.host} (HTTP {status}) {decode_problem}.", status=status
            )
        if not raw:
            raise BadResponse(
                f"The answer from {self.host} (HTTP {status}) was empty.", status=status
            )
        if not isinstance(body, dict):
            raise BadResponse(
                f"The answer from {self.host} (HTTP {status}) is not a JSON object.", status=status
            )
        return body


class SmoochClient(HttpClient):
    """The v1/v1.1 client: :class:`HttpClient` with the ``/v1.1/apps/{appId}`` operations."""

    def __init__(
        self,
        base_url: str,
        app_id: str,
        credentials: Credentials,
        *,
        version: str = "v1.1",
        short_form: bool = False,
        session: requests.Session | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if version not in ("v1", "v1.1"):
            raise ConfigError("version", f"Unsupported API version {version!r} for this client.")
        if not app_id and not short_form:
            raise ConfigError("app_id", "Enter the app ID.")
        super().__init__(
            base_url,
            credentials,
            session=session,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self.paths = PathBuilder(app_id, version, short_form)

    def __repr__(self) -> str:
        return (
            f"SmoochClient({self.base_url!r}, app_id={self.paths.app_id!r}, {self.credentials!r})"
        )

    # Operations ---------------------------------------------------------------------------

    def post_message(self, user_ref: str, message: Mapping[str, Any]) -> dict[str, Any]:
        """POST an appMaker (by default) message; returns ``{"message", "conversation"}``."""
        return self.send(prepare_post_message(self.paths, user_ref, message))

    def conversation_activity(
        self,
        user_ref: str,
        activity: str,
        *,
        name: str | None = None,
        avatar_url: str | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        request = prepare_activity(self.paths, user_ref, activity, name=name, avatar_url=avatar_url)
        return self.send(request, timeout=timeout)

    def get_app_user(self, user_ref: str) -> dict[str, Any]:
        return self.send(prepare_get_app_user(self.paths, user_ref))

    def create_app_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        return self.send(prepare_create_app_user(self.paths, user_id, **fields))

    def get_messages(
        self, user_ref: str, *, before: float | None = None, after: float | None = None
    ) -> dict[str, Any]:
        return self.send(prepare_get_messages(self.paths, user_ref, before=before, after=after))

    def upload_attachment(
        self,
        filename: str,
        data: bytes | BinaryIO,
        media_type: str,
        *,
        for_user: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        request = prepare_upload(
            self.paths, filename, data, media_type, for_user=for_user, progress=progress
        )
        assert request.upload is not None
        timeout, deadline_s = upload_timeout(self.timeout, request.upload)
        return self.send(request, timeout=timeout, deadline_s=deadline_s)


class _TooSlow(Exception):
    """The whole answer took longer than the call's total deadline."""


class _TooLarge(Exception):
    """The answer is larger than the client is willing to hold in memory."""


def _read_limited(response: requests.Response, limit: int, deadline: float) -> bytes:
    """Read the body, returning as bytes arrive so the deadline is checked between them."""
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    pieces: Iterator[bytes]
    if getattr(raw, "chunked", False) or not hasattr(raw, "read1"):
        pieces = response.iter_content(64 * 1024)  # chunked: yields chunk by chunk
    else:
        pieces = iter(lambda: raw.read1(64 * 1024, decode_content=True), b"")
    for chunk in pieces:
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        if time.monotonic() > deadline:
            raise _TooSlow
        chunks.append(chunk)
    return b"".join(chunks)


def _classify_connection_error(exc: requests.exceptions.ConnectionError, host: str) -> ApiError:
    """Tell 'never sent' (refused, DNS) from 'sent, then the connection dropped'."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        err = pending.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, urllib3.exceptions.NameResolutionError):
            return ConnectFailed(f"Could not find the host {host} (DNS lookup failed).")
        if isinstance(err, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return ConnectFailed(f"Could not connect to {host}: the connection was refused.")
        if isinstance(err, urllib3.exceptions.ConnectTimeoutError):
            return ConnectFailed(f"Could not connect to {host}: connection timed out.")
        if isinstance(err, http.client.BadStatusLine) and not isinstance(
            err, http.client.RemoteDisconnected
        ):
            return ConnectionDropped(f"{host} did not answer in HTTP; check the base URL and port.")
        if isinstance(err, urllib3.exceptions.MaxRetryError):
            pending.append(err.reason)
        pending.extend(a for a in err.args if isinstance(a, BaseException))
        pending.append(err.__cause__)
        pending.append(err.__context__)
    return ConnectionDropped(
        f"The connection to {host} closed before an answer arrived; the request may have "
        "reached the server."
    )
