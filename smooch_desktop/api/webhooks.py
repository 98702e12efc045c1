"""Registering the app's own webhook receiver through the API, for v1.1 and v2.

* **v1.1**: ``POST /v1.1/apps/{appId}/webhooks`` ``{target, triggers}`` → 201
  ``{"webhook": {_id, secret, target, triggers, …}}``; ``GET …/webhooks`` lists them;
  ``DELETE …/webhooks/{id}`` removes one. Trigger: ``message:appUser`` (what the
  conversation list needs; the agent's own messages come back through the poll).
* **v2**: a custom integration with one webhook: ``POST /v2/apps/{appId}/integrations``
  ``{type: "custom", displayName, webhooks: [{target, triggers, includeFullUser}]}`` →
  201 ``{"integration": {id, webhooks: [{id, secret, …}]}}``; ``GET /integrations
  ?filter[types]=custom`` (cursor paged) lists them; ``DELETE /integrations/{id}``
  removes it with its webhook. Trigger: ``conversation:message``; ``includeFullUser`` so
  a new user's name and external id come with their first message.

Both send the secret back in the create answer (the spec's ``webhook.secret``; the
receiver checks it in ``X-API-Key`` on every call). :class:`Registration` keeps it out
of its ``repr``.

A crash leaves a registration behind. :meth:`WebhookAdmin.register` first deletes every
registration whose target is exactly the new one (for v2 only the integrations this app
created, named :data:`INTEGRATION_NAME`) and then creates a fresh one, so the secret is
never stored and a leftover never doubles the calls. A delete answered 404 counts as
done (someone else removed it).

Requests are built by pure ``prepare_*`` functions and sent through the adapter's
:class:`~smooch_desktop.api.client.HttpClient`: the same deadlines, proxy rule and typed
errors as every other call. The adapters hand out their :class:`WebhookAdmin`
(``V1Api.webhooks()``, ``V2Api.webhooks()``); :func:`webhooks_for` finds it on any
:class:`~smooch_desktop.api.protocol.ConversationApi`.

Must not hold: the receiver (``core/webhook_receiver.py``), Qt, anything of ``core``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, urlsplit

from smooch_desktop.api.client import ApiRequest, HttpClient, PathBuilder, encode_segment
from smooch_desktop.api.errors import BadResponse, HttpError

V1_TRIGGERS: Final = ("message:appUser",)
V2_TRIGGERS: Final = ("conversation:message",)
#: The display name of the v2 integrations this app creates (how it finds its own).
INTEGRATION_NAME: Final = "Smooch Desktop live updates"
#: Listing pages read at most while looking for leftovers (v2, 100 per page).
MAX_LIST_PAGES: Final = 20
#: Leftovers deleted at most per registration: Smooch holds 10 webhooks per app, so a
#: longer list is a hostile server's (it would hold the api queue for thousands of calls).
MAX_LEFTOVERS: Final = 10
#: Longest secret taken from a create answer (Smooch's are 32 characters).
MAX_SECRET: Final = 1024


@dataclass(frozen=True)
class Registration:
    """A webhook the app registered: its id (v2: the integration's), target and secret;
    ``app_id`` the app it is for ("" when the key implies it), which calls must name."""

    id: str
    target: str
    version: str
    secret: str = field(repr=False)
    app_id: str = ""


class WebhookAdmin(Protocol):
    """Blocking calls; run them on the API worker thread."""

    def register(self, target: str) -> Registration:
        """Delete leftovers for ``target``, then create a webhook for it."""

    def unregister(self, registration_id: str) -> None:
        """Remove it (already gone is fine)."""

    def registered(self, target: str) -> list[str]:
        """Ids of this app's registrations for exactly ``target``."""


def webhooks_for(api: object) -> WebhookAdmin | None:
    """The webhook admin of an adapter (None: this API can't register webhooks)."""
    make = getattr(api, "webhooks", None)
    return make() if callable(make) else None


def _secret_of(hook: Any, host: str) -> tuple[str, str]:
    if not isinstance(hook, dict):
        raise BadResponse(f"The answer from {host} has no webhook in it.")
    hook_id = hook.get("_id") or hook.get("id")
    secret = hook.get("secret")
    if not isinstance(hook_id, str) or not hook_id or not isinstance(secret, str) or not secret:
        raise BadResponse(f"The webhook answer from {host} has no id or no secret.")
    if len(secret) > MAX_SECRET or not secret.isascii() or not secret.isprintable():
        # A header can't carry it as sent: no call could ever be accepted.
        raise BadResponse(f"The webhook answer from {host} has a secret no call can carry.")
    return hook_id, secret


def _delete_quietly(http: HttpClient, request: ApiRequest) -> None:
    try:
        http.send(request)
    except HttpError as exc:
        if exc.status != 404:
            raise


# --- v1.1 -------------------------------------------------------------------------------------


def prepare_create_v1(paths: PathBuilder, target: str) -> ApiRequest:
    body = {"target": target, "triggers": list(V1_TRIGGERS)}
    return ApiRequest("POST", paths.app("webhooks"), json_body=body)


def prepare_list_v1(paths: PathBuilder) -> ApiRequest:
    return ApiRequest("GET", paths.app("webhooks"), idempotent=True)


def prepare_delete_v1(paths: PathBuilder, webhook_id: str) -> ApiRequest:
    return ApiRequest("DELETE", paths.app("webhooks", encode_segment(webhook_id)), idempotent=True)


class V1Webhooks:
    """v1.1 ``/webhooks``."""

    def __init__(self, http: HttpClient, paths: PathBuilder) -> None:
        self.http = http
        self.paths = paths

    def registered(self, target: str) -> list[str]:
        body = self.http.send(prepare_list_v1(self.paths))
        hooks = body.get("webhooks")
        found = hooks if isinstance(hooks, list) else []
        return [
            str(h["_id"])
            for h in found
            if isinstance(h, dict) and h.get("target") == target and isinstance(h.get("_id"), str)
        ]

    def register(self, target: str) -> Registration:
        for leftover in self.registered(target)[:MAX_LEFTOVERS]:
            self.unregister(leftover)
        body = self.http.send(prepare_create_v1(self.paths, target))
        hook_id, secret = _secret_of(body.get("webhook"), self.http.host)
        return Registration(hook_id, target, "v1.1", secret, self.paths.app_id)

    def unregister(self, registration_id: str) -> None:
        _delete_quietly(self.http, prepare_delete_v1(self.paths, registration_id))


# --- v2 ---------------------------------------------------------------------------------------


def prepare_create_integration(app_path: str, target: str) -> ApiRequest:
    body = {
        "type": "custom",
        "displayName": INTEGRATION_NAME,
        "webhooks": [{"target": target, "triggers": list(V2_TRIGGERS), "includeFullUser": True}],
    }
    return ApiRequest("POST", f"{app_path}/integrations", json_body=body)


def prepare_list_integrations(app_path: str, after: str | None = None) -> ApiRequest:
    params = {"filter[types]": "custom", "page[size]": "100"}
    if after:
        params["page[after]"] = after
    return ApiRequest("GET", f"{app_path}/integrations", params=params, idempotent=True)


def prepare_delete_integration(app_path: str, integration_id: str) -> ApiRequest:
    return ApiRequest(
        "DELETE", f"{app_path}/integrations/{encode_segment(integration_id)}", idempotent=True
    )


def _after_cursor(body: dict[str, Any]) -> str | None:
    """The next page's ``page[after]``, from ``links.next`` (else the last id with
    ``meta.hasMore``); None on the last page."""
    meta = body.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    if not meta.get("hasMore"):
        return None
    links = body.get("links")
    links = links if isinstance(links, dict) else {}
    nxt = links.get("next")
    if isinstance(nxt, str):
        values = parse_qs(urlsplit(nxt).query).get("page[after]")
        if values:
            return values[0]
    cursor = meta.get("afterCursor")
    return cursor if isinstance(cursor, str) and cursor else None


class V2Webhooks:
    """v2 custom integrations with one webhook each."""

    def __init__(self, http: HttpClient, app_path: str, app_id: str = "") -> None:
        self.http = http
        self.app_path = app_path
        self.app_id = app_id

    def registered(self, target: str) -> list[str]:
        found: list[str] = []
        after: str | None = None
        for _ in range(MAX_LIST_PAGES):
            body = self.http.send(prepare_list_integrations(self.app_path, after))
            items = body.get("integrations")
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict) or item.get("displayName") != INTEGRATION_NAME:
                    continue
                hooks = item.get("webhooks")
                hooks = hooks if isinstance(hooks, list) else []
                targets = [h.get("target") for h in hooks if isinstance(h, dict)]
                if target in targets and isinstance(item.get("id"), str):
                    found.append(item["id"])
            after = _after_cursor(body)
            if after is None:
                break
        return found

    def register(self, target: str) -> Registration:
        for leftover in self.registered(target)[:MAX_LEFTOVERS]:
            self.unregister(leftover)
        body = self.http.send(prepare_create_integration(self.app_path, target))
        integration = body.get("integration")
        integration = integration if isinstance(integration, dict) else {}
        integration_id = integration.get("id")
        hooks = integration.get("webhooks")
        if not isinstance(integration_id, str) or not integration_id or not hooks:
            raise BadResponse(f"The integration answer from {self.http.host} has no webhook.")
        _hook_id, secret = _secret_of(hooks[0] if isinstance(hooks, list) else None, self.http.host)
        return Registration(integration_id, target, "v2", secret, self.app_id)

    def unregister(self, registration_id: str) -> None:
        _delete_quietly(self.http, prepare_delete_integration(self.app_path, registration_id))
