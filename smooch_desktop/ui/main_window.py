"""The main window: pick a user, choose how you appear, write, send."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QRect, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPaintEvent,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QMainWindow,
    QSplitter,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop import appinfo
from smooch_desktop.api.errors import ApiError
from smooch_desktop.core.validation import ValidationError, clean_message_text
from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.composer import Composer
from smooch_desktop.ui.plain import (
    ElidedLabel,
    PlainLabel,
    elide_words,
    inline,
    set_plain_tooltip,
)
from smooch_desktop.ui.sender_panel import SenderPanel
from smooch_desktop.ui.settings import AppSettings
from smooch_desktop.ui.typing_sender import TypingSender
from smooch_desktop.ui.user_panel import UserPanel
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from smooch_desktop.api.models import OutgoingMessage
    from smooch_desktop.api.protocol import ConversationApi
    from smooch_desktop.core.drafts import DraftStore
    from smooch_desktop.core.outbox import Attachment, OutboxEntry
    from smooch_desktop.ui.conversation.items import ConversationItem
    from smooch_desktop.ui.conversation.model import ConversationModel
    from smooch_desktop.ui.conversation.view import ConversationView
    from smooch_desktop.ui.delivery import DeliveryService
    from smooch_desktop.ui.preview import ComposerPreview
    from smooch_desktop.ui.structured_editor import StructureAttachment
    from smooch_desktop.ui.upload import AttachmentStager, UploadStrip

log = logging.getLogger(__name__)

DRAFT_SAVE_MS = 400
POLL_INTERVAL_MS = 5000
BACKGROUND_POLL_INTERVAL_MS = 30000


class Session:
    """Everything the window needs about the active connection.

    ``profile`` is the profile's name (shown); ``profile_id`` its stable id, which keys
    the outbox, drafts and recent users. Left empty, it is the id a profile of that name
    without one gets (:func:`~smooch_desktop.core.profiles.legacy_profile_id`).
    ``api`` is any :class:`~smooch_desktop.api.protocol.ConversationApi`; ``protocol``
    names the API version it speaks (``"v1.1"``, ``"v2"``), shown with the host in the
    status bar.
    """

    # A plain class, not a dataclass: this module is on the first-paint path.
    __slots__ = ("api", "gravatar_base", "host", "profile", "profile_id", "protocol")

    def __init__(
        self,
        profile: str,
        api: ConversationApi,
        host: str,
        gravatar_base: str,
        profile_id: str = "",
        *,
        protocol: str = "v1.1",
    ) -> None:
        if not profile_id:
            from smooch_desktop.core.profiles import legacy_profile_id

            profile_id = legacy_profile_id(profile)
        self.profile = profile
        self.api = api
        self.host = host
        self.gravatar_base = gravatar_base
        self.profile_id = profile_id
        self.protocol = str(protocol)

    def __repr__(self) -> str:  # never the api object: it holds the credentials
        return f"Session(profile={self.profile!r}, host={self.host!r})"


def item_from_entry(entry: OutboxEntry, gravatar_base: str = "") -> ConversationItem:
    """How an outbox entry shows in the conversation until the server's copy arrives.

    With no avatar URL of its own, it gets the one the server derives from the sender's
    email (Gravatar at ``gravatar_base``, the mystery man when there is none), so the
    bubble shows from the start the avatar the end user sees.
    """
    from smooch_desktop.ui.conversation.items import ConversationItem

    message = entry.message
    avatar_url = message.sender.avatar_url
    if not avatar_url and gravatar_base:
        from smooch_desktop.core.gravatar import smooch_avatar_url

        avatar_url = smooch_avatar_url(message.sender.email, gravatar_base)
    text = message.text
    if entry.attachment is not None and entry.needs_upload:
        # No mediaUrl to show yet: say which file it is until the upload is done.
        from smooch_desktop.core.outbox import size_in_words

        label = f"File: {entry.attachment.filename} ({size_in_words(entry.attachment.size)})"
        text = label + ("\n" + text if text else "")
    return ConversationItem.local(
        entry.client_id,
        text,
        state=entry.state,
        # Once delivered, it sorts where the server put it (its ``received``), as its
        # server copy will: a message delivered after faults never jumps at the next poll.
        queued_at=entry.sent_at if entry.state == "sent" and entry.sent_at else entry.created_at,
        author_name=message.sender.name,
        author_email=message.sender.email,
        avatar_url=avatar_url,
        error_text=entry.error_text or "",
        next_attempt_at=entry.next_attempt_at,
        server_id=entry.server_id or "",
        msg_type=message.type,
        media_url=message.media_url,
        media_type=message.media_type,
        actions=tuple(message.actions),
    )


def composer_text_for(message: OutgoingMessage) -> str:
    """The text to put back in the composer for a message, with its shorthand rebuilt."""
    parts = [message.text] if message.text else []
    if message.media_url:
        parts.append(f"![]({message.media_url})")
    for action in message.actions:
        label = str(action.get("text", ""))
        kind = action.get("type")
        if kind in ("reply", "postback"):
            parts.append(f"%[{label}]({kind}:{action.get('payload', '')})")
        elif kind == "link":
            parts.append(f"%[{label}]({action.get('uri', '')})")
        elif kind == "locationRequest":
            parts.append(f"%[{label}](location)")
        elif kind == "buy":
            amount = int(action.get("amount", 0))
            parts.append(f"$[{label}]({amount // 100}.{amount % 100:02d})")
    return "\n".join(parts)


class StatusBar(QStatusBar):
    """A status bar whose passing messages (``showMessage``) end before the right-hand
    text, cut after a whole word, the whole message in the tooltip: Qt's own clips them
    mid-letter. ``right`` is the widget they stop before."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.right: QWidget | None = None
        self.messageChanged.connect(lambda text: set_plain_tooltip(self, text))

    def message_rect(self) -> QRect:
        right = self.width() - 16  # room for the size grip
        if self.right is not None and self.right.isVisible() and self.right.width() > 0:
            right = min(right, self.right.x() - 8)
        return QRect(6, 0, max(1, right - 6), self.height())

    def shown_message(self) -> str:
        """The passing message as painted ("" when there is none)."""
        message = " ".join(self.currentMessage().split())
        if not message:
            return ""
        return elide_words(message, self.fontMetrics(), self.message_rect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.currentMessage():
            super().paintEvent(event)
            return
        from PySide6.QtGui import QPainter

        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        flags = Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.message_rect(), int(flags), self.shown_message())
        painter.end()


class MainWindow(QMainWindow):
    """User panel on top, conversation and composer on the left, sender on the right.

    Signals:
        connectionSettingsRequested(): the user asked for the connection dialog.
        notify(str, str): (title, text) for a desktop notification (tray).
    """

    connectionSettingsRequested = Signal()
    #: The agent asked for the live-updates dialog (View ▸ Live updates…).
    liveUpdatesRequested = Signal()
    notify = Signal(str, str)
    #: A problem keeping the agent's text on disk appeared (shown in the notice bar).
    storageProblem = Signal(str)
    #: (user, conversation id, HistoryPage): the open conversation's newest page arrived.
    historyLoaded = Signal(str, str, object)
    #: The app pre-created this user (Send to a user that did not exist).
    userCreated = Signal(str)
    #: The agent switched Do not disturb on or off (the controller keeps the setting).
    doNotDisturbToggled = Signal(bool)

    def __init__(
        self,
        settings: AppSettings,
        session: Session | None,
        delivery: DeliveryService | None,
        drafts: DraftStore | None,
        api_tasks: TaskQueue,
        avatars: AvatarLoader,
        parent: QWidget | None = None,
        *,
        defer_conversation: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(appinfo.NAME)
        self.settings = settings
        self.session = session
        self.delivery = delivery
        self.drafts = drafts
        self.tasks = api_tasks
        self.avatars = avatars
        self._history_in_flight = False
        self._older_in_flight = False
        self._closing = False
        #: (user, conversation) whose history is on screen; ("", "") before any.
        self._loaded: tuple[str, str] = ("", "")
        self._current_user_ref = ""
        self._older_cursor: str | None = None
        #: Shown in the notice bar, by what they are about ("drafts", "outbox"…).
        self._notices: dict[str, str] = {}
        self._unaddressed_restored = False
        #: Files attached in the composer, not sent yet, per user (private copies).
        self._files: dict[str, Attachment] = {}
        #: (token, user) of the file being checked and copied, if any.
        self._staging: tuple[int, str] | None = None
        self.stager: AttachmentStager | None = None
        self.upload_strip: UploadStrip | None = None
        #: The user the last lookup said does not exist (404), and one being created.
        self._missing_user = ""
        #: The conversation list's splitter, once the list is added (its width is kept).
        self.inbox_split: QSplitter | None = None
        self._inbox_state: QByteArray | None = None
        self._creating_user = ""
        #: The conversation to reopen once its user is loaded (the last one open).
        self._reopen: tuple[str, str] = ("", "")

        self.user_panel = UserPanel(api_tasks, self._api)
        self.sender_panel = SenderPanel(
            settings, avatars, gravatar_base=session.gravatar_base if session else ""
        )
        self.model: ConversationModel
        self.view: ConversationView
        self._conversation_built = False
        # Stands in for the conversation view until it is built (right after first paint).
        self._view_placeholder = QWidget()
        self._view_placeholder.setObjectName("conversationPlaceholder")
        self._view_placeholder.setAutoFillBackground(True)
        self._view_placeholder.setBackgroundRole(QPalette.ColorRole.Base)
        self.composer = Composer()
        #: The structured message waiting to be sent, and the preview (built with the view).
        self.attachment: StructureAttachment | None = None
        #: True while a user's kept structured message is being put back (not a change).
        self._structure_loading = False
        self.preview: ComposerPreview | None = None
        self.side_split = QSplitter(Qt.Orientation.Vertical)
        self.side_split.setObjectName("sideSplitter")
        self.side_split.addWidget(self.sender_panel)
        self.side_split.setChildrenCollapsible(False)
        self.typing = TypingSender(
            api_tasks, self._api, self.sender_panel.typing_sender, parent=self
        )

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.vsplit = QSplitter(Qt.Orientation.Vertical)
        self.vsplit.setObjectName("conversationSplitter")
        self.vsplit.addWidget(self._view_placeholder)
        self.vsplit.addWidget(self.composer)
        self.vsplit.setStretchFactor(0, 4)
        self.vsplit.setStretchFactor(1, 1)
        self.vsplit.setChildrenCollapsible(False)
        left_layout.addWidget(self.vsplit)
        self._left_layout = left_layout
        self.hsplit = QSplitter(Qt.Orientation.Horizontal)
        self.hsplit.setObjectName("mainSplitter")
        self.hsplit.addWidget(left)
        self.hsplit.addWidget(self.side_split)
        self.hsplit.setStretchFactor(0, 3)
        self.hsplit.setStretchFactor(1, 1)
        self.hsplit.setChildrenCollapsible(False)
        # The sender panel alone can be collapsed (dragged shut, or from the View menu), so
        # a narrow window can give the conversation its width.
        self.hsplit.setCollapsible(self.hsplit.indexOf(self.side_split), True)
        self.hsplit.splitterMoved.connect(self._sync_sender_action)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self._build_notice_bar())
        layout.addWidget(self.user_panel)
        layout.addWidget(self.hsplit, 1)
        self.setCentralWidget(central)

        # Cut after whole words, each text in its own part of the bar: they never overlap.
        status_bar = StatusBar()
        self.setStatusBar(status_bar)
        self.status_profile = ElidedLabel(words=True)  # names and errors come from outside
        self.status_profile.setObjectName("statusProfile")
        self.status_call = ElidedLabel(words=True)
        self.status_call.setObjectName("statusCall")
        status_bar.right = self.status_call
        self.statusBar().addWidget(self.status_profile, 1)
        self.statusBar().addPermanentWidget(self.status_call)

        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_INTERVAL_MS)
        self._poll_timer.timeout.connect(self._poll)

        self._build_menus()
        self.composer.set_ctrl_enter_mode(settings.send_with_ctrl_enter())
        self.user_panel.userChanged.connect(self._on_user_changed)
        self.user_panel.userLoaded.connect(self._on_user_loaded)
        self.user_panel.lookupFailed.connect(self._on_lookup_failed)
        self.user_panel.conversationChanged.connect(self._on_conversation_changed)
        self.composer.textEdited.connect(self._on_composer_edited)
        self.composer.sendRequested.connect(self.send_current)
        self.composer.attachRequested.connect(self._pick_file)
        self.composer.fileRemoveRequested.connect(self._remove_file)
        self.composer.edit.imagePasted.connect(self._attach_image)
        self.composer.edit.filesOffered.connect(self._attach_paths)
        self.setAcceptDrops(True)
        self.sender_panel.senderChanged.connect(self._on_sender_changed)
        self.typing.activityFailed.connect(self._on_typing_failed)
        avatars.imageReady.connect(self._on_image_ready)
        if not defer_conversation:
            self.ensure_conversation()
        # After the view is in place: ensure_conversation keeps the splitter's sizes, and
        # before the window is shown they are not the restored ones yet.
        self._restore_state()
        self.attach_session(session, delivery)
        self.setTabOrder(self.user_panel.combo, self.composer.edit)
        self.setTabOrder(self.composer.edit, self.composer.send_button)
        self.setTabOrder(self.composer.send_button, self.sender_panel.identity_combo)

    # Helpers --------------------------------------------------------------------------------
    def _api(self) -> ConversationApi | None:
        return self.session.api if self.session else None

    @property
    def is_closing(self) -> bool:
        """True once the window has started closing (drafts saved, queues told)."""
        return self._closing

    def _profile(self) -> str:
        """The id that keys this session's drafts and messages ("" when not connected)."""
        return self.session.profile_id if self.session else ""

    def add_left_pane(self, pane: QWidget) -> None:
        """Put ``pane`` (the conversation list) left of everything else, in a splitter."""
        content = self.takeCentralWidget()
        assert content is not None
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("inboxSplitter")
        split.addWidget(pane)
        split.addWidget(content)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([250, max(1, self.width() - 250)])
        self.setCentralWidget(split)
        self.inbox_split = split
        # The list's width as the agent left it: applied once the window is laid out (a
        # splitter not yet shown scales restored sizes to its provisional width).
        self._inbox_state = self.settings.bytes_value("window/inboxsplit")
        if self.isVisible():
            self._restore_inbox_width()

    def _restore_inbox_width(self) -> None:
        state, self._inbox_state = self._inbox_state, None
        if state is not None and self.inbox_split is not None:
            self.inbox_split.restoreState(state)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._inbox_state is not None:
            self._restore_inbox_width()

    def _build_notice_bar(self) -> QWidget:
        """A bar above everything for what the agent must not miss (data at risk)."""
        from PySide6.QtWidgets import QHBoxLayout, QPushButton

        bar = QWidget()
        bar.setObjectName("noticeBar")
        bar.setStyleSheet("#noticeBar { background: #fff4e5; border: 1px solid #b26a00; }")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 4, 4)
        self.notice_label = PlainLabel(wrap=True)  # paths and OS reasons: plain, breakable
        self.notice_label.setObjectName("noticeText")
        self.notice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice_label.setStyleSheet("color: #5d3a00;")
        dismiss = QPushButton("Dismiss")
        dismiss.setObjectName("noticeDismiss")
        dismiss.clicked.connect(self._dismiss_notices)
        row.addWidget(self.notice_label, 1)
        row.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
        bar.hide()
        self.notice_bar = bar
        return bar

    def set_notice(self, key: str, text: str) -> None:
        """Show ``text`` in the notice bar under ``key`` ("" removes it).

        A notice that appears (or changes) also goes out as ``storageProblem``; the same
        text again changes nothing, so a problem repeated on every keystroke is shown once.
        """
        if self._notices.get(key, "") == text:
            return
        if text:
            self._notices[key] = text
        else:
            self._notices.pop(key, None)
        self.notice_label.setText("\n".join(self._notices.values()))
        self.notice_bar.setVisible(bool(self._notices))
        if text:
            self.storageProblem.emit(text)

    def notice(self, key: str) -> str:
        return self._notices.get(key, "")

    @Slot()
    def _dismiss_notices(self) -> None:
        # Hidden, not forgotten: an ongoing problem is not announced again until it changes.
        self.notice_bar.hide()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.connection_action = QAction("&Connection settings…", self)
        self.connection_action.setShortcut(QKeySequence("Ctrl+,"))
        self.connection_action.triggered.connect(self.connectionSettingsRequested)
        file_menu.addAction(self.connection_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        focus_user = QAction("Go to &user ID", self)
        focus_user.setShortcut(QKeySequence("Ctrl+L"))
        focus_user.triggered.connect(self._focus_user)
        edit_menu.addAction(focus_user)
        focus_composer = QAction("&Reply (go to the message box)", self)
        focus_composer.setShortcut(QKeySequence("Ctrl+R"))
        focus_composer.triggered.connect(self._focus_composer)
        edit_menu.addAction(focus_composer)
        self.ctrl_enter_action = QAction("Send with Ctrl+&Enter (Enter adds a line)", self)
        self.ctrl_enter_action.setCheckable(True)
        self.ctrl_enter_action.setChecked(self.settings.send_with_ctrl_enter())
        self.ctrl_enter_action.toggled.connect(self._on_ctrl_enter_toggled)
        edit_menu.addAction(self.ctrl_enter_action)
        view_menu = self.menuBar().addMenu("&View")
        self.sender_action = QAction("&Sender and preview panel", self)
        self.sender_action.setCheckable(True)
        self.sender_action.setChecked(True)
        self.sender_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.sender_action.toggled.connect(self.show_sender_panel)
        view_menu.addAction(self.sender_action)
        self.live_updates_action = QAction("&Live updates…", self)
        self.live_updates_action.triggered.connect(self.liveUpdatesRequested)
        view_menu.addAction(self.live_updates_action)
        view_menu.addSeparator()
        self.dnd_action = QAction("Do not &disturb (no notifications)", self)
        self.dnd_action.setCheckable(True)
        self.dnd_action.setChecked(self.settings.do_not_disturb())
        self.dnd_action.toggled.connect(self.doNotDisturbToggled)
        view_menu.addAction(self.dnd_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction(f"&About {appinfo.NAME}", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def ensure_conversation(self) -> None:
        """Build the conversation view (deferred at start-up so the window paints sooner)."""
        if self._conversation_built:
            return
        from smooch_desktop.ui.conversation.model import ConversationModel
        from smooch_desktop.ui.conversation.view import ConversationView

        self._conversation_built = True
        self.model = ConversationModel(self)
        from smooch_desktop.ui.media_loader import MediaLoader

        self.view = ConversationView(
            model=self.model, image_lookup=self.avatars.pixmap, media=MediaLoader(self)
        )
        self.view.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.view.set_placeholder("Pick a user to see the conversation.")
        self.view.loadOlderRequested.connect(self._load_older)
        self.view.retryRequested.connect(self._retry)
        self.view.sendNowRequested.connect(self._send_now)
        self.view.editRequested.connect(self._edit)
        self.view.discardRequested.connect(self._discard)
        sizes = self.vsplit.sizes()
        self.vsplit.replaceWidget(0, self.view)
        self._view_placeholder.deleteLater()
        self.vsplit.setSizes(sizes)
        from smooch_desktop.ui.preview import ComposerPreview
        from smooch_desktop.ui.structured_editor import StructureAttachment

        self.attachment = StructureAttachment(self)
        self.attachment.bind(self.composer, self.sender_panel, self.avatars, self._version, self)
        self.attachment.guard = self._structure_guard
        self.attachment.changed.connect(self._save_structure)
        self.preview = ComposerPreview(
            self.composer, self.sender_panel, self.attachment, self.avatars, self._version
        )
        self.side_split.addWidget(self.preview)

    def _structure_guard(self) -> str:
        """Why a structured message can't be attached now ("" when it can)."""
        if self.session is None:
            return "Not connected: open File ▸ Connection settings first."
        if not self._current_user_ref:
            return "Choose the user to reply to first (User ID above): cards are kept per user."
        return ""

    @Slot()
    def _save_structure(self) -> None:
        """Keep the attached structured message as the current user's, at once (a kill or
        a full disk never takes it: the write is retried on the next change)."""
        if self._structure_loading or self.attachment is None or self.session is None:
            return
        user_ref = self._current_user_ref
        if not user_ref:
            return
        pending = self.attachment.pending
        profile = self.session.profile_id
        kept = pending.to_json() if pending is not None else ""
        self._store_draft(lambda d: d.save_structure(profile, user_ref, kept))

    def _restore_structure(self, profile: str, user_ref: str) -> None:
        """Show the structured message kept for ``user_ref`` (or none): an attachment
        belongs to the user it was made for and never travels to another one."""
        if self.attachment is None:
            return
        from smooch_desktop.core.structured import StructuredMessage

        kept = self._read_draft(lambda d: d.load_structure(profile, user_ref))
        structure = None
        if kept and profile and user_ref:
            try:
                structure = StructuredMessage.from_json(kept)
            except ValueError as exc:
                log.warning("kept structured message unreadable: %s", exc)
        self._structure_loading = True
        try:
            self.attachment.attach(structure)
        finally:
            self._structure_loading = False

    def _version(self) -> str:
        """The API version whose rules the preview and the editor apply."""
        return self.session.protocol if self.session is not None else "v1.1"

    def attach_session(
        self,
        session: Session | None,
        delivery: DeliveryService | None,
        drafts: DraftStore | None = None,
    ) -> None:
        """Connect the window to an API session (the window can paint before it has one)."""
        if drafts is not None:
            self.drafts = drafts
        self._restore_unaddressed()
        self.session = session
        self.delivery = delivery
        if delivery is not None:
            delivery.entryChanged.connect(self._on_entry_changed)
            delivery.deliveryError.connect(self.set_call_failed)
            self._connect_uploads(delivery)
        if session is None:
            self.status_profile.setText("Not connected — File ▸ Connection settings…")
            return
        self.ensure_conversation()
        self.sender_panel.set_gravatar_base(session.gravatar_base)
        self.status_profile.setText(
            f"Profile: {inline(session.profile)} · {session.protocol} · {inline(session.host)}"
        )
        self.user_panel.set_recent(self.settings.recent_users(session.profile_id))
        if not self.user_panel.combo.currentText().strip():
            # Nothing asked for: reopen what was open when this profile's window closed.
            self._reopen = self.settings.last_user(session.profile_id)
            self.user_panel.combo.setEditText(self._reopen[0])  # committed just below
        if self.user_panel.current_user_ref():
            self.user_panel.lookup()
            self._load_history()
        elif self.user_panel.combo.currentText().strip():
            self.user_panel.commit()  # preselected before the session existed

    # Attachments --------------------------------------------------------------------------

    def _connect_uploads(self, delivery: DeliveryService) -> None:
        """Attaching files and the strip of uploads, for ``delivery``'s outbox."""
        from smooch_desktop.ui.upload import AttachmentStager, UploadStrip

        if self.stager is None or self.stager.files.folder != delivery.outbox.files.folder:
            self.stager = AttachmentStager(delivery.outbox.files, self)
            self.stager.staged.connect(self._on_staged)
            self.stager.refused.connect(self._on_stage_refused)
        if self.upload_strip is None:
            self.upload_strip = UploadStrip()
            self.upload_strip.cancelRequested.connect(self._cancel_upload)
            self._left_layout.addWidget(self.upload_strip)
        strip = self.upload_strip
        delivery.entryChanged.connect(strip.track)
        delivery.uploadProgress.connect(strip.progress)
        try:
            waiting = [e for e in delivery.outbox.active(delivery.profile) if e.needs_upload]
        except Exception as exc:  # a closed or unwritable outbox: nothing to list
            log.warning("uploads not listed: %s", exc)
            waiting = []
        for entry in waiting:
            strip.track(entry)
        self.composer.set_attach_available(True)

    @Slot()
    def _pick_file(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # dialogs load on demand

        path, _ = QFileDialog.getOpenFileName(self, "Attach a file")
        if path:
            self._attach_paths([path])

    def _attach_target(self) -> str:
        """The user a new attachment is for ("" after saying why there is none)."""
        if self.delivery is None or self.session is None or self.stager is None:
            self.composer.show_error("Not connected: open File ▸ Connection settings first.")
            return ""
        user_ref = self.user_panel.current_user_ref()
        if not user_ref:
            self.composer.show_error("Choose the user to reply to first, then attach the file.")
        return user_ref

    @Slot(list)
    def _attach_paths(self, paths: list[str]) -> None:
        from pathlib import Path

        user_ref = self._attach_target()
        if not user_ref or not paths or self.stager is None:
            return
        path = Path(paths[0])
        token = self.stager.stage_path(path, self._version())
        self._staging = (token, user_ref)
        self.composer.show_file(f"Preparing {inline(path.name, 80, one_line=True)}…", ready=False)
        if len(paths) > 1:
            self.composer.show_note(
                f"One file per message: {inline(path.name, 80, one_line=True)} is attached; "
                "attach the others after sending it."
            )

    @Slot(QImage)
    def _attach_image(self, image: QImage) -> None:
        user_ref = self._attach_target()
        if not user_ref or self.stager is None:
            return
        token = self.stager.stage_image(image, self._version())
        self._staging = (token, user_ref)
        self.composer.show_file("Preparing the pasted image…", ready=False)

    @Slot(int, object)
    def _on_staged(self, token: int, attachment: object) -> None:
        from smooch_desktop.core.outbox import Attachment

        assert isinstance(attachment, Attachment)
        if self.stager is None:
            return
        if self._staging is None or self._staging[0] != token:
            self.stager.files.remove(attachment)  # removed or replaced meanwhile
            return
        user_ref = self._staging[1]
        self._staging = None
        old = self._files.get(user_ref)
        if old is not None:
            self.stager.files.remove(old)
        self._files[user_ref] = attachment
        self._show_file_for(self._current_user_ref)

    @Slot(int, str)
    def _on_stage_refused(self, token: int, text: str) -> None:
        if self._staging is None or self._staging[0] != token:
            return
        self._staging = None
        self._show_file_for(self._current_user_ref)
        self.composer.show_error(text)

    def _show_file_for(self, user_ref: str) -> None:
        from smooch_desktop.core.outbox import size_in_words

        if self._staging is not None and self._staging[1] == user_ref:
            return  # "Preparing…" stays until it is done
        attachment = self._files.get(user_ref)
        if attachment is None:
            self.composer.show_file("")
            return
        kind = "image" if attachment.kind == "image" else "file"
        self.composer.show_file(
            f"{inline(attachment.filename, 80, one_line=True)} — {kind}, "
            f"{size_in_words(attachment.size)} (the text above is sent as its caption)"
        )

    @Slot()
    def _remove_file(self) -> None:
        user_ref = self._current_user_ref
        if self._staging is not None and self._staging[1] == user_ref:
            self._staging = None  # its copy is deleted when it arrives
        attachment = self._files.pop(user_ref, None)
        if attachment is not None and self.stager is not None:
            self.stager.files.remove(attachment)
        self._show_file_for(user_ref)

    @Slot(str)
    def _cancel_upload(self, client_id: str) -> None:
        if self.delivery is not None and self.delivery.cancel_upload(client_id):
            self.model.remove_local(client_id)
            if self.upload_strip is not None:
                self.upload_strip.forget(client_id)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        from smooch_desktop.ui.composer import offers_attachment

        if self.stager is not None and offers_attachment(event.mimeData()):
            event.acceptProposedAction()
            return
        super().dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        from smooch_desktop.ui.composer import local_files

        mime = event.mimeData()
        files = local_files(mime)
        if files:
            self._attach_paths(files)
        elif mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self._attach_image(image)
        else:
            super().dropEvent(event)
            return
        event.acceptProposedAction()

    def show_connecting(self, text: str) -> None:
        self.status_profile.setText(text)

    def _restore_state(self) -> None:
        geometry = self.settings.bytes_value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 720)
        for key, splitter in (("window/hsplit", self.hsplit), ("window/vsplit", self.vsplit)):
            state = self.settings.bytes_value(key)
            if state is not None:
                splitter.restoreState(state)
            elif splitter is self.hsplit:
                splitter.setSizes([760, 340])
            else:
                splitter.setSizes([520, 130])
        self._sync_sender_action()  # a collapsed sender panel stays collapsed

    def sender_panel_shown(self) -> bool:
        return self.hsplit.sizes()[self.hsplit.indexOf(self.side_split)] > 0

    @Slot(bool)
    def show_sender_panel(self, shown: bool) -> None:
        """Open or collapse the sender panel (and the preview under it)."""
        if shown == self.sender_panel_shown():
            return
        side = self.hsplit.indexOf(self.side_split)
        pane = self.vsplit.parentWidget()  # the conversation and composer
        assert pane is not None
        conversation = self.hsplit.indexOf(pane)
        sizes = self.hsplit.sizes()
        # The width goes to (or comes from) the conversation; other panes keep theirs.
        width = max(self.side_split.minimumSizeHint().width(), 340) if shown else 0
        sizes[conversation] = max(0, sizes[conversation] + sizes[side] - width)
        sizes[side] = width
        self.hsplit.setSizes(sizes)
        self._sync_sender_action()

    @Slot()
    def _sync_sender_action(self) -> None:
        self.sender_action.blockSignals(True)
        self.sender_action.setChecked(self.sender_panel_shown())
        self.sender_action.blockSignals(False)

    def _save_state(self) -> None:
        if self.session is not None:
            self.settings.set_last_user(self.session.profile_id, *self.current_address())
        self.settings.set_bytes_value("window/geometry", self.saveGeometry())
        self.settings.set_bytes_value("window/hsplit", self.hsplit.saveState())
        self.settings.set_bytes_value("window/vsplit", self.vsplit.saveState())
        if self.inbox_split is not None:
            self.settings.set_bytes_value("window/inboxsplit", self.inbox_split.saveState())
        try:
            self.settings.sync()
        except OSError as exc:
            log.warning("%s", exc)

    def set_call_ok(self, what: str) -> None:
        self.status_call.setText(f"✓ {what}")
        self.status_call.setStyleSheet("color: #2e7d32;")
        self.status_call.setToolTip(time.strftime("at %H:%M:%S"))

    @Slot(str)
    def set_call_failed(self, what: str) -> None:
        self.status_call.setText(f"✗ {what}")
        self.status_call.setStyleSheet("color: #c62828;")
        set_plain_tooltip(self.status_call, what)

    # Users ----------------------------------------------------------------------------------
    @Slot()
    def _focus_user(self) -> None:
        self.user_panel.combo.setFocus()
        self.user_panel.line_edit.selectAll()

    @Slot()
    def _focus_composer(self) -> None:
        self.composer.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def preselect_user(self, user_ref: str) -> None:
        """Put a user ID in the field (looked up once connected); focus goes to the composer."""
        self.user_panel.combo.setEditText(user_ref)
        self.composer.edit.setFocus()

    def select_user(self, user_ref: str) -> None:
        """Programmatic selection (the ``--user-id`` flag); focus goes to the composer."""
        self.user_panel.set_user_ref(user_ref)
        self.composer.edit.setFocus()

    def open_conversation(self, user_ref: str, conversation_id: str = "") -> None:
        """Open ``user_ref`` as :meth:`select_user` does, on their ``conversation_id``
        ("" = main), picked under *Conversation* once the lookup has offered it (a list
        row, a notification). One the last lookup did not offer (made since) looks the
        user up again; one that is gone leaves the window where it is."""
        panel = self.user_panel
        if user_ref == panel.current_user_ref() and panel.current_user() is not None:
            if panel.current_conversation_id() == conversation_id or panel.select_conversation(
                conversation_id
            ):
                self.composer.edit.setFocus()
                return
            self._reopen = (user_ref, conversation_id)
            panel.lookup()
            self.composer.edit.setFocus()
            return
        self._reopen = (user_ref, conversation_id)
        self.select_user(user_ref)

    @Slot(str)
    def _on_user_changed(self, user_ref: str) -> None:
        self.ensure_conversation()
        # Text typed with no user picked, or while not connected, belongs to no user yet.
        unaddressed = not self._current_user_ref or self.session is None
        typed_before_any_user = self.composer.text() if unaddressed else ""
        self.save_draft()
        self.typing.set_user(user_ref)
        self._reset_conversation()
        profile = self._profile()
        draft = self._load_draft(profile, user_ref) if user_ref and profile else ""
        if typed_before_any_user.strip():
            # Text typed before a user was chosen is never replaced by a stored draft.
            draft = typed_before_any_user + ("\n" + draft if draft.strip() else "")
        self.composer.set_text(draft)
        self.composer.show_note("")
        self._current_user_ref = user_ref
        self._restore_structure(profile, user_ref)
        self._show_file_for(user_ref)
        if typed_before_any_user.strip() and user_ref and profile:
            # It becomes this user's draft (and stops being the unaddressed one).
            self._store_draft(lambda d: d.address(profile, user_ref, draft))
        if not user_ref:
            self.view.set_placeholder("Pick a user to see the conversation.")
            return
        self._show_conversation()

    def _reset_conversation(self) -> None:
        self.model.clear()
        self.model.has_older = False
        self._loaded = ("", "")
        self._older_cursor = None
        self._poll_timer.stop()

    def _show_conversation(self) -> None:
        """The current conversation's unsent messages at once, then its history."""
        user_ref, conversation_id = self.current_address()
        self.view.set_placeholder("Loading the conversation…")
        if self.delivery is not None:
            from smooch_desktop.core.outbox import EntryState

            for entry in self.delivery.entries_for(user_ref, conversation_id):
                if entry.state is not EntryState.SENT:
                    self.model.upsert_local(self._local_item(entry))
        self._load_history()

    @property
    def loaded_address(self) -> tuple[str, str]:
        """(user, conversation) whose history is on screen; ("", "") while none is."""
        return self._loaded

    def current_address(self) -> tuple[str, str]:
        """Where a reply goes now: (user ref, conversation id — "" for their main one)."""
        return self.user_panel.current_user_ref(), self.user_panel.current_conversation_id()

    @Slot(str)
    def _on_conversation_changed(self, conversation_id: str) -> None:
        """Another of the same user's conversations: the composer (and its draft) stays,
        typing moves there, the view shows that conversation."""
        user_ref = self.user_panel.current_user_ref()
        if not user_ref:
            return
        self.typing.set_user(user_ref, conversation_id)
        self._reset_conversation()
        self._show_conversation()

    @Slot(object)
    def _on_user_loaded(self, user: object) -> None:
        from smooch_desktop.api.models import AppUser

        assert isinstance(user, AppUser)
        self._missing_user = ""
        self.typing.set_missing(False)
        reopen, self._reopen = self._reopen, ("", "")
        if reopen[1] and reopen[0] == self.user_panel.current_user_ref():
            self.user_panel.select_conversation(reopen[1])
        if self.session is not None:
            recent = self.settings.add_recent_user(
                self.session.profile_id, self.user_panel.current_user_ref()
            )
            self.user_panel.set_recent(recent)
        self.set_call_ok("user found")

    @Slot(str)
    def _on_lookup_failed(self, text: str) -> None:
        # The user panel's words for a 404 (any other failure may pass: the outbox retries).
        missing = text.startswith("No user with ID")
        self._missing_user = self.user_panel.current_user_ref() if missing else ""
        self.typing.set_missing(missing)

    def _ask_create_user(self, user_ref: str) -> None:
        """Say at Send that ``user_ref`` does not exist; the agent creates them or cancels.

        Nothing is queued meanwhile: the text stays in the composer either way.
        """
        if self._creating_user == user_ref:
            self.composer.show_note(f"Creating the user “{inline(user_ref, 80)}”…")
            return
        from PySide6.QtWidgets import QMessageBox

        from smooch_desktop.ui.plain import message_box

        box = message_box(
            self,
            QMessageBox.Icon.Warning,
            "No such user",
            f"This app has no user “{user_ref}”: a message to them would be refused.",
            QMessageBox.StandardButton.Cancel,
            informative="Create the user with this userId (pre-create), then send? "
            "Or cancel and check the ID; your text stays in the message box.",
        )
        box.setObjectName("missingUserBox")
        create = box.addButton("&Create user and send", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.buttonClicked.connect(
            lambda button: self._create_user(user_ref) if button is create else None
        )
        box.open()

    def _create_user(self, user_ref: str) -> None:
        api = self._api()
        if api is None or self._creating_user:
            return
        self._creating_user = user_ref
        self.composer.show_note(f"Creating the user “{inline(user_ref, 80)}”…")
        self.tasks.submit(
            lambda: api.create_user(user_ref),
            lambda _user: self._on_user_created(user_ref),
            lambda exc: self._on_create_user_failed(user_ref, exc),
            kind="create-user",
        )

    def _on_user_created(self, user_ref: str) -> None:
        self._creating_user = ""
        self.userCreated.emit(user_ref)
        if self._missing_user == user_ref:
            self._missing_user = ""
        self.composer.show_note("")
        if user_ref != self.user_panel.current_user_ref():
            return  # the agent moved on: nothing is sent to a user they no longer see
        self.user_panel.lookup()
        self.send_current()

    def _on_create_user_failed(self, user_ref: str, exc: BaseException) -> None:
        self._creating_user = ""
        self.composer.show_note("")
        text = exc.user_message if isinstance(exc, ApiError) else str(exc)
        self.composer.show_error(f"Couldn't create the user “{inline(user_ref, 80)}”: {text}")

    def _load_history(self) -> None:
        api = self._api()
        address = self.current_address()
        user_ref, conversation_id = address
        if api is None or not user_ref or self._history_in_flight:
            return
        self._history_in_flight = True
        self.tasks.submit(
            lambda: (address, api.history(user_ref, conversation_id=conversation_id)),
            self._on_history,
            lambda exc: self._on_history_error(address, exc),
            kind="history",
        )

    def _on_history(self, result: object) -> None:
        self._history_in_flight = False
        assert isinstance(result, tuple)
        address, page = result
        from smooch_desktop.api.models import HistoryPage

        assert isinstance(page, HistoryPage)
        if address != self.current_address():
            self._load_history()  # the user or conversation changed while this was loading
            return
        self.historyLoaded.emit(address[0], address[1], page)
        if self._loaded != address:
            locals_ = [
                self.model.item(r)
                for r in range(self.model.rowCount())
                if self.model.item(r).client_id and self.model.item(r).is_local
            ]
            self.model.set_messages(page.messages)
            for item in locals_:
                self.model.upsert_local(item)
            self.model.has_older = page.has_older
            self._older_cursor = page.older_cursor
            self._loaded = address
            self.view.set_placeholder("No messages yet. Say hello!")
            self.set_call_ok("conversation loaded")
        else:
            # New end-user messages notify through the conversation list (ui/notifications.py).
            self.model.merge_messages(page.messages)
        self._restart_poll()

    def _on_history_error(self, address: tuple[str, str], exc: BaseException) -> None:
        self._history_in_flight = False
        if address != self.current_address():
            self._load_history()
            return
        text = exc.user_message if isinstance(exc, ApiError) else str(exc)
        self.view.set_placeholder(f"Couldn't load the conversation: {inline(text)}")
        self.set_call_failed(f"history: {inline(text)}")
        self._restart_poll()

    def _restart_poll(self) -> None:
        """Poll often while the window is in use, slowly in the background (for the tray)."""
        active = self.isActiveWindow()
        self._poll_timer.start(POLL_INTERVAL_MS if active else BACKGROUND_POLL_INTERVAL_MS)

    def poll_now(self) -> None:
        """Load the open conversation's newest page now (a live update said it changed)."""
        if self.user_panel.current_user_ref() and not self._closing:
            self._load_history()

    @Slot()
    def _poll(self) -> None:
        if not self.user_panel.current_user_ref() or self._closing:
            self._poll_timer.stop()
            return
        self._load_history()

    @Slot()
    def _load_older(self) -> None:
        api = self._api()
        address = self.current_address()
        user_ref, conversation_id = address
        cursor = self._older_cursor
        if api is None or not user_ref or not cursor or self._older_in_flight:
            self.view.older_loaded()
            return
        self._older_in_flight = True
        self.tasks.submit(
            lambda: (address, api.history(user_ref, cursor, conversation_id=conversation_id)),
            self._on_older,
            lambda exc: self._on_older_error(exc),
            kind="history",
        )

    def _on_older(self, result: object) -> None:
        self._older_in_flight = False
        assert isinstance(result, tuple)
        address, page = result
        from smooch_desktop.api.models import HistoryPage

        assert isinstance(page, HistoryPage)
        if address == self.current_address() == self._loaded:
            self.model.prepend_older(page.messages)
            self.model.has_older = page.has_older
            self._older_cursor = page.older_cursor
        self.view.older_loaded()

    def _on_older_error(self, exc: BaseException) -> None:
        self._older_in_flight = False
        self.view.older_loaded()
        text = exc.user_message if isinstance(exc, ApiError) else str(exc)
        self.set_call_failed(f"older messages: {inline(text)}")

    def changeEvent(self, event: QEvent) -> None:
        active = event.type() == QEvent.Type.ActivationChange and self.isActiveWindow()
        if active and self.user_panel.current_user_ref():
            self._load_history()
        super().changeEvent(event)

    # Composing and sending --------------------------------------------------------------------
    @Slot(str)
    def _on_composer_edited(self, text: str) -> None:
        self.typing.text_edited(text)
        self._draft_timer.start()

    @Slot()
    def save_draft(self) -> None:
        """Save the composer's text as the current user's draft now (the autosave's job)."""
        self._draft_timer.stop()
        user_ref = self._current_user_ref
        text = self.composer.text()
        if user_ref and self.session is not None:
            profile = self.session.profile_id
            self._store_draft(lambda d: d.save(profile, user_ref, text))
        elif self._unaddressed_restored:
            # No user picked, or not connected: kept all the same, restored at the next start.
            self._store_draft(lambda d: d.save_unaddressed(text))

    def _store_draft(self, write: Callable[[DraftStore], None]) -> bool:
        """Run one drafts write; a failure is shown once in the notice bar, never raised.

        The text stays in the composer either way; the next save tries again and, when it
        works, the notice goes.
        """
        if self.drafts is None:
            return False
        import sqlite3  # loaded with the drafts, after the first paint

        try:
            write(self.drafts)
        except (sqlite3.Error, OSError) as exc:
            log.warning("draft not saved: %s", exc)
            self.set_notice(
                "drafts",
                f"Drafts can't be saved to {self.drafts.path}: {exc}. What you type stays in "
                "the message box, but would be lost if the app stopped; free some disk space "
                "(saving is retried as you type).",
            )
            return False
        self.set_notice("drafts", "")
        return True

    def _load_draft(self, profile: str, user_ref: str) -> str:
        return self._read_draft(lambda d: d.load(profile, user_ref))

    def _read_draft(self, read: Callable[[DraftStore], str]) -> str:
        """Run one drafts read; a failure is shown in the notice bar and reads as ""."""
        if self.drafts is None:
            return ""
        import sqlite3

        try:
            return read(self.drafts)
        except sqlite3.Error as exc:
            self.set_notice("drafts", f"Drafts can't be read from {self.drafts.path}: {exc}.")
            return ""

    def _restore_unaddressed(self) -> None:
        """Once the drafts are open: put back what was typed with no user at the last run."""
        if self._unaddressed_restored or self.drafts is None:
            return
        self._unaddressed_restored = True
        kept = self._read_draft(lambda d: d.load_unaddressed())
        current = self.composer.text()
        if not kept.strip() or kept in current:
            return
        # Typed before: it goes first; anything typed since the window opened follows.
        self.composer.set_text(kept + ("\n" + current if current.strip() else ""))
        if self._current_user_ref and self.session is not None:
            self.save_draft()

    @Slot()
    def _on_sender_changed(self) -> None:
        pass  # the typing indicator reads the sender when it next starts

    @Slot()
    def send_current(self) -> None:
        """Validate, write to the outbox, then clear the composer: never lose the text."""
        if self.delivery is None or self.session is None:
            self.composer.show_error("Not connected: open File ▸ Connection settings first.")
            return
        user_ref = self.user_panel.current_user_ref()
        if not user_ref:
            before = self.composer.text()
            self.user_panel.commit()
            user_ref = self.user_panel.current_user_ref()
            if user_ref and self.composer.text() != before:
                # The user's saved draft was added to the box: let them look before sending.
                self.composer.show_note("A saved draft for this user was added; check, then send.")
                return
        if not user_ref:
            self.composer.show_error("Choose the user to reply to first (User ID above).")
            self.user_panel.combo.setFocus()
            return
        if user_ref in (self._missing_user, self._creating_user):
            self._ask_create_user(user_ref)  # the server would refuse it (404)
            return
        structure = self.attachment.pending if self.attachment is not None else None
        if self._staging is not None and self._staging[1] == user_ref:
            self.composer.show_error("The file is still being prepared; send it in a moment.")
            return
        file = self._files.get(user_ref)
        try:
            clean = clean_message_text(self.composer.text())
        except ValidationError as exc:
            if (structure is None and file is None) or self.composer.text().strip():
                self.composer.show_error(exc.message)
                return
            clean = None  # the attached file or structured message alone
        try:
            sender = self.sender_panel.current_sender()
        except ValidationError as exc:
            self.composer.show_error(f"Fix the sender first: {exc.message}")
            return
        from smooch_desktop.api.models import OutgoingMessage
        from smooch_desktop.core.shorthand import parse_shorthand  # decimal: not at start-up

        messages: list[OutgoingMessage] = []
        if structure is not None:
            problems = structure.problems(self._version())
            if problems:
                self.composer.show_error(f"Fix the attached message first: {problems[0].message}")
                return
            messages.append(structure.to_outgoing(sender))
        if file is not None:
            from smooch_desktop.core.outbox import AttachmentRefused
            from smooch_desktop.core.outbox.attachments import check_size

            try:
                check_size(file.filename, file.size, self._version())
            except AttachmentRefused as exc:
                self.composer.show_error(f"{exc} Remove it, or switch to a version that takes it.")
                return
            caption = clean.text if clean is not None else ""
            if caption and parse_shorthand(caption).has_shorthand:
                self.composer.show_error(
                    "A file's caption is sent as plain text: send the buttons or image "
                    "shorthand in a message of its own."
                )
                return
            messages.insert(
                0,
                OutgoingMessage(
                    text=caption, sender=sender, type=file.kind, media_type=file.media_type
                ),
            )
        elif clean is None:
            pass
        elif (parsed := parse_shorthand(clean.text)).problems:
            self.composer.show_error(" ".join(parsed.problems))
            return
        elif parsed.has_shorthand:
            # Buttons and images are sent as structure, so Smooch doesn't have to guess.
            messages.insert(
                0,
                OutgoingMessage(
                    text=parsed.text,
                    sender=sender,
                    type=parsed.message_type,
                    actions=tuple(dict(a) for a in parsed.actions),
                    media_url=parsed.media_url or "",
                ),
            )
        else:
            messages.insert(0, OutgoingMessage(text=clean.text, sender=sender))
        conversation_id = self.user_panel.current_conversation_id()
        entries: list[OutboxEntry] = []
        for message in messages:  # the text first, then the attached structured message
            try:
                entries.append(
                    self.delivery.enqueue(
                        user_ref,
                        message,
                        conversation_id=conversation_id,
                        attachment=file if not entries else None,
                    )
                )
            except Exception as exc:  # the outbox could not persist it: keep what's left
                self.composer.show_error(
                    f"Couldn't save the message locally, so it was not sent: {exc}"
                )
                if not entries:
                    return
                break
        self.typing.message_sent()
        if file is not None and entries:
            # The outbox entry owns the copy now.
            self._files.pop(user_ref, None)
            self._show_file_for(user_ref)
        if clean is not None and entries:
            self.composer.set_text("")
            profile = self.session.profile_id
            self._store_draft(lambda d: d.delete(profile, user_ref))
        if structure is not None and len(entries) == len(messages):
            assert self.attachment is not None
            self.attachment.clear()
        for entry in entries:
            self.model.upsert_local(self._local_item(entry))
            if self.upload_strip is not None:
                self.upload_strip.track(entry)
        self.view.scrollToBottom()
        if len(entries) < len(messages):
            return
        if clean is not None and clean.removed_control_chars:
            self.composer.show_note(
                f"{clean.removed_control_chars} invisible control character(s) were removed."
            )
        else:
            self.composer.show_note("")

    def _local_item(self, entry: OutboxEntry) -> ConversationItem:
        return item_from_entry(entry, self.session.gravatar_base if self.session else "")

    @Slot(object)
    def _on_entry_changed(self, entry: object) -> None:
        from smooch_desktop.core.outbox import EntryState, OutboxEntry

        assert isinstance(entry, OutboxEntry)
        state = entry.state
        if (entry.user_ref, entry.conversation_id) == self.current_address():
            if state == "discarded":
                self.model.remove_local(entry.client_id)
            else:
                self.model.upsert_local(self._local_item(entry))
        if state is EntryState.SENT:
            self.set_call_ok("message sent")
        elif state is EntryState.FAILED:
            error = inline(entry.error_text or "")
            self.set_call_failed(f"message failed: {error}")
            self.notify.emit("Message not sent", f"To {inline(entry.user_ref)}: {error}")
            if entry.error_status == 401:
                self._offer_connection_settings(entry.error_text or "")
        elif state in (EntryState.QUEUED, EntryState.UNKNOWN) and entry.error_text:
            self.set_call_failed(inline(entry.error_text))

    def _offer_connection_settings(self, text: str) -> None:
        from PySide6.QtWidgets import QMessageBox  # dialogs load on demand (start-up cost)

        from smooch_desktop.ui.plain import message_box

        box = message_box(
            self,
            QMessageBox.Icon.Warning,
            "The API key was not accepted",
            text or "The server answered 401.",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Close,
            informative="Open the connection settings to check the key ID and secret?",
        )
        box.setModal(False)
        box.buttonClicked.connect(self._on_401_answer)
        box.open()
        self._auth_box = box

    @Slot(object)
    def _on_401_answer(self, button: object) -> None:
        box = getattr(self, "_auth_box", None)
        from PySide6.QtWidgets import QMessageBox

        if box is not None and box.standardButton(button) == QMessageBox.StandardButton.Open:
            self.connectionSettingsRequested.emit()

    @Slot(str)
    def _retry(self, client_id: str) -> None:
        if self.delivery is not None:
            self.delivery.retry(client_id)

    @Slot(str)
    def _send_now(self, client_id: str) -> None:
        if self.delivery is not None:
            self.delivery.send_now(client_id)

    @Slot(str)
    def _discard(self, client_id: str) -> None:
        # Only a message that is certainly not on its way may disappear from the view.
        if self.delivery is not None and self.delivery.discard(client_id):
            self.model.remove_local(client_id)

    @Slot(str)
    def _edit(self, client_id: str) -> None:
        """Put an unsent message back into the composer (its text is never lost)."""
        if self.delivery is None:
            return
        from smooch_desktop.core.outbox import EntryState

        entry = self.delivery.outbox.get(client_id)
        if entry is None or entry.state not in (EntryState.FAILED, EntryState.QUEUED):
            self.statusBar().showMessage(
                "That message is being sent or checked; it can't be edited now.", 5000
            )
            return
        if entry.needs_upload:
            self.statusBar().showMessage(
                "This file was not uploaded: Retry it, or cancel it and attach it again.", 5000
            )
            return
        from smooch_desktop.core.structured import StructuredMessage, needs_structure

        # Cards, files and buttons shorthand can't write go back to the editor, not the text.
        structured = needs_structure(entry.message)
        if structured and (self.attachment is None or self.attachment.pending is not None):
            self.statusBar().showMessage(
                "Send or remove the attached message first, then edit this one.", 5000
            )
            return
        if not self.delivery.discard(client_id):
            return
        self.model.remove_local(client_id)
        if structured and self.attachment is not None:
            self.attachment.attach(StructuredMessage.from_outgoing(entry.message))
            self.composer.edit.setFocus()
            return
        original = composer_text_for(entry.message)
        current = self.composer.text()
        self.composer.set_text(original if not current.strip() else current + "\n" + original)
        self.save_draft()
        self.composer.edit.setFocus()

    @Slot(str)
    def _on_typing_failed(self, text: str) -> None:
        self.statusBar().showMessage(inline(text, 300, one_line=True), 5000)

    @Slot(str)
    def _on_image_ready(self, _url: str) -> None:
        if self._conversation_built:
            self.view.refresh_images()

    @Slot(bool)
    def _on_ctrl_enter_toggled(self, checked: bool) -> None:
        self.settings.set_send_with_ctrl_enter(checked)
        self.composer.set_ctrl_enter_mode(checked)

    @Slot()
    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from smooch_desktop.ui.plain import APP_RICH_TEXT

        box = QMessageBox(self)
        box.setWindowTitle(f"About {appinfo.NAME}")
        box.setTextFormat(Qt.TextFormat.RichText)  # the app's own text, nothing from outside
        box.setProperty(APP_RICH_TEXT, True)
        box.setText(
            f"<b>{appinfo.NAME}</b> {appinfo.VERSION}<br>"
            "Send manual replies to the end users of a Smooch / Sunshine Conversations app."
            "<br>Secrets are kept in your system keychain."
        )
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # Shutdown -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self._closing = True
            self.save_draft()
            self.typing.shutdown()  # typing:stop goes out before the queue stops
            self._poll_timer.stop()
            self._save_state()
            if self._conversation_built:
                self.view.shutdown()  # the media loader's threads (history images)
        super().closeEvent(event)
