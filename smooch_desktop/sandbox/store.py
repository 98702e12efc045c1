"""The sandbox's state: apps, keys, app users, their conversations, media, typing.

Both API versions read and write the same records. An app user is the v2 user (``_id`` is
the v2 ``id``, ``userId`` the v2 ``externalId``); their ``conversation`` is the only one
v1.1 knows and the v2 default personal conversation; v2 may add others
(``otherConversations``, invisible to v1.1). Messages are stored in the v1.1 field form
(``role``, ``type``, ``text``…) whichever version wrote them; the v2 shapes are made from
that by ``v2_view.py``. Typing state belongs to a conversation, and so do postback events
(a postback button pressed on the end-user page: a webhook event, never a message).

One re-entrant lock guards everything, so every public method is atomic and safe from the
server's request threads and from test code at the same time. Every stored message,
postback and activity is also told to the ``listener`` (the webhook service,
``webhooks.py``) with the lock held, so it hears them in store order; it only enqueues.
Public methods return copies: callers can never mutate the store behind the lock's back.

Messages are kept in a slightly private form and *rendered* on the way out:

* a derived avatar (from ``email``) is stored as its Gravatar hash and turned into a URL
  with the current Gravatar base at read time;
* a ``mediaUrl`` that points at the sandbox's own ``/_sandbox/media/…`` is stored as the
  media id and re-based at read time;

so that a persisted sandbox restarted on another port (port 0!) still serves working
avatar and media URLs. The rendered output is exactly what Smooch returns.

With ``data_dir`` the whole state is written after every change (JSON to a temp file, then
``os.replace`` so a crash never leaves a torn file) and reloaded on start. Typing state is
deliberately not persisted: it is 10-second ephemera.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import mimetypes
import os
import secrets
import tempfile
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote, urlsplit

#: The Web Messenger hides the indicator this long after the last ``typing:start``.
TYPING_TIMEOUT: Final = 10.0
#: GET messages returns at most this many messages.
PAGE_SIZE: Final = 100
#: v2 refuses a new message (423) once a conversation holds this many.
MAX_CONVERSATION_MESSAGES: Final = 30_000
#: Activities kept per conversation (a heartbeat can produce many).
MAX_ACTIVITIES: Final = 500
#: Hash Smooch uses when there is no email: Gravatar's default image.
ZERO_HASH: Final = "0" * 32
#: Gravatar query Smooch appends to derived avatar URLs.
AVATAR_QUERY: Final = "?s=200&d=mm"
#: Secrets shorter than this would make PyJWT warn (RFC 7518 §3.2 minimum for HS256).
MIN_SECRET_BYTES: Final = 32

STORE_FILE: Final = "sandbox-store.json"
MEDIA_DIR: Final = "media"
MEDIA_PATH: Final = "/_sandbox/media/"

_PRIVATE: Final = "__"  # prefix of stored-only message keys ("_id" stays public)


class StoreListener(Protocol):
    """Who hears about what happens in the store (the webhook service, ``webhooks.py``).

    Both methods are called with the store's lock held: they must only look and enqueue,
    never wait (no I/O), and never call back into the store.
    """

    def wants(self, app_id: str) -> bool:
        """Whether anything listens for this app's events (else none is built)."""

    def publish(self, event: dict[str, Any]) -> None:
        """One event, in store order: ``kind`` (``message``, ``activity``, ``postback``),
        ``id``, ``at``, ``appId``, ``user`` (public appUser, with the v2 profile fields),
        ``conversationId`` and the ``message``, ``activity`` or ``postback``."""


class NotFound(LookupError):
    """An app, app user or conversation does not exist; ``what`` names which."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(Exception):
    """The resource already exists (pre-creating a known ``userId``)."""


class Locked(Exception):
    """The conversation holds :data:`MAX_CONVERSATION_MESSAGES` messages (v2's 423)."""


class BadCursor(ValueError):
    """A paging cursor that names no message of the conversation."""


def email_hash(email: str) -> str:
    """Gravatar hash: MD5 of the trimmed, lower-cased email."""
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def app_maker_author_id(email: str | None) -> str:
    """``authorId`` of an appMaker message: a stable hash of the sender email (24 hex)."""
    seed = "appMaker:" + (email or "").strip().lower()
    return hashlib.sha1(seed.encode("utf-8"), usedforsecurity=False).hexdigest()[:24]


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z`` — the format Smooch uses for dates."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SandboxStore:
    """Thread-safe in-memory (optionally persisted) state of the sandbox.

    ``clock`` (Unix seconds) is injectable so tests can drive ``received`` times and the
    typing timeout without sleeping. ``base_url`` is set by the server once it knows its
    port; it is the default base for rendered media and avatar URLs.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        demo: bool = True,
        clock: Callable[[], float] | None = None,
        gravatar_base: str | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.clock: Callable[[], float] = clock or time.time
        self.base_url = "http://127.0.0.1"
        self.gravatar_base = gravatar_base.rstrip("/") if gravatar_base else None
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._apps: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._user_ids: dict[str, dict[str, str]] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._media_bytes: dict[str, bytes] = {}
        self._typing: dict[tuple[str, str], dict[str, Any]] = {}  # (app id, conversation id)
        self._conversation_owner: dict[tuple[str, str], str] = {}  # (app id, conv id) -> user
        self._id_prefix = secrets.token_hex(5)
        self._id_counter = itertools.count(secrets.randbelow(1 << 20))
        #: Hears every message, activity and postback (webhooks); None: nobody listens.
        self.listener: StoreListener | None = None

        from smooch_desktop.sandbox import demo as demo_data

        if self._data_dir is not None:
            self._data_dir.mkdir(parents=True, exist_ok=True)
        loaded = self._load()
        with self._lock:
            if demo_data.DEMO_APP_ID not in self._apps:
                self._install_app(demo_data.demo_app(self.clock(), with_users=demo and not loaded))
            self._save()

    # ------------------------------------------------------------------ ids and times

    def new_id(self) -> str:
        """A 24-hex id shaped like Smooch's (MongoDB ObjectId: time, random, counter)."""
        stamp = int(time.time()) & 0xFFFFFFFF
        return f"{stamp:08x}{self._id_prefix}{next(self._id_counter) & 0xFFFFFF:06x}"

    def _next_received(self, conversation: dict[str, Any]) -> float:
        """Now (ms precision), bumped so ``received`` strictly increases per conversation."""
        now = round(float(self.clock()), 3)
        messages = conversation["messages"]
        if messages and now <= messages[-1]["received"]:
            now = round(messages[-1]["received"] + 0.001, 3)
        return now

    # ------------------------------------------------------------------ apps and keys

    def _install_app(self, record: dict[str, Any]) -> None:
        self._apps[record["_id"]] = record
        for key_id, secret in record["keys"].items():
            self._keys[key_id] = (record["_id"], secret)
        self._user_ids[record["_id"]] = {
            u["userId"]: uid for uid, u in record["users"].items() if u.get("userId")
        }
        for uid, user in record["users"].items():
            for conv in _all_conversations(user):
                self._conversation_owner[(record["_id"], conv["_id"])] = uid

    def create_app(
        self,
        app_id: str | None = None,
        key_id: str | None = None,
        secret: str | None = None,
        name: str = "Sandbox app",
    ) -> tuple[str, str, str]:
        """Add an app with one app key; returns ``(app_id, key_id, secret)``.

        Secrets must be at least 32 bytes: real ones are, and PyJWT warns on shorter HMAC
        keys (which the test suite turns into errors).
        """
        app_id = app_id or self.new_id()
        key_id = key_id or f"app_{self.new_id()}"
        secret = secret or secrets.token_urlsafe(32)
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        with self._lock:
            if app_id in self._apps:
                raise Conflict(f"app {app_id} exists")
            if key_id in self._keys:
                raise Conflict(f"key {key_id} exists")
            self._install_app({"_id": app_id, "name": name, "keys": {key_id: secret}, "users": {}})
            self._save()
        return app_id, key_id, secret

    def key(self, key_id: str) -> tuple[str, str] | None:
        """``(app_id, secret)`` of an app key, or None — the auth module's lookup."""
        with self._lock:
            return self._keys.get(key_id)

    def has_app(self, app_id: str) -> bool:
        """Whether the app exists (to tell 403 from 404 for a foreign app id)."""
        with self._lock:
            return app_id in self._apps

    def apps(self) -> list[dict[str, Any]]:
        """``[{"_id", "name", "keyIds"}]`` — for the index page (never the secrets)."""
        with self._lock:
            return [
                {"_id": a["_id"], "name": a["name"], "keyIds": sorted(a["keys"])}
                for a in self._apps.values()
            ]

    # ------------------------------------------------------------------ users

    def _app(self, app_id: str) -> dict[str, Any]:
        app = self._apps.get(app_id)
        if app is None:
            raise NotFound("App")
        return app

    def _user(self, app_id: str, user_ref: str) -> dict[str, Any]:
        """Resolve ``appUser._id`` first, then the business ``userId`` (literal match)."""
        users = self._app(app_id)["users"]
        user = users.get(user_ref)
        if user is None:
            internal = self._user_ids[app_id].get(user_ref)
            user = users.get(internal) if internal else None
        if user is None:
            raise NotFound("App user")
        found: dict[str, Any] = user
        return found

    @staticmethod
    def _public_user(user: dict[str, Any], v2: bool = False) -> dict[str, Any]:
        """The v1.1 ``appUser``; ``v2`` adds the v2-only ``avatarUrl``/``locale`` if set."""
        out: dict[str, Any] = {"_id": user["_id"]}
        for key in ("userId", "givenName", "surname", "email"):
            if user.get(key) is not None:
                out[key] = user[key]
        out["signedUpAt"] = user["signedUpAt"]
        out["properties"] = copy.deepcopy(user.get("properties", {}))
        out["conversationStarted"] = bool(user.get("conversationStarted"))
        out["clients"] = copy.deepcopy(user.get("clients", []))
        out["pendingClients"] = copy.deepcopy(user.get("pendingClients", []))
        if v2:
            out.update((k, user[k]) for k in ("avatarUrl", "locale") if user.get(k) is not None)
        return out

    def get_user(self, app_id: str, user_ref: str, *, v2: bool = False) -> dict[str, Any]:
        """The public ``appUser`` object (``v2``: with the v2-only profile fields)."""
        with self._lock:
            return self._public_user(self._user(app_id, user_ref), v2)

    def users(self, app_id: str) -> list[dict[str, Any]]:
        """All app users, each with ``messageCount`` and ``lastMessage`` added (pages)."""
        with self._lock:
            out = []
            for user in self._app(app_id)["users"].values():
                item = self._public_user(user)
                conv = user.get("conversation")
                msgs = conv["messages"] if conv else []
                item["messageCount"] = len(msgs)
                item["lastMessage"] = self._render(msgs[-1], None) if msgs else None
                out.append(item)
            out.sort(key=lambda u: -(u["lastMessage"] or {}).get("received", 0.0))
            return out

    def create_user(
        self, app_id: str, fields: dict[str, Any], *, v2: bool = False
    ) -> dict[str, Any]:
        """Pre-create an app user; ``Conflict`` if the ``userId`` is taken.

        ``userId`` may be None (a v2 user without ``externalId``); ``avatarUrl`` and
        ``locale`` are kept for the v2 view only (v1.1's appUser has no such fields).
        """
        with self._lock:
            self._app(app_id)
            user_id = fields.get("userId")
            if user_id is not None and user_id in self._user_ids[app_id]:
                raise Conflict("User already exists")
            uid = self.new_id()
            user: dict[str, Any] = {
                "_id": uid,
                "userId": user_id,
                "givenName": fields.get("givenName"),
                "surname": fields.get("surname"),
                "email": fields.get("email"),
                "signedUpAt": fields.get("signedUpAt") or iso(self.clock()),
                "properties": dict(fields.get("properties") or {}),
                "conversationStarted": False,
                "clients": [],
                "pendingClients": [],
                "conversation": None,
            }
            for key in ("avatarUrl", "locale"):
                if fields.get(key) is not None:
                    user[key] = fields[key]
            self._apps[app_id]["users"][uid] = user
            if user_id is not None:
                self._user_ids[app_id][user_id] = uid
            self._save()
            return self._public_user(user, v2)

    def update_user(self, app_id: str, user_ref: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Additive update: given fields replace, ``properties`` are merged key by key."""
        with self._lock:
            user = self._user(app_id, user_ref)
            for key in ("givenName", "surname", "email", "signedUpAt"):
                if key in fields:
                    user[key] = fields[key]
            if "properties" in fields:
                user.setdefault("properties", {}).update(fields["properties"])
            self._save()
            return self._public_user(user)

    # ------------------------------------------------------------------ messages

    def _avatar_url(self, avatar_hash: str, base: str | None) -> str:
        root = self.gravatar_base or f"{(base or self.base_url).rstrip('/')}/avatar"
        return f"{root}/{avatar_hash}.png{AVATAR_QUERY}"

    def _render(self, msg: dict[str, Any], base: str | None) -> dict[str, Any]:
        """Public form of a stored message (resolves derived avatar and own media URLs)."""
        out = {k: copy.deepcopy(v) for k, v in msg.items() if not k.startswith(_PRIVATE)}
        if "__avatarHash" in msg:
            out["avatarUrl"] = self._avatar_url(msg["__avatarHash"], base)
        if "__media" in msg:
            media_id = msg["__media"]
            filename = self._media.get(media_id, {}).get("filename", "file")
            out["mediaUrl"] = self.media_url(media_id, filename, base)
        return _ordered(out)

    def media_url(self, media_id: str, filename: str, base: str | None = None) -> str:
        """Where the sandbox serves an uploaded file."""
        root = (base or self.base_url).rstrip("/")
        return f"{root}{MEDIA_PATH}{media_id}/{quote(filename, safe='')}"

    def _own_media_id(self, url: str) -> str | None:
        """The media id if ``url`` points at this sandbox's ``/_sandbox/media/<id>/…``."""
        path = urlsplit(url).path
        if not path.startswith(MEDIA_PATH):
            return None
        media_id = unquote(path[len(MEDIA_PATH) :].split("/", 1)[0])
        return media_id if media_id in self._media else None

    def _conversation(self, app_id: str, user: dict[str, Any], create: bool) -> dict[str, Any]:
        """The user's default conversation (v1.1's only one), created on demand."""
        conv = user.get("conversation")
        if conv is None:
            if not create:
                raise NotFound("Conversation")
            conv = self._new_conversation(app_id, user, {})
            user["conversation"] = conv
        return conv

    def _new_conversation(
        self, app_id: str, user: dict[str, Any], fields: dict[str, Any]
    ) -> dict[str, Any]:
        conv: dict[str, Any] = {
            "_id": self.new_id(),
            "unreadCount": 0,
            "messages": [],
            "activities": [],
            "createdAt": round(float(self.clock()), 3),
        }
        conv.update(copy.deepcopy(fields))
        self._conversation_owner[(app_id, conv["_id"])] = user["_id"]
        return conv

    @staticmethod
    def _conv_summary(conv: dict[str, Any]) -> dict[str, Any]:
        return {"_id": conv["_id"], "unreadCount": conv["unreadCount"]}

    def post_message(
        self,
        app_id: str,
        user_ref: str,
        fields: dict[str, Any],
        *,
        source_type: str = "api",
        base: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store a validated message; returns ``(message, conversation)`` as the API does.

        Creates the conversation if needed, keeps ``received`` strictly increasing, keeps
        ``unreadCount`` (appMaker messages the user has not read; the user writing resets
        it) and ends the business's typing indicator on an appMaker message.
        """
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = self._conversation(app_id, user, create=True)
            message = self._append_message(app_id, user, conv, fields, source_type, base)
            return message, self._conv_summary(conv)

    def _append_message(
        self,
        app_id: str,
        user: dict[str, Any],
        conv: dict[str, Any],
        fields: dict[str, Any],
        source_type: str,
        base: str | None,
    ) -> dict[str, Any]:
        msg = self._build_message(user, fields, source_type)
        msg["received"] = self._next_received(conv)
        conv["messages"].append(msg)
        if msg["role"] == "appMaker":
            conv["unreadCount"] += 1
            self._typing.pop((app_id, conv["_id"]), None)
        else:
            conv["unreadCount"] = 0
            user["conversationStarted"] = True
        self._save()
        if self._listening(app_id):
            self._emit(app_id, user, conv, "message", message=self._render(msg, None))
        return self._render(msg, base)

    def _listening(self, app_id: str) -> bool:
        listener = self.listener
        return listener is not None and listener.wants(app_id)

    def _emit(
        self,
        app_id: str,
        user: dict[str, Any],
        conv: dict[str, Any],
        kind: str,
        **details: Any,
    ) -> None:
        """Tell the listener (lock held: events go out in the order the store saw them)."""
        listener = self.listener
        if listener is None:
            return
        event = {
            "kind": kind,
            "id": self.new_id(),
            "at": round(float(self.clock()), 3),
            "appId": app_id,
            "user": self._public_user(user, v2=True),
            "conversationId": conv["_id"],
            **details,
        }
        listener.publish(event)

    def _build_message(
        self, user: dict[str, Any], fields: dict[str, Any], source_type: str
    ) -> dict[str, Any]:
        fields = copy.deepcopy(fields)
        email = fields.pop("email", None)
        role = fields["role"]
        msg: dict[str, Any] = {"_id": self.new_id()}
        if role == "appMaker":
            msg["authorId"] = app_maker_author_id(email)
        else:
            msg["authorId"] = user["_id"]
            if "name" not in fields:
                friendly = " ".join(
                    p for p in (user.get("givenName"), user.get("surname")) if p
                ).strip()
                if friendly:
                    fields["name"] = friendly
            email = email or user.get("email")
        msg.update(fields)
        if "avatarUrl" not in msg:
            msg["__avatarHash"] = email_hash(email) if email and email.strip() else ZERO_HASH
        media_url = msg.get("mediaUrl")
        if isinstance(media_url, str):
            media_id = self._own_media_id(media_url)
            if media_id is not None:
                del msg["mediaUrl"]
                msg["__media"] = media_id
                msg.setdefault("mediaType", self._media[media_id]["mediaType"])
            elif "mediaType" not in msg:
                guessed, _ = mimetypes.guess_type(urlsplit(media_url).path)
                if guessed:
                    msg["mediaType"] = guessed
        for action in msg.get("actions", []):
            action["_id"] = self.new_id()
        for item in msg.get("items", []):
            item["_id"] = self.new_id()
            for action in item.get("actions", []):
                action["_id"] = self.new_id()
        if msg["type"] == "location" and "text" not in msg:
            coords = msg["coordinates"]
            msg["text"] = (
                f"Location shared:\nhttps://maps.google.com/maps?q={coords['lat']},{coords['long']}"
            )
        msg["source"] = {"type": source_type}
        return msg

    def add_user_message(
        self,
        app_id: str,
        user_ref: str,
        text: str,
        name: str | None = None,
        *,
        payload: str | None = None,
        conversation_id: str | None = None,
    ) -> dict[str, Any]:
        """Simulate the end user writing in (role ``appUser``) from their primary channel.

        ``payload`` is what a channel adds when the text came from a reply button.
        ``conversation_id``: one of the user's conversations (v2 can have several);
        ``NotFound("Conversation")`` if it is not theirs. By default their default one.
        """
        with self._lock:
            user = self._user(app_id, user_ref)
            fields: dict[str, Any] = {"role": "appUser", "type": "text", "text": text}
            if name:
                fields["name"] = name
            if payload is not None:
                fields["payload"] = payload
            source = _channel(user)
            if conversation_id is not None:
                owner, conv = self._by_conversation(app_id, conversation_id)
                if owner is not user:
                    raise NotFound("Conversation")
                return self._append_message(app_id, user, conv, fields, source, None)
            message, _ = self.post_message(app_id, user_ref, fields, source_type=source)
            return message

    def find_action(
        self, app_id: str, user_ref: str, action_id: str, base: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(message, action)`` for an action ``_id`` in the user's default conversation.

        Looks at message-level actions and the actions of carousel/list items, newest
        message first; ``NotFound("Action")`` if there is no such action.
        """
        with self._lock:
            conv = self._user(app_id, user_ref).get("conversation")
            for msg in reversed(conv["messages"] if conv else []):
                candidates = list(msg.get("actions", []))
                for item in msg.get("items", []):
                    candidates += item.get("actions", [])
                for action in candidates:
                    if action.get("_id") == action_id:
                        return self._render(msg, base), copy.deepcopy(action)
            raise NotFound("Action")

    def record_postback(
        self, app_id: str, user_ref: str, message_id: str, action: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep the event a postback button press produces; returns it.

        A postback is not a message: Smooch sends the business a ``postback`` webhook
        (v2 ``conversation:postback``) and adds nothing to the history, so this touches
        neither the messages nor ``unreadCount``. The event holds what that webhook
        carries (``message._id`` and the action's ``_id``, ``type``, ``text``,
        ``payload``), the source channel and a ``received`` time.
        """
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = self._conversation(app_id, user, create=False)
            event: dict[str, Any] = {
                "_id": self.new_id(),
                "trigger": "postback",
                "received": round(float(self.clock()), 3),
                "message": {"_id": message_id},
                "action": {
                    k: copy.deepcopy(action[k])
                    for k in ("_id", "type", "text", "payload", "metadata")
                    if k in action
                },
                "source": {"type": _channel(user)},
            }
            postbacks = conv.setdefault("postbacks", [])
            postbacks.append(event)
            del postbacks[:-MAX_ACTIVITIES]
            self._save()
            if self._listening(app_id):
                pressed = next((m for m in conv["messages"] if m["_id"] == message_id), None)
                rendered = self._render(pressed, None) if pressed is not None else None
                self._emit(
                    app_id, user, conv, "postback", postback=copy.deepcopy(event), message=rendered
                )
            return copy.deepcopy(event)

    def postbacks(self, app_id: str, user_ref: str) -> list[dict[str, Any]]:
        """The postback events of the user's default conversation, oldest first."""
        with self._lock:
            conv = self._user(app_id, user_ref).get("conversation")
            return copy.deepcopy(conv.get("postbacks", [])) if conv else []

    def messages(self, app_id: str, user_ref: str, base: str | None = None) -> list[dict[str, Any]]:
        """Every message of the user's conversation, oldest first ([] if none yet)."""
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = user.get("conversation")
            if conv is None:
                return []
            return [self._render(m, base) for m in conv["messages"]]

    def page(
        self,
        app_id: str,
        user_ref: str,
        *,
        before: float | None = None,
        after: float | None = None,
        limit: int = PAGE_SIZE,
        base: str | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], bool, bool]:
        """One history page: ``(conversation, messages, has_older, has_newer)``.

        No bound: the newest ``limit``. ``before``: the newest ``limit`` strictly older.
        ``after``: the oldest ``limit`` strictly newer. Raises ``NotFound("Conversation")``
        if the user has none (the API's 404).
        """
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = self._conversation(app_id, user, create=False)
            msgs = conv["messages"]
            if after is not None:
                start = bisect_right(msgs, after, key=lambda m: m["received"])
                end = min(start + limit, len(msgs))
            else:
                end = (
                    len(msgs)
                    if before is None
                    else bisect_left(msgs, before, key=lambda m: m["received"])
                )
                start = max(end - limit, 0)
            return (self._conv_summary(conv), *self._slice(msgs, start, end, base))

    def _slice(
        self, msgs: list[dict[str, Any]], start: int, end: int, base: str | None
    ) -> tuple[list[dict[str, Any]], bool, bool]:
        """Messages ``start:end`` rendered, and whether older / newer ones exist."""
        chosen = [self._render(m, base) for m in msgs[start:end]]
        return chosen, start > 0, end < len(msgs)

    # ------------------------------------------------------------------ activity and typing

    def record_activity(
        self, app_id: str, user_ref: str, activity: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a validated activity, update typing state; returns the conversation summary."""
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = self._conversation(app_id, user, create=False)
            self._add_activity(app_id, conv, activity)
            return self._conv_summary(conv)

    def _add_activity(self, app_id: str, conv: dict[str, Any], activity: dict[str, Any]) -> None:
        now = float(self.clock())
        entry = dict(activity, received=now)
        conv["activities"].append(entry)
        del conv["activities"][:-MAX_ACTIVITIES]
        key = (app_id, conv["_id"])
        business = activity.get("role", "appMaker") == "appMaker"  # the indicator is theirs
        if business and activity["type"] == "typing:start":
            self._typing[key] = {
                "lastStart": now,
                "name": activity.get("name"),
                "avatarUrl": activity.get("avatarUrl"),
            }
        elif business and activity["type"] == "typing:stop":
            self._typing.pop(key, None)
        self._save()
        if self._listening(app_id):
            user = self._app(app_id)["users"][self._conversation_owner[key]]
            self._emit(app_id, user, conv, "activity", activity=copy.deepcopy(entry))

    def user_activity(self, app_id: str, user_ref: str, kind: str) -> dict[str, Any]:
        """The end user types (``typing:start``/``typing:stop``) or reads
        (``conversation:read``: resets ``unreadCount``) in their default conversation.

        Only the business's typing indicator is kept (``typing``); the user's activity is
        recorded and heard by the listener. ``NotFound("Conversation")`` if there is none.
        """
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = self._conversation(app_id, user, create=False)
            if kind == "conversation:read":
                conv["unreadCount"] = 0
            activity = {"role": "appUser", "type": kind, "source": {"type": _channel(user)}}
            self._add_activity(app_id, conv, activity)
            return self._conv_summary(conv)

    def activities(self, app_id: str, user_ref: str) -> list[dict[str, Any]]:
        """Every activity received for the user's conversation, oldest first."""
        with self._lock:
            user = self._user(app_id, user_ref)
            conv = user.get("conversation")
            return copy.deepcopy(conv["activities"]) if conv else []

    def typing(self, app_id: str, user_ref: str) -> dict[str, Any]:
        """``{"typing", "name", "avatarUrl"}`` as a Web Messenger would show it right now.

        Shown from a ``typing:start`` until ``TYPING_TIMEOUT`` after the last one, a
        ``typing:stop`` or an appMaker message, whichever comes first.
        """
        with self._lock:
            conv = self._user(app_id, user_ref).get("conversation")
            state = self._typing.get((app_id, conv["_id"])) if conv else None
            if state is None or float(self.clock()) - state["lastStart"] >= TYPING_TIMEOUT:
                return {"typing": False, "name": None, "avatarUrl": None}
            return {"typing": True, "name": state["name"], "avatarUrl": state["avatarUrl"]}

    def mark_read(self, app_id: str, user_ref: str) -> dict[str, Any]:
        """Reset ``unreadCount``; ``NotFound("Conversation")`` if there is none."""
        with self._lock:
            conv = self._conversation(app_id, self._user(app_id, user_ref), create=False)
            conv["unreadCount"] = 0
            conv["businessLastRead"] = round(float(self.clock()), 3)
            self._save()
            return self._conv_summary(conv)

    # ------------------------------------------------------------------ conversations by id (v2)

    def _by_conversation(
        self, app_id: str, conversation_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(user, conversation)`` for a conversation id, or ``NotFound``."""
        users = self._app(app_id)["users"]
        uid = self._conversation_owner.get((app_id, conversation_id))
        user: dict[str, Any] | None = users.get(uid) if uid is not None else None
        if user is not None:
            for conv in _all_conversations(user):
                if conv["_id"] == conversation_id:
                    return user, conv
        raise NotFound("Conversation")

    @staticmethod
    def _conversation_info(user: dict[str, Any], conv: dict[str, Any]) -> dict[str, Any]:
        """What the v2 view shows of a conversation; times in Unix seconds."""
        msgs = conv["messages"]
        created = conv.get("createdAt")
        if created is None:  # made before conversations had a creation time (demo data)
            created = msgs[0]["received"] if msgs else _unix(user["signedUpAt"])
        info: dict[str, Any] = {
            "id": conv["_id"],
            "userId": user["_id"],
            "isDefault": conv is user.get("conversation"),
            "createdAt": created,
            "lastUpdatedAt": msgs[-1]["received"] if msgs else created,
            "businessLastRead": conv.get("businessLastRead"),
        }
        for key in ("displayName", "description", "iconUrl", "metadata"):
            if conv.get(key) is not None:
                info[key] = copy.deepcopy(conv[key])
        return info

    def conversations(self, app_id: str, user_ref: str) -> list[dict[str, Any]]:
        """The user's conversations (default first, then by creation), as v2 sees them."""
        with self._lock:
            user = self._user(app_id, user_ref)
            return [self._conversation_info(user, c) for c in _all_conversations(user)]

    def conversation(self, app_id: str, conversation_id: str) -> dict[str, Any]:
        """One conversation by id, as v2 sees it; ``NotFound("Conversation")`` otherwise."""
        with self._lock:
            return self._conversation_info(*self._by_conversation(app_id, conversation_id))

    def create_conversation(
        self, app_id: str, user_ref: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """A new personal conversation: the default one if the user has none, else another.

        ``fields`` may hold ``displayName``, ``description``, ``iconUrl``, ``metadata``.
        """
        with self._lock:
            user = self._user(app_id, user_ref)
            if user.get("conversation") is None:
                conv = self._conversation(app_id, user, create=True)
                conv.update(copy.deepcopy(fields))
            else:
                conv = self._new_conversation(app_id, user, fields)
                user.setdefault("otherConversations", []).append(conv)
            self._save()
            return self._conversation_info(user, conv)

    def conversation_user(self, app_id: str, conversation_id: str) -> dict[str, Any]:
        """The public ``appUser`` whose conversation this is."""
        with self._lock:
            return self._public_user(self._by_conversation(app_id, conversation_id)[0])

    def post_to_conversation(
        self,
        app_id: str,
        conversation_id: str,
        fields: dict[str, Any],
        *,
        source_type: str = "api:conversations",
        base: str | None = None,
    ) -> dict[str, Any]:
        """Store a validated message (v1 field form) in a conversation found by id.

        ``Locked`` once the conversation holds :data:`MAX_CONVERSATION_MESSAGES`.
        """
        with self._lock:
            user, conv = self._by_conversation(app_id, conversation_id)
            if len(conv["messages"]) >= MAX_CONVERSATION_MESSAGES:
                limit = MAX_CONVERSATION_MESSAGES
                raise Locked(f"Message limit of {limit} per conversation reached.")
            return self._append_message(app_id, user, conv, fields, source_type, base)

    def page_by_cursor(
        self,
        app_id: str,
        conversation_id: str,
        *,
        before_id: str | None = None,
        after_id: str | None = None,
        limit: int = PAGE_SIZE,
        base: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool, bool]:
        """One page around a message id: ``(messages, has_older, has_newer)``.

        No cursor: the newest ``limit``; ``before_id``: the newest ``limit`` strictly before
        that message; ``after_id``: the oldest ``limit`` strictly after it. A cursor that is
        no message of this conversation raises ``BadCursor``.
        """
        with self._lock:
            msgs = self._by_conversation(app_id, conversation_id)[1]["messages"]
            if after_id is not None:
                start = _position(msgs, after_id) + 1
                end = min(start + limit, len(msgs))
            else:
                end = len(msgs) if before_id is None else _position(msgs, before_id)
                start = max(end - limit, 0)
            return self._slice(msgs, start, end, base)

    def conversation_activity(
        self, app_id: str, conversation_id: str, activity: dict[str, Any]
    ) -> None:
        """Store a validated activity (v1 form: ``role``, ``type``, ``name``, ``avatarUrl``).

        ``conversation:read`` by the business sets ``businessLastRead``; by the user it
        resets ``unreadCount`` (they have read the business's messages).
        """
        with self._lock:
            conv = self._by_conversation(app_id, conversation_id)[1]
            if activity["type"] == "conversation:read":
                if activity["role"] == "appMaker":
                    conv["businessLastRead"] = round(float(self.clock()), 3)
                else:
                    conv["unreadCount"] = 0
            self._add_activity(app_id, conv, activity)

    # ------------------------------------------------------------------ media

    def add_media(
        self,
        app_id: str,
        filename: str,
        media_type: str,
        data: bytes,
        *,
        user_ref: str | None = None,
    ) -> str:
        """Keep an uploaded file; returns its media id. ``user_ref`` links it (``for=message``)."""
        with self._lock:
            self._app(app_id)
            owner = self._user(app_id, user_ref)["_id"] if user_ref is not None else None
            media_id = secrets.token_hex(16)
            self._media[media_id] = {
                "appId": app_id,
                "filename": filename,
                "mediaType": media_type,
                "size": len(data),
                "appUserId": owner,
            }
            if self._data_dir is not None:
                folder = self._data_dir / MEDIA_DIR
                folder.mkdir(exist_ok=True)
                _atomic_write(folder / media_id, data)
            else:
                self._media_bytes[media_id] = data
            self._save()
            return media_id

    def media_details(self, url: str) -> dict[str, Any] | None:
        """``{"filename", "mediaType", "size"}`` if ``url`` is one of this sandbox's files."""
        with self._lock:
            media_id = self._own_media_id(url)
            if media_id is None:
                return None
            info = self._media[media_id]
            return {k: info[k] for k in ("filename", "mediaType", "size")}

    def media(self, media_id: str) -> tuple[str, str, bytes]:
        """``(filename, mediaType, data)`` of an uploaded file; ``NotFound`` otherwise."""
        with self._lock:
            info = self._media.get(media_id)
            if info is None:
                raise NotFound("Media")
            if self._data_dir is not None:
                try:
                    data = (self._data_dir / MEDIA_DIR / media_id).read_bytes()
                except OSError:
                    raise NotFound("Media") from None
            else:
                data = self._media_bytes[media_id]
            return info["filename"], info["mediaType"], data

    # ------------------------------------------------------------------ persistence

    def _save(self) -> None:
        if self._data_dir is None:
            return
        with self._lock:
            snapshot = {"version": 1, "apps": self._apps, "media": self._media}
            payload = json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"))
            _atomic_write(self._data_dir / STORE_FILE, payload.encode("utf-8"))

    def _load(self) -> bool:
        if self._data_dir is None:
            return False
        path = self._data_dir / STORE_FILE
        if not path.exists():
            return False
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        if snapshot.get("version") != 1:
            raise ValueError(f"{path}: unsupported sandbox store version")
        with self._lock:
            for record in snapshot["apps"].values():
                self._install_app(record)
            self._media = snapshot.get("media", {})
        return True


def _position(msgs: list[dict[str, Any]], message_id: str) -> int:
    """Index of the message with ``_id`` ``message_id``; ``BadCursor`` if there is none."""
    for index in range(len(msgs) - 1, -1, -1):
        if msgs[index]["_id"] == message_id:
            return index
    raise BadCursor(message_id)


#: Leading bytes of the image formats a messenger shows inline, and their media types.
_IMAGE_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image_type(data: bytes) -> str | None:
    """The media type of PNG, JPEG, GIF or WebP bytes, else None.

    For an upload whose part says nothing useful (no type, ``application/octet-stream``),
    so a pasted image is still served as an image and shows as a thumbnail.
    """
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _channel(user: dict[str, Any]) -> str:
    """The platform of the user's primary client (else their first; ``web`` if none)."""
    clients = user.get("clients") or []
    fallback = clients[0] if clients else None
    primary = next((c for c in clients if c.get("primary")), fallback)
    return str(primary["platform"]) if primary else "web"


def _unix(moment: str) -> float:
    """Unix seconds of an ISO 8601 date (``Z`` allowed)."""
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def _all_conversations(user: dict[str, Any]) -> list[dict[str, Any]]:
    """The user's default conversation (if any) first, then the others (v2 only)."""
    default = user.get("conversation")
    return ([default] if default else []) + list(user.get("otherConversations", []))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and ``os.replace``: never a torn file.

    No fsync: this protects against the sandbox (or a test) dying mid-write, which is what
    matters for a local emulator, without paying a disk flush on every message.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_FIELD_ORDER: Final = (
    "_id",
    "authorId",
    "role",
    "type",
    "name",
    "text",
    "avatarUrl",
    "received",
    "source",
)


def _ordered(msg: dict[str, Any]) -> dict[str, Any]:
    """Stable, documentation-like key order (purely cosmetic for humans reading JSON)."""
    out: dict[str, Any] = {k: msg[k] for k in _FIELD_ORDER if k in msg}
    out.update((k, v) for k, v in msg.items() if k not in out)
    return out
