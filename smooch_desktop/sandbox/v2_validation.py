"""Validation of v2 request bodies and query parameters, and their translation to the store.

Each ``validate_*`` checks one v2 body against the spec's schema and limits
(``messagePost``, ``activityPost``, ``userCreateBody``, ``conversationCreateBody``) and
returns the fields in the store's v1.1 form, so both versions share one store. What the
v1.1 and v2 message rules have in common (actions, items, media URLs, locations) is
checked by ``validation.validate_message`` on the translated body, with field names given
back in v2 terms (``content.items[0].title``). v2's own limits: text 4,096 characters,
metadata 4 KB (as compact UTF-8 JSON), items 1 to 10 with 1 to 3 actions each, item title,
description and ``altText`` 128 characters, ``displayName`` 100, URLs 2,048; no ``share``
action; item actions and a list's own actions only of the spec's ``actionSubset`` (buy,
link, postback, webview), a list's own actions 1 to 10; a file message has no ``actions``
(the spec's ``fileMessage`` has none); ``blockChatInput`` (a boolean) on every content
type and ``altText`` on items are kept; a ``user`` author may only send
``conversation:read`` activities.

Choices where the spec is silent or the sandbox is narrower (inferred):

* content types ``form``, ``formResponse`` and ``template``, ``htmlText``/``markdownText``,
  ``schema: "whatsapp"`` and ``sdkGroup`` conversations are refused with 400 naming the
  sandbox (it does not model them);
* deepObject query parameters are read in the spec's form (``page[before]=…``,
  ``filter[userId]=…``) and also as one JSON object (``page={"before": …}``), which is how
  the official Python client (17.x) sends them;
* a paging cursor must be 24 characters (the spec's ``page`` schema) and name a record of
  the listing, else 400; ``page[size]`` must be 1 to 100.

Every failure raises :class:`~smooch_desktop.sandbox.errors.ErrorReply` 400 ``bad_request``
whose title names the offending field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from smooch_desktop.sandbox import validation as v1
from smooch_desktop.sandbox.errors import ErrorReply, bad_request
from smooch_desktop.sandbox.v2_view import CONTENT_FIELDS

MAX_TEXT: Final = 4096
MAX_METADATA_BYTES: Final = 4096
MAX_SHORT: Final = 128
MAX_DISPLAY_NAME: Final = 100
MAX_URL: Final = 2048
MAX_EXTERNAL_ID: Final = 1024
CURSOR_LENGTH: Final = 24
DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100

CONTENT_TYPES: Final = ("text", "image", "file", "carousel", "list", "location")
_UNSUPPORTED_TYPES: Final = ("form", "formResponse", "template")
AUTHOR_TYPES: Final = ("business", "user")
SUBTYPES: Final = ("AI", "activity", "agent", "bot")
ACTIVITY_TYPES: Final = ("conversation:read", "typing:start", "typing:stop")
#: The spec's ``actionSubset``: what an item, and a list message itself, may hold.
SUBSET_ACTIONS: Final = ("buy", "link", "postback", "webview")
MAX_LIST_ACTIONS: Final = 10
_FIRST_FIELD = re.compile(r'^"([A-Za-z]+)')


def _one_of(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"


def _object(body: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f'"{where}{key}" must be an object')
    return value


def _string(
    body: Mapping[str, Any], key: str, where: str = "", *, max_len: int, min_len: int = 1
) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f'"{where}{key}" must be a string')
    if not min_len <= len(value) <= max_len:
        raise bad_request(f'"{where}{key}" must be {min_len} to {max_len} characters long')
    return value


def _url(body: Mapping[str, Any], key: str, where: str = "") -> str | None:
    value = _string(body, key, where, max_len=MAX_URL)
    if value is not None and not v1.is_http_url(value):
        raise bad_request(f'"{where}{key}" must be an absolute http(s) URL')
    return value


def metadata(value: Any, name: str = "metadata") -> dict[str, Any]:
    """A flat metadata object of at most 4 KB."""
    flat = v1.check_flat_object(value, name)
    size = len(json.dumps(flat, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise bad_request(f'"{name}" is limited to 4 KB ({size} bytes given)')
    return flat


def _author(body: Mapping[str, Any]) -> dict[str, Any]:
    raw = _object(body, "author")
    if raw is None:
        raise bad_request('"author" is required')
    kind = raw.get("type")
    if kind is None:
        raise bad_request(f'"author.type" is required and must be one of {_one_of(AUTHOR_TYPES)}')
    if kind not in AUTHOR_TYPES:
        raise bad_request(f'"author.type" must be one of {_one_of(AUTHOR_TYPES)}')
    author: dict[str, Any] = {"type": kind}
    if (name := _string(raw, "displayName", "author.", max_len=MAX_DISPLAY_NAME)) is not None:
        author["displayName"] = name
    if (avatar := _url(raw, "avatarUrl", "author.")) is not None:
        author["avatarUrl"] = avatar
    subtypes = raw.get("subtypes")
    if subtypes is not None and (
        not isinstance(subtypes, list) or len(subtypes) != 1 or subtypes[0] not in SUBTYPES
    ):
        raise bad_request(f'"author.subtypes" must hold exactly one of {_one_of(SUBTYPES)}')
    for key in ("userId", "userExternalId"):
        value = raw.get(key)
        if value is None:
            continue
        if kind != "user":
            raise bad_request(f'"author.{key}" is only supported when author.type is user')
        if not isinstance(value, str) or not value:
            raise bad_request(f'"author.{key}" must be a non-empty string')
        author[key] = value
    if kind == "user" and ("userId" in author) == ("userExternalId" in author):
        raise bad_request('"author" of type user needs exactly one of userId or userExternalId')
    return author


def _in_v2_terms(err: ErrorReply) -> ErrorReply:
    """A v1.1 validation error about a content field, renamed ``content.<field>``."""
    match = _FIRST_FIELD.match(err.description)
    if match and match.group(1) in (*CONTENT_FIELDS, "type"):
        err.description = '"content.' + err.description[1:]
    return err


def validate_message(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a ``messagePost`` body; return ``(author, fields)``, fields in the v1.1 form."""
    author = _author(body)
    content = _object(body, "content")
    if content is None:
        raise bad_request('"content" is required')
    kind = content.get("type")
    if kind in _UNSUPPORTED_TYPES:
        raise bad_request(f'"content.type" {kind} is not supported by the sandbox')
    if kind is None or kind not in CONTENT_TYPES:
        raise bad_request(f'"content.type" is required and must be one of {_one_of(CONTENT_TYPES)}')
    if body.get("schema") is not None:
        raise bad_request('"schema" is not supported by the sandbox')
    for key in ("htmlText", "markdownText"):
        if content.get(key) is not None:
            raise bad_request(f'"content.{key}" is not supported by the sandbox')
    text = content.get("text")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise bad_request(f'"content.text" must be at most {MAX_TEXT} characters ({len(text)})')
    _string(content, "altText", "content.", max_len=MAX_SHORT, min_len=0)
    if kind in ("image", "file"):
        _url(content, "mediaUrl", "content.")
    _check_items(content.get("items"))
    _check_own_actions(kind, content.get("actions"))
    block = content.get("blockChatInput")
    if block is not None and not isinstance(block, bool):
        raise bad_request('"content.blockChatInput" must be a boolean')

    translated: dict[str, Any] = {
        "role": "appMaker" if author["type"] == "business" else "appUser",
        **{key: content[key] for key in CONTENT_FIELDS if key in content},
        "type": kind,
    }
    for v2_key, v1_key in (("displayName", "name"), ("avatarUrl", "avatarUrl")):
        if v2_key in author:
            translated[v1_key] = author[v2_key]
    for key in ("destination", "override"):
        if body.get(key) is not None:
            translated[key] = body[key]
    if body.get("metadata") is not None:
        translated["metadata"] = metadata(body["metadata"])
    try:
        fields = v1.validate_message(translated)
    except ErrorReply as err:
        raise _in_v2_terms(err) from None
    if "altText" in content:
        fields["altText"] = content["altText"]
    if block is not None:
        fields["blockChatInput"] = block
    for stored, posted in zip(fields.get("items", []), content.get("items") or [], strict=False):
        if isinstance(posted, dict) and "altText" in posted:
            stored["altText"] = posted["altText"]
    return author, fields


def _check_own_actions(kind: str, actions: Any) -> None:
    """v2's rules for a message's own ``actions`` (v1.1 allows more)."""
    if actions is None:
        return
    if kind == "file":
        raise bad_request('"content.actions" are not allowed on file messages')
    if kind != "list" or not isinstance(actions, list):
        return
    if not 1 <= len(actions) <= MAX_LIST_ACTIONS:
        raise bad_request(f'"content.actions" of a list must hold 1 to {MAX_LIST_ACTIONS} actions')
    for i, action in enumerate(actions):
        kind_i = action.get("type") if isinstance(action, dict) else None
        if kind_i in ("reply", "locationRequest", "share"):
            raise bad_request(
                f'"content.actions[{i}]": a list\'s actions must be one of '
                f"{_one_of(SUBSET_ACTIONS)}"
            )


def _check_items(items: Any) -> None:
    """v2's own item rules (the shared ones are checked by ``validate_message``)."""
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        where = f"content.items[{i}]."
        for key in ("title", "description", "mediaType", "altText"):
            _string(item, key, where, max_len=MAX_SHORT, min_len=0)
        if item.get("mediaUrl") is not None:
            _url(item, "mediaUrl", where)
        actions = item.get("actions")
        for j, action in enumerate(actions if isinstance(actions, list) else []):
            if isinstance(action, dict) and action.get("type") == "share":
                raise bad_request(f'"{where}actions[{j}]": v2 has no share action')
            if isinstance(action, dict) and action.get("type") in ("reply", "locationRequest"):
                raise bad_request(
                    f'"{where}actions[{j}]": an item\'s actions must be one of '
                    f"{_one_of(SUBSET_ACTIONS)}"
                )


def validate_activity(body: dict[str, Any]) -> dict[str, Any]:
    """Check an ``activityPost`` body; return it in the v1.1 activity form."""
    author = _author(body)
    kind = body.get("type")
    if kind is None:
        raise bad_request(f'"type" is required and must be one of {_one_of(ACTIVITY_TYPES)}')
    if kind not in ACTIVITY_TYPES:
        raise bad_request(f'"type" must be one of {_one_of(ACTIVITY_TYPES)}')
    if author["type"] == "user" and kind != "conversation:read":
        raise bad_request('"type": a user author can only send conversation:read')
    activity: dict[str, Any] = {
        "role": "appMaker" if author["type"] == "business" else "appUser",
        "type": kind,
    }
    if "displayName" in author:
        activity["name"] = author["displayName"]
    if "avatarUrl" in author:
        activity["avatarUrl"] = author["avatarUrl"]
    return activity


def validate_user_create(body: dict[str, Any]) -> dict[str, Any]:
    """Check a ``userCreateBody``; return store fields (``userId`` = ``externalId``)."""
    fields: dict[str, Any] = {}
    external = _string(body, "externalId", max_len=MAX_EXTERNAL_ID)
    fields["userId"] = external
    profile = _object(body, "profile") or {}
    shared: dict[str, Any] = {}
    for key in ("givenName", "surname", "email"):
        if (value := _string(profile, key, "profile.", max_len=MAX_SHORT)) is not None:
            shared[key] = value
    if "email" in shared and "@" not in shared["email"]:
        raise bad_request('"profile.email" must be an email address')
    if (avatar := _url(profile, "avatarUrl", "profile.")) is not None:
        fields["avatarUrl"] = avatar
    if (locale := _string(profile, "locale", "profile.", max_len=64)) is not None:
        fields["locale"] = locale
    if body.get("signedUpAt") is not None:
        shared["signedUpAt"] = body["signedUpAt"]
    if body.get("metadata") is not None:
        shared["properties"] = metadata(body["metadata"])
    fields.update(v1.validate_user_fields(shared))
    return fields


def validate_conversation_create(body: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Check a ``conversationCreateBody``; return ``(participant, fields)``.

    ``participant`` is ``{"userId": …}`` or ``{"userExternalId": …}``; ``fields`` the
    optional ``displayName``, ``description``, ``iconUrl`` and ``metadata``.
    """
    kind = body.get("type")
    if kind == "sdkGroup":
        raise bad_request('"type" sdkGroup is not supported by the sandbox')
    if kind != "personal":
        raise bad_request('"type" is required and must be one of [personal, sdkGroup]')
    participants = body.get("participants")
    if not isinstance(participants, list) or len(participants) != 1:
        raise bad_request('"participants" must hold exactly 1 participant for personal')
    raw = participants[0]
    if not isinstance(raw, dict):
        raise bad_request('"participants[0]" must be an object')
    given = {k: raw[k] for k in ("userId", "userExternalId") if raw.get(k) is not None}
    if len(given) != 1:
        raise bad_request('"participants[0]" needs exactly one of userId or userExternalId')
    ((key, value),) = given.items()
    if not isinstance(value, str) or not value:
        raise bad_request(f'"participants[0].{key}" must be a non-empty string')
    fields: dict[str, Any] = {}
    for name in ("displayName", "description"):
        if (text := _string(body, name, max_len=MAX_DISPLAY_NAME)) is not None:
            fields[name] = text
    if (icon := _url(body, "iconUrl")) is not None:
        fields["iconUrl"] = icon
    if body.get("metadata") is not None:
        fields["metadata"] = metadata(body["metadata"])
    return {key: value}, fields


def deep_object(args: Mapping[str, str], name: str) -> dict[str, str]:
    """A deepObject query parameter: ``name[key]=value`` pairs, or ``name=<JSON object>``."""
    out: dict[str, str] = {}
    prefix = f"{name}["
    for key, value in args.items():
        if key.startswith(prefix) and key.endswith("]"):
            out[key[len(prefix) : -1]] = value
    raw = args.get(name)
    if raw is not None:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in parsed.values()
        ):
            raise bad_request(f'"{name}" must be given as {name}[key]=value')
        out.update((str(k), str(v)) for k, v in parsed.items())
    return out


def page_query(args: Mapping[str, str]) -> tuple[str | None, str | None, int]:
    """``(before, after, size)`` of the ``page`` query parameter (size default 25)."""
    page = deep_object(args, "page")
    unknown = sorted(set(page) - {"before", "after", "size"})
    if unknown:
        raise bad_request(f'Invalid page query parameters: unknown "page[{unknown[0]}]"')
    before, after = page.get("before"), page.get("after")
    if before is not None and after is not None:
        raise bad_request("Invalid page query parameters: only one of before or after")
    for key, cursor in (("before", before), ("after", after)):
        if cursor is not None and len(cursor) != CURSOR_LENGTH:
            raise bad_request(f'Invalid page query parameters: "page[{key}]" must be a record id')
    size = DEFAULT_PAGE_SIZE
    if "size" in page:
        try:
            size = int(page["size"])
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise bad_request(
                f'Invalid page query parameters: "page[size]" must be 1 to {MAX_PAGE_SIZE}'
            )
    return before, after, size
