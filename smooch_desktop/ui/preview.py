"""The live preview: what the end user will see, drawn by the conversation's own view.

:class:`MessagePreview` is a small read-only
:class:`~smooch_desktop.ui.conversation.view.ConversationView` over its own
:class:`~smooch_desktop.ui.conversation.model.ConversationModel`, fed local
:class:`~smooch_desktop.api.models.Message` values built from what is being composed, so
a bubble looks exactly as it will in the history (and gains whatever the history learns
to draw: cards, files), with the sender's name and avatar, and a line of problems under
it. :class:`ComposerPreview` keeps one up to date with the composer's text (its
shorthand parsed as Send parses it), the attached structured message and the sender
panel, on every change: an update costs well under a frame (``benchmarks/bench_preview.py``),
so it is not debounced.

No network: the only requests are the view's image and avatar lookups through the
:class:`~smooch_desktop.ui.avatar_loader.AvatarLoader` (fetched and decoded off the GUI
thread, cached). Nothing here sends, stores or validates beyond
:func:`smooch_desktop.core.structured.composer_preview`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QAbstractItemView, QLabel, QVBoxLayout, QWidget

from smooch_desktop.api.models import ROLE_BUSINESS, Message, OutgoingMessage
from smooch_desktop.core.structured import V1, composer_preview
from smooch_desktop.ui.conversation.delegate import ImageLookup
from smooch_desktop.ui.conversation.model import ConversationModel
from smooch_desktop.ui.conversation.view import ConversationView
from smooch_desktop.ui.plain import PlainLabel

if TYPE_CHECKING:
    from smooch_desktop.ui.avatar_loader import AvatarLoader
    from smooch_desktop.ui.composer import Composer
    from smooch_desktop.ui.sender_panel import SenderPanel
    from smooch_desktop.ui.structured_editor import StructureAttachment

#: After this many updates the delegate's caches (keyed by content) are dropped once, so
#: a long session of typing doesn't keep a height for every text ever typed.
_CACHE_RESET_EVERY: Final = 500
PLACEHOLDER: Final = "Type a reply to see it here as the user will."


def preview_messages(
    messages: Sequence[OutgoingMessage], sender_name: str, avatar_url: str, now: float
) -> list[Message]:
    """History messages for ``messages`` as the business sends them (ids made from the
    content, so an unchanged bubble keeps its cached layout)."""
    shown = []
    for index, message in enumerate(messages):
        structure = repr((message.type, message.media_url, message.actions, message.items))
        shown.append(
            Message(
                id=f"preview-{index}-{hash(structure) & 0xFFFFFFFF:x}",
                role=ROLE_BUSINESS,
                text=message.text,
                type=message.type,
                author_name=sender_name,
                avatar_url=avatar_url,
                received=now,
                media_url=message.media_url,
                media_type=message.media_type,
                actions=message.actions,
                items=message.items,
            )
        )
    return shown


class MessagePreview(QWidget):
    """A caption, a read-only conversation view of the messages, and their problems."""

    def __init__(
        self,
        image_lookup: ImageLookup | None,
        parent: QWidget | None = None,
        *,
        caption: str = "Preview: what the user will see",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("messagePreview")
        self.model = ConversationModel(self)
        self.view = ConversationView(model=self.model, image_lookup=image_lookup)
        self.view.setObjectName("previewView")
        self.view.setAccessibleName("Preview")
        self.view.setAccessibleDescription("The message as the user will see it")
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setMinimumHeight(120)
        self.view.set_placeholder(PLACEHOLDER)
        self.caption = QLabel(caption)
        self.caption.setObjectName("previewCaption")
        self.caption.setStyleSheet("color: #616161;")
        self.problems = PlainLabel(wrap=True)  # quotes what the agent typed
        self.problems.setObjectName("previewProblems")
        self.problems.setStyleSheet("color: #c62828;")
        self.problems.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.problems)
        self._updates = 0
        self.shown: list[Message] = []

    def show_messages(
        self,
        messages: Sequence[OutgoingMessage],
        problems: Sequence[str],
        *,
        sender_name: str = "",
        avatar_url: str = "",
    ) -> None:
        """Show ``messages`` sent by ``sender_name`` (avatar ``avatar_url``) and the
        ``problems`` that would stop them."""
        self._updates += 1
        if self._updates % _CACHE_RESET_EVERY == 0:
            self.view.message_delegate().invalidate()
        self.shown = preview_messages(messages, sender_name, avatar_url, time.time())
        self.model.set_messages(self.shown)
        text = "\n".join(problems)
        if self.problems.text() != text:
            self.problems.setText(text)
            self.problems.setVisible(bool(text))

    def problem_text(self) -> str:
        return self.problems.text()

    @Slot()
    def refresh_images(self) -> None:
        self.view.refresh_images()


class ComposerPreview(MessagePreview):
    """The preview beside the composer: its text, the attached structure, the sender.

    ``version()`` names the API version in use ("v1.1", "v2"): its rules decide the
    problems shown.
    """

    def __init__(
        self,
        composer: Composer,
        sender_panel: SenderPanel,
        attachment: StructureAttachment,
        avatars: AvatarLoader,
        version: Callable[[], str] = lambda: V1,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(avatars.pixmap, parent)
        self._composer = composer
        self._sender_panel = sender_panel
        self._attachment = attachment
        self._version = version
        composer.edit.textChanged.connect(self.refresh)
        sender_panel.senderChanged.connect(self.refresh)
        attachment.changed.connect(self.refresh)
        # The sender panel settles on an avatar URL after a pause, without a signal of its
        # own; its image arriving (or being missing) is when the preview catches up.
        avatars.imageReady.connect(self._on_image_ready)
        avatars.imageMissing.connect(self._on_image_ready)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        preview = composer_preview(
            self._composer.text(), self._attachment.pending, self._version() or V1
        )
        panel = self._sender_panel
        self.show_messages(
            preview.messages,
            preview.problems,
            sender_name=panel.name_edit.text().strip(),
            avatar_url=panel.preview_url(),
        )

    @Slot(str)
    def _on_image_ready(self, _url: str) -> None:
        self.refresh()
        self.view.refresh_images()
