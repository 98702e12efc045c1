"""The v2 shapes of the store's records: users, conversations, messages.

The store keeps one set of records in the v1.1 form (``store.py``); this module turns them
into what the v2 API answers (the spec's ``user``, ``conversation`` and ``message``
schemas): ``_id`` → ``id``, ``userId`` → ``externalId``, ``properties`` → ``metadata``,
``role: appMaker``/``appUser`` → ``author.type: business``/``user``, flat message fields →
``content``, Unix-seconds ``received`` → ISO 8601. Pure functions of their input: nothing
here reads the store, a request or the clock, and nothing here validates (that is
``v2_validation.py``).
"""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime
from typing import Any, Final

from smooch_desktop.sandbox.store import iso

#: Flat v1.1 message fields that v2 carries inside ``content``.
CONTENT_FIELDS: Final = (
    "text",
    "mediaUrl",
    "mediaType",
    "altText",
    "actions",
    "items",
    "displaySettings",
    "coordinates",
    "location",
    "fields",
    "blockChatInput",
    "payload",
)


def user(app_user: dict[str, Any]) -> dict[str, Any]:
    """A v1.1 ``appUser`` (with the store's v2-only ``avatarUrl``/``locale``) as a v2 user."""
    out: dict[str, Any] = {"id": app_user["_id"]}
    if app_user.get("userId") is not None:
        out["externalId"] = app_user["userId"]
    out["signedUpAt"] = app_user["signedUpAt"]
    profile = {
        key: app_user[key]
        for key in ("givenName", "surname", "email", "avatarUrl", "locale")
        if app_user.get(key) is not None
    }
    out["profile"] = profile
    out["metadata"] = copy.deepcopy(app_user.get("properties") or {})
    out["identities"] = []
    return out


def client(stored: dict[str, Any], *, pending: bool = False) -> dict[str, Any]:
    """A v1.1 client (or pending client) of an appUser as a v2 ``client``.

    v1.1's ``platform`` is v2's ``type``; ``active: false`` reads as ``inactive``; a
    pending client is ``pending``. Which client is primary shows in the participant
    (:func:`participant`), not here.
    """
    if pending:
        status = "pending"
    else:
        status = stored.get("status") or ("inactive" if stored.get("active") is False else "active")
    platform = stored.get("platform") or "web"
    out: dict[str, Any] = {
        "id": stored.get("id") or stored.get("_id"),
        # v2 folds the SDK platforms into one client type; the platform is the device's.
        "type": "sdk" if platform in SDK_PLATFORMS else platform,
        "status": status,
    }
    for key in ("integrationId", "externalId", "lastSeen", "linkedAt", "displayName", "avatarUrl"):
        out[key] = stored.get(key)
    out["info"] = copy.deepcopy(stored.get("info"))
    out["raw"] = copy.deepcopy(stored.get("raw"))
    return out


#: v1.1 platforms that v2 reports as clients of type ``sdk`` (the spec's ``clientType``).
SDK_PLATFORMS: Final = frozenset({"web", "ios", "android", "unity"})
#: Those that have v2 devices (the spec's ``device.type``).
DEVICE_TYPES: Final = frozenset({"web", "ios", "android"})


def device(stored: dict[str, Any]) -> dict[str, Any] | None:
    """The v2 ``device`` behind a v1.1 SDK client (web, ios, android), else None."""
    platform = stored.get("platform")
    if platform not in DEVICE_TYPES:
        return None
    client_id = str(stored.get("id") or stored.get("_id"))
    raw_info = stored.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    active = stored.get("active") is not False and stored.get("status") in (None, "active")
    out: dict[str, Any] = {
        "id": hashlib.sha1(f"device:{client_id}".encode()).hexdigest()[:24],
        "type": platform,
        "guid": stored.get("deviceId") or hashlib.sha1(client_id.encode()).hexdigest()[:32],
        "clientId": client_id,
        "status": "active" if active else "inactive",
        "integrationId": stored.get("integrationId") or "",
        "lastSeen": stored.get("lastSeen"),
        "pushNotificationToken": None,
        "info": copy.deepcopy(info),
        "appVersion": None if platform == "web" else info.get("appVersion"),
    }
    return out


def participant(user: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """A public v1.1 appUser as the v2 ``participant`` of their conversation.

    ``clientAssociations`` lists their linked channels, the primary one first (v1.1's
    ``primary`` flag; the others most recently seen first), as the spec orders them.
    """
    clients = [c for c in user.get("clients") or [] if isinstance(c, dict)]
    clients.sort(key=lambda c: (not c.get("primary"), -_seen(c.get("lastSeen"))))
    return {
        "id": hashlib.sha1(f"{conversation_id}:{user['_id']}".encode()).hexdigest()[:24],
        "userId": user["_id"],
        "userExternalId": user.get("userId"),
        "unreadCount": 0,
        "clientAssociations": [
            {"type": client(c)["type"], "clientId": c.get("id") or c.get("_id")} for c in clients
        ],
        "lastRead": None,
    }


def _seen(value: Any) -> float:
    """Unix seconds of a stored ``lastSeen`` (ISO text or a number); 0 if unknown."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def conversation(info: dict[str, Any]) -> dict[str, Any]:
    """The store's conversation info (``SandboxStore.conversation``) as a v2 conversation."""
    out: dict[str, Any] = {"id": info["id"], "type": "personal", "isDefault": info["isDefault"]}
    for key in ("displayName", "description", "iconUrl", "metadata"):
        if key in info:
            out[key] = copy.deepcopy(info[key])
    last_read = info.get("businessLastRead")
    out["businessLastRead"] = iso(last_read) if last_read is not None else None
    out["lastUpdatedAt"] = iso(info["lastUpdatedAt"])
    out["createdAt"] = iso(info["createdAt"])
    return out


def message(msg: dict[str, Any]) -> dict[str, Any]:
    """A rendered v1.1 message (``SandboxStore`` output) as a v2 message."""
    author: dict[str, Any]
    if msg["role"] == "appMaker":
        author = {"type": "business"}
    else:
        author = {"type": "user", "userId": msg["authorId"]}
    if msg.get("name") is not None:
        author["displayName"] = msg["name"]
    if msg.get("avatarUrl") is not None:
        author["avatarUrl"] = msg["avatarUrl"]
    content: dict[str, Any] = {"type": msg["type"]}
    for key in CONTENT_FIELDS:
        if key in msg:
            content[key] = _without_ids(msg[key])
    out: dict[str, Any] = {
        "id": msg["_id"],
        "received": iso(msg["received"]),
        "author": author,
        "content": content,
        "source": copy.deepcopy(msg.get("source") or {"type": "api"}),
    }
    if msg.get("metadata") is not None:
        out["metadata"] = copy.deepcopy(msg["metadata"])
    return out


def _without_ids(value: Any) -> Any:
    """``actions``/``items`` without the v1.1 ``_id`` of each entry (v2 has none)."""
    if isinstance(value, list):
        return [_without_ids(item) for item in value]
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "_id"}
    return copy.deepcopy(value)
