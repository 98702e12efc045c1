"""What a browser asks the sandbox for: end-user pages and Gravatar-compatible avatars.

``/`` lists the apps and users, ``/users/{appId}/{userId}`` shows one user's side of the
conversation (``pages.py`` renders the HTML), ``/avatar/{hash}`` answers like Gravatar
(``avatars.py`` draws the PNGs). No auth, no faults, no request log (``dispatch.py``).
Each handler takes the :class:`~smooch_desktop.sandbox.exchange.Call` and the path's
segments by name. HTML and images are rendered elsewhere; only the HTTP answer is here.
"""

from __future__ import annotations

import functools

from werkzeug.wrappers import Response

from smooch_desktop.sandbox import avatars, pages
from smooch_desktop.sandbox.demo import DEMO_AVATAR_EMAILS
from smooch_desktop.sandbox.exchange import Call, html_response
from smooch_desktop.sandbox.store import NotFound, email_hash


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
    messages = call.store.messages(app_id, user["_id"], base=call.base)
    typing = call.store.typing(app_id, user["_id"])
    return html_response(pages.user_page(app_id, user, messages, typing))


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
