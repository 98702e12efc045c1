"""The Sunshine Conversations v2 endpoints: one function per method and path.

Served at ``/v2/apps/{appId}/…`` and at the Zendesk-host form ``/sc/v2/apps/{appId}/…``
(same handlers, ``routes.py``), over the same store as v1.1: a v1.1 appUser is the v2 user
and their conversation the v2 default personal conversation (``store.py``). Each handler
takes the :class:`~smooch_desktop.sandbox.exchange.Call` and the path's segments by name,
with ``app_id`` already checked against the caller's key; bodies are checked and
translated by ``v2_validation.py`` and answers shaped by ``v2_view.py``. Routing, auth,
fault injection, the request log and the v2 error envelope are dispatch's business.

Status codes follow the spec: 201 for created users, conversations, messages and
attachments; 200 otherwise; 400 ``bad_request``; 404 ``user_not_found`` /
``conversation_not_found``; 409 ``conflict`` "User already exists"; 423 ``locked`` at the
conversation message limit; 413 past the body limits (``bodies.py``). Choices where the
spec is silent (inferred): creating a personal conversation for a user who has one adds a
non-default one (the demo app behaves as if ``multiConvoEnabled``); a ``user`` author
must be the conversation's own user (400 otherwise); list conversations orders the
default conversation first, then by creation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from smooch_desktop.sandbox import v2_view
from smooch_desktop.sandbox.bodies import (
    V2_ATTACHMENT_LIMIT,
    attachment_purpose,
    json_body,
    store_upload,
)
from smooch_desktop.sandbox.errors import ErrorReply, bad_request, not_found
from smooch_desktop.sandbox.exchange import Call, json_response
from smooch_desktop.sandbox.store import BadCursor, Conflict, Locked
from smooch_desktop.sandbox.v2_validation import (
    deep_object,
    page_query,
    validate_activity,
    validate_conversation_create,
    validate_message,
    validate_user_create,
)


def _user_not_found() -> ErrorReply:
    return not_found("User not found", "user_not_found")


def _find_user(call: Call, app_id: str, key: str, value: str) -> dict[str, Any]:
    """The appUser named by ``userId`` (its id) or ``userExternalId``, or 404."""
    found = call.store.get_user(app_id, value)  # store resolves id first, then externalId
    if (key == "userId" and found["_id"] != value) or (
        key == "userExternalId" and found.get("userId") != value
    ):
        raise _user_not_found()
    return found


def create_user(call: Call, app_id: str) -> Response:
    """``POST /users``: a new user (409 ``conflict`` if the ``externalId`` exists)."""
    fields = validate_user_create(json_body(call))
    try:
        user = call.store.create_user(app_id, fields, v2=True)
    except Conflict:
        raise ErrorReply(409, "conflict", "User already exists") from None
    return json_response({"user": v2_view.user(user)}, 201)


def get_user(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /users/{userIdOrExternalId}``."""
    return json_response({"user": v2_view.user(call.store.get_user(app_id, user_ref, v2=True))})


def list_clients(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /users/{userIdOrExternalId}/clients``: the user's channels (linked, then
    pending), paged like the other listings."""
    user = call.store.get_user(app_id, user_ref, v2=True)
    clients = [v2_view.client(c) for c in user.get("clients") or []]
    clients += [v2_view.client(c, pending=True) for c in user.get("pendingClients") or []]
    before, after, size = page_query(call.request.args)
    ids = [str(c["id"]) for c in clients]
    start, end = _window(ids, before, after, size)
    body: dict[str, Any] = {"clients": clients[start:end]}
    body.update(_paging(call, ids, start, end, before is not None, ""))
    return json_response(body)


def list_devices(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /users/{userIdOrExternalId}/devices``: the devices of the user's SDK clients
    (web, iOS, Android), last seen first; the spec pages nothing here."""
    user = call.store.get_user(app_id, user_ref, v2=True)
    found = [d for d in map(v2_view.device, user.get("clients") or []) if d is not None]
    found.sort(key=lambda d: str(d.get("lastSeen") or ""), reverse=True)  # latest first
    return json_response({"devices": found})


def create_conversation(call: Call, app_id: str) -> Response:
    """``POST /conversations``: a personal conversation for one user."""
    participant, fields = validate_conversation_create(json_body(call))
    ((key, value),) = participant.items()
    user = _find_user(call, app_id, key, value)
    info = call.store.create_conversation(app_id, user["_id"], fields)
    return json_response({"conversation": v2_view.conversation(info)}, 201)


def list_conversations(call: Call, app_id: str) -> Response:
    """``GET /conversations?filter[userId]=…`` (or ``filter[userExternalId]``), paged."""
    args = call.request.args
    wanted = deep_object(args, "filter")
    given = {k: v for k, v in wanted.items() if k in ("userId", "userExternalId")}
    if len(given) != 1:
        raise bad_request('Exactly one of "filter[userId]" or "filter[userExternalId]" is required')
    ((key, value),) = given.items()
    before, after, size = page_query(args)
    user = _find_user(call, app_id, key, value)
    infos = call.store.conversations(app_id, user["_id"])
    ids = [info["id"] for info in infos]
    start, end = _window(ids, before, after, size)
    body: dict[str, Any] = {
        "conversations": [v2_view.conversation(info) for info in infos[start:end]]
    }
    keep = f"filter[{key}]={quote(value, safe='')}&"
    body.update(_paging(call, ids, start, end, before is not None, keep))
    return json_response(body)


def list_participants(call: Call, app_id: str, conversation_id: str) -> Response:
    """``GET /conversations/{conversationId}/participants``: the user of a personal
    conversation, their channels as ``clientAssociations`` (primary first: the spec
    says the first one is the user's primary client for that conversation)."""
    user = call.store.conversation_user(app_id, conversation_id)
    participant = v2_view.participant(user, conversation_id)
    before, after, size = page_query(call.request.args)
    ids = [str(participant["id"])]
    start, end = _window(ids, before, after, size)
    body: dict[str, Any] = {"participants": [participant][start:end]}
    body.update(_paging(call, ids, start, end, before is not None, ""))
    return json_response(body)


def get_conversation(call: Call, app_id: str, conversation_id: str) -> Response:
    """``GET /conversations/{conversationId}``."""
    info = call.store.conversation(app_id, conversation_id)
    return json_response({"conversation": v2_view.conversation(info)})


def post_message(call: Call, app_id: str, conversation_id: str) -> Response:
    """``POST /conversations/{conversationId}/messages``: 201 ``{"messages": [message]}``."""
    author, fields = validate_message(json_body(call))
    owner = call.store.conversation_user(app_id, conversation_id)
    for key in ("userId", "userExternalId"):
        if key in author and _find_user(call, app_id, key, author[key])["_id"] != owner["_id"]:
            raise bad_request(f'"author.{key}" is not a participant of this conversation')
    try:
        message = call.store.post_to_conversation(app_id, conversation_id, fields, base=call.base)
    except Locked as exc:
        raise ErrorReply(423, "locked", str(exc)) from None
    return json_response({"messages": [v2_view.message(message)]}, 201)


def list_messages(call: Call, app_id: str, conversation_id: str) -> Response:
    """``GET /conversations/{conversationId}/messages``: 100 per page, newest page first.

    ``page[size]`` is checked but does not apply here (fixed at 100, as the spec says).
    """
    before, after, _size = page_query(call.request.args)
    try:
        messages, older, newer = call.store.page_by_cursor(
            app_id, conversation_id, before_id=before, after_id=after, base=call.base
        )
    except BadCursor:
        key = "before" if before is not None else "after"
        raise bad_request(
            f'Invalid page query parameters: "page[{key}]" is no message of this conversation'
        ) from None
    body: dict[str, Any] = {"messages": [v2_view.message(m) for m in messages]}
    meta: dict[str, Any] = {"hasMore": newer if after is not None else older}
    links: dict[str, str] = {}
    url = f"{call.base}{call.path}"
    if messages and older:
        meta["beforeCursor"] = messages[0]["_id"]
        links["prev"] = f"{url}?page[before]={messages[0]['_id']}"
    if messages and newer:
        meta["afterCursor"] = messages[-1]["_id"]
        links["next"] = f"{url}?page[after]={messages[-1]['_id']}"
    body["meta"] = meta
    body["links"] = links
    return json_response(body)


def post_activity(call: Call, app_id: str, conversation_id: str) -> Response:
    """``POST /conversations/{conversationId}/activity``: typing start/stop, read. 200 ``{}``."""
    activity = validate_activity(json_body(call))
    call.store.conversation_activity(app_id, conversation_id, activity)
    return json_response({})


def upload_attachment(call: Call, app_id: str) -> Response:
    """``POST /attachments?access=public[&for=message][&conversationId=…]``, field ``source``."""
    attachment_purpose(call)
    owner: str | None = None
    conversation_id = call.request.args.get("conversationId")
    if conversation_id is not None:
        owner = call.store.conversation_user(app_id, conversation_id)["_id"]
    media_url, media_type = store_upload(call, app_id, owner, V2_ATTACHMENT_LIMIT)
    return json_response({"attachment": {"mediaUrl": media_url, "mediaType": media_type}}, 201)


def _window(ids: list[str], before: str | None, after: str | None, size: int) -> tuple[int, int]:
    """``start:end`` of one page of ``ids`` around a cursor (first page without one)."""
    cursor = before if before is not None else after
    if cursor is not None and cursor not in ids:
        key = "before" if before is not None else "after"
        raise bad_request(f'Invalid page query parameters: "page[{key}]" is no record here')
    if before is not None:
        end = ids.index(before)
        return max(end - size, 0), end
    start = ids.index(after) + 1 if after is not None else 0
    return start, min(start + size, len(ids))


def _paging(
    call: Call, ids: list[str], start: int, end: int, backward: bool, keep: str
) -> dict[str, Any]:
    """``meta`` and ``links`` for the page ``ids[start:end]``; ``hasMore`` looks in the
    direction of travel (back with ``page[before]``, forward otherwise)."""
    older, newer = start > 0, end < len(ids)
    meta: dict[str, Any] = {"hasMore": older if backward else newer}
    links: dict[str, str] = {}
    url = f"{call.base}{call.path}?{keep}"
    if end > start and older:
        meta["beforeCursor"] = ids[start]
        links["prev"] = f"{url}page[before]={ids[start]}"
    if end > start and newer:
        meta["afterCursor"] = ids[end - 1]
        links["next"] = f"{url}page[after]={ids[end - 1]}"
    return {"meta": meta, "links": links}
