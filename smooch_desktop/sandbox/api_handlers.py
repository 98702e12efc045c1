"""The Smooch v1/v1.1 API endpoints: one function per method and path.

Each handler takes the :class:`~smooch_desktop.sandbox.exchange.Call` and the path's
segments by name, with ``app_id`` already checked against the caller's key; it returns a
response or raises :class:`~smooch_desktop.sandbox.errors.ErrorReply`. Routing, auth, fault
injection and the request log are dispatch's business (``routes.py``, ``dispatch.py``), not
the handlers'.

Choices where the public docs are silent (inferred):

* activity or ``conversation/read`` for a user without a conversation → 404 (only posting a
  message creates one); ``conversation:read`` activity is stored but leaves
  ``unreadCount`` alone (it counts what the *user* has not read);
* GET messages adds ``previous`` (``?before=<first.received>``) when older messages exist
  and ``next`` (``?after=<last.received>``) when newer ones do; both absent otherwise;
* JSON bodies over 100 KB and attachments over 10 MiB → 413 ``payload_too_large``
  (``bodies.py``).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from smooch_desktop.sandbox.bodies import (
    attachment_purpose,
    json_body,
    peek_body,
    store_upload,
)
from smooch_desktop.sandbox.errors import ErrorReply, bad_request
from smooch_desktop.sandbox.exchange import Call, json_response
from smooch_desktop.sandbox.store import Conflict
from smooch_desktop.sandbox.validation import (
    parse_timestamp,
    validate_activity,
    validate_message,
    validate_user_create,
    validate_user_fields,
)


def create_user(call: Call, app_id: str) -> Response:
    """``POST …/appusers``: a new app user (409 if the userId exists)."""
    fields = validate_user_create(json_body(call))
    try:
        user = call.store.create_user(app_id, fields)
    except Conflict:
        raise ErrorReply(409, "conflict", "A user with this userId already exists") from None
    return json_response({"appUser": user}, 201)


def get_user(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET …/appusers/{userId}``."""
    return json_response({"appUser": call.store.get_user(app_id, user_ref)})


def update_user(call: Call, app_id: str, user_ref: str) -> Response:
    """``PUT …/appusers/{userId}``: change profile fields."""
    fields = validate_user_fields(json_body(call))
    return json_response({"appUser": call.store.update_user(app_id, user_ref, fields)})


def post_message(call: Call, app_id: str, user_ref: str) -> Response:
    """``POST …/appusers/{userId}/messages``: store a message (creates the conversation)."""
    fields = validate_message(json_body(call))
    message, conversation = call.store.post_message(app_id, user_ref, fields, base=call.base)
    return json_response({"message": message, "conversation": conversation}, 201)


def list_messages(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET …/appusers/{userId}/messages``: one page, ``?before=`` or ``?after=``."""
    args = call.request.args
    if "before" in args and "after" in args:
        raise bad_request('"before" and "after" are mutually exclusive')
    before = parse_timestamp("before", args["before"]) if "before" in args else None
    after = parse_timestamp("after", args["after"]) if "after" in args else None
    conversation, messages, older, newer = call.store.page(
        app_id, user_ref, before=before, after=after, base=call.base
    )
    body: dict[str, Any] = {"conversation": conversation, "messages": messages}
    url = f"{call.base}{call.path}"
    if messages and newer:
        body["next"] = f"{url}?after={messages[-1]['received']!r}"
    if messages and older:
        body["previous"] = f"{url}?before={messages[0]['received']!r}"
    if not messages and before is not None and newer:
        body["next"] = f"{url}?after={before!r}"
    if not messages and after is not None and older:
        body["previous"] = f"{url}?before={after!r}"
    return json_response(body)


def post_activity(call: Call, app_id: str, user_ref: str) -> Response:
    """``POST …/conversation/activity``: typing start/stop, conversation:read."""
    activity = validate_activity(json_body(call))
    conversation = call.store.record_activity(app_id, user_ref, activity)
    return json_response({"conversation": conversation})


def mark_read(call: Call, app_id: str, user_ref: str) -> Response:
    """``POST …/conversation/read``: the business has read the conversation."""
    if call.request.content_length:
        peek_body(call)  # documented as body-less; tolerate and log one
    return json_response({"conversation": call.store.mark_read(app_id, user_ref)})


def upload_attachment(call: Call, app_id: str) -> Response:
    """``POST …/attachments?access=public``: store a file, answer its ``mediaUrl``."""
    owner: str | None = None
    if attachment_purpose(call) is not None:
        args = call.request.args
        owner = args.get("appUserId") or args.get("userId")
        if not owner:
            raise bad_request('"appUserId" or "userId" is required with for=message')
        call.store.get_user(app_id, owner)  # 404 for an unknown user
    media_url, media_type = store_upload(call, app_id, owner)
    return json_response({"mediaUrl": media_url, "mediaType": media_type}, 201)
