"""Validation of v1/v1.1 request bodies (MessagePost, activity, app user create/update).

A client that passes the sandbox's checks should pass the real API's, so the checks follow
smooch-api.md §3 to §5 closely; where the docs are silent the sandbox picks the stricter
reasonable reading and says so here:

* ``type`` may be omitted and then means ``text`` (SmoochDesk relies on this).
* ``text`` that is empty or only whitespace counts as missing (inferred).
* ``mediaUrl`` (message and item) must be an absolute http(s) URL (docs: "public URL").
* Message-level ``actions`` are accepted on text, image, file and list messages; carousel
  actions belong in items. ``share`` only exists inside carousel/list items.
* ``destination`` is shape-checked only; the sandbox does not check the user's channels.
* Unknown top-level fields are ignored, as JSON APIs usually do.

Every failure raises :class:`~smooch_desktop.sandbox.errors.ErrorReply` 400 ``bad_request``
whose description names the offending field (``"actions[1].payload" is required …``).
"""

from __future__ import annotations

import copy
import math
import re
from datetime import datetime
from typing import Any, Final, TypeGuard
from urllib.parse import urlsplit

from smooch_desktop.sandbox.errors import bad_request

ROLES: Final = ("appMaker", "appUser")
MESSAGE_TYPES: Final = ("text", "image", "file", "carousel", "list", "location", "form")
ACTION_TYPES: Final = ("buy", "link", "locationRequest", "postback", "reply", "share", "webview")
ACTIVITY_TYPES: Final = ("typing:start", "typing:stop", "conversation:read")
FIELD_TYPES: Final = ("text", "email", "select")
WEBVIEW_SIZES: Final = ("compact", "tall", "full")
ITEM_SIZES: Final = ("compact", "large")
ASPECT_RATIOS: Final = ("horizontal", "square")
MAX_ITEMS: Final = 10
_ITEM_ACTION_TYPES: Final = ("link", "postback", "share", "webview", "buy")
_TYPES_WITH_ACTIONS: Final = ("text", "image", "file", "list")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S")


def _one_of(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"


def _is_number(value: Any) -> TypeGuard[int | float]:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(float(value))
    )


def _opt_str(body: dict[str, Any], key: str, where: str = "") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f'"{where}{key}" must be a string')
    return value


def _opt_bool(body: dict[str, Any], key: str, where: str = "") -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad_request(f'"{where}{key}" must be a boolean')
    return value


def _req_str(body: dict[str, Any], key: str, where: str, why: str = "") -> str:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request(f'"{where}{key}" is required{why}')
    if not isinstance(value, str):
        raise bad_request(f'"{where}{key}" must be a string')
    return value


def is_http_url(value: str) -> bool:
    """True for an absolute ``http``/``https`` URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def check_flat_object(value: Any, name: str) -> dict[str, Any]:
    """A flat object of string/number/boolean values (metadata, properties)."""
    if not isinstance(value, dict):
        raise bad_request(f'"{name}" must be a flat object of string, number or boolean values')
    for key, item in value.items():
        if not (isinstance(item, str | bool) or _is_number(item)):
            raise bad_request(
                f'"{name}.{key}" must be a string, number or boolean ({name} must be flat)'
            )
    return dict(value)


def _media_url(body: dict[str, Any], where: str, required: bool, why: str = "") -> str | None:
    value = body.get("mediaUrl")
    if value is None or value == "":
        if required:
            raise bad_request(f'"{where}mediaUrl" is required{why}')
        return None
    if not isinstance(value, str) or not is_http_url(value):
        raise bad_request(f'"{where}mediaUrl" must be an absolute http(s) URL')
    return value


def _action(raw: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request(f'"{where}" must be an object')
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in ACTION_TYPES:
        raise bad_request(f'"{where}.type" must be one of {_one_of(ACTION_TYPES)}')
    if kind not in allowed:
        if kind == "share":
            raise bad_request(f'"{where}": share actions are only allowed in message items')
        raise bad_request(f'"{where}": {kind} actions are not allowed here')
    action: dict[str, Any] = {"type": kind}
    dot = f"{where}."
    if kind == "share":
        pass
    else:
        action["text"] = _req_str(raw, "text", dot, f" for {kind} actions")
    if kind == "link":
        uri = _req_str(raw, "uri", dot, " for link actions")
        if not _URI_SCHEME.match(uri):
            raise bad_request(f'"{dot}uri" must be an absolute URI')
        action["uri"] = uri
        if (default := _opt_bool(raw, "default", dot)) is not None:
            action["default"] = default
        if isinstance(raw.get("extraChannelOptions"), dict):
            action["extraChannelOptions"] = copy.deepcopy(raw["extraChannelOptions"])
    elif kind in ("postback", "reply"):
        action["payload"] = _req_str(raw, "payload", dot, f" for {kind} actions")
        if kind == "reply" and (icon := _opt_str(raw, "iconUrl", dot)) is not None:
            action["iconUrl"] = icon
    elif kind == "buy":
        amount = raw.get("amount")
        if amount is None:
            raise bad_request(f'"{dot}amount" is required for buy actions')
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise bad_request(f'"{dot}amount" must be a positive integer (cents)')
        action["amount"] = amount
        if (currency := _opt_str(raw, "currency", dot)) is not None:
            if not re.fullmatch(r"[A-Za-z]{3}", currency):
                raise bad_request(f'"{dot}currency" must be an ISO 4217 code')
            action["currency"] = currency.lower()
    elif kind == "webview":
        uri = _req_str(raw, "uri", dot, " for webview actions")
        fallback = _req_str(raw, "fallback", dot, " for webview actions")
        for name, value in (("uri", uri), ("fallback", fallback)):
            if not _URI_SCHEME.match(value):
                raise bad_request(f'"{dot}{name}" must be an absolute URI')
        action["uri"] = uri
        action["fallback"] = fallback
        if (size := _opt_str(raw, "size", dot)) is not None:
            if size not in WEBVIEW_SIZES:
                raise bad_request(f'"{dot}size" must be one of {_one_of(WEBVIEW_SIZES)}')
            action["size"] = size
        if (on_receive := _opt_bool(raw, "openOnReceive", dot)) is not None:
            action["openOnReceive"] = on_receive
    if "metadata" in raw and raw["metadata"] is not None:
        action["metadata"] = check_flat_object(raw["metadata"], f"{dot}metadata")
    return action


def _actions(raw: Any, where: str, allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise bad_request(f'"{where}" must be an array')
    actions = [_action(item, f"{where}[{i}]", allowed) for i, item in enumerate(raw)]
    kinds = {a["type"] for a in actions}
    quick = {"reply", "locationRequest"}
    if kinds & quick and kinds - quick:
        raise bad_request(
            f'"{where}": reply and locationRequest actions can only be combined with each other'
        )
    if sum(1 for a in actions if a.get("openOnReceive")) > 1:
        raise bad_request(f'"{where}": at most one webview action may have openOnReceive')
    return actions


def _items(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise bad_request('"items" is required and must be a non-empty array')
    if len(raw) > MAX_ITEMS:
        raise bad_request(f'"items" must contain at most {MAX_ITEMS} items')
    items = []
    for i, item in enumerate(raw):
        where = f"items[{i}]."
        if not isinstance(item, dict):
            raise bad_request(f'"items[{i}]" must be an object')
        clean: dict[str, Any] = {"title": _req_str(item, "title", where)}
        for key in ("description", "mediaType"):
            if (value := _opt_str(item, key, where)) is not None:
                clean[key] = value
        if (media := _media_url(item, where, required=False)) is not None:
            clean["mediaUrl"] = media
        if (size := _opt_str(item, "size", where)) is not None:
            if size not in ITEM_SIZES:
                raise bad_request(f'"{where}size" must be one of {_one_of(ITEM_SIZES)}')
            clean["size"] = size
        actions = item.get("actions")
        if not isinstance(actions, list) or not 1 <= len(actions) <= 3:
            raise bad_request(f'"{where}actions" is required and must hold 1 to 3 actions')
        clean["actions"] = _actions(actions, f"{where}actions", _ITEM_ACTION_TYPES)
        if "metadata" in item and item["metadata"] is not None:
            clean["metadata"] = check_flat_object(item["metadata"], f"{where}metadata")
        items.append(clean)
    return items


def _fields(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise bad_request('"fields" is required and must be a non-empty array')
    names: set[str] = set()
    fields = []
    for i, field in enumerate(raw):
        where = f"fields[{i}]."
        if not isinstance(field, dict):
            raise bad_request(f'"fields[{i}]" must be an object')
        kind = field.get("type")
        if kind not in FIELD_TYPES:
            raise bad_request(f'"{where}type" must be one of {_one_of(FIELD_TYPES)}')
        name = _req_str(field, "name", where)
        if name in names:
            raise bad_request(f'"{where}name" must be unique within the form')
        names.add(name)
        clean: dict[str, Any] = {"type": kind, "name": name}
        for key in ("label", "placeholder"):
            if (value := _opt_str(field, key, where)) is not None:
                clean[key] = value
        for key in ("minSize", "maxSize"):
            value = field.get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise bad_request(f'"{where}{key}" must be a non-negative integer')
                clean[key] = value
        if kind == "select":
            options = field.get("options")
            if not isinstance(options, list) or not 1 <= len(options) <= 20:
                raise bad_request(f'"{where}options" must hold 1 to 20 options for select')
            for j, option in enumerate(options):
                if not isinstance(option, dict):
                    raise bad_request(f'"{where}options[{j}]" must be an object')
                _req_str(option, "name", f"{where}options[{j}].")
                _req_str(option, "label", f"{where}options[{j}].")
            clean["options"] = copy.deepcopy(options)
        fields.append(clean)
    return fields


def validate_message(body: dict[str, Any]) -> dict[str, Any]:
    """Check a MessagePost body; return the cleaned fields to store (no ids, no times)."""
    role = body.get("role")
    if role is None:
        raise bad_request(f'"role" is required and must be one of {_one_of(ROLES)}')
    if role not in ROLES:
        raise bad_request(f'"role" must be one of {_one_of(ROLES)}')
    kind = body.get("type", "text")
    if kind is None:
        kind = "text"
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise bad_request(f'"type" must be one of {_one_of(MESSAGE_TYPES)}')
    msg: dict[str, Any] = {"role": role, "type": kind}

    for key in ("name", "email", "avatarUrl", "mediaType", "payload"):
        if (value := _opt_str(body, key)) is not None:
            msg[key] = value
    text = _opt_str(body, "text")
    if text is not None and text.strip():
        msg["text"] = text

    raw_actions = body.get("actions")
    if raw_actions is not None:
        if role != "appMaker":
            raise bad_request('"actions" are only allowed on messages with role appMaker')
        if kind not in _TYPES_WITH_ACTIONS:
            raise bad_request(f'"actions" are not allowed on {kind} messages')
        actions = _actions(raw_actions, "actions", tuple(t for t in ACTION_TYPES if t != "share"))
        if actions:
            msg["actions"] = actions

    if kind == "text" and "text" not in msg and not msg.get("actions"):
        raise bad_request('"text" is required for text messages without actions')
    if kind in ("image", "file"):
        msg["mediaUrl"] = _media_url(body, "", required=True, why=f" for {kind} messages")
    elif body.get("mediaUrl") not in (None, ""):
        msg["mediaUrl"] = _media_url(body, "", required=False)
    if kind in ("carousel", "list"):
        msg["items"] = _items(body.get("items"))
        settings = body.get("displaySettings")
        if settings is not None:
            if not isinstance(settings, dict):
                raise bad_request('"displaySettings" must be an object')
            ratio = settings.get("imageAspectRatio")
            if ratio is not None and ratio not in ASPECT_RATIOS:
                raise bad_request(
                    f'"displaySettings.imageAspectRatio" must be one of {_one_of(ASPECT_RATIOS)}'
                )
            msg["displaySettings"] = copy.deepcopy(settings)
    if kind == "location":
        coords = body.get("coordinates")
        if not isinstance(coords, dict):
            raise bad_request('"coordinates" is required for location messages')
        for key, bound in (("lat", 90.0), ("long", 180.0)):
            value = coords.get(key)
            if not _is_number(value) or abs(float(value)) > bound:
                raise bad_request(f'"coordinates.{key}" must be a number within ±{bound:g}')
        msg["coordinates"] = {"lat": coords["lat"], "long": coords["long"]}
        location = body.get("location")
        if location is not None:
            if not isinstance(location, dict):
                raise bad_request('"location" must be an object')
            clean = {}
            for key in ("address", "name"):
                if (value := _opt_str(location, key, "location.")) is not None:
                    clean[key] = value
            msg["location"] = clean
    if kind == "form":
        msg["fields"] = _fields(body.get("fields"))
        if (block := _opt_bool(body, "blockChatInput")) is not None:
            msg["blockChatInput"] = block

    if "metadata" in body and body["metadata"] is not None:
        msg["metadata"] = check_flat_object(body["metadata"], "metadata")
    destination = body.get("destination")
    if destination is not None:
        if role != "appMaker":
            raise bad_request('"destination" is only allowed on messages with role appMaker')
        if not isinstance(destination, dict) or not (
            isinstance(destination.get("integrationId"), str)
            or isinstance(destination.get("integrationType"), str)
        ):
            raise bad_request('"destination" must have an integrationId or integrationType')
    override = body.get("override")
    if override is not None and not isinstance(override, dict):
        raise bad_request('"override" must be an object')
    return msg


def validate_activity(body: dict[str, Any]) -> dict[str, Any]:
    """Check a conversation activity body.

    A missing ``role`` is accepted as ``appMaker``: the seed page's own example
    (``typingActivity(id, {type: 'typing:start'})``) sends none and is documented to work.
    """
    role = body.get("role", "appMaker")
    if role != "appMaker":
        raise bad_request('"role" must be appMaker')
    kind = body.get("type")
    if kind is None:
        raise bad_request(f'"type" is required and must be one of {_one_of(ACTIVITY_TYPES)}')
    if kind not in ACTIVITY_TYPES:
        raise bad_request(f'"type" must be one of {_one_of(ACTIVITY_TYPES)}')
    activity: dict[str, Any] = {"role": "appMaker", "type": kind}
    for key in ("name", "avatarUrl"):
        if (value := _opt_str(body, key)) is not None:
            activity[key] = value
    return activity


def _check_signed_up_at(value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request('"signedUpAt" must be an ISO 8601 date string')
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request('"signedUpAt" must be an ISO 8601 date string') from None
    return value


def validate_user_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The profile fields shared by pre-create and update (all optional)."""
    fields: dict[str, Any] = {}
    for key in ("givenName", "surname", "email"):
        if (value := _opt_str(body, key)) is not None:
            fields[key] = value
    if body.get("signedUpAt") is not None:
        fields["signedUpAt"] = _check_signed_up_at(body["signedUpAt"])
    if body.get("properties") is not None:
        fields["properties"] = check_flat_object(body["properties"], "properties")
    return fields


def validate_user_create(body: dict[str, Any]) -> dict[str, Any]:
    """Pre-create body: ``userId`` required plus the optional profile fields."""
    user_id = body.get("userId")
    if user_id is None or (isinstance(user_id, str) and not user_id.strip()):
        raise bad_request('"userId" is required')
    if not isinstance(user_id, str):
        raise bad_request('"userId" must be a string')
    fields = validate_user_fields(body)
    fields["userId"] = user_id
    return fields


def parse_timestamp(name: str, value: str) -> float:
    """A ``before``/``after`` query value: Unix seconds, decimals allowed, finite."""
    try:
        number = float(value)
    except ValueError:
        raise bad_request(f'"{name}" must be a Unix timestamp in seconds') from None
    if not math.isfinite(number):
        raise bad_request(f'"{name}" must be a Unix timestamp in seconds')
    return number
