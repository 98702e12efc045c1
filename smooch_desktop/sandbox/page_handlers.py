"""What a browser asks the sandbox for: end-user pages and Gravatar-compatible avatars.

``/`` lists the apps and users, ``/users/{appId}/{userId}`` shows one user's side of the
conversation (``pages.py`` renders the HTML), ``…/feed`` is what that page polls, and
``…/actions/{actionId}`` is the end user pressing a button on it: a reply button becomes
the user's message (text and payload, from their channel) exactly as a real channel
reports it; a postback button records the postback event (Smooch's ``postback`` webhook),
which is never a message. ``/avatar/{hash}`` answers like Gravatar (``avatars.py`` draws
the PNGs). No auth, no faults, no request log (``dispatch.py``).
Each handler takes the :class:`~smooch_desktop.sandbox.exchange.Call` and the path's
segments by name. HTML and images are rendered elsewhere; only the HTTP answer is here.
"""

from __future__ import annotations

import functools
from typing import Any

from werkzeug.wrappers import Response

from smooch_desktop.sandbox import avatars, pages
from smooch_desktop.sandbox.demo import DEMO_AVATAR_EMAILS
from smooch_desktop.sandbox.errors import bad_request
from smooch_desktop.sandbox.exchange import Call, html_response, json_response
from smooch_desktop.sandbox.store import NotFound, email_hash
from smooch_desktop.sandbox.validation import parse_timestamp

#: Buttons the end user can press on the page (the others need a real channel).
PRESSABLE_ACTIONS = ("reply", "postback")


def index(call: Call) -> Response:
    """``GET /``: every app and its users, linking to their pages."""
    apps = call.store.apps()
    users = {app["_id"]: call.store.users(app["_id"]) for app in apps}
    return html_response(pages.index_page(apps, users, call.base))


def user_page(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /users/{appId}/{userId}``: the end user's view, with live typing (HTML 404 if none)."""
    try:
        user = call.store.get_user(app_id, user_ref)
    except NotFound as err:
        return html_response(pages.not_found_page(f"{err.what} not found"), status=404)
    entries = _timeline(call, app_id, user["_id"])
    typing = call.store.typing(app_id, user["_id"])
    return html_response(pages.user_page(app_id, user, entries, typing))


def feed(call: Call, app_id: str, user_ref: str) -> Response:
    """``GET /users/{appId}/{userId}/feed[?after=]``: new entries (HTML) and typing state."""
    after_raw = call.request.args.get("after")
    after = parse_timestamp("after", after_raw) if after_raw is not None else None
    user_id = call.store.get_user(app_id, user_ref)["_id"]
    return json_response(
        {
            "entries": _timeline(call, app_id, user_id, after),
            "typing": call.store.typing(app_id, user_id),
        },
        headers={"Cache-Control": "no-store"},
    )


def press_action(call: Call, app_id: str, user_ref: str, action_id: str) -> Response:
    """``POST /users/{appId}/{userId}/actions/{actionId}``: the end user presses a button.

    Reply → 201 ``{"message", "entry"}``: the user's text message with the button's text
    and payload. Postback → 201 ``{"postback", "entry"}``: the recorded event. Any other
    button (link and webview open in the browser; buy, share, location request need a
    real channel) → 400. An unknown action → 404.
    """
    user_id = call.store.get_user(app_id, user_ref)["_id"]
    message, action = call.store.find_action(app_id, user_id, action_id, base=call.base)
    kind = action["type"]
    if kind not in PRESSABLE_ACTIONS:
        raise bad_request(f"Only reply and postback buttons can be pressed here, not {kind}")
    if kind == "reply":
        reply = call.store.add_user_message(
            app_id, user_id, action["text"], payload=action["payload"]
        )
        (entry,) = pages.timeline([reply], [], call.store.media_details)
        return json_response({"message": reply, "entry": entry}, 201)
    event = call.store.record_postback(app_id, user_id, message["_id"], action)
    (entry,) = pages.timeline([], [event], call.store.media_details)
    return json_response({"postback": event, "entry": entry}, 201)


def _timeline(
    call: Call, app_id: str, user_id: str, after: float | None = None
) -> list[dict[str, Any]]:
    """The page's entries: every message and postback, rendered by ``pages.timeline``."""
    messages = call.store.messages(app_id, user_id, base=call.base)
    latest = messages[-1]["_id"] if messages else None
    if after is not None:
        messages = [m for m in messages if m["received"] >= after]
    return pages.timeline(
        messages,
        call.store.postbacks(app_id, user_id),
        call.store.media_details,
        after=after,
        latest_message_id=latest,
    )


def avatar(call: Call, name: str) -> Response:
    """``GET /avatar/{hash}[.png]?s=&d=``: a demo user's identicon, or Gravatar's defaults."""
    digest = avatars.split_name(name)
    args = call.request.args
    size = avatars.parse_size(args.get("s") or args.get("size"))
    default = args.get("d") or args.get("default") or ""
    headers = {"Cache-Control": avatars.CACHE_CONTROL, "Access-Control-Allow-Origin": "*"}
    if digest is not None and digest in _known_avatars():
        body = avatars.identicon(digest, size)
    elif default == "404":
        return Response(b"Not Found", 404, headers=headers, content_type="text/plain")
    elif default.startswith(("http://", "https://")):
        return Response(b"", 302, headers={**headers, "Location": default})
    elif default == "identicon" and digest is not None:
        body = avatars.identicon(digest, size)
    else:
        body = avatars.mystery_person(size)
    return Response(body, 200, headers=headers, content_type="image/png")


@functools.cache
def _known_avatars() -> frozenset[str]:
    """Gravatar hashes of the demo users who "have" an avatar (the rest get defaults)."""
    return frozenset(email_hash(e) for e in DEMO_AVATAR_EMAILS)
