"""One HTTP exchange as the handlers see it: the :class:`Call` and the answers they build.

A :class:`Call` carries the request, its raw path, the sandbox state a handler may touch
(store, fault plan, request log, webhooks) and the body bookkeeping shared by body reading
and the request log. The response builders give every answer the sandbox's content types and the
error envelope of the request's API version. Nothing here routes, authenticates or reads a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from werkzeug.wrappers import Request, Response

from smooch_desktop.sandbox.auth import Principal
from smooch_desktop.sandbox.errors import ErrorReply, dumps
from smooch_desktop.sandbox.faults import FaultPlan
from smooch_desktop.sandbox.request_log import RequestLog
from smooch_desktop.sandbox.store import SandboxStore
from smooch_desktop.sandbox.webhooks import WebhookService

_JSON_TYPE: Final = "application/json; charset=utf-8"


@dataclass
class Call:
    """Per-request bookkeeping shared by dispatch, body reading, handlers and the log."""

    request: Request
    path: str  # as sent, still percent-encoded
    query: str
    base: str  # scheme://host:port the client used, for URLs in answers
    store: SandboxStore
    plan: FaultPlan
    log: RequestLog
    raw_body: bytes | None = None
    multipart: dict[str, Any] | None = None
    principal: Principal | None = None
    body_touched: bool = False  # read or drained: never read it (again) from the raw input
    v2: bool = False  # a v2 API path: errors go out in the v2 envelope
    webhooks: WebhookService | None = None  # registrations and delivery (webhooks.py)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (``application/json; charset=utf-8``)."""
    return Response(dumps(obj), status, headers=headers, content_type=_JSON_TYPE)


def error_response(err: ErrorReply, v2: bool = False) -> Response:
    """``err`` in the v1 error envelope, or the v2 one when ``v2``."""
    return json_response(err.envelope(v2), err.status, err.headers)


def html_response(text: str, status: int = 200) -> Response:
    """An HTML page, never cached, never content-sniffed."""
    return Response(
        text.encode("utf-8"),
        status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
