"""What a webhook call carries: the trigger an event fires and its JSON body, per version.

The store reports events (``store.StoreListener``: a message, an activity or a postback,
with the public appUser); this module says which trigger each one is for a webhook of a
given payload version and builds the body Smooch would POST:

* v1 / v1.1 — one event per call: ``{"trigger", "app": {"_id"}, "appUser", "conversation":
  {"_id"}, "version", …}`` plus ``messages: [message]`` (``message:appUser``,
  ``message:appMaker``), ``postbacks: [{message, action}]`` (``postback``),
  ``source`` and ``timestamp`` (``conversation:read``) or ``activity`` and ``timestamp``
  (``typing:appUser``). A v1.1 webhook gets the truncated appUser (``_id``, ``userId``,
  ``conversationStarted``) unless ``includeFullAppUser``; a v1 webhook always gets the
  full one (the 2017 docs' payloads); ``includeClient`` adds the user's ``client``.
* v2 — ``{"app": {"id"}, "webhook": {"id", "version": "v2"}, "events": [{"id",
  "createdAt", "type", "payload"}]}`` with ``conversation:message`` (``conversation``,
  ``message`` whose ``author.user`` names the user), ``conversation:postback``
  (``postback``, ``user``, ``source``), ``conversation:read`` and ``conversation:typing``
  (``activity`` with ``type``, ``author``, ``source``). ``includeFullUser`` gives the
  whole v2 user; ``includeFullSource`` adds the ``client`` to the source.

Which triggers fire (from the docs' tables): every message fires ``message:appUser`` or
``message:appMaker`` (``message`` and ``*`` subscribe to both) and ``conversation:message``;
only the end user's reads and typing fire ``conversation:read`` and ``typing:appUser`` /
``conversation:typing`` (the business's own activity does not); a postback button pressed
on the end-user page fires ``postback`` / ``conversation:postback``.

Pure functions of their input: nothing here reads the store, the clock or the network.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from smooch_desktop.sandbox import v2_view
from smooch_desktop.sandbox.store import iso

#: v1.1 triggers (the spec's ``WebhookTriggers`` enum) plus ``message`` (both message
#: triggers; the default when none is given) and ``*`` (all) from the v1 docs.
V1_TRIGGERS: Final = frozenset(
    {
        "*",
        "appUser:delete",
        "client:add",
        "client:remove",
        "conversation:read",
        "conversation:referral",
        "conversation:start",
        "link:failure",
        "link:match",
        "link:success",
        "merge:appUser",
        "message",
        "message:appMaker",
        "message:appUser",
        "message:delivery:channel",
        "message:delivery:failure",
        "message:delivery:user",
        "notification:delivery:channel",
        "notification:delivery:failure",
        "notification:delivery:user",
        "payment:success",
        "postback",
        "typing:appUser",
    }
)

#: v2 triggers (the spec's Webhook Triggers table).
V2_TRIGGERS: Final = frozenset(
    {
        "client:add",
        "client:remove",
        "client:update",
        "conversation:create",
        "conversation:join",
        "conversation:leave",
        "conversation:remove",
        "conversation:message",
        "conversation:message:delivery:channel",
        "conversation:message:delivery:failure",
        "conversation:message:delivery:user",
        "conversation:postback",
        "conversation:read",
        "conversation:referral",
        "passthrough:messaging",
        "conversation:typing",
        "switchboard:acceptControl",
        "switchboard:acceptControl:failure",
        "switchboard:offerControl",
        "switchboard:offerControl:failure",
        "switchboard:passControl",
        "switchboard:passControl:failure",
        "switchboard:releaseControl",
        "user:merge",
        "user:update",
        "user:remove",
    }
)

_TYPING: Final = ("typing:start", "typing:stop")


def trigger(event: dict[str, Any], version: str) -> str | None:
    """The trigger ``event`` fires for a webhook of payload ``version``; None if none."""
    kind = event["kind"]
    v2 = version == "v2"
    if kind == "message":
        if v2:
            return "conversation:message"
        role = event["message"]["role"]
        return "message:appUser" if role == "appUser" else "message:appMaker"
    if kind == "postback":
        return "conversation:postback" if v2 else "postback"
    activity = event["activity"]
    if activity.get("role") != "appUser":
        return None  # the business's own typing and reads fire nothing
    if activity["type"] == "conversation:read":
        return "conversation:read"
    if activity["type"] in _TYPING:
        return "conversation:typing" if v2 else "typing:appUser"
    return None


def subscribed(triggers: list[str], fired: str) -> bool:
    """Whether a webhook with ``triggers`` hears ``fired`` (``*`` and ``message`` too)."""
    if fired in triggers or "*" in triggers:
        return True
    return fired.startswith("message:app") and "message" in triggers


def _primary_client(user: dict[str, Any]) -> dict[str, Any] | None:
    clients = user.get("clients") or []
    primary = next((c for c in clients if c.get("primary")), clients[0] if clients else None)
    return copy.deepcopy(primary) if primary is not None else None


def v1_body(hook: dict[str, Any], event: dict[str, Any], fired: str) -> dict[str, Any]:
    """The v1/v1.1 body of ``event`` for webhook record ``hook`` (trigger ``fired``)."""
    user = event["user"]
    body: dict[str, Any] = {"trigger": fired, "app": {"_id": event["appId"]}}
    if hook["version"] == "v1" or hook["includeFullAppUser"]:
        v2_only = ("avatarUrl", "locale")
        app_user = {k: copy.deepcopy(v) for k, v in user.items() if k not in v2_only}
    else:
        app_user = {k: user[k] for k in ("_id", "userId", "conversationStarted") if k in user}
    kind = event["kind"]
    if kind == "message":
        body["messages"] = [copy.deepcopy(event["message"])]
        body["appUser"] = app_user
    elif kind == "postback":
        postback: dict[str, Any] = {}
        if event.get("message") is not None:
            postback["message"] = copy.deepcopy(event["message"])
        postback["action"] = copy.deepcopy(event["postback"]["action"])
        body["postbacks"] = [postback]
        body["appUser"] = app_user
        body["timestamp"] = event["at"]
    else:
        activity = event["activity"]
        if fired == "conversation:read":
            body["source"] = copy.deepcopy(activity.get("source") or {"type": "api"})
        else:
            body["activity"] = {"type": activity["type"]}
        body["appUser"] = {"_id": user["_id"]}  # the docs' truncated appUser
        body["timestamp"] = event["at"]
    body["conversation"] = {"_id": event["conversationId"]}
    if hook["includeClient"] and (client := _primary_client(user)) is not None:
        body["client"] = client
    body["version"] = hook["version"]
    return body


def _v2_user(hook: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    if hook["includeFullUser"]:
        return v2_view.user(user)
    out: dict[str, Any] = {"id": user["_id"]}
    if user.get("userId") is not None:
        out["externalId"] = user["userId"]
    return out


def _v2_source(
    hook: dict[str, Any], source: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    out = copy.deepcopy(source)
    if hook["includeFullSource"] and (client := _primary_client(user)) is not None:
        out["client"] = v2_view.client(client)
    return out


def v2_body(hook: dict[str, Any], event: dict[str, Any], fired: str) -> dict[str, Any]:
    """The v2 body (one event) of ``event`` for webhook record ``hook``."""
    user = event["user"]
    conversation = {"id": event["conversationId"], "type": "personal"}
    payload: dict[str, Any] = {"conversation": conversation}
    kind = event["kind"]
    if kind == "message":
        message = v2_view.message(event["message"])
        if message["author"]["type"] == "user":
            message["author"]["user"] = _v2_user(hook, user)
            message["source"] = _v2_source(hook, message["source"], user)
        payload["message"] = message
    elif kind == "postback":
        action = event["postback"]["action"]
        postback: dict[str, Any] = {"payload": action.get("payload")}
        if action.get("metadata") is not None:
            postback["metadata"] = copy.deepcopy(action["metadata"])
        payload["postback"] = postback
        payload["user"] = _v2_user(hook, user)
        payload["source"] = _v2_source(hook, event["postback"]["source"], user)
    else:
        activity = event["activity"]
        payload["activity"] = {
            "type": activity["type"],
            "author": {"type": "user", "userId": user["_id"], "user": _v2_user(hook, user)},
            "source": _v2_source(hook, activity.get("source") or {"type": "api"}, user),
        }
    return {
        "app": {"id": event["appId"]},
        "webhook": {"id": hook["id"], "version": "v2"},
        "events": [
            {"id": event["id"], "createdAt": iso(event["at"]), "type": fired, "payload": payload}
        ],
    }
