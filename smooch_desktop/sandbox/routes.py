"""The route tables (method + path pattern → handler function) and matching a raw path.

Two tables: :data:`API_ROUTES` (``/v1/…``, ``/v1.1/…``, ``/v2/…`` and the Zendesk-host form
``/sc/v2/…``: auth, faults and the request log apply) and :data:`SANDBOX_ROUTES` (control
endpoints, end-user pages, avatars: none of those). Each :class:`Route` names its handler
function directly; a handler is called with the
:class:`~smooch_desktop.sandbox.exchange.Call` and the pattern's ``<seg:…>`` values as
keyword arguments. What a handler does is not here, nor what applies around it
(``dispatch.py``).

Matching is done on the *raw* request path (``RAW_URI``), not ``PATH_INFO``: Werkzeug's dev
server percent-decodes ``PATH_INFO``, which would turn a userId sent as ``a%2Fb`` into two
segments. Each ``<seg:…>`` is decoded on its own, so a userId like ``a/../b`` or
``vip/chloé`` round-trips literally, as on Smooch. Unknown paths → 404 ``not_found``, a
wrong method → 405 ``method_not_allowed`` with ``Allow`` (inferred; the docs are silent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, RequestRedirect, Rule, ValidationError
from werkzeug.wrappers import Response

from smooch_desktop.sandbox import (
    api_handlers,
    control_handlers,
    page_handlers,
    v2_handlers,
    webhook_api,
)
from smooch_desktop.sandbox.errors import ErrorReply, not_found

#: ``handler(call, **segments) -> Response``
Handler = Callable[..., Response]

_API_PREFIXES: Final = ("/v1/", "/v1.1/", "/v2/", "/sc/v2/")
_API_ROOTS: Final = ("/v1", "/v1.1", "/v2", "/sc/v2")
_V2_PREFIXES: Final = ("/v2/", "/sc/v2/")
_V2_ROOTS: Final = ("/v2", "/sc/v2")


@dataclass(frozen=True)
class Route:
    """One HTTP method on one path pattern, answered by ``handler``."""

    method: str
    pattern: str
    handler: Handler


def _api_routes() -> tuple[Route, ...]:
    """Every API endpoint: v1 and v1.1 in full (``/apps/{appId}/…``) and app-scope form;
    v2 in the full form only (the spec has no other), at ``/v2`` and ``/sc/v2``."""
    api = api_handlers
    routes: list[Route] = []
    for version in ("v1", "v1.1"):
        for scope in (f"/{version}/apps/<seg:app_id>", f"/{version}"):
            user = f"{scope}/appusers/<seg:user_ref>"
            routes += [
                Route("POST", f"{scope}/appusers", api.create_user),
                Route("GET", user, api.get_user),
                Route("PUT", user, api.update_user),
                Route("GET", f"{user}/messages", api.list_messages),
                Route("POST", f"{user}/messages", api.post_message),
                Route("POST", f"{user}/conversation/activity", api.post_activity),
                Route("POST", f"{user}/conversation/read", api.mark_read),
                Route("POST", f"{scope}/attachments", api.upload_attachment),
            ]
            hook = f"{scope}/webhooks/<seg:webhook_id>"
            routes += [
                Route("POST", f"{scope}/webhooks", webhook_api.create_webhook),
                Route("GET", f"{scope}/webhooks", webhook_api.list_webhooks),
                Route("GET", hook, webhook_api.get_webhook),
                Route("PUT", hook, webhook_api.update_webhook),
                Route("DELETE", hook, webhook_api.delete_webhook),
            ]
    v2 = v2_handlers
    for app in ("/v2/apps/<seg:app_id>", "/sc/v2/apps/<seg:app_id>"):
        conversation = f"{app}/conversations/<seg:conversation_id>"
        routes += [
            Route("POST", f"{app}/users", v2.create_user),
            Route("GET", f"{app}/users/<seg:user_ref>", v2.get_user),
            Route("GET", f"{app}/users/<seg:user_ref>/clients", v2.list_clients),
            Route("GET", f"{app}/users/<seg:user_ref>/devices", v2.list_devices),
            Route("POST", f"{app}/conversations", v2.create_conversation),
            Route("GET", f"{app}/conversations", v2.list_conversations),
            Route("GET", conversation, v2.get_conversation),
            Route("GET", f"{conversation}/participants", v2.list_participants),
            Route("POST", f"{conversation}/messages", v2.post_message),
            Route("GET", f"{conversation}/messages", v2.list_messages),
            Route("POST", f"{conversation}/activity", v2.post_activity),
            Route("POST", f"{app}/attachments", v2.upload_attachment),
        ]
        wh = webhook_api
        integration = f"{app}/integrations/<seg:integration_id>"
        hook = f"{integration}/webhooks/<seg:webhook_id>"
        routes += [
            Route("POST", f"{app}/integrations", wh.create_integration),
            Route("GET", f"{app}/integrations", wh.list_integrations),
            Route("GET", integration, wh.get_integration),
            Route("PATCH", integration, wh.update_integration),
            Route("DELETE", integration, wh.delete_integration),
            Route("POST", f"{integration}/webhooks", wh.create_integration_webhook),
            Route("GET", f"{integration}/webhooks", wh.list_integration_webhooks),
            Route("GET", hook, wh.get_integration_webhook),
            Route("PATCH", hook, wh.update_integration_webhook),
            Route("DELETE", hook, wh.delete_integration_webhook),
        ]
    return tuple(routes)


API_ROUTES: Final = _api_routes()

_AS_USER: Final = "/_sandbox/apps/<seg:app_id>/appusers/<seg:user_ref>/messages"
SANDBOX_ROUTES: Final = (
    Route("GET", "/", page_handlers.index),
    Route("GET", "/users/<seg:app_id>/<seg:user_ref>", page_handlers.user_page),
    Route("GET", "/users/<seg:app_id>/<seg:user_ref>/feed", page_handlers.feed),
    Route(
        "POST",
        "/users/<seg:app_id>/<seg:user_ref>/actions/<seg:action_id>",
        page_handlers.press_action,
    ),
    Route("GET", "/avatar/<seg:name>", page_handlers.avatar),
    Route("GET", "/_sandbox/health", control_handlers.health),
    Route("GET", "/_sandbox/log", control_handlers.read_log),
    Route("DELETE", "/_sandbox/log", control_handlers.clear_log),
    Route("GET", "/_sandbox/faults", control_handlers.get_faults),
    Route("PUT", "/_sandbox/faults", control_handlers.set_faults),
    Route("GET", "/_sandbox/typing/<seg:app_id>/<seg:user_ref>", control_handlers.typing_state),
    Route("GET", _AS_USER, control_handlers.user_view),
    Route("POST", _AS_USER, control_handlers.post_as_user),
    Route(
        "POST",
        "/_sandbox/apps/<seg:app_id>/appusers/<seg:user_ref>/activity",
        control_handlers.user_activity,
    ),
    Route("GET", "/_sandbox/webhooks/log", control_handlers.webhook_log),
    Route("GET", "/_sandbox/media/<seg:media_id>/<seg:filename>", control_handlers.media_file),
)


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


class Router:
    """Finds the route for a raw path and method in one table."""

    def __init__(self, routes: Iterable[Route]) -> None:
        # One Werkzeug rule per pattern, holding all its methods (as few rules to compile
        # as possible: building the map is most of the sandbox's start-up).
        self._by_pattern: dict[str, dict[str, Route]] = {}
        for route in routes:
            methods = self._by_pattern.setdefault(route.pattern, {})
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} {route.pattern}")
            methods[route.method] = route
        self._map = Map(
            [
                Rule(pattern, methods=list(methods), endpoint=pattern)
                for pattern, methods in self._by_pattern.items()
            ],
            converters={"seg": SegmentConverter},
            strict_slashes=False,
            merge_slashes=False,
            redirect_defaults=False,
        )

    def match(self, path: str, method: str) -> tuple[Route, dict[str, Any]]:
        """The route and its decoded segments, or ErrorReply 404/405 (with ``Allow``).

        ``HEAD`` is answered by the ``GET`` route, as Werkzeug does.
        """
        try:
            pattern, args = self._map.bind("sandbox").match(path, method=method)
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or [])
            raise ErrorReply(
                405,
                "method_not_allowed",
                f"Method {method} is not allowed on this path",
                {"Allow": ", ".join(allowed)},
            ) from None
        except (NotFound, RequestRedirect):
            raise not_found("Resource not found") from None
        methods = self._by_pattern[pattern]
        route = methods.get(method) or methods["GET" if method == "HEAD" else method]
        return route, dict(args)


def raw_target(environ: dict[str, Any]) -> tuple[str, str]:
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


def is_api_path(path: str) -> bool:
    """Whether ``path`` is in the API namespace (including unknown API paths)."""
    return path.startswith(_API_PREFIXES) or path in _API_ROOTS


def is_v2_path(path: str) -> bool:
    """Whether ``path`` is a v2 API path (``/v2/…`` or ``/sc/v2/…``): v2 error envelope."""
    return path.startswith(_V2_PREFIXES) or path in _V2_ROOTS
