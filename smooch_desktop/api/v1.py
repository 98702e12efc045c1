"""The v1 / v1.1 adapter: :class:`ConversationApi` on top of :class:`SmoochClient`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.client import SmoochClient
from smooch_desktop.api.errors import BadResponse, ConfigError, HttpError
from smooch_desktop.api.models import AppUser, HistoryPage, Message, OutgoingMessage, Sender
from smooch_desktop.api.multipart import Progress

if TYPE_CHECKING:
    from smooch_desktop.api.webhooks import V1Webhooks

#: A user id that cannot exist; looking it up tells whether host, app and key are right.
_PROBE_USER = "smooch-desktop-connection-check"


def outgoing_to_v1(message: OutgoingMessage) -> dict[str, Any]:
    """The v1 MessagePost body for an outgoing business message."""
    body: dict[str, Any] = {"role": "appMaker", "type": message.type}
    if message.text:
        body["text"] = message.text
    sender = message.sender
    if sender.name:
        body["name"] = sender.name
    if sender.email:
        body["email"] = sender.email
    if sender.avatar_url:
        body["avatarUrl"] = sender.avatar_url
    if message.actions:
        body["actions"] = [dict(a) for a in message.actions]
    if message.items:
        body["items"] = [dict(i) for i in message.items]
    if message.media_url:
        body["mediaUrl"] = message.media_url
    if message.media_type:
        body["mediaType"] = message.media_type
    if message.metadata:
        body["metadata"] = dict(message.metadata)
    return body


def only_default_conversation(conversation_id: str) -> None:
    """Refuse a conversation other than the user's one (v1 can't address it; nothing sent)."""
    if conversation_id:
        raise ConfigError(
            "conversation",
            "This message is for one of the user's other conversations, which API v1.1 "
            "can't reach: switch this profile to v2 to send it.",
        )


class V1Api:
    """v1 / v1.1 implementation of :class:`~smooch_desktop.api.protocol.ConversationApi`."""

    def __init__(self, client: SmoochClient) -> None:
        self.client = client
        self.host = client.host
        self.server_clock = client.server_clock

    @classmethod
    def connect(
        cls,
        base_url: str,
        app_id: str,
        credentials: Credentials,
        **options: Any,
    ) -> V1Api:
        return cls(SmoochClient(base_url, app_id, credentials, **options))

    def close(self) -> None:
        self.client.close()

    def webhooks(self) -> V1Webhooks:
        """Registers the app's webhook receiver (``api/webhooks.py``)."""
        from smooch_desktop.api.webhooks import V1Webhooks

        return V1Webhooks(self.client, self.client.paths)

    def check_connection(self) -> None:
        try:
            self.client.get_app_user(_PROBE_USER)
        except HttpError as exc:
            # A Smooch "user not found" proves host, app and key all work. A 404 without
            # the Smooch error envelope is some other web server; "app not found" is not OK,
            # nor is an answer in v2's envelope (a v2 host: the v1.1 path is not there).
            description = (exc.server_description or "").lower()
            if (
                exc.status == 404
                and exc.code
                and exc.envelope != "v2"
                and "app not found" not in description
            ):
                return
            raise

    def get_user(self, user_ref: str) -> AppUser:
        body = self.client.get_app_user(user_ref)
        user = AppUser.from_v1(body.get("appUser"))
        if not user.id:
            raise BadResponse(f"The answer from {self.host} has no app user in it.")
        return user

    def create_user(
        self, user_id: str, *, given_name: str = "", surname: str = "", email: str = ""
    ) -> AppUser:
        body = self.client.create_app_user(
            user_id, given_name=given_name, surname=surname, email=email
        )
        return AppUser.from_v1(body.get("appUser"))

    def send_message(
        self, user_ref: str, message: OutgoingMessage, *, conversation_id: str = ""
    ) -> Message:
        only_default_conversation(conversation_id)
        body = self.client.post_message(user_ref, outgoing_to_v1(message))
        sent = Message.from_v1(body.get("message"))
        if not sent.id:
            raise BadResponse(f"{self.host} accepted the message but its answer has no message id.")
        return sent

    def send_activity(
        self,
        user_ref: str,
        activity: str,
        sender: Sender | None = None,
        *,
        avatar_url: str = "",
        conversation_id: str = "",
    ) -> None:
        only_default_conversation(conversation_id)
        self.client.conversation_activity(
            user_ref,
            activity,
            name=sender.name if sender else None,
            avatar_url=avatar_url or (sender.avatar_url if sender else None),
            # Typing is best effort: a short read timeout keeps it from piling up.
            timeout=(self.client.timeout[0], min(self.client.timeout[1], 5.0)),
        )

    def history(
        self, user_ref: str, older_cursor: str | None = None, *, conversation_id: str = ""
    ) -> HistoryPage:
        only_default_conversation(conversation_id)
        before = float(older_cursor) if older_cursor else None
        try:
            body = self.client.get_messages(user_ref, before=before)
        except HttpError as exc:
            # v1: 404 when the user has no conversation yet, which is an empty history.
            if exc.status == 404 and older_cursor is None:
                self.client.get_app_user(user_ref)  # re-raises if the user itself is unknown
                return HistoryPage(())
            raise
        raw = body.get("messages")
        # Entries that aren't objects can't be messages; showing them as blank bubbles helps no one.
        items = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
        messages = tuple(Message.from_v1(m) for m in items)
        messages = tuple(sorted(messages, key=lambda m: m.received))
        cursor: str | None = None
        has_older = bool(body.get("previous")) or len(messages) >= 100
        if messages and has_older:
            cursor = repr(messages[0].received)
        return HistoryPage(messages, cursor)

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
        only_default_conversation(conversation_id)
        body = self.client.upload_attachment(
            filename, data, media_type, for_user=user_ref, progress=progress
        )
        url = body.get("mediaUrl")
        if not isinstance(url, str) or not url:
            raise BadResponse(f"The upload answer from {self.host} has no mediaUrl.")
        kind = body.get("mediaType")
        return url, kind if isinstance(kind, str) else media_type
