"""The webhooks the sandbox sends, as Smooch does: registrations and their delivery.

:class:`WebhookService` keeps the webhooks registered through the API (v1/v1.1
``/webhooks``; v2 custom integrations and their ``/webhooks``, ``webhook_api.py``), hears
the store's events (it is the store's ``listener``) and POSTs each event to every
webhook of the app subscribed to its trigger, with the webhook's secret in ``X-API-Key``
and the body of the webhook's payload version (``webhook_payloads.py``).

Delivery, as the docs describe it: up to :data:`MAX_ATTEMPTS` attempts with exponential
back-off on anything but a 2xx, a timeout (:data:`DEFAULT_TIMEOUT`, 20 s) or a refused
connection; no retry on the non-recoverable 400, 401, 403, 404 and 406. The back-off is
compressed from Smooch's 15 minutes (:data:`DEFAULT_RETRY_DELAYS`, settable) so that local
development does not wait. Redirects are not followed and proxies from the environment
are never used.

Threads: the store calls :meth:`WebhookService.publish` with its lock held, so the
service only matches and enqueues (never waits): each webhook has its own bounded lane
(:data:`LANE_LIMIT` pending events; past it new events are dropped and logged) and its own
daemon thread, so one slow or failing target neither blocks a request handler nor
delays another webhook, and each webhook gets its events in the order the store saw
them (the next event waits for the current one's retries). Deleting a webhook (or its
integration) stops its deliveries at once, pending retries included.

Only loopback targets (``localhost``, 127/8, ``::1``; no name is resolved) are accepted
unless the server is created with ``allow_remote_webhooks=True``: a sandbox that posts
wherever any caller asks would be an open relay for anyone who can reach it. Nothing
here is persisted: registrations last as long as the server. The delivery log
(:meth:`WebhookService.deliveries`) never holds a secret.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from smooch_desktop.sandbox import webhook_payloads
from smooch_desktop.sandbox.errors import ErrorReply, bad_request, not_found

logger = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 5
#: Answers that end a delivery at once (the docs' non-recoverable errors).
NO_RETRY_STATUSES: Final = frozenset({400, 401, 403, 404, 406})
#: Seconds before attempts 2, 3, 4 and 5.
DEFAULT_RETRY_DELAYS: Final = (1.0, 2.0, 4.0, 8.0)
#: No answer within this many seconds counts as a failed attempt.
DEFAULT_TIMEOUT: Final = 20.0
#: An app holds at most this many webhooks (v1.1 and v2 together).
MAX_WEBHOOKS_PER_APP: Final = 10
#: Events waiting per webhook; past it new ones are dropped (and logged).
LANE_LIMIT: Final = 1000
DELIVERY_LOG_LIMIT: Final = 2000
MAX_TARGET_LENGTH: Final = 2048
SECRET_HEADER: Final = "X-API-Key"


def check_target(value: Any, allow_remote: bool) -> str:
    """A webhook ``target``: an http(s) URL with a host, loopback unless ``allow_remote``."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request('"target" is required and must be a URL')
    if len(value) > MAX_TARGET_LENGTH:
        raise bad_request(f'"target" must be at most {MAX_TARGET_LENGTH} characters')
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise bad_request('"target" must be an http or https URL') from None
    if parts.scheme not in ("http", "https") or not host:
        raise bad_request('"target" must be an http or https URL')
    if not allow_remote and not _is_loopback(host):
        raise bad_request(
            '"target" must be on this machine (localhost, 127.0.0.1 or [::1]): the sandbox'
            " only sends webhooks to loopback targets unless started to allow others"
        )
    return value


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (no name is resolved)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_triggers(value: Any, allowed: frozenset[str], default: list[str] | None) -> list[str]:
    """A non-empty list of known trigger names (``default`` when absent and allowed)."""
    if value is None and default is not None:
        return list(default)
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise bad_request('"triggers" must be a non-empty array of trigger names')
    unknown = [t for t in value if t not in allowed]
    if unknown:
        raise bad_request(f'"triggers": unknown trigger {unknown[0]!r}')
    return list(dict.fromkeys(value))


def check_flag(body: dict[str, Any], key: str) -> bool | None:
    """An optional boolean field."""
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f'"{key}" must be a boolean')
    return value


@dataclass
class _Lane:
    """One webhook's pending events and the thread that delivers them in order."""

    hook_id: str
    events: deque[dict[str, Any]] = field(default_factory=deque)
    cond: threading.Condition = field(default_factory=threading.Condition)
    closed: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class WebhookService:
    """Webhook registrations of every app, and their delivery (thread-safe).

    ``new_id`` makes record ids (the store's, so they look like Smooch's).
    """

    def __init__(
        self,
        new_id: Callable[[], str],
        *,
        allow_remote: bool = False,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if len(retry_delays) < MAX_ATTEMPTS - 1:
            raise ValueError(f"retry_delays needs {MAX_ATTEMPTS - 1} delays")
        self._new_id = new_id
        self.allow_remote = allow_remote
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._hooks: dict[str, dict[str, Any]] = {}  # id -> record (API fields + appId…)
        self._integrations: dict[str, dict[str, Any]] = {}
        self._lanes: dict[str, _Lane] = {}
        self._log: deque[dict[str, Any]] = deque(maxlen=DELIVERY_LOG_LIMIT)
        self._log_lock = threading.Lock()
        self._seq = 0

    # ------------------------------------------------------------------ v1 / v1.1 webhooks

    def create_v1(self, app_id: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        """A v1/v1.1 webhook from a checked-here body; its API view (with the secret)."""
        target = check_target(body.get("target"), self.allow_remote)
        triggers = check_triggers(body.get("triggers"), webhook_payloads.V1_TRIGGERS, ["message"])
        record: dict[str, Any] = {
            "id": self._new_id(),
            "appId": app_id,
            "version": version,
            "integrationId": None,
            "target": target,
            "triggers": triggers,
            "secret": secrets.token_hex(20),
            "includeClient": bool(check_flag(body, "includeClient")),
            "includeFullAppUser": bool(check_flag(body, "includeFullAppUser")),
            "includeFullUser": False,
            "includeFullSource": False,
        }
        with self._lock:
            self._check_room(app_id)
            self._hooks[record["id"]] = record
        return v1_view(record)

    def list_v1(self, app_id: str) -> list[dict[str, Any]]:
        """The app's v1/v1.1 webhooks, oldest first."""
        with self._lock:
            return [v1_view(h) for h in self._app_hooks(app_id, None)]

    def get_v1(self, app_id: str, hook_id: str) -> dict[str, Any]:
        with self._lock:
            return v1_view(self._hook(app_id, None, hook_id))

    def update_v1(self, app_id: str, hook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change ``target``, ``triggers``, ``includeClient``, ``includeFullAppUser``."""
        changes: dict[str, Any] = {}
        if "target" in body:
            changes["target"] = check_target(body["target"], self.allow_remote)
        if "triggers" in body:
            allowed = webhook_payloads.V1_TRIGGERS
            changes["triggers"] = check_triggers(body["triggers"], allowed, None)
        for key in ("includeClient", "includeFullAppUser"):
            if (flag := check_flag(body, key)) is not None:
                changes[key] = flag
        with self._lock:
            record = self._hook(app_id, None, hook_id)
            record.update(changes)
            return v1_view(record)

    def delete_v1(self, app_id: str, hook_id: str, integration_id: str | None = None) -> None:
        """Remove a webhook; its pending deliveries and retries stop."""
        with self._lock:
            self._hook(app_id, integration_id, hook_id)
            self._remove(hook_id)

    # ------------------------------------------------------------------ v2 integrations

    def create_integration(
        self, app_id: str, display_name: str | None, hooks: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A custom integration with its (checked) webhooks; its v2 view."""
        records = [self._v2_record(app_id, "", body) for body in hooks]
        integration: dict[str, Any] = {
            "id": self._new_id(),
            "appId": app_id,
            "displayName": display_name,
        }
        with self._lock:
            self._check_room(app_id, len(records))
            self._integrations[integration["id"]] = integration
            for record in records:
                record["integrationId"] = integration["id"]
                self._hooks[record["id"]] = record
            return self._integration_view(integration)

    def integrations(self, app_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                self._integration_view(i)
                for i in self._integrations.values()
                if i["appId"] == app_id
            ]

    def integration(self, app_id: str, integration_id: str) -> dict[str, Any]:
        with self._lock:
            return self._integration_view(self._integration(app_id, integration_id))

    def rename_integration(
        self, app_id: str, integration_id: str, display_name: str | None
    ) -> dict[str, Any]:
        with self._lock:
            integration = self._integration(app_id, integration_id)
            integration["displayName"] = display_name
            return self._integration_view(integration)

    def delete_integration(self, app_id: str, integration_id: str) -> None:
        """Remove the integration and its webhooks (their deliveries stop)."""
        with self._lock:
            self._integration(app_id, integration_id)
            del self._integrations[integration_id]
            for hook in self._app_hooks(app_id, integration_id):
                self._remove(hook["id"])

    def create_v2(self, app_id: str, integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self._v2_record(app_id, integration_id, body)
        with self._lock:
            self._integration(app_id, integration_id)
            self._check_room(app_id)
            self._hooks[record["id"]] = record
            return v2_view(record)

    def list_v2(self, app_id: str, integration_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._integration(app_id, integration_id)
            return [v2_view(h) for h in self._app_hooks(app_id, integration_id)]

    def get_v2(self, app_id: str, integration_id: str, hook_id: str) -> dict[str, Any]:
        with self._lock:
            self._integration(app_id, integration_id)
            return v2_view(self._hook(app_id, integration_id, hook_id))

    def update_v2(
        self, app_id: str, integration_id: str, hook_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Change ``target``, ``triggers``, ``includeFullUser``, ``includeFullSource``."""
        changes: dict[str, Any] = {}
        if "target" in body:
            changes["target"] = check_target(body["target"], self.allow_remote)
        if "triggers" in body:
            allowed = webhook_payloads.V2_TRIGGERS
            changes["triggers"] = check_triggers(body["triggers"], allowed, None)
        for key in ("includeFullUser", "includeFullSource"):
            if (flag := check_flag(body, key)) is not None:
                changes[key] = flag
        with self._lock:
            self._integration(app_id, integration_id)
            record = self._hook(app_id, integration_id, hook_id)
            record.update(changes)
            return v2_view(record)

    def delete_v2(self, app_id: str, integration_id: str, hook_id: str) -> None:
        with self._lock:
            self._integration(app_id, integration_id)
        self.delete_v1(app_id, hook_id, integration_id)

    def _v2_record(self, app_id: str, integration_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("A webhook must be an object")
        return {
            "id": self._new_id(),
            "appId": app_id,
            "version": "v2",
            "integrationId": integration_id,
            "target": check_target(body.get("target"), self.allow_remote),
            "triggers": check_triggers(body.get("triggers"), webhook_payloads.V2_TRIGGERS, None),
            "secret": secrets.token_hex(16),
            "includeClient": False,
            "includeFullAppUser": False,
            "includeFullUser": bool(check_flag(body, "includeFullUser")),
            "includeFullSource": bool(check_flag(body, "includeFullSource")),
        }

    def _integration_view(self, integration: dict[str, Any]) -> dict[str, Any]:
        hooks = self._app_hooks(integration["appId"], integration["id"])
        return {
            "id": integration["id"],
            "type": "custom",
            "status": "active",
            "displayName": integration["displayName"],
            "webhooks": [v2_view(h) for h in hooks],
        }

    # ------------------------------------------------------------------ lookups (lock held)

    def _app_hooks(self, app_id: str, integration_id: str | None) -> list[dict[str, Any]]:
        return [
            h
            for h in self._hooks.values()
            if h["appId"] == app_id and h["integrationId"] == integration_id
        ]

    def _hook(self, app_id: str, integration_id: str | None, hook_id: str) -> dict[str, Any]:
        record = self._hooks.get(hook_id)
        if record is None or record["appId"] != app_id or record["integrationId"] != integration_id:
            raise not_found("Webhook not found")
        return record

    def _integration(self, app_id: str, integration_id: str) -> dict[str, Any]:
        integration = self._integrations.get(integration_id)
        if integration is None or integration["appId"] != app_id:
            raise not_found("Integration not found", "integration_not_found")
        return integration

    def _check_room(self, app_id: str, adding: int = 1) -> None:
        held = sum(1 for h in self._hooks.values() if h["appId"] == app_id)
        if held + adding > MAX_WEBHOOKS_PER_APP:
            raise ErrorReply(
                400, "bad_request", f"An app is limited to {MAX_WEBHOOKS_PER_APP} webhooks"
            )

    def _remove(self, hook_id: str) -> None:
        del self._hooks[hook_id]
        lane = self._lanes.pop(hook_id, None)
        if lane is not None:
            _close(lane)

    # ------------------------------------------------------------------ delivery

    def wants(self, app_id: str) -> bool:
        """Whether the app has a webhook (the store builds events only then)."""
        with self._lock:
            return any(h["appId"] == app_id for h in self._hooks.values())

    def publish(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for each subscribed webhook of its app. Never waits: called
        from a request handler with the store's lock held."""
        with self._lock:
            for hook in self._hooks.values():
                if hook["appId"] != event["appId"]:
                    continue
                fired = webhook_payloads.trigger(event, hook["version"])
                if fired is None or not webhook_payloads.subscribed(hook["triggers"], fired):
                    continue
                lane = self._lanes.get(hook["id"])
                if lane is None:
                    lane = self._lanes[hook["id"]] = self._start_lane(hook["id"])
                with lane.cond:
                    if len(lane.events) >= LANE_LIMIT:
                        self._note(hook, event["id"], fired, 0, None, "dropped", "lane full")
                        continue
                    lane.events.append({"event": event, "trigger": fired})
                    lane.cond.notify()

    def _start_lane(self, hook_id: str) -> _Lane:
        lane = _Lane(hook_id)
        lane.thread = threading.Thread(
            target=self._run_lane, args=(lane,), name=f"sandbox-webhook:{hook_id}", daemon=True
        )
        lane.thread.start()
        return lane

    def _run_lane(self, lane: _Lane) -> None:
        with requests.Session() as session:
            session.trust_env = False  # never an environment proxy, even for loopback
            while not lane.closed.is_set():
                with lane.cond:
                    while not lane.events and not lane.closed.is_set():
                        lane.cond.wait()
                    if lane.closed.is_set():
                        return
                    item = lane.events[0]
                self._deliver(lane, session, item["event"], item["trigger"])
                with lane.cond:
                    if lane.events and lane.events[0] is item:
                        lane.events.popleft()

    def _deliver(
        self, lane: _Lane, session: requests.Session, event: dict[str, Any], fired: str
    ) -> None:
        """Up to MAX_ATTEMPTS POSTs of one event, with back-off; stops if the lane closes."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with self._lock:
                record = self._hooks.get(lane.hook_id)
                hook = copy.deepcopy(record) if record is not None else None
            if hook is None or lane.closed.is_set():
                return
            body = (
                webhook_payloads.v2_body(hook, event, fired)
                if hook["version"] == "v2"
                else webhook_payloads.v1_body(hook, event, fired)
            )
            status, error = self._post(session, hook, body)
            last = attempt == MAX_ATTEMPTS
            if status is not None and 200 <= status < 300:
                self._note(hook, event["id"], fired, attempt, status, "delivered", None)
                return
            if status in NO_RETRY_STATUSES:
                self._note(hook, event["id"], fired, attempt, status, "refused", error)
                return
            outcome = "gave up" if last else "retry"
            self._note(hook, event["id"], fired, attempt, status, outcome, error)
            if last or lane.closed.wait(self.retry_delays[attempt - 1]):
                return

    def _post(
        self, session: requests.Session, hook: dict[str, Any], body: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SECRET_HEADER: hook["secret"],
            "User-Agent": "smooch-desktop-sandbox-webhooks",
        }
        try:
            response = session.post(
                hook["target"],
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return None, "timeout"
        except requests.RequestException as exc:
            return None, type(exc).__name__
        with response:
            return response.status_code, None if response.ok else response.reason

    def _note(
        self,
        hook: dict[str, Any],
        event_id: str,
        fired: str,
        attempt: int,
        status: int | None,
        outcome: str,
        error: str | None,
    ) -> None:
        """One line of the delivery log (no secret, no body)."""
        with self._log_lock:
            self._seq += 1
            self._log.append(
                {
                    "seq": self._seq,
                    "time": round(time.time(), 3),
                    "webhookId": hook["id"],
                    "appId": hook["appId"],
                    "target": hook["target"],
                    "eventId": event_id,
                    "trigger": fired,
                    "attempt": attempt,
                    "status": status,
                    "outcome": outcome,
                    "error": error,
                }
            )
        if outcome in ("gave up", "refused", "dropped"):
            logger.info("webhook %s %s: %s %s", hook["id"], outcome, status, error or "")

    def deliveries(self, since: int = 0) -> list[dict[str, Any]]:
        """The delivery log (each attempt and its outcome), oldest first."""
        with self._log_lock:
            return [dict(e) for e in self._log if e["seq"] > since]

    def close(self) -> None:
        """Stop every lane (pending deliveries and retries end); the service stays usable."""
        with self._lock:
            lanes = list(self._lanes.values())
            self._lanes.clear()
        for lane in lanes:
            _close(lane)
        for lane in lanes:
            if lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(1.0)  # a POST in flight ends on its own


def _close(lane: _Lane) -> None:
    lane.closed.set()
    with lane.cond:
        lane.events.clear()
        lane.cond.notify_all()


def v1_view(record: dict[str, Any]) -> dict[str, Any]:
    """A v1/v1.1 webhook as the API shows it (``Webhook.yaml``)."""
    return {
        "_id": record["id"],
        "triggers": list(record["triggers"]),
        "secret": record["secret"],
        "target": record["target"],
        "version": record["version"],
        "includeClient": record["includeClient"],
        "includeFullAppUser": record["includeFullAppUser"],
    }


def v2_view(record: dict[str, Any]) -> dict[str, Any]:
    """A v2 webhook as the API shows it (the spec's ``webhook``)."""
    return {
        "id": record["id"],
        "version": "v2",
        "target": record["target"],
        "triggers": list(record["triggers"]),
        "secret": record["secret"],
        "includeFullUser": record["includeFullUser"],
        "includeFullSource": record["includeFullSource"],
    }
