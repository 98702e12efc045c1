"""The ``/_sandbox/…`` endpoints: the sandbox's own controls for tests, demos and pages.

Health, the request log, fault injection, a user's typing state, messages written *as* the
end user (the user page's form), the end user typing or reading, the webhook delivery
log, and the media files that attachment ``mediaUrl``s point
at. No auth, no faults and no request log apply here (``dispatch.py``). Each handler takes
the :class:`~smooch_desktop.sandbox.exchange.Call` and the path's segments by name. The
Smooch API itself is not here (``api_handlers.py``).
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from smooch_desktop.sandbox.bodies import json_body
from smooch_desktop.sandbox.errors import bad_request, not_found
from smooch_desktop.sandbox.exchange import Call, json_response
from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.sandbox.validation import parse_timestamp

#: What the end user can do besides writing (``user_activity``).
USER_ACTIVITY_TYPES = ("typing:start", "typing:stop", "conversation:read")


def health(call: Call) -> Response:
    """``GET /_sandbox/health``: ``{"ok": true}`` once serving."""
    return json_response({"ok": True})


def read_log(call: Call) -> Response:
    """``GET /_sandbox/log?since=<seq>``: the API request log, oldest first."""
    raw = call.request.args.get("since", "0")
    try:
        since = int(raw)
    except ValueError:
        raise bad_request('"since" must be an integer sequence number') from None
    return json_response({"entries": call.log.entries(since)})


def clear_log(call: Call) -> Response:
    """``DELETE /_sandbox/log``: forget the logged requests."""
    call.log.clear()
    return json_response({"entries": []})


def get_faults(call: Call) -> Response:
    """``GET /_sandbox/faults``: the active fault configuration."""
    return json_response(call.plan.config.to_dict())


def set_faults(call: Call) -> Response:
    """``PUT /_sandbox/faults``: change some fault settings (the rest stay); answers all."""
    body = json_body(call)
    try:
        call.plan.set_config(FaultConfig.from_dict(body, call.plan.config))
    except (TypeError, ValueError) as exc:
        raise bad_request(str(exc)) from None
    return json_response(call.plan.config.to_dict())


def typing_state(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /_sandbox/typing/{appId}/{userId}``: whether the business is typing to the user."""
    return json_response(call.store.typing(app_id, user_ref))


def user_view(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /_sandbox/apps/…/messages[?after=]``: messages and typing, as the user sees them."""
    after_raw = call.request.args.get("after")
    after = parse_timestamp("after", after_raw) if after_raw is not None else None
    messages = call.store.messages(app_id, user_ref, base=call.base)
    if after is not None:
        messages = [m for m in messages if m["received"] > after]
    return json_response(
        {"messages": messages, "typing": call.store.typing(app_id, user_ref)},
        headers={"Cache-Control": "no-store"},
    )


def post_as_user(call: Call, app_id: str, user_ref: str) -> Response:
    """``POST /_sandbox/apps/…/messages``: the end user writes ``text`` (as ``name``) in
    their default conversation, or in ``conversationId`` (another of theirs: v2 users can
    have several; 404 if it is not theirs)."""
    body = json_body(call)
    text, name = body.get("text"), body.get("name")
    conversation_id = body.get("conversationId")
    if not isinstance(text, str) or not text.strip():
        raise bad_request('"text" is required')
    if name is not None and not isinstance(name, str):
        raise bad_request('"name" must be a string')
    if conversation_id is not None and (
        not isinstance(conversation_id, str) or not conversation_id
    ):
        raise bad_request('"conversationId" must be a conversation id')
    message = call.store.add_user_message(
        app_id, user_ref, text, name=name, conversation_id=conversation_id
    )
    return json_response({"message": message}, 201)


def user_activity(call: Call, app_id: str, user_ref: str) -> Response:
    """``POST /_sandbox/apps/…/activity``: the end user types or reads (``{"type":
    "typing:start" | "typing:stop" | "conversation:read"}``): what fires the
    ``typing:appUser`` / ``conversation:typing`` and ``conversation:read`` webhooks."""
    kind = json_body(call).get("type")
    if kind not in USER_ACTIVITY_TYPES:
        raise bad_request(f'"type" must be one of {", ".join(USER_ACTIVITY_TYPES)}')
    return json_response({"conversation": call.store.user_activity(app_id, user_ref, kind)})


def webhook_log(call: Call) -> Response:
    """``GET /_sandbox/webhooks/log?since=<seq>``: each webhook delivery attempt, oldest
    first (webhook, target, event, trigger, attempt, status, outcome; never the secret)."""
    if call.webhooks is None:
        return json_response({"entries": []})
    return json_response({"entries": call.webhooks.deliveries(_since(call))})


def _since(call: Call) -> int:
    raw = call.request.args.get("since", "0")
    try:
        return int(raw)
    except ValueError:
        raise bad_request('"since" must be an integer sequence number') from None


def media_file(call: Call, media_id: str, filename: str) -> Response:
    """``GET /_sandbox/media/{id}/{filename}``: an uploaded attachment, cacheable forever.

    Served with its own type, never sniffed, and sandboxed: an uploaded HTML file can't
    run script on the end-user pages' origin (Smooch serves media from another host).
    """
    stored_name, media_type, data = call.store.media(media_id)
    if stored_name != filename:
        raise not_found("Media not found")
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return Response(data, 200, headers=headers, content_type=media_type)
