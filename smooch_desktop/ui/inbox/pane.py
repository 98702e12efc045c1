"""The conversation list in the window: a filter field over the list, and its wiring.

:class:`InboxPane` shows the followed conversations of the session's profile from the
:class:`~smooch_desktop.core.inbox.InboxStore` (read synchronously: the list is filled
before any request of the session goes out) and keeps them up to date:

* **Following**: a user opened in the window (once the lookup found them), a user with
  queued or failed outbox entries, and in ``--sandbox`` the demo users who already wrote
  in (:func:`sandbox_demo_users`).
* **Reading**: the open conversation's history pages (the window's own poll) are applied
  to the store; the others are polled by :class:`~.poller.InboxPoller`. Every applied
  page that changed something is reported (``conversationUpdated``: the notifications'
  input, :mod:`smooch_desktop.ui.notifications`).
* **Read receipts**: the open conversation is read when the agent actually sees its
  newest messages: the window active, its history on screen, the view scrolled to the
  bottom. Then, and only if something was unread, the count clears and ONE
  ``conversation:read`` goes out on the API queue (the FIFO that carries typing and
  messages, so it never overtakes one; never retried). Nothing while the window is in
  the background or the agent is scrolled up; activating the window or scrolling down
  sends it then.
* **Unread total**: in the window title ("(3) Smooch Desktop") and through
  ``unreadChanged`` (the controller puts it in the tray tooltip).
* **Keys**: Ctrl+T focuses the filter; Up/Down in the filter move through the list;
  Enter (in the filter or the list) or a click opens the conversation, exactly as typing
  its ID (and picking it under *Conversation*) does (``MainWindow.open_conversation``).
  "Remove from list" is in the context menu.
* **Conversations** (docs/architecture.md#conversations): on v2 each of a user's
  conversations the agent opened (picked under *Conversation*) or a live update reported
  is a row of its own, named by the user and the conversation ("Chloé · Returns"), with
  its own preview, unread count, polling and read receipt; the main one is the ""
  conversation id. v1.1 lists main conversations only. :attr:`InboxPane.places` hands
  the window's user lookups to the live updates, which place a pushed message in its
  conversation (:mod:`smooch_desktop.core.conversation_places`).

This module must not hold the store's rules (:mod:`smooch_desktop.core.inbox`) nor
decide when to poll (:mod:`smooch_desktop.core.poll_budget`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QListView, QMenu, QVBoxLayout, QWidget

from smooch_desktop import appinfo
from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.inbox.model import InboxDelegate, InboxListModel, OutboxMark
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from smooch_desktop.api.models import AppUser, HistoryPage
    from smooch_desktop.api.protocol import ConversationApi
    from smooch_desktop.core.conversation_places import ConversationPlaces
    from smooch_desktop.core.inbox import (
        ConversationKey,
        HistoryUpdate,
        InboxRow,
        InboxStore,
        Preview,
    )
    from smooch_desktop.core.outbox import OutboxEntry
    from smooch_desktop.ui.delivery import DeliveryService
    from smooch_desktop.ui.inbox.poller import InboxPoller
    from smooch_desktop.ui.main_window import MainWindow, Session

log = logging.getLogger(__name__)


class InboxListView(QListView):
    """The list's view: every row has the same height, so a changed row is repainted
    alone. (QListView repaints the whole viewport for any ``dataChanged``, even of one
    row: 16 rows drawn for each new message in the open conversation.)"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setUniformItemSizes(True)

    def dataChanged(
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        QAbstractItemView.dataChanged(self, top_left, bottom_right, list(roles))


#: The quick switcher: focus the filter and type a name (as in Slack; not Ctrl+K, which
#: text fields on Linux take for "delete to the end of the line").
QUICK_SWITCH_SHORTCUT = "Ctrl+T"
#: Longest filter kept (a longer paste is cut; no name or ID is longer than a user ID).
FILTER_MAX = 256
#: Outbox states that put the queued icon on a user (failed has its own).
_QUEUED_STATES = frozenset({"queued", "sending", "unknown"})


class DemoUser(NamedTuple):
    """A sandbox demo user who already wrote in."""

    user_ref: str
    display_name: str
    email: str
    last_at: float
    #: Their last message as the list previews it (read with the rest: no request).
    preview: Preview | None = None


def sandbox_demo_users(sandbox: Any) -> list[DemoUser]:
    """The users of a running in-process sandbox's app who wrote in (no HTTP: read from
    its store, so they can be listed, with their last message, before the first request)."""
    from smooch_desktop.api.models import Message
    from smooch_desktop.core.inbox import preview_of

    out: list[DemoUser] = []
    for user in sandbox.store.users(sandbox.app_id):
        last = user.get("lastMessage") or {}
        if not user.get("messageCount"):
            continue
        ref = user.get("userId") or user.get("_id") or ""
        name = " ".join(p for p in (user.get("givenName"), user.get("surname")) if p)
        received = last.get("received", 0.0)
        out.append(
            DemoUser(
                str(ref),
                name,
                str(user.get("email") or ""),
                float(received) if isinstance(received, int | float) else 0.0,
                preview_of(Message.from_v1(last)) if isinstance(last, dict) and last else None,
            )
        )
    return [u for u in out if u.user_ref]


def title_for(unread: int) -> str:
    """The window title with the unread total, as mail and chat apps show it."""
    return f"({unread}) {appinfo.NAME}" if unread > 0 else appinfo.NAME


class InboxPane(QWidget):
    """The list of followed conversations beside the conversation.

    Signals:
        openRequested(str): the agent picked this user (the pane also opens it itself
            in the window it is bound to).
        unreadChanged(int): the unread total changed.
        conversationUpdated(object, object, object): (ConversationKey, HistoryUpdate,
            InboxRow or None) after a page that changed something was applied, by the
            list's poller or the window's own poll.
        conversationRead(object): the agent saw this ConversationKey's new messages (its
            ``conversation:read`` is queued).
    """

    openRequested = Signal(str)
    unreadChanged = Signal(int)
    conversationUpdated = Signal(object, object, object)
    conversationRead = Signal(object)

    def __init__(
        self,
        tasks: TaskQueue,
        avatars: AvatarLoader | None,
        parent: QWidget | None = None,
        *,
        requests_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inboxPane")
        self._tasks = tasks
        self._avatars = avatars
        self._rpm = requests_per_minute
        self._clock = clock
        self._store: InboxStore | None = None
        self._profile = ""
        self._gravatar_base = ""
        self._delivery: DeliveryService | None = None
        self._window: MainWindow | None = None
        self._open_ref = ""
        #: The open conversation of ``_open_ref`` ("" = their main one).
        self._open_conversation = ""
        #: v1.1: only users' main conversations are listed and polled.
        self._main_only = True
        self._unread = 0
        self._api: ConversationApi | None = None
        self._watched_view: QObject | None = None
        # Whether the agent sees the open conversation is checked once the event that may
        # have changed it has been handled (the window's history lands after its signal).
        self._seen_timer = QTimer(self)
        self._seen_timer.setSingleShot(True)
        self._seen_timer.setInterval(0)
        self._seen_timer.timeout.connect(self._check_seen)
        #: ``conversation:read`` activities queued (for tests).
        self.read_receipts = 0
        #: The list's poller while a session is attached.
        self.poller: InboxPoller | None = None
        #: Where a v2 user's conversations are (fed by the window's lookups; read by the
        #: live updates on the webhook's thread); None on v1.1 or without a session.
        self.places: ConversationPlaces | None = None

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("inboxFilter")
        self.filter_edit.setPlaceholderText("Filter: name, email or ID (Ctrl+T)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMaxLength(FILTER_MAX)
        self.filter_edit.setAccessibleName("Filter conversations")
        self.model = InboxListModel(self)
        self.view = InboxListView()
        self.view.setObjectName("inboxList")
        self.view.setAccessibleName("Conversations")
        self.view.setModel(self.model)
        self.view.setItemDelegate(InboxDelegate(avatars, self.view))
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.clicked.connect(self._open_index)
        self.view.installEventFilter(self)
        self.filter_edit.installEventFilter(self)
        self.filter_edit.textChanged.connect(self.refresh)
        if avatars is not None:
            avatars.imageReady.connect(self._on_image_ready)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.view, 1)
        self.setMinimumWidth(180)

    # Wiring ---------------------------------------------------------------------------------

    def bind_window(self, window: MainWindow) -> None:
        """Follow what ``window`` opens and loads; Ctrl+T in it focuses the filter."""
        self._window = window
        window.user_panel.userChanged.connect(self._on_user_changed)
        window.user_panel.userLoaded.connect(self._on_user_loaded)
        window.user_panel.conversationChanged.connect(self._on_conversation_changed)
        window.historyLoaded.connect(self._on_history)
        window.userCreated.connect(self._on_user_created)
        window.composer.textEdited.connect(self._note_input)
        # After the window's own slot has written the message to the outbox (the outbox
        # says nothing about a new entry until delivery changes it).
        window.composer.sendRequested.connect(self._after_send)
        window.installEventFilter(self)
        shortcut = QShortcut(QKeySequence(QUICK_SWITCH_SHORTCUT), window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(self.focus_filter)
        window.setWindowTitle(title_for(self._unread))
        # The window's first focus stays where it was (the user field); the list comes
        # after the rest in Tab order and is reached at once by Ctrl+T.
        window.setTabOrder(window.sender_panel.identity_combo, self.filter_edit)
        window.setTabOrder(self.filter_edit, self.view)

    def attach(
        self,
        store: InboxStore | None,
        session: Session | None,
        delivery: DeliveryService | None,
        *,
        demo_users: Iterable[DemoUser] = (),
    ) -> None:
        """Show ``session``'s list from ``store`` now, then keep it polled (None: empty)."""
        # Loaded here, after the first paint (the pane itself is built before it).
        from smooch_desktop.core.conversation_places import ConversationPlaces
        from smooch_desktop.core.inbox import FollowReason
        from smooch_desktop.core.poll_budget import DEFAULT_REQUESTS_PER_MINUTE
        from smooch_desktop.ui.inbox.poller import InboxPoller

        if self.poller is not None:
            self.poller.stop()
            self.poller.deleteLater()
            self.poller = None
        if self._delivery is not None:
            # Already deleted, or never connected: nothing to undo.
            with contextlib.suppress(RuntimeError, TypeError):
                self._delivery.entryChanged.disconnect(self._on_entry_changed)
        self._store = store if session is not None else None
        self._profile = session.profile_id if session is not None else ""
        self._gravatar_base = session.gravatar_base if session is not None else ""
        self._delivery = delivery if self._store is not None else None
        self._api = session.api if self._store is not None and session is not None else None
        self._main_only = session is None or session.protocol != "v2"
        self.places = None
        if self._api is not None and not self._main_only:
            self.places = ConversationPlaces(self._api.get_user)
        if self._store is None or session is None:
            self.model.set_rows([])
            self._set_unread(0)
            return
        try:
            for user in demo_users:
                self._store.follow(
                    self._key(user.user_ref),
                    FollowReason.DEMO,
                    display_name=user.display_name,
                    email=user.email,
                    avatar_url=self._avatar_for(user.email),
                    at=user.last_at or None,
                    preview=user.preview,
                )
        except _store_errors() as exc:
            log.warning("demo users not listed: %s", exc)
        marks = self._outbox_marks()
        self._follow_outbox(marks)
        self.model.set_marks(marks)
        if self._delivery is not None:
            self._delivery.entryChanged.connect(self._on_entry_changed)
        self.poller = InboxPoller(
            self._store,
            self._tasks,
            session.api,
            requests_per_minute=self._rpm or DEFAULT_REQUESTS_PER_MINUTE,
            clock=self._clock,
            parent=self,
        )
        self.poller.applied.connect(self._on_polled)
        if self._window is not None:
            self.poller.set_window_active(self._window.isActiveWindow())
            self._open_ref = self._window.user_panel.current_user_ref()
            self._open_conversation = self._window.user_panel.current_conversation_id()
        self.poller.set_open(self._open_key())
        self.refresh()
        self.poller.start()

    def show_cached(self, rows: list[InboxRow]) -> None:
        """Show the list kept from the last run (:func:`~smooch_desktop.core.inbox.read_listed`)
        until :meth:`attach`: the window's first frame, before any request."""
        self.model.set_rows(rows)
        self._set_unread(sum(row.unread for row in rows))

    def shutdown(self) -> None:
        """Stop polling (the window closes or the store is about to)."""
        self._seen_timer.stop()
        if self.poller is not None:
            self.poller.stop()

    # Reading the store ------------------------------------------------------------------------

    def _key(self, user_ref: str, conversation_id: str = "") -> ConversationKey:
        from smooch_desktop.core.inbox import ConversationKey

        return ConversationKey(self._profile, user_ref, conversation_id)

    def _open_key(self) -> ConversationKey | None:
        """The conversation open in the window (as the list keys it), None if none."""
        if not self._open_ref:
            return None
        return self._key(self._open_ref, "" if self._main_only else self._open_conversation)

    def _avatar_for(self, email: str) -> str:
        if not email or not self._gravatar_base:
            return ""
        from smooch_desktop.core.gravatar import gravatar_url

        # 404 when there is no picture: the list then paints initials.
        return gravatar_url(email, size=80, default="404", base=self._gravatar_base)

    @Slot()
    def refresh(self) -> None:
        """Re-read the list (filtered as typed) and the unread total from the store."""
        store = self._store
        if store is None:
            return
        try:
            main_only = self._main_only
            rows = store.conversations(self._profile, self.filter_edit.text(), main_only=main_only)
            total = store.unread_total(self._profile, main_only=main_only)
            everyone = rows if not self.filter_edit.text().strip() else None
            if everyone is None and self.poller is not None:
                everyone = store.conversations(self._profile, main_only=main_only)
        except _store_errors() as exc:
            log.warning("conversation list not read: %s", exc)
            return
        current = self.current_key()
        self.model.set_rows(rows)
        if current is not None:
            index = self.model.index_of(current)
            if index.isValid():
                self.view.setCurrentIndex(index)
        if self.poller is not None and everyone is not None:
            self.poller.set_followed(everyone)
        self._set_unread(total)

    def refresh_key(self, key: ConversationKey) -> None:
        """Re-read one conversation that changed (a page applied, marked read) and move
        its row where it now goes; the whole list is re-read only when that can't say it
        (a filter typed, the row newly listed or removed)."""
        store = self._store
        if store is None:
            return
        if self.filter_edit.text().strip():
            self.refresh()
            return
        if self._main_only and key.conversation_id:
            return  # not listed on v1.1
        try:
            row = store.get(key)
            total = store.unread_total(self._profile, main_only=self._main_only)
        except _store_errors() as exc:
            log.warning("conversation list not read: %s", exc)
            return
        if row is None or row.removed or not self.model.update_row(row):
            self.refresh()  # listed or unlisted: the rotation changes too
            return
        self._set_unread(total)

    def _set_unread(self, total: int) -> None:
        if self._window is not None:
            self._window.setWindowTitle(title_for(total))
        if total != self._unread:
            self._unread = total
            self.unreadChanged.emit(total)

    @property
    def unread_total(self) -> int:
        return self._unread

    def current_key(self) -> ConversationKey | None:
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        return self.model.row(index.row()).key

    # Outbox -------------------------------------------------------------------------------------

    def _outbox_marks(self) -> dict[str, OutboxMark]:
        if self._delivery is None:
            return {}
        try:
            states = self._delivery.outbox.open_states(self._profile)
        except Exception as exc:  # a closed or unreadable outbox: no icons
            log.warning("outbox not read for the list: %s", exc)
            return {}
        return {ref: max(map(_mark_of, found)) for ref, found in states.items()}

    def _follow_outbox(self, marks: dict[str, OutboxMark]) -> None:
        from smooch_desktop.core.inbox import FollowReason

        if self._store is None:
            return
        try:
            for user_ref, mark in marks.items():
                if mark:
                    self._store.follow(self._key(user_ref), FollowReason.OUTBOX)
        except _store_errors() as exc:
            log.warning("outbox users not listed: %s", exc)

    @Slot(object)
    def _on_entry_changed(self, entry: OutboxEntry) -> None:
        if entry.profile == self._profile:
            self._update_mark(entry.user_ref)

    @Slot()
    def _after_send(self) -> None:
        self._note_input()
        if self._window is not None and self._open_ref:
            self._update_mark(self._open_ref)

    def _update_mark(self, user_ref: str) -> None:
        """Re-read what the outbox holds for ``user_ref`` (its icon; following it)."""
        if self._delivery is None or self._store is None:
            return
        try:
            states = self._delivery.outbox.open_states(self._profile, user_ref)
        except Exception as exc:
            log.warning("outbox not read for the list: %s", exc)
            return
        mark = max(map(_mark_of, states.get(user_ref, ())), default=OutboxMark.NONE)
        marks = {ref: m for ref, m in self.model.marks().items() if ref != user_ref}
        if mark:
            marks[user_ref] = mark
            self._follow_outbox({user_ref: mark})
        self.model.set_marks(marks)
        self.refresh()

    # The window ---------------------------------------------------------------------------------

    @Slot(str)
    def _on_user_changed(self, user_ref: str) -> None:
        self._open_ref = user_ref
        self._open_conversation = ""  # a new user starts in their main conversation
        self._note_input()
        if self.poller is not None:
            self.poller.set_open(self._open_key())
        self._select(user_ref)

    @Slot(str)
    def _on_conversation_changed(self, conversation_id: str) -> None:
        """The agent picked another of the open user's conversations: it is followed (a
        row of its own, on v2) and is the open one now."""
        self._open_conversation = conversation_id
        if self.poller is not None:
            self.poller.set_open(self._open_key())
        if conversation_id and not self._main_only:
            self._follow_open(conversation_id)
        self._select(self._open_ref, conversation_id)

    @Slot(str)
    def _on_user_created(self, user_ref: str) -> None:
        """A user the app pre-created is followed (their first messages are all new)."""
        from smooch_desktop.core.inbox import FollowReason

        if self._store is None or not user_ref:
            return
        try:
            self._store.follow(self._key(user_ref), FollowReason.PRECREATED)
        except _store_errors() as exc:
            log.warning("user not listed: %s", exc)
            return
        self.refresh()

    @Slot(object)
    def _on_user_loaded(self, user: object) -> None:
        from smooch_desktop.api.models import AppUser
        from smooch_desktop.core.inbox import FollowReason

        if self._store is None or not isinstance(user, AppUser) or self._window is None:
            return
        user_ref = self._window.user_panel.current_user_ref()
        if not user_ref:
            return
        if self.places is not None:
            self.places.remember(user_ref, user)
        name = " ".join(p for p in (user.given_name, user.surname) if p)
        try:
            self._store.follow(
                self._key(user_ref),
                FollowReason.OPENED,
                display_name=name,
                email=user.email,
                avatar_url=self._avatar_for(user.email),
            )
            if not self._main_only:
                self._name_conversations(user_ref, user)
        except _store_errors() as exc:
            log.warning("user not listed: %s", exc)
            return
        if self._open_conversation and not self._main_only:
            self._follow_open(self._open_conversation)  # picked before this lookup ended
        self.refresh()
        self._select(user_ref, self._open_conversation)

    def _name_conversations(self, user_ref: str, user: AppUser) -> None:
        """The user's other conversations already listed take the names the lookup gave
        (a live update knows only their ids), and the user's name and picture."""
        assert self._store is not None
        name = " ".join(p for p in (user.given_name, user.surname) if p)
        for conversation in user.conversations:
            if conversation.id and conversation.id != user.conversation_id:
                self._store.set_identity(
                    self._key(user_ref, conversation.id),
                    display_name=name,
                    email=user.email,
                    avatar_url=self._avatar_for(user.email),
                    conversation_name=conversation.display_name,
                )

    def _follow_open(self, conversation_id: str) -> None:
        """Follow the open user's ``conversation_id`` (not their main one) as opened."""
        from smooch_desktop.core.inbox import FollowReason

        window = self._window
        user = window.user_panel.current_user() if window is not None else None
        if self._store is None or not self._open_ref or user is None:
            return  # followed when the lookup ends (_on_user_loaded)
        found = next((c for c in user.conversations if c.id == conversation_id), None)
        name = " ".join(p for p in (user.given_name, user.surname) if p)
        try:
            self._store.follow(
                self._key(self._open_ref, conversation_id),
                FollowReason.OPENED,
                display_name=name,
                email=user.email,
                avatar_url=self._avatar_for(user.email),
                conversation_name=found.display_name if found is not None else "",
            )
        except _store_errors() as exc:
            log.warning("conversation not listed: %s", exc)
            return
        self.refresh()

    @Slot(str, str, object)
    def _on_history(self, user_ref: str, conversation_id: str, page: HistoryPage) -> None:
        """The window loaded the open conversation: it is up to date and read."""
        if self._store is None or (conversation_id and self._main_only):
            return
        key = self._key(user_ref, conversation_id)
        # As the poller does: on a first page, what came in after the start is new.
        started = self.poller.start_in_server_time() if self.poller is not None else None
        try:
            update = self._store.apply_history(key, page, new_after=started)
        except _store_errors() as exc:
            log.warning("conversation list not updated: %s", exc)
            return
        self._watch_view()
        self._seen_timer.start()
        if update.changed:
            self.refresh_key(key)
            self._report(key, update)

    @Slot(object, object)
    def _on_polled(self, key: ConversationKey, update: HistoryUpdate) -> None:
        self.refresh_key(key)
        if key == self._open_key():
            self._seen_timer.start()  # it was opened while the request ran
        self._report(key, update)

    def _report(self, key: ConversationKey, update: HistoryUpdate) -> None:
        row = None
        if update.new_user_ids and self._store is not None:
            try:
                row = self._store.get(key)
            except _store_errors() as exc:
                log.warning("conversation not read back: %s", exc)
        self.conversationUpdated.emit(key, update, row)

    # Read receipts ------------------------------------------------------------------------------

    def looking_at(self, key: ConversationKey) -> bool:
        """True while ``key`` is the conversation open in the active window (no
        notification for it; read once its newest messages are on screen)."""
        window = self._window
        return window is not None and key == self._open_key() and window.isActiveWindow()

    def _watch_view(self) -> None:
        """Hear when the conversation view reaches the bottom (it is built after the list)."""
        view = getattr(self._window, "view", None)
        if view is None or view is self._watched_view or not hasattr(view, "atBottomChanged"):
            return
        self._watched_view = view
        view.atBottomChanged.connect(self._on_at_bottom)

    @Slot(bool)
    def _on_at_bottom(self, at_bottom: bool) -> None:
        if at_bottom:
            self._seen_timer.start()

    @Slot()
    def _check_seen(self) -> None:
        """If the agent now sees the open conversation's newest messages, it is read."""
        store, window, api = self._store, self._window, self._api
        key = self._open_key()
        if store is None or window is None or api is None or key is None:
            return
        if not self.looking_at(key) or window.loaded_address != (key.user_ref, key.conversation_id):
            return
        view = getattr(window, "view", None)
        if view is None or not view.is_at_bottom():
            return
        try:
            had_unread = store.mark_read(key)
        except _store_errors() as exc:
            log.warning("conversation not marked read: %s", exc)
            return
        if not had_unread:
            return  # nothing new since the last receipt: none sent
        self.refresh_key(key)
        self.conversationRead.emit(key)
        self._send_read(api, key)

    def _send_read(self, api: ConversationApi, key: ConversationKey) -> None:
        user_ref, conversation_id = key.user_ref, key.conversation_id
        self.read_receipts += 1

        def call() -> None:
            api.send_activity(user_ref, "conversation:read", conversation_id=conversation_id)

        # Best effort, once: a failure is logged (by the queue's error sink) and never
        # retried; the unread count stays cleared (the agent did see the messages).
        self._tasks.submit(call, None, _read_failed, kind="read", key=user_ref, owner=self)

    def _select(self, user_ref: str, conversation_id: str = "") -> None:
        key = self._key(user_ref, conversation_id)
        index = self.model.index_of(key) if user_ref else QModelIndex()
        if index.isValid():
            self.view.setCurrentIndex(index)
        else:
            self.view.clearSelection()

    @Slot()
    def _note_input(self) -> None:
        if self.poller is not None:
            self.poller.note_input()

    @Slot(str)
    def _on_image_ready(self, _url: str) -> None:
        self.view.viewport().update()

    # Opening, keys, menu ----------------------------------------------------------------------

    @Slot()
    def focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    @Slot(QModelIndex)
    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            key = self.model.row(index.row()).key
            self.open_user(key.user_ref, key.conversation_id)

    def open_user(self, user_ref: str, conversation_id: str = "") -> None:
        """Open ``user_ref`` in the window, exactly as typing the ID does, on their
        ``conversation_id`` ("" = main; picked once the user is looked up)."""
        self._note_input()
        self.openRequested.emit(user_ref)
        if self._window is not None:
            self._window.open_conversation(user_ref, conversation_id)

    def remove(self, key: ConversationKey) -> None:
        """Hide ``key`` from the list (it comes back when the end user writes again)."""
        if self._store is None:
            return
        try:
            self._store.remove(key)
        except _store_errors() as exc:
            log.warning("conversation not removed: %s", exc)
            return
        self.refresh()

    @Slot(QPoint)
    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        key = self.model.row(index.row()).key
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addAction("Open", lambda: self.open_user(key.user_ref, key.conversation_id))
        menu.addAction("Remove from list", lambda: self.remove(key))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Close and watched is self._window:
            self.shutdown()
            return False
        if kind == QEvent.Type.ActivationChange and watched is self._window:
            if self.poller is not None and self._window is not None:
                self.poller.set_window_active(self._window.isActiveWindow())
            self._seen_timer.start()
            return False
        if kind != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        key = event.key()
        enter = key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if watched is self.view and enter:
            self._open_index(self.view.currentIndex())
            return True
        if watched is self.filter_edit:
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self._step(1 if key == Qt.Key.Key_Down else -1)
                return True
            if enter:
                index = self.view.currentIndex()
                if not index.isValid() and self.model.rowCount():
                    index = self.model.index(0, 0)
                if index.isValid():
                    chosen = self.model.row(index.row()).key
                    # A quick switcher: the whole list again (a filter left typed would
                    # hide other conversations' new messages), the chosen one selected.
                    self.filter_edit.clear()
                    self.open_user(chosen.user_ref, chosen.conversation_id)
                return True
            if key == Qt.Key.Key_Escape and self.filter_edit.text():
                self.filter_edit.clear()
                return True
        return False

    def _step(self, delta: int) -> None:
        count = self.model.rowCount()
        if not count:
            return
        current = self.view.currentIndex()
        row = current.row() + delta if current.isValid() else (0 if delta > 0 else count - 1)
        self.view.setCurrentIndex(self.model.index(max(0, min(count - 1, row)), 0))


def _read_failed(exc: BaseException) -> None:
    log.info("conversation:read not sent: %s", type(exc).__name__)


def _mark_of(state: str) -> OutboxMark:
    if state == "failed":
        return OutboxMark.FAILED
    if state in _QUEUED_STATES:
        return OutboxMark.QUEUED
    return OutboxMark.NONE


def _store_errors() -> tuple[type[Exception], ...]:
    """What a store call may raise that the list shrugs off (logged; it is a cache)."""
    import sqlite3  # after the first paint, with the store

    return (sqlite3.Error, OSError, ValueError)
