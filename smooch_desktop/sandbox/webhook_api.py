"""The webhook-management endpoints: v1/v1.1 ``/webhooks`` and v2 custom integrations.

v1/v1.1 (``/v1.1/apps/{appId}/webhooks`` and the app-scope ``/v1.1/webhooks``, also under
``/v1``): ``POST`` → 201 ``{"webhook": {_id, triggers, secret, target, version,
includeClient, includeFullAppUser}}`` (``triggers`` defaults to ``["message"]``),
``GET`` → ``{"webhooks": […]}``, ``GET``/``PUT``/``DELETE`` ``…/webhooks/{webhookId}``
(``PUT`` changes any of ``target``, ``triggers``, ``includeClient``,
``includeFullAppUser``; ``DELETE`` → 200 ``{}``).

v2 (``/v2/apps/{appId}/…`` and ``/sc/v2/…``): ``POST /integrations`` with ``{"type":
"custom", "displayName"?, "webhooks": [{target, triggers, includeFullUser?,
includeFullSource?}]}`` (exactly one webhook, as the spec says) → 201 ``{"integration":
{id, type, status, displayName, webhooks}}``; ``GET /integrations`` (``filter[types]``,
cursor paging), ``GET``/``PATCH`` (``displayName``)/``DELETE`` ``/integrations/{id}``;
``POST``/``GET`` ``/integrations/{id}/webhooks`` and ``GET``/``PATCH``/``DELETE``
``/integrations/{id}/webhooks/{webhookId}``. 404 ``integration_not_found`` for an unknown
integration, ``not_found`` for an unknown webhook.

Errors (400 ``bad_request``): a missing or non-http(s) target, a non-loopback target
(unless allowed, ``webhooks.py`` says why), an unknown trigger, an empty trigger list, a
non-boolean flag, more than 10 webhooks in an app (inferred: the docs give the limit, not
the error). Choices where the docs are silent (inferred): only ``custom`` integrations can
be created here (any other type → 400 "Invalid integration type": there is no channel to
connect); the target is not probed at creation. Registrations, delivery and payloads are
``webhooks.py`` and ``webhook_payloads.py``; routing, auth and the request log are
dispatch's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from smooch_desktop.sandbox.bodies import json_body
from smooch_desktop.sandbox.errors import bad_request
from smooch_desktop.sandbox.exchange import Call, json_response
from smooch_desktop.sandbox.v2_handlers import _paging, _window
from smooch_desktop.sandbox.v2_validation import deep_object, page_query
from smooch_desktop.sandbox.webhooks import WebhookService

MAX_DISPLAY_NAME = 100


def _service(call: Call) -> WebhookService:
    if call.webhooks is None:  # every SandboxApp has one; a bare Call in a test may not
        raise RuntimeError("no webhook service")
    return call.webhooks


def _version(call: Call) -> str:
    return "v1" if call.path.startswith("/v1/") else "v1.1"


# ---------------------------------------------------------------------- v1 / v1.1


def create_webhook(call: Call, app_id: str) -> Response:
    """``POST …/webhooks``: 201 with the new webhook and its secret."""
    hook = _service(call).create_v1(app_id, _version(call), json_body(call))
    return json_response({"webhook": hook}, 201)


def list_webhooks(call: Call, app_id: str) -> Response:
    """``GET …/webhooks``."""
    return json_response({"webhooks": _service(call).list_v1(app_id)})


def get_webhook(call: Call, app_id: str, webhook_id: str) -> Response:
    """``GET …/webhooks/{webhookId}``."""
    return json_response({"webhook": _service(call).get_v1(app_id, webhook_id)})


def update_webhook(call: Call, app_id: str, webhook_id: str) -> Response:
    """``PUT …/webhooks/{webhookId}``."""
    hook = _service(call).update_v1(app_id, webhook_id, json_body(call))
    return json_response({"webhook": hook})


def delete_webhook(call: Call, app_id: str, webhook_id: str) -> Response:
    """``DELETE …/webhooks/{webhookId}``: deliveries stop at once."""
    _service(call).delete_v1(app_id, webhook_id)
    return json_response({})


# ---------------------------------------------------------------------- v2 integrations


def _display_name(body: dict[str, Any]) -> str | None:
    name = body.get("displayName")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_DISPLAY_NAME):
        raise bad_request(f'"displayName" must be a string of 1 to {MAX_DISPLAY_NAME} characters')
    return name


def create_integration(call: Call, app_id: str) -> Response:
    """``POST /integrations``: a custom integration with one webhook."""
    body = json_body(call)
    if body.get("type") != "custom":
        raise bad_request("Invalid integration type")
    hooks = body.get("webhooks")
    if not isinstance(hooks, list) or len(hooks) != 1:
        raise bad_request('"webhooks" must be an array of exactly one webhook')
    integration = _service(call).create_integration(app_id, _display_name(body), hooks)
    return json_response({"integration": integration}, 201)


def list_integrations(call: Call, app_id: str) -> Response:
    """``GET /integrations[?filter[types]=custom,…][&page[…]]``."""
    args = call.request.args
    types = deep_object(args, "filter").get("types")
    before, after, size = page_query(args)
    found = _service(call).integrations(app_id)
    if types is not None:
        wanted = {t.strip() for t in types.split(",") if t.strip()}
        found = [i for i in found if i["type"] in wanted]
    ids = [i["id"] for i in found]
    start, end = _window(ids, before, after, size)
    body: dict[str, Any] = {"integrations": found[start:end]}
    keep = f"filter[types]={quote(types, safe=',')}&" if types is not None else ""
    body.update(_paging(call, ids, start, end, before is not None, keep))
    return json_response(body)


def get_integration(call: Call, app_id: str, integration_id: str) -> Response:
    """``GET /integrations/{integrationId}``."""
    return json_response({"integration": _service(call).integration(app_id, integration_id)})


def update_integration(call: Call, app_id: str, integration_id: str) -> Response:
    """``PATCH /integrations/{integrationId}``: ``displayName`` (null unsets it)."""
    body = json_body(call)
    service = _service(call)
    if "displayName" not in body:
        return json_response({"integration": service.integration(app_id, integration_id)})
    integration = service.rename_integration(app_id, integration_id, _display_name(body))
    return json_response({"integration": integration})


def delete_integration(call: Call, app_id: str, integration_id: str) -> Response:
    """``DELETE /integrations/{integrationId}``: with its webhooks. 200 ``{}``."""
    _service(call).delete_integration(app_id, integration_id)
    return json_response({})


def create_integration_webhook(call: Call, app_id: str, integration_id: str) -> Response:
    """``POST /integrations/{integrationId}/webhooks``: 201 ``{"webhook"}``."""
    hook = _service(call).create_v2(app_id, integration_id, json_body(call))
    return json_response({"webhook": hook}, 201)


def list_integration_webhooks(call: Call, app_id: str, integration_id: str) -> Response:
    """``GET /integrations/{integrationId}/webhooks``."""
    return json_response({"webhooks": _service(call).list_v2(app_id, integration_id)})


def get_integration_webhook(
    call: Call, app_id: str, integration_id: str, webhook_id: str
) -> Response:
    """``GET /integrations/{integrationId}/webhooks/{webhookId}``."""
    return json_response({"webhook": _service(call).get_v2(app_id, integration_id, webhook_id)})


def update_integration_webhook(
    call: Call, app_id: str, integration_id: str, webhook_id: str
) -> Response:
    """``PATCH /integrations/{integrationId}/webhooks/{webhookId}``."""
    body = json_body(call)
    hook = _service(call).update_v2(app_id, integration_id, webhook_id, body)
    return json_response({"webhook": hook})


def delete_integration_webhook(
    call: Call, app_id: str, integration_id: str, webhook_id: str
) -> Response:
    """``DELETE /integrations/{integrationId}/webhooks/{webhookId}``: 200 ``{}``."""
    _service(call).delete_v2(app_id, integration_id, webhook_id)
    return json_response({})
