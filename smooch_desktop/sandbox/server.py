"""The sandbox HTTP server: a Smooch v1/v1.1-compatible API on loopback, plus inspection.

Routing is a Werkzeug :class:`~werkzeug.routing.Map` matched against the *raw* request path
(``RAW_URI``), not ``PATH_INFO``: Werkzeug's dev server percent-decodes ``PATH_INFO``, which
would turn a userId sent as ``a%2Fb`` into two segments. Each ``<seg:…>`` is decoded on its
own, so a userId like ``a/../b`` or ``vip/chloé`` round-trips literally, as on Smooch.

Namespaces:

* ``/v1/…`` and ``/v1.1/…`` — the API: auth, fault injection and the request log apply;
  full form ``/apps/{appId}/…`` and app-scope short form (the key's own app);
* ``/_sandbox/…`` — log, faults, typing state, end-user writes, media: no auth, no faults;
* ``/``, ``/users/…`` — end-user web pages; ``/avatar/…`` — Gravatar-compatible avatars.

Choices where the public docs are silent (inferred):

* Basic auth is accepted on ``/v1/`` as well as ``/v1.1/`` (the docs do not say);
* a valid key used with another app's id → 403 ``forbidden`` if that app exists, else
  404 ``not_found`` "App not found";
* JSON bodies over 100 KB and attachments over 10 MiB → 413 ``payload_too_large``;
* unknown paths → 404 ``not_found``, wrong method → 405 ``method_not_allowed`` (+ ``Allow``);
* activity or ``conversation/read`` for a user without a conversation → 404 (only posting a
  message creates one); ``conversation:read`` activity is stored but leaves
  ``unreadCount`` alone (it counts what the *user* has not read);
* GET messages adds ``previous`` (``?before=<first.received>``) when older messages exist
  and ``next`` (``?after=<last.received>``) when newer ones do; both absent otherwise;
* an unexpected sandbox bug answers 500 ``internal_error`` instead of crashing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import mimetypes
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import BaseConverter, Map, RequestRedirect, Rule, ValidationError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from smooch_desktop.sandbox import avatars, pages
from smooch_desktop.sandbox.auth import Principal, auth_kind, authenticate
from smooch_desktop.sandbox.demo import DEMO_APP_ID, DEMO_AVATAR_EMAILS, DEMO_KEY_ID, DEMO_SECRET
from smooch_desktop.sandbox.errors import ErrorReply, bad_request, dumps
from smooch_desktop.sandbox.faults import (
    DROP_AFTER,
    DROP_BEFORE,
    ERROR,
    ERROR_AFTER_STORE,
    HANG,
    PROXY_BODIES,
    RATE_LIMIT,
    FaultConfig,
    FaultDecision,
    FaultPlan,
)
from smooch_desktop.sandbox.store import Conflict, SandboxStore, email_hash
from smooch_desktop.sandbox.store import NotFound as StoreNotFound
from smooch_desktop.sandbox.validation import (
    parse_timestamp,
    validate_activity,
    validate_message,
    validate_user_create,
    validate_user_fields,
)

logger = logging.getLogger(__name__)

JSON_BODY_LIMIT: Final = 100 * 1024
ATTACHMENT_LIMIT: Final = 10 * 1024 * 1024
_MULTIPART_OVERHEAD: Final = 64 * 1024
#: Bodies up to this size are read and discarded before a 413, so the client sees the answer
#: instead of a connection reset; beyond it the connection is simply closed.
DRAIN_LIMIT: Final = 64 * 1024 * 1024
LOG_LIMIT: Final = 20_000
LOG_TEXT_LIMIT: Final = 2048
#: JSON bodies larger than this are logged as truncated text, keeping the log's memory bounded.
LOG_JSON_LIMIT: Final = 16 * 1024
DEFAULT_HANG_SECONDS: Final = 60.0
_API_PREFIXES: Final = ("/v1/", "/v1.1/", "/v2/")
_API_ROOTS: Final = ("/v1", "/v1.1", "/v2")
_JSON_TYPE: Final = "application/json; charset=utf-8"


class _Dropped(ConnectionAbortedError):
    """Raised after closing the socket on purpose; Werkzeug treats it as a client drop."""


class SegmentConverter(BaseConverter):
    """One raw path segment, percent-decoded on its own (``%2F`` stays inside the value)."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        try:
            return unquote(value, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return quote(str(value), safe="")


def _url_map() -> Map:
    rules = []
    for version in ("v1", "v1.1"):
        for prefix in (f"/{version}/apps/<seg:app_id>", f"/{version}"):
            user = f"{prefix}/appusers/<seg:user_ref>"
            rules += [
                Rule(f"{prefix}/appusers", methods=["POST"], endpoint="api_create_user"),
                Rule(user, methods=["GET", "PUT"], endpoint="api_user"),
                Rule(f"{user}/messages", methods=["GET", "POST"], endpoint="api_messages"),
                Rule(f"{user}/conversation/activity", methods=["POST"], endpoint="api_activity"),
                Rule(f"{user}/conversation/read", methods=["POST"], endpoint="api_read"),
                Rule(f"{prefix}/attachments", methods=["POST"], endpoint="api_attachments"),
            ]
    rules += [
        Rule("/", methods=["GET"], endpoint="page_index"),
        Rule("/users/<seg:app_id>/<seg:user_ref>", methods=["GET"], endpoint="page_user"),
        Rule("/avatar/<seg:name>", methods=["GET"], endpoint="avatar"),
        Rule("/_sandbox/health", methods=["GET"], endpoint="sb_health"),
        Rule("/_sandbox/log", methods=["GET", "DELETE"], endpoint="sb_log"),
        Rule("/_sandbox/faults", methods=["GET", "PUT"], endpoint="sb_faults"),
        Rule("/_sandbox/typing/<seg:app_id>/<seg:user_ref>", methods=["GET"], endpoint="sb_typing"),
        Rule(
            "/_sandbox/apps/<seg:app_id>/appusers/<seg:user_ref>/messages",
            methods=["GET", "POST"],
            endpoint="sb_messages",
        ),
        Rule("/_sandbox/media/<seg:media_id>/<seg:filename>", methods=["GET"], endpoint="sb_media"),
    ]
    return Map(
        rules,
        converters={"seg": SegmentConverter},
        strict_slashes=False,
        merge_slashes=False,
        redirect_defaults=False,
    )


def _raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """``(path, query)`` exactly as sent (still percent-encoded), from RAW_URI/REQUEST_URI."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        # WSGI strings are latin-1 "bytes"; a raw UTF-8 byte in the request line is repaired
        text = raw.encode("latin-1", "replace").decode("utf-8", "replace")
        parts = urlsplit(text)
        path = parts.path or "/"
        if not parts.scheme and parts.netloc:  # "//x/y" parsed as netloc
            path = f"//{parts.netloc}{parts.path}"
        return path, parts.query
    path_info = environ.get("PATH_INFO", "/")
    path_info = path_info.encode("latin-1", "replace").decode("utf-8", "replace")
    return quote(path_info, safe="/:@!$&'()*+,;=~"), environ.get("QUERY_STRING", "")


def _is_api(path: str) -> bool:
    return path.startswith(_API_PREFIXES) or path in _API_ROOTS


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (``application/json; charset=utf-8``)."""
    return Response(dumps(obj), status, headers=headers, content_type=_JSON_TYPE)


def error_response(err: ErrorReply) -> Response:
    """The v1 error envelope for ``err``."""
    return json_response(err.envelope(), err.status, err.headers)


def _drop(environ: dict[str, Any]) -> None:
    """Close the client connection without an answer (fault injection)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise _Dropped("connection dropped by sandbox fault injection")


def _drain(environ: dict[str, Any]) -> None:
    """Read and discard a request body we refuse, so the client can read our answer."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    chunked = bool(environ.get("wsgi.input_terminated"))
    if length < 0 and not chunked:
        return
    remaining = min(length, DRAIN_LIMIT) if length >= 0 else DRAIN_LIMIT
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        pass


@dataclass
class _Call:
    """Per-request bookkeeping shared by dispatch and the request log."""

    request: Request
    path: str
    query: str
    base: str
    raw_body: bytes | None = None
    multipart: dict[str, Any] | None = None
    principal: Principal | None = None
    body_touched: bool = False  # read or drained: never read it (again) from the raw input
    extra_headers: dict[str, str] = field(default_factory=dict)


class RequestLog:
    """Bounded, thread-safe list of API request summaries with increasing ``seq``."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append (assigning ``seq``); returns the stored entry."""
        with self._lock:
            self._seq += 1
            stored = {"seq": self._seq, **entry}
            self._entries.append(stored)
            return stored

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        """Entries with ``seq > since``, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > since]

    def clear(self) -> None:
        """Forget all entries (``seq`` keeps counting so ``since`` stays meaningful)."""
        with self._lock:
            self._entries.clear()


class SandboxApp:
    """The WSGI application. Thread-safe: state lives in the store, log and fault plan."""

    def __init__(
        self,
        store: SandboxStore,
        plan: FaultPlan,
        *,
        hang_seconds: float = DEFAULT_HANG_SECONDS,
    ) -> None:
        self.store = store
        self.plan = plan
        self.log = RequestLog()
        self.hang_seconds = hang_seconds
        self.stopping = threading.Event()
        self._url_map = _url_map()
        self._inflight = 0
        self._inflight_cond = threading.Condition()
        self._known_avatars = {email_hash(e) for e in DEMO_AVATAR_EMAILS}

    # ------------------------------------------------------------------ WSGI entry

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._inflight_cond:
            self._inflight += 1
        request = Request(environ)
        try:
            path, query = _raw_target(environ)
            call = _Call(request, path, query, request.host_url.rstrip("/"))
            response = self._api(call, environ) if _is_api(path) else self._other(call)
            self._discard(call)  # an early refusal still lets the client finish sending
            return response(environ, start_response)
        finally:
            request.close()
            with self._inflight_cond:
                self._inflight -= 1
                self._inflight_cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being processed (used by ``stop`` after waking hangs)."""
        deadline = time.monotonic() + timeout
        with self._inflight_cond:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._inflight_cond.wait(left)
        return True

    def _match(self, call: _Call) -> tuple[str, dict[str, Any]]:
        adapter = self._url_map.bind("sandbox")
        try:
            endpoint, args = adapter.match(call.path, method=call.request.method)
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or [])
            raise ErrorReply(
                405,
                "method_not_allowed",
                f"Method {call.request.method} is not allowed on this path",
                {"Allow": ", ".join(allowed)},
            ) from None
        except (NotFound, RequestRedirect):
            raise ErrorReply(404, "not_found", "Resource not found") from None
        return str(endpoint), dict(args)

    # ------------------------------------------------------------------ API namespace

    def _api(self, call: _Call, environ: dict[str, Any]) -> Response:
        decision = self.plan.decide()
        started = time.time()
        if decision.latency_s > 0:
            self.stopping.wait(decision.latency_s)
        if decision.outcome == DROP_BEFORE:
            self._log(call, started, None, decision.outcome)
            _drop(environ)
        if decision.outcome == HANG:
            self._log(call, started, None, decision.outcome)
            self.stopping.wait(self.hang_seconds)
            _drop(environ)
        if decision.outcome in (ERROR, RATE_LIMIT):
            self._peek_body(call)
            response = error_response(self._fault_error(decision))
        else:
            response = self._dispatch_api(call)
        self._log(call, started, response.status_code, decision.outcome)
        if decision.outcome == DROP_AFTER:
            _drop(environ)
        if decision.outcome == ERROR_AFTER_STORE:
            return self._proxy_error(decision)  # processed, but the client hears a 5xx
        return response

    def _proxy_error(self, decision: FaultDecision) -> Response:
        """A gateway's 502/503/504 in place of the API's answer (not the API's envelope)."""
        status = decision.status or 502
        reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
        content_type, template = PROXY_BODIES[decision.body or "html"]
        body = template.format(status=status, reason=reason.get(status, "Error"))
        headers = {"Cache-Control": "no-store"}
        if decision.retry_after:
            headers["Retry-After"] = self.plan.config.retry_after_header or "1"
        return Response(body.encode("utf-8"), status, headers=headers, content_type=content_type)

    def _fault_error(self, decision: FaultDecision) -> ErrorReply:
        retry_after = self.plan.config.retry_after_header
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if decision.status == 429:
            return ErrorReply(
                429, "too_many_requests", "Too many requests (sandbox fault injection)", headers
            )
        if decision.status == 503:
            return ErrorReply(
                503,
                "service_unavailable",
                "Service temporarily unavailable (sandbox fault injection)",
                headers,
            )
        return ErrorReply(500, "internal_error", "Internal server error (sandbox fault injection)")

    def _dispatch_api(self, call: _Call) -> Response:
        try:
            endpoint, args = self._match(call)
            call.principal = authenticate(call.request.headers.get("Authorization"), self.store.key)
            app_id = self._app_for(call.principal, args.pop("app_id", None))
            handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
            return handler(call, app_id, **args)
        except ErrorReply as err:
            return error_response(err)
        except StoreNotFound as err:
            return error_response(ErrorReply(404, "not_found", f"{err.what} not found"))
        except Exception:
            logger.exception("sandbox bug while handling %s %s", call.request.method, call.path)
            return error_response(
                ErrorReply(500, "internal_error", "Internal sandbox error; see the sandbox log")
            )

    def _app_for(self, principal: Principal, app_id: str | None) -> str:
        if app_id is None or app_id == principal.app_id:
            return principal.app_id
        if self.store.has_app(app_id):
            raise ErrorReply(403, "forbidden", "The credentials do not give access to this app")
        raise ErrorReply(404, "not_found", "App not found")

    # -- bodies

    def _json_body(self, call: _Call) -> dict[str, Any]:
        """The request body as a JSON object, or ErrorReply 400/413 with a clear reason."""
        request = call.request
        length = request.content_length
        if length is not None and length > JSON_BODY_LIMIT:
            self._discard(call)
            raise ErrorReply(413, "payload_too_large", "Request body is larger than 100 KB")
        call.body_touched = True
        try:
            # read one byte past the limit: a chunked body has no length to check up front
            data = _read_upto(request.stream, JSON_BODY_LIMIT + 1)
        except (HTTPException, OSError, ValueError):  # client went away mid-body
            raise bad_request("Request body could not be read completely") from None
        call.raw_body = data[:JSON_BODY_LIMIT]
        if len(data) > JSON_BODY_LIMIT:
            _drain(request.environ)
            raise ErrorReply(413, "payload_too_large", "Request body is larger than 100 KB")
        if request.mimetype != "application/json":
            raise bad_request("Content-Type must be application/json")
        if not data.strip():
            raise bad_request("Request body must be a JSON object")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("Request body is not valid UTF-8") from None
        try:
            body = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise bad_request(f"Request body is not valid JSON ({_short(exc)})") from None
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        return body

    def _peek_body(self, call: _Call) -> None:
        """Read a small non-multipart body just for the log (refusals, faults)."""
        request = call.request
        length = request.content_length
        if call.body_touched or request.mimetype.startswith("multipart/"):
            return
        if length is None or length > JSON_BODY_LIMIT:
            return
        call.body_touched = True
        with contextlib.suppress(HTTPException, OSError, ValueError):
            call.raw_body = _read_upto(request.stream, JSON_BODY_LIMIT)

    @staticmethod
    def _discard(call: _Call) -> None:
        """Drain a body nobody read, so the client can finish sending and read our answer."""
        if not call.body_touched:
            call.body_touched = True
            _drain(call.request.environ)

    def _log(self, call: _Call, started: float, status: int | None, fault: str | None) -> None:
        self.log.add(
            {
                "time": round(started, 3),
                "method": call.request.method,
                "path": call.path,
                "query": call.query,
                "status": status,
                "body": self._log_body(call),
                "auth": auth_kind(call.request.headers.get("Authorization")),
                "fault": fault,
            }
        )

    @staticmethod
    def _log_body(call: _Call) -> Any:
        if call.multipart is not None:
            return call.multipart
        if call.raw_body is None or not call.raw_body:
            return None
        if len(call.raw_body) <= LOG_JSON_LIMIT:
            try:
                return json.loads(call.raw_body.decode("utf-8"), parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                pass
        text = call.raw_body[: LOG_TEXT_LIMIT * 4].decode("utf-8", "replace")
        return text[:LOG_TEXT_LIMIT]

    # -- handlers (``_`` + endpoint name)

    def _api_create_user(self, call: _Call, app_id: str) -> Response:
        fields = validate_user_create(self._json_body(call))
        try:
            user = self.store.create_user(app_id, fields)
        except Conflict:
            raise ErrorReply(409, "conflict", "A user with this userId already exists") from None
        return json_response({"appUser": user}, 201)

    def _api_user(self, call: _Call, app_id: str, user_ref: str) -> Response:
        if call.request.method == "PUT":
            fields = validate_user_fields(self._json_body(call))
            return json_response({"appUser": self.store.update_user(app_id, user_ref, fields)})
        return json_response({"appUser": self.store.get_user(app_id, user_ref)})

    def _api_messages(self, call: _Call, app_id: str, user_ref: str) -> Response:
        if call.request.method == "POST":
            fields = validate_message(self._json_body(call))
            message, conversation = self.store.post_message(
                app_id, user_ref, fields, base=call.base
            )
            return json_response({"message": message, "conversation": conversation}, 201)
        args = call.request.args
        if "before" in args and "after" in args:
            raise bad_request('"before" and "after" are mutually exclusive')
        before = parse_timestamp("before", args["before"]) if "before" in args else None
        after = parse_timestamp("after", args["after"]) if "after" in args else None
        conversation, messages, older, newer = self.store.page(
            app_id, user_ref, before=before, after=after, base=call.base
        )
        body: dict[str, Any] = {"conversation": conversation, "messages": messages}
        url = f"{call.base}{call.path}"
        if messages and newer:
            body["next"] = f"{url}?after={messages[-1]['received']!r}"
        if messages and older:
            body["previous"] = f"{url}?before={messages[0]['received']!r}"
        if not messages and before is not None and newer:
            body["next"] = f"{url}?after={before!r}"
        if not messages and after is not None and older:
            body["previous"] = f"{url}?before={after!r}"
        return json_response(body)

    def _api_activity(self, call: _Call, app_id: str, user_ref: str) -> Response:
        activity = validate_activity(self._json_body(call))
        conversation = self.store.record_activity(app_id, user_ref, activity)
        return json_response({"conversation": conversation})

    def _api_read(self, call: _Call, app_id: str, user_ref: str) -> Response:
        if call.request.content_length:
            self._peek_body(call)  # documented as body-less; tolerate and log one
        return json_response({"conversation": self.store.mark_read(app_id, user_ref)})

    def _api_attachments(self, call: _Call, app_id: str) -> Response:
        request = call.request
        args = request.args
        access = args.get("access")
        if access is None:
            raise bad_request('"access" query parameter is required (only "public" exists)')
        if access != "public":
            raise bad_request('"access" must be public')
        purpose = args.get("for")
        owner: str | None = None
        if purpose is not None:
            if purpose != "message":
                raise bad_request('"for" must be message')
            owner = args.get("appUserId") or args.get("userId")
            if not owner:
                raise bad_request('"appUserId" or "userId" is required with for=message')
            self.store.get_user(app_id, owner)  # 404 for an unknown user
        limit = ATTACHMENT_LIMIT + _MULTIPART_OVERHEAD
        too_large = ErrorReply(413, "payload_too_large", "Attachments are limited to 10 MB")
        if request.content_length is not None and request.content_length > limit:
            self._discard(call)
            raise too_large
        if request.mimetype != "multipart/form-data":
            self._peek_body(call)
            raise bad_request("Content-Type must be multipart/form-data")
        request.max_content_length = limit
        call.body_touched = True
        try:
            files = request.files
            form = request.form
        except RequestEntityTooLarge:
            _drain(request.environ)
            raise too_large from None
        except (HTTPException, OSError, ValueError):
            raise bad_request("Malformed multipart/form-data body") from None
        call.multipart = _multipart_summary(form, files)
        source = files.get("source")
        if source is None:
            raise bad_request('"source" is required: send the file as multipart field "source"')
        data = source.stream.read(ATTACHMENT_LIMIT + 1)
        if len(data) > ATTACHMENT_LIMIT:
            raise too_large
        filename = _clean_filename(source.filename)
        media_type = source.mimetype
        if not media_type or media_type == "application/octet-stream":
            media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        media_id = self.store.add_media(app_id, filename, media_type, data, user_ref=owner)
        return json_response(
            {
                "mediaUrl": self.store.media_url(media_id, filename, call.base),
                "mediaType": media_type,
            },
            201,
        )

    # ------------------------------------------------------------------ everything else

    def _other(self, call: _Call) -> Response:
        try:
            endpoint, args = self._match(call)
            handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
            return handler(call, **args)
        except ErrorReply as err:
            return error_response(err)
        except StoreNotFound as err:
            return error_response(ErrorReply(404, "not_found", f"{err.what} not found"))
        except Exception:
            logger.exception("sandbox bug while handling %s %s", call.request.method, call.path)
            return error_response(
                ErrorReply(500, "internal_error", "Internal sandbox error; see the sandbox log")
            )

    def _page_index(self, call: _Call) -> Response:
        apps = self.store.apps()
        users = {app["_id"]: self.store.users(app["_id"]) for app in apps}
        return _html(pages.index_page(apps, users, call.base))

    def _page_user(self, call: _Call, app_id: str, user_ref: str) -> Response:
        try:
            user = self.store.get_user(app_id, user_ref)
        except StoreNotFound as err:
            return _html(
                pages.not_found_page(f"{err.what} not found"),
                status=404,
            )
        messages = self.store.messages(app_id, user["_id"], base=call.base)
        typing = self.store.typing(app_id, user["_id"])
        return _html(pages.user_page(app_id, user, messages, typing))

    def _avatar(self, call: _Call, name: str) -> Response:
        digest = avatars.split_name(name)
        args = call.request.args
        size = avatars.parse_size(args.get("s") or args.get("size"))
        default = args.get("d") or args.get("default") or ""
        headers = {"Cache-Control": avatars.CACHE_CONTROL, "Access-Control-Allow-Origin": "*"}
        if digest is not None and digest in self._known_avatars:
            body = avatars.identicon(digest, size)
        elif default == "404":
            return Response(b"Not Found", 404, headers=headers, content_type="text/plain")
        elif default.startswith(("http://", "https://")):
            return Response(b"", 302, headers={**headers, "Location": default})
        elif default == "identicon" and digest is not None:
            body = avatars.identicon(digest, size)
        else:
            body = avatars.mystery_person(size)
        return Response(body, 200, headers=headers, content_type="image/png")

    def _sb_health(self, call: _Call) -> Response:
        return json_response({"ok": True})

    def _sb_log(self, call: _Call) -> Response:
        if call.request.method == "DELETE":
            self.log.clear()
            return json_response({"entries": []})
        raw = call.request.args.get("since", "0")
        try:
            since = int(raw)
        except ValueError:
            raise bad_request('"since" must be an integer sequence number') from None
        return json_response({"entries": self.log.entries(since)})

    def _sb_faults(self, call: _Call) -> Response:
        if call.request.method == "PUT":
            body = self._json_body(call)
            try:
                self.plan.set_config(FaultConfig.from_dict(body, self.plan.config))
            except (TypeError, ValueError) as exc:
                raise bad_request(str(exc)) from None
        return json_response(self.plan.config.to_dict())

    def _sb_typing(self, call: _Call, app_id: str, user_ref: str) -> Response:
        return json_response(self.store.typing(app_id, user_ref))

    def _sb_messages(self, call: _Call, app_id: str, user_ref: str) -> Response:
        if call.request.method == "POST":
            body = self._json_body(call)
            text, name = body.get("text"), body.get("name")
            if not isinstance(text, str) or not text.strip():
                raise bad_request('"text" is required')
            if name is not None and not isinstance(name, str):
                raise bad_request('"name" must be a string')
            message = self.store.add_user_message(app_id, user_ref, text, name=name)
            return json_response({"message": message}, 201)
        after_raw = call.request.args.get("after")
        after = parse_timestamp("after", after_raw) if after_raw is not None else None
        messages = self.store.messages(app_id, user_ref, base=call.base)
        if after is not None:
            messages = [m for m in messages if m["received"] > after]
        return json_response(
            {"messages": messages, "typing": self.store.typing(app_id, user_ref)},
            headers={"Cache-Control": "no-store"},
        )

    def _sb_media(self, call: _Call, media_id: str, filename: str) -> Response:
        stored_name, media_type, data = self.store.media(media_id)
        if stored_name != filename:
            raise ErrorReply(404, "not_found", "Media not found")
        return Response(
            data,
            200,
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
            content_type=media_type,
        )


def _read_upto(stream: Any, limit: int) -> bytes:
    """Read until EOF or ``limit`` bytes, whichever comes first."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _clean_filename(name: str | None) -> str:
    """Last path component, no control characters, bounded length; ``file`` if empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:200] or "file"


def _multipart_summary(form: Any, files: Any) -> dict[str, Any]:
    """What the log shows of a multipart body: fields (truncated) and file metadata."""
    summary_files = []
    for key, storage in files.items(multi=True):
        assert isinstance(storage, FileStorage)
        stream = storage.stream
        try:
            position = stream.tell()
            stream.seek(0, os.SEEK_END)
            size: int | None = stream.tell()
            stream.seek(position)
        except (OSError, ValueError, AttributeError):
            size = None
        summary_files.append(
            {
                "field": key,
                "filename": storage.filename,
                "contentType": storage.mimetype,
                "size": size,
            }
        )
    fields = {key: str(value)[:200] for key, value in form.items(multi=True)}
    return {"multipart": {"fields": fields, "files": summary_files}}


def _html(text: str, status: int = 200) -> Response:
    return Response(
        text.encode("utf-8"),
        status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


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
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing non-loopback host {host!r} without allow_remote=True")
        self.host = host
        self.port = port
        self.store = SandboxStore(data_dir, demo=demo, clock=clock, gravatar_base=gravatar_base)
        self._plan = FaultPlan(faults or FaultConfig())
        self.app = SandboxApp(self.store, self._plan, hang_seconds=hang_seconds)
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
            self._server = None
            self._thread = None

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log (same entries as ``GET /_sandbox/log``)."""
        return self.app.log.entries(since)

    def clear_log(self) -> None:
        """Empty the request log."""
        self.app.log.clear()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
