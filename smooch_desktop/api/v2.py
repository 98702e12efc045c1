"""The v2 adapter: :class:`ConversationApi` on Sunshine Conversations v2.

v2 addresses messages, activities and history by *conversation*, not by user. The
window keeps talking about the end user (``user_ref``: the v2 user ``id`` or the
business's ``externalId``, as v1 took ``_id`` or ``userId``); :class:`V2Api` resolves the
user's conversation and remembers it:

* ``GET /v2/apps/{appId}/users/{userIdOrExternalId}`` finds the user (404
  ``user_not_found`` otherwise), ``GET …/users/{id}/clients`` their channels (none
  known if the host won't list them; an ``sdk`` client is named by its device's
  platform from ``GET …/users/{id}/devices``; the primary one is the first client
  association of the user in ``GET …/conversations/{id}/participants``),
  ``GET …/conversations?filter[userId]=…`` their conversations, and the default
  personal one (``isDefault``; else the most recent personal one) is used. Every
  conversation is kept on the returned :class:`~smooch_desktop.api.models.AppUser`
  (``conversations``, ``conversation_id``) for the window's conversation choice.
* A user without a personal conversation gets one (``POST …/conversations``, ``type:
  personal``): right after :meth:`V2Api.create_user` (``POST …/users``), else when the
  first message is sent (a user pre-created by someone else); until then their history
  is empty and no typing is sent.
* A user with several conversations: the window may name one (``conversation_id``,
  one of ``AppUser.conversations``); it is used as given, never remembered, and a 404
  on it is the caller's answer (that conversation is gone), not a reason to look again.

Bodies: a message is ``{author: {type: "business", displayName, avatarUrl}, content,
metadata}``; ``metadata`` carries the outbox's client id under the same key as in v1.1
(:data:`~smooch_desktop.api.models.CLIENT_ID_METADATA_KEY`). v2 has no author email, so
the avatar Smooch would derive from it is sent as ``avatarUrl``: the sender's own
override, else ``avatar_for_email(email)``. That function is given by whoever builds
the session (it knows where avatars come from: Gravatar, or the local sandbox's copy),
so this layer needs neither ``core`` (where the Gravatar rule lives) nor a copy of it.

Requests are built by pure ``prepare_*`` functions and sent through the shared
:class:`~smooch_desktop.api.client.HttpClient`: the same deadlines, proxy rule and
"was anything sent" knowledge as v1.1, and the same typed errors — the ``errors[]``
envelope's first ``code`` and its ``title``\\ s become :class:`HttpError`'s code and
description, statuses map to the same classes, so the outbox's exactly-once rules
(``core/delivery.py``) are unchanged. The one addition: a remembered conversation
that the server no longer knows (404 on it) is looked up again once; a 404 proves the
request was refused, so repeating it cannot deliver twice.

Must not hold: retry policy (the outbox's), Gravatar hashing (``core``), Qt.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import requests

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.client import (
    ACTIVITY_TYPES,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    ApiRequest,
    HttpClient,
    attachment_upload,
    encode_segment,
    upload_timeout,
)
from smooch_desktop.api.errors import BadResponse, ConfigError, HttpError
from smooch_desktop.api.models import (
    CLIENT_ID_METADATA_KEY,
    AppUser,
    Client,
    Conversation,
    HistoryPage,
    Message,
    OutgoingMessage,
    Sender,
)
from smooch_desktop.api.multipart import Progress, file_size
from smooch_desktop.api.server_clock import ServerClock

if TYPE_CHECKING:
    from smooch_desktop.api.webhooks import V2Webhooks

API_VERSION: Final = "v2"
#: Largest attachment v2 accepts (the spec's "File upload: 50mb"); larger is refused here.
MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
#: ListMessages pages are fixed at 100 by the server.
HISTORY_PAGE_SIZE: Final = 100
#: Largest page of a listing (conversations, clients) the spec allows.
LIST_PAGE_SIZE: Final = 100
#: Conversation listing pages read at most while looking for the default one.
MAX_CONVERSATION_PAGES: Final = 10
#: The v2 client type of web, iOS, Android and Unity clients (the platform is the device's).
SDK_CLIENT_TYPE: Final = "sdk"
#: A user id that cannot exist; looking it up tells whether host, app and key are right.
_PROBE_USER: Final = "smooch-desktop-connection-check"

AvatarForEmail = Callable[[str], str]


@dataclass(frozen=True)
class V2Paths:
    """``/v2/apps/{appId}/…`` paths, every segment percent-encoded."""

    app_id: str

    def app(self, *segments: str) -> str:
        return f"/{API_VERSION}/apps/{encode_segment(self.app_id)}" + "".join(
            f"/{s}" for s in segments
        )

    def user(self, user_ref: str, *segments: str) -> str:
        return self.app("users", encode_segment(user_ref), *segments)

    def conversation(self, conversation_id: str, *segments: str) -> str:
        return self.app("conversations", encode_segment(conversation_id), *segments)


# --- prepare: pure request builders -------------------------------------------------------


def prepare_get_user(paths: V2Paths, user_ref: str) -> ApiRequest:
    return ApiRequest("GET", paths.user(user_ref), idempotent=True)


def prepare_create_user(
    paths: V2Paths,
    external_id: str,
    *,
    given_name: str = "",
    surname: str = "",
    email: str = "",
) -> ApiRequest:
    body: dict[str, Any] = {"externalId": external_id}
    profile = {
        key: value
        for key, value in (("givenName", given_name), ("surname", surname), ("email", email))
        if value
    }
    if profile:
        body["profile"] = profile
    return ApiRequest("POST", paths.app("users"), json_body=body)


def prepare_list_clients(paths: V2Paths, user_id: str) -> ApiRequest:
    return ApiRequest(
        "GET",
        paths.user(user_id, "clients"),
        params={"page[size]": str(LIST_PAGE_SIZE)},
        idempotent=True,
    )


def prepare_list_conversations(
    paths: V2Paths, user_id: str, *, after: str | None = None
) -> ApiRequest:
    params = {"filter[userId]": user_id, "page[size]": str(LIST_PAGE_SIZE)}
    if after:
        params["page[after]"] = after
    return ApiRequest("GET", paths.app("conversations"), params=params, idempotent=True)


def prepare_list_devices(paths: V2Paths, user_id: str) -> ApiRequest:
    return ApiRequest("GET", paths.user(user_id, "devices"), idempotent=True)


def prepare_list_participants(paths: V2Paths, conversation_id: str) -> ApiRequest:
    return ApiRequest(
        "GET",
        paths.conversation(conversation_id, "participants"),
        params={"page[size]": str(LIST_PAGE_SIZE)},
        idempotent=True,
    )


def prepare_create_conversation(paths: V2Paths, user_id: str) -> ApiRequest:
    body = {"type": "personal", "participants": [{"userId": user_id}]}
    return ApiRequest("POST", paths.app("conversations"), json_body=body)


def prepare_post_message(
    paths: V2Paths, conversation_id: str, body: Mapping[str, Any]
) -> ApiRequest:
    return ApiRequest("POST", paths.conversation(conversation_id, "messages"), json_body=dict(body))


def prepare_activity(
    paths: V2Paths, conversation_id: str, activity: str, author: Mapping[str, Any]
) -> ApiRequest:
    if activity not in ACTIVITY_TYPES:
        raise ValueError(f"unknown activity type {activity!r}")
    return ApiRequest(
        "POST",
        paths.conversation(conversation_id, "activity"),
        json_body={"author": dict(author), "type": activity},
        idempotent=True,
    )


def prepare_list_messages(
    paths: V2Paths, conversation_id: str, *, before: str | None = None
) -> ApiRequest:
    return ApiRequest(
        "GET",
        paths.conversation(conversation_id, "messages"),
        params={"page[before]": before} if before else None,
        idempotent=True,
    )


def prepare_upload(
    paths: V2Paths,
    filename: str,
    data: bytes | BinaryIO,
    media_type: str,
    *,
    conversation_id: str | None = None,
    progress: Progress | None = None,
) -> ApiRequest:
    """``POST /attachments``: the file streamed as the multipart field ``source``."""
    owner = ("conversationId", conversation_id) if conversation_id else None
    return attachment_upload(paths.app("attachments"), filename, data, media_type, owner, progress)


# --- bodies -------------------------------------------------------------------------------


def business_author(
    sender: Sender | None,
    *,
    avatar_url: str = "",
    avatar_for_email: AvatarForEmail | None = None,
) -> dict[str, Any]:
    """``{type: "business", displayName, avatarUrl}`` for ``sender``.

    The avatar is ``avatar_url`` if given, else the sender's override, else what
    ``avatar_for_email`` makes of the sender's email (v2 takes no email); none of them →
    no ``avatarUrl``, and the server shows its default.
    """
    author: dict[str, Any] = {"type": "business"}
    if sender is not None and sender.name:
        author["displayName"] = sender.name
    avatar = avatar_url or (sender.avatar_url if sender is not None else "")
    if not avatar and sender is not None and sender.email and avatar_for_email is not None:
        avatar = avatar_for_email(sender.email)
    if avatar:
        author["avatarUrl"] = avatar
    return author


def outgoing_to_v2(
    message: OutgoingMessage, *, avatar_for_email: AvatarForEmail | None = None
) -> dict[str, Any]:
    """The v2 ``messagePost`` body for an outgoing business message."""
    kind = message.type or "text"
    if message.media_url and kind == "text":
        kind = "image" if message.media_type.startswith("image/") else "file"
    content: dict[str, Any] = {"type": kind}
    if message.text:
        content["text"] = message.text
    if message.media_url:
        content["mediaUrl"] = message.media_url
    if message.actions:
        content["actions"] = [dict(a) for a in message.actions]
    if message.items:
        content["items"] = [dict(i) for i in message.items]
    body: dict[str, Any] = {
        "author": business_author(message.sender, avatar_for_email=avatar_for_email),
        "content": content,
    }
    if message.metadata:
        body["metadata"] = dict(message.metadata)
    return body


def pick_conversation(conversations: tuple[Conversation, ...]) -> Conversation | None:
    """The conversation a reply goes to: the default one, else the latest personal one."""
    for conversation in conversations:
        if conversation.is_default and conversation.id:
            return conversation
    personal = [c for c in conversations if c.type == "personal" and c.id]
    return max(personal, key=lambda c: c.last_updated, default=None)


def history_page_from_v2(body: Mapping[str, Any], *, host: str = "the server") -> HistoryPage:
    """A ``messageListResponse`` as a :class:`HistoryPage` (oldest first, older cursor).

    Raises :class:`BadResponse` for a page that says there are older messages but gives
    no way to ask for them: it must not pass for the start of the conversation.
    """
    raw = body.get("messages")
    items = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    messages = tuple(sorted((Message.from_v2(m) for m in items), key=lambda m: m.received))
    meta = body.get("meta")
    has_more = meta.get("hasMore") if isinstance(meta, dict) else None
    if not isinstance(has_more, bool):
        # No (readable) flag: a full page may well have older ones. Claiming "no older
        # messages" wrongly could make a history check prove a stored message absent.
        has_more = len(items) >= HISTORY_PAGE_SIZE
    cursor: str | None = None
    if has_more and messages:
        before = meta.get("beforeCursor") if isinstance(meta, dict) else None
        # Else the oldest message with an id: paging on from it skips nothing older.
        cursor = before if isinstance(before, str) and before else None
        cursor = cursor or next((m.id for m in messages if m.id), None)
        if cursor is None:
            # "No older page" here would let a history check take a message for absent.
            raise BadResponse(
                f"The history from {host} says there are older messages but gives no "
                "cursor to ask for them."
            )
    return HistoryPage(messages, cursor)


# --- the adapter --------------------------------------------------------------------------


class V2Api:
    """v2 implementation of :class:`~smooch_desktop.api.protocol.ConversationApi`."""

    def __init__(
        self,
        http: HttpClient,
        app_id: str,
        *,
        avatar_for_email: AvatarForEmail | None = None,
    ) -> None:
        if not app_id:
            raise ConfigError("app_id", "Enter the app ID.")
        self.http = http
        self.host = http.host
        self.paths = V2Paths(app_id)
        self.avatar_for_email = avatar_for_email
        self._lock = threading.Lock()
        #: user_ref → the id of the conversation its messages go to.
        self._conversations: dict[str, str] = {}

    @classmethod
    def connect(
        cls,
        base_url: str,
        app_id: str,
        credentials: Credentials,
        *,
        version: str = API_VERSION,
        avatar_for_email: AvatarForEmail | None = None,
        session: requests.Session | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> V2Api:
        """A v2 API for ``{base_url}/v2/apps/{app_id}``.

        ``avatar_for_email(email)`` gives the avatar URL Smooch would derive from a
        sender's email (v2 has no email field); without it, a sender with an email and
        no avatar override is shown with the server's default avatar.
        """
        if version != API_VERSION:
            raise ConfigError("version", f"Unsupported API version {version!r} for this client.")
        if not app_id:
            raise ConfigError("app_id", "Enter the app ID.")
        http = HttpClient(
            base_url,
            credentials,
            session=session,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        return cls(http, app_id, avatar_for_email=avatar_for_email)

    def __repr__(self) -> str:
        return f"V2Api({self.http.base_url!r}, app_id={self.paths.app_id!r})"

    @property
    def server_clock(self) -> ServerClock | None:
        return self.http.server_clock

    def close(self) -> None:
        self.http.close()

    def webhooks(self) -> V2Webhooks:
        """Registers the app's webhook receiver (``api/webhooks.py``)."""
        from smooch_desktop.api.webhooks import V2Webhooks

        return V2Webhooks(self.http, self.paths.app(), self.paths.app_id)

    def check_connection(self) -> None:
        try:
            self.http.send(prepare_get_user(self.paths, _PROBE_USER))
        except HttpError as exc:
            # A v2 "user not found" proves host, app and key all work; "app not found",
            # or a 404 without the v2 envelope (another web server, a v1-only one), not.
            if exc.status == 404 and exc.envelope == "v2" and exc.code == "user_not_found":
                return
            raise

    # Users and conversations --------------------------------------------------------------

    def get_user(self, user_ref: str) -> AppUser:
        user = self._fetch_user(user_ref)
        clients = self._clients(user.id)
        conversations = self._list_conversations(user.id)
        chosen = pick_conversation(conversations)
        if chosen is not None:
            self._remember(user_ref, user.id, chosen.id)
            if clients:
                clients = self._mark_primary(clients, user.id, chosen.id)
        return dataclasses.replace(
            user,
            clients=clients,
            conversations=conversations,
            conversation_id=chosen.id if chosen else "",
            conversation_started=chosen is not None,
        )

    def create_user(
        self, user_id: str, *, given_name: str = "", surname: str = "", email: str = ""
    ) -> AppUser:
        request = prepare_create_user(
            self.paths, user_id, given_name=given_name, surname=surname, email=email
        )
        user = AppUser.from_v2(self.http.send(request).get("user"))
        if not user.id:
            raise BadResponse(f"The answer from {self.host} has no user in it.")
        # Their personal conversation right away, so the first reply is one request. If
        # this fails the user still exists; the first send creates it instead.
        conversation = self._create_conversation(user.id)
        self._remember(user_id, user.id, conversation.id)
        return dataclasses.replace(
            user, conversations=(conversation,), conversation_id=conversation.id
        )

    def _create_conversation(self, user_id: str) -> Conversation:
        body = self.http.send(prepare_create_conversation(self.paths, user_id))
        conversation = Conversation.from_v2(body.get("conversation"))
        if not conversation.id:
            raise BadResponse(
                f"{self.host} created a conversation but its answer has no conversation id."
            )
        return conversation

    def _fetch_user(self, user_ref: str) -> AppUser:
        user = AppUser.from_v2(self.http.send(prepare_get_user(self.paths, user_ref)).get("user"))
        if not user.id:
            raise BadResponse(f"The answer from {self.host} has no user in it.")
        return user

    def _clients(self, user_id: str) -> tuple[Client, ...]:
        """The user's channels; none known when the host won't list them (403/404).

        The channels only inform the window (which ones can receive); a host or key that
        can't list them must not make the user impossible to look up and answer.
        """
        try:
            body = self.http.send(prepare_list_clients(self.paths, user_id))
        except HttpError as exc:
            if exc.status in (403, 404):
                return ()
            raise
        raw = body.get("clients")
        if not isinstance(raw, list):
            return ()
        clients = tuple(Client.from_v2(c) for c in raw if isinstance(c, dict))
        if any(c.platform == SDK_CLIENT_TYPE for c in clients):
            clients = self._sdk_platforms(clients, user_id)
        return clients

    def _sdk_platforms(self, clients: tuple[Client, ...], user_id: str) -> tuple[Client, ...]:
        """``clients`` with each ``sdk`` one named by its device's platform (web, ios,
        android), as v1.1 names them; left ``sdk`` if the devices can't be listed."""
        try:
            body = self.http.send(prepare_list_devices(self.paths, user_id))
        except HttpError:
            return clients
        raw = body.get("devices")
        platform: dict[str, str] = {}
        for device in raw if isinstance(raw, list) else []:  # last seen first
            if not isinstance(device, dict):
                continue
            client_id, kind = device.get("clientId"), device.get("type")
            if isinstance(client_id, str) and isinstance(kind, str) and kind:
                platform.setdefault(client_id, kind)
        return tuple(
            dataclasses.replace(c, platform=platform[c.id])
            if c.platform == SDK_CLIENT_TYPE and c.id in platform
            else c
            for c in clients
        )

    def _mark_primary(
        self, clients: tuple[Client, ...], user_id: str, conversation_id: str
    ) -> tuple[Client, ...]:
        """``clients`` with the user's primary one for ``conversation_id`` marked.

        v2 clients carry no primary flag; the spec names the first of the participant's
        ``clientAssociations`` as the primary client of that conversation (the one
        messages go to first). Informative only: a host that won't list participants
        leaves every client unmarked rather than failing the lookup.
        """
        try:
            body = self.http.send(prepare_list_participants(self.paths, conversation_id))
        except HttpError:
            return clients
        raw = body.get("participants")
        for participant in raw if isinstance(raw, list) else []:
            if not isinstance(participant, dict) or participant.get("userId") != user_id:
                continue
            associations = participant.get("clientAssociations")
            first = associations[0] if isinstance(associations, list) and associations else {}
            primary = first.get("clientId") if isinstance(first, dict) else None
            if isinstance(primary, str) and primary:
                return tuple(dataclasses.replace(c, primary=c.id == primary) for c in clients)
        return clients

    def _list_conversations(self, user_id: str) -> tuple[Conversation, ...]:
        found: list[Conversation] = []
        after: str | None = None
        for _ in range(MAX_CONVERSATION_PAGES):
            request = prepare_list_conversations(self.paths, user_id, after=after)
            body = self.http.send(request)
            raw = body.get("conversations")
            if isinstance(raw, list):
                found += [Conversation.from_v2(c) for c in raw if isinstance(c, dict)]
            if any(c.is_default for c in found):
                break
            meta = body.get("meta")
            cursor = meta.get("afterCursor") if isinstance(meta, dict) else None
            if not (isinstance(meta, dict) and meta.get("hasMore") is True and cursor):
                break
            after = str(cursor)
        return tuple(c for c in found if c.id)

    def _remember(self, user_ref: str, user_id: str, conversation_id: str) -> None:
        with self._lock:
            self._conversations[user_ref] = conversation_id
            self._conversations[user_id] = conversation_id

    def _forget(self, user_ref: str, conversation_id: str) -> bool:
        """Drop every mapping to ``conversation_id``; True if ``user_ref`` had it."""
        with self._lock:
            had = self._conversations.get(user_ref) == conversation_id
            for ref in [r for r, c in self._conversations.items() if c == conversation_id]:
                del self._conversations[ref]
        return had

    def _cached(self, user_ref: str) -> str | None:
        with self._lock:
            return self._conversations.get(user_ref)

    def conversation_for(self, user_ref: str, *, create: bool = False) -> str | None:
        """The id of the conversation ``user_ref``'s messages go to (see module doc).

        With ``create``, a user without a personal conversation gets one; otherwise None.
        Raises :class:`HttpError` 404 ``user_not_found`` for an unknown user.
        """
        cached = self._cached(user_ref)
        if cached is not None:
            return cached
        user = self._fetch_user(user_ref)
        chosen = pick_conversation(self._list_conversations(user.id))
        if chosen is not None:
            conversation_id = chosen.id
        elif create:
            conversation_id = self._create_conversation(user.id).id
        else:
            return None
        self._remember(user_ref, user.id, conversation_id)
        return conversation_id

    def _in_conversation(
        self,
        user_ref: str,
        create: bool,
        call: Callable[[str], dict[str, Any]],
        conversation_id: str = "",
    ) -> dict[str, Any] | None:
        """``call(conversation_id)`` for the named conversation, else the user's main one
        (None if they have none).

        A remembered conversation answered with 404 (deleted meanwhile) is looked up once
        more: the 404 proves the server refused the request, so repeating it is safe. A
        named one is not: the caller chose it, and must hear that it is gone.
        """
        if conversation_id:
            return call(conversation_id)
        main = self.conversation_for(user_ref, create=create)
        if main is None:
            return None
        try:
            return call(main)
        except HttpError as exc:
            if exc.status != 404 or not self._forget(user_ref, main):
                raise
        main = self.conversation_for(user_ref, create=create)
        return None if main is None else call(main)

    # Conversation operations --------------------------------------------------------------

    def send_message(
        self, user_ref: str, message: OutgoingMessage, *, conversation_id: str = ""
    ) -> Message:
        body = outgoing_to_v2(message, avatar_for_email=self.avatar_for_email)
        answer = self._in_conversation(
            user_ref,
            True,
            lambda cid: self.http.send(prepare_post_message(self.paths, cid, body)),
            conversation_id,
        )
        raw = answer.get("messages") if answer is not None else None
        created = [Message.from_v2(m) for m in raw if isinstance(m, dict)] if raw else []
        wire_id = message.metadata.get(CLIENT_ID_METADATA_KEY)
        ours = [m for m in created if wire_id and m.client_id == wire_id] or created
        if not ours or not ours[-1].id:
            raise BadResponse(f"{self.host} accepted the message but its answer has no message id.")
        return ours[-1]

    def send_activity(
        self,
        user_ref: str,
        activity: str,
        sender: Sender | None = None,
        *,
        avatar_url: str = "",
        conversation_id: str = "",
    ) -> None:
        if activity not in ACTIVITY_TYPES:
            raise ValueError(f"unknown activity type {activity!r}")
        author = business_author(
            sender, avatar_url=avatar_url, avatar_for_email=self.avatar_for_email
        )
        # Typing is best effort: a short read timeout keeps it from piling up.
        timeout = (self.http.timeout[0], min(self.http.timeout[1], 5.0))
        # A user without a conversation has nowhere to show typing: nothing is sent.
        self._in_conversation(
            user_ref,
            False,
            lambda cid: self.http.send(
                prepare_activity(self.paths, cid, activity, author), timeout=timeout
            ),
            conversation_id,
        )

    def history(
        self, user_ref: str, older_cursor: str | None = None, *, conversation_id: str = ""
    ) -> HistoryPage:
        body = self._in_conversation(
            user_ref,
            False,
            lambda cid: self.http.send(prepare_list_messages(self.paths, cid, before=older_cursor)),
            conversation_id,
        )
        if body is None:
            return HistoryPage(())  # no conversation yet: an empty history, as in v1
        return history_page_from_v2(body, host=self.host)

    def upload(
        self,
        filename: str,
        data: bytes | BinaryIO,
        media_type: str,
        *,
        user_ref: str | None = None,
        conversation_id: str = "",
        progress: Progress | None = None,
    ) -> tuple[str, str]:
        size = len(data) if isinstance(data, bytes) else file_size(data)
        if size > MAX_UPLOAD_BYTES:
            raise ConfigError(
                "file",
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB, the most "
                "the API accepts.",
            )
        if not conversation_id and user_ref:
            conversation_id = self.conversation_for(user_ref) or ""
        request = prepare_upload(
            self.paths,
            filename,
            data,
            media_type,
            conversation_id=conversation_id,
            progress=progress,
        )
        assert request.upload is not None
        timeout, deadline_s = upload_timeout(self.http.timeout, request.upload)
        body = self.http.send(request, timeout=timeout, deadline_s=deadline_s)
        attachment = body.get("attachment")
        attachment = attachment if isinstance(attachment, dict) else {}
        url = attachment.get("mediaUrl")
        if not isinstance(url, str) or not url:
            raise BadResponse(f"The upload answer from {self.host} has no attachment mediaUrl.")
        kind = attachment.get("mediaType")
        return url, kind if isinstance(kind, str) else media_type
