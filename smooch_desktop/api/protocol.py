"""The interface the app codes against, whatever the API version behind it.

:class:`ConversationApi` is implemented by :class:`~smooch_desktop.api.v1.V1Api` (v1 and
v1.1) and :class:`~smooch_desktop.api.v2.V2Api` (v2: conversations by id,
``author``/``content`` bodies, cursor paging, ``errors[]`` envelope). ``user_ref`` stays
the end user's id (v1 ``_id``/``userId``, v2 ``id``/``externalId``) and the adapter
resolves the conversation; both return the same models and raise the same typed errors.

``conversation_id`` names one of the user's conversations when they have several (v2;
:attr:`AppUser.conversations <smooch_desktop.api.models.AppUser.conversations>`). Empty,
the default, means the user's main conversation as the adapter resolves it — the only one
v1 knows, so :class:`V1Api` refuses any other with a :class:`ConfigError` (nothing sent).
The outbox stores the id with each message, so a message and the history check for it
always address the same conversation whatever the adapter remembers.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from smooch_desktop.api.models import AppUser, HistoryPage, Message, OutgoingMessage, Sender
from smooch_desktop.api.multipart import Progress
from smooch_desktop.api.server_clock import ServerClock


class ConversationApi(Protocol):
    """Blocking API calls; run them on a worker thread, never on the GUI thread."""

    #: Shown in the status bar, e.g. "api.smooch.io".
    host: str

    @property
    def server_clock(self) -> ServerClock | None:
        """The server's time as its answers tell it (None: this API can't know)."""

    def check_connection(self) -> None:
        """Raise an ApiError saying precisely what is wrong with host, app or key."""

    def get_user(self, user_ref: str) -> AppUser: ...

    def create_user(
        self, user_id: str, *, given_name: str = "", surname: str = "", email: str = ""
    ) -> AppUser: ...

    def send_message(
        self, user_ref: str, message: OutgoingMessage, *, conversation_id: str = ""
    ) -> Message: ...

    def send_activity(
        self,
        user_ref: str,
        activity: str,
        sender: Sender | None = None,
        *,
        avatar_url: str = "",
        conversation_id: str = "",
    ) -> None: ...

    def history(
        self, user_ref: str, older_cursor: str | None = None, *, conversation_id: str = ""
    ) -> HistoryPage: ...

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
        """Upload a file (bytes, or a binary file read from its position to its end);
        return its ``(mediaUrl, mediaType)``. ``progress(sent, total)`` is called as the
        body goes out; raising :class:`~smooch_desktop.api.errors.UploadCancelled` from it
        abandons the upload (nothing is stored)."""

    def close(self) -> None: ...
