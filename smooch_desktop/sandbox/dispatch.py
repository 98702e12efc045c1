"""The sandbox's WSGI application: which namespace a request is in and what applies to it.

* ``/v1/…``, ``/v1.1/…``, ``/v2/…`` and ``/sc/v2/…`` (the Zendesk-host form) — the API:
  fault injection, then route, then auth, then the handler; every request lands in the
  request log;
* everything else — ``/_sandbox/…`` controls, ``/`` and ``/users/…`` pages, ``/avatar/…``:
  route and handler only (no auth, no faults, no log).

Every failure becomes the error envelope of the request's API version (``errors.py``); an
unexpected sandbox bug answers 500 ``internal_error`` instead of crashing. Choices where
the public docs are silent (inferred): Basic auth is accepted on ``/v1/`` as well as
``/v1.1/``; a valid key used with another app's id → 403 ``forbidden`` if that app exists,
else 404 ``not_found`` "App not found". The route tables are in ``routes.py``, the
endpoints in ``*_handlers.py``, the socket and threads in ``server.py``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from werkzeug.wrappers import Request, Response

from smooch_desktop.sandbox.auth import Principal, auth_kind, authenticate
from smooch_desktop.sandbox.bodies import discard_body, peek_body
from smooch_desktop.sandbox.errors import ErrorReply, not_found
from smooch_desktop.sandbox.exchange import Call, error_response
from smooch_desktop.sandbox.faults import (
    DROP_AFTER,
    DROP_BEFORE,
    ERROR,
    ERROR_AFTER_STORE,
    HANG,
    PROXY_BODIES,
    RATE_LIMIT,
    FaultDecision,
    FaultPlan,
)
from smooch_desktop.sandbox.request_log import RequestLog, logged_body
from smooch_desktop.sandbox.routes import (
    API_ROUTES,
    SANDBOX_ROUTES,
    Router,
    is_api_path,
    is_v2_path,
    raw_target,
)
from smooch_desktop.sandbox.store import NotFound as StoreNotFound
from smooch_desktop.sandbox.store import SandboxStore
from smooch_desktop.sandbox.webhooks import WebhookService

logger = logging.getLogger(__name__)

DEFAULT_HANG_SECONDS: Final = 60.0


#: What v2 answers when the store finds no such record (v1 says ``not_found`` for all).
_V2_NOT_FOUND: Final = {
    "App": not_found("App not found", "app_not_found"),
    "App user": not_found("User not found", "user_not_found"),
    "Conversation": not_found("Conversation not found", "conversation_not_found"),
}


class _Dropped(ConnectionAbortedError):
    """Raised after closing the socket on purpose; Werkzeug treats it as a client drop."""


class SandboxApp:
    """The WSGI application. Thread-safe: state lives in the store, log and fault plan."""

    def __init__(
        self,
        store: SandboxStore,
        plan: FaultPlan,
        *,
        hang_seconds: float = DEFAULT_HANG_SECONDS,
        webhooks: WebhookService | None = None,
    ) -> None:
        self.store = store
        #: The webhooks apps register; it hears the store's events (``webhooks.py``).
        self.webhooks = webhooks or WebhookService(store.new_id)
        store.listener = self.webhooks
        self.plan = plan
        self.log = RequestLog()
        self.hang_seconds = hang_seconds
        self.stopping = threading.Event()
        self._api_router = Router(API_ROUTES)
        self._sandbox_router = Router(SANDBOX_ROUTES)
        self._inflight = 0
        self._inflight_cond = threading.Condition()

    # ------------------------------------------------------------------ WSGI entry

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._inflight_cond:
            self._inflight += 1
        request = Request(environ)
        try:
            path, query = raw_target(environ)
            call = Call(
                request,
                path,
                query,
                request.host_url.rstrip("/"),
                store=self.store,
                plan=self.plan,
                log=self.log,
                v2=is_v2_path(path),
                webhooks=self.webhooks,
            )
            if is_api_path(path):
                response = self._api(call, environ)
            else:
                response = self._answer(call, self._sandbox_endpoint)
            discard_body(call)  # an early refusal still lets the client finish sending
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

    @staticmethod
    def _answer(call: Call, endpoint: Callable[[Call], Response]) -> Response:
        """Run ``endpoint``; every failure becomes an error envelope, a bug a logged 500."""
        try:
            return endpoint(call)
        except ErrorReply as err:
            return error_response(err, call.v2)
        except StoreNotFound as err:
            if call.v2:
                fallback = not_found(f"{err.what} not found")
                return error_response(_V2_NOT_FOUND.get(err.what, fallback), True)
            return error_response(not_found(f"{err.what} not found"))
        except Exception:
            logger.exception("sandbox bug while handling %s %s", call.request.method, call.path)
            return error_response(
                ErrorReply(500, "internal_error", "Internal sandbox error; see the sandbox log"),
                call.v2,
            )

    # ------------------------------------------------------------------ API namespace

    def _api(self, call: Call, environ: dict[str, Any]) -> Response:
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
            peek_body(call)
            response = error_response(self._fault_error(decision), call.v2)
        else:
            response = self._answer(call, self._api_endpoint)
        self._log(call, started, response.status_code, decision.outcome)
        if decision.outcome == DROP_AFTER:
            _drop(environ)
        if decision.outcome == ERROR_AFTER_STORE:
            return self._proxy_error(decision)  # processed, but the client hears a 5xx
        return response

    def _api_endpoint(self, call: Call) -> Response:
        """Route first (404/405 need no key), then auth, then the handler for the key's app."""
        route, args = self._api_router.match(call.path, call.request.method)
        call.principal = authenticate(call.request.headers.get("Authorization"), self.store.key)
        args["app_id"] = self._app_for(call.principal, args.pop("app_id", None))
        return route.handler(call, **args)

    def _app_for(self, principal: Principal, app_id: str | None) -> str:
        if app_id is None or app_id == principal.app_id:
            return principal.app_id
        if self.store.has_app(app_id):
            raise ErrorReply(403, "forbidden", "The credentials do not give access to this app")
        raise not_found("App not found", "app_not_found")

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

    def _log(self, call: Call, started: float, status: int | None, fault: str | None) -> None:
        self.log.add(
            {
                "time": round(started, 3),
                "method": call.request.method,
                "path": call.path,
                "query": call.query,
                "status": status,
                "body": logged_body(call.raw_body, call.multipart),
                "auth": auth_kind(call.request.headers.get("Authorization")),
                "fault": fault,
            }
        )

    # ------------------------------------------------------------------ everything else

    def _sandbox_endpoint(self, call: Call) -> Response:
        route, args = self._sandbox_router.match(call.path, call.request.method)
        return route.handler(call, **args)


def _drop(environ: dict[str, Any]) -> None:
    """Close the client connection without an answer (fault injection)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise _Dropped("connection dropped by sandbox fault injection")
