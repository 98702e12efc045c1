"""The route tables in ``sandbox/routes.py``: every route names a real handler, every
handler is routed, and a handler's parameters are exactly its path's segments.

So no endpoint is dead, none is found by a string, and a renamed segment or handler
argument fails here instead of as a 500 at request time.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from types import ModuleType

import pytest
import requests
from sandbox_helpers import Api

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    SandboxServer,
    api_handlers,
    control_handlers,
    page_handlers,
    v2_handlers,
    webhook_api,
)
from smooch_desktop.sandbox.routes import API_ROUTES, SANDBOX_ROUTES, Route, Router

HANDLER_MODULES = (api_handlers, v2_handlers, webhook_api, control_handlers, page_handlers)
API_MODULES = (api_handlers, v2_handlers, webhook_api)
ALL_ROUTES = API_ROUTES + SANDBOX_ROUTES


def handler_functions(module: ModuleType) -> list[Callable[..., object]]:
    """The public functions a handlers module defines (not the ones it imports)."""
    return [
        function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    ]


def segments(pattern: str) -> list[str]:
    return re.findall(r"<seg:(\w+)>", pattern)


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{r.method} {r.pattern}")
def test_every_route_names_a_handler_function(route: Route) -> None:
    assert callable(route.handler)
    module = inspect.getmodule(route.handler)
    assert module in HANDLER_MODULES
    assert route.handler in handler_functions(module)


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{r.method} {r.pattern}")
def test_handler_parameters_are_the_call_and_the_path_segments(route: Route) -> None:
    expected = ["call", *segments(route.pattern)]
    if route in API_ROUTES and "app_id" not in expected:
        expected.insert(1, "app_id")  # short form: dispatch passes the key's own app
    params = list(inspect.signature(route.handler).parameters)
    assert sorted(params) == sorted(expected)


@pytest.mark.parametrize("module", HANDLER_MODULES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_every_handler_function_is_routed(module: ModuleType) -> None:
    routed = {route.handler for route in ALL_ROUTES}
    unrouted = [f.__qualname__ for f in handler_functions(module) if f not in routed]
    assert handler_functions(module)
    assert unrouted == []


def test_api_routes_are_only_in_the_api_table() -> None:
    prefixes = ("/v1/", "/v1.1/", "/v2/", "/sc/v2/")
    assert all(route.pattern.startswith(prefixes) for route in API_ROUTES)
    assert not any(route.pattern.startswith(("/v1", "/v2", "/sc/")) for route in SANDBOX_ROUTES)
    api_handler_set = {f for module in API_MODULES for f in handler_functions(module)}
    assert {route.handler for route in API_ROUTES} == api_handler_set
    assert not any(route.handler in api_handler_set for route in SANDBOX_ROUTES)


def test_every_api_endpoint_has_all_four_path_forms() -> None:
    forms = {"/v1/apps/<seg:app_id>/", "/v1/", "/v1.1/apps/<seg:app_id>/", "/v1.1/"}
    for handler in handler_functions(api_handlers):
        patterns = [r.pattern for r in API_ROUTES if r.handler is handler]
        prefixes = {re.sub(r"^(/v1(?:\.1)?/(?:apps/<seg:app_id>/)?).*", r"\1", p) for p in patterns}
        assert prefixes == forms, handler


def test_every_v2_endpoint_has_both_path_forms_and_no_v1_route() -> None:
    forms = {"/v2/apps/<seg:app_id>/", "/sc/v2/apps/<seg:app_id>/"}
    for handler in handler_functions(v2_handlers):
        patterns = [r.pattern for r in API_ROUTES if r.handler is handler]
        prefixes = {re.sub(r"^((?:/sc)?/v2/apps/<seg:app_id>/).*", r"\1", p) for p in patterns}
        assert prefixes == forms, handler
        suffixes = {p.split("<seg:app_id>", 1)[1] for p in patterns}
        assert len(suffixes) == 1, handler  # the same path under both prefixes


def test_v1_handlers_are_never_on_v2_paths() -> None:
    v1 = set(handler_functions(api_handlers))
    assert all(r.handler not in v1 for r in API_ROUTES if "/v2/" in r.pattern)


def test_a_method_and_pattern_can_be_routed_only_once() -> None:
    route = SANDBOX_ROUTES[0]
    with pytest.raises(ValueError, match="two routes"):
        Router([route, Route(route.method, route.pattern, control_handlers.health)])


def test_head_is_answered_by_the_get_route(srv: SandboxServer) -> None:
    resp = requests.head(f"{srv.base_url}/_sandbox/health", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")


def test_405_allows_every_method_of_the_path(api: Api) -> None:
    resp = api.request("DELETE", api.user_url(DEMO_ALICE_ID))
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET, HEAD, PUT"
    assert resp.json()["error"]["code"] == "method_not_allowed"
