"""The user panel: which end user to reply to, looked up once the ID has settled.

Holds the user ID field, what the server knows about that user (in an area of fixed
height, so that nothing below it moves as messages come and go), the lookup's retries
with back-off when the server could not answer, and the "seen N min ago" refresh. It
makes no request but the user lookup (on the API ``TaskQueue``); it holds no history,
outbox or composer state (those are the main window's).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from smooch_desktop.api.errors import ApiError, ConfigError, HttpError
from smooch_desktop.core.backoff import Backoff
from smooch_desktop.core.validation import ValidationError, clean_user_id
from smooch_desktop.ui.plain import ElidedLabel, inline
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from PySide6.QtGui import QHideEvent, QShowEvent

    from smooch_desktop.api.models import AppUser, Conversation
    from smooch_desktop.api.protocol import ConversationApi

USER_SETTLE_MS = 700
#: A lookup the server could not answer (network down, 429, 5xx) is tried again after
#: 2 s, 4 s, 8 s… up to a minute, for as long as the same user is selected.
LOOKUP_BACKOFF: Final = Backoff(base_s=2.0, factor=2.0, cap_s=60.0, jitter=0.25)
#: How often "seen N min ago" is redrawn while the panel is visible (text only, no request).
LAST_SEEN_REFRESH_MS = 30_000
#: Lines of the user-info area: two for the user (or the error), one for a warning.
INFO_LINES: Final = 3


def describe_ago(verb: str, when: float, now: float | None = None) -> str:
    """``"{verb} just now"``, ``"{verb} 5 min ago"``, ``"… 3 h ago"``, ``"… 2 days ago"``."""
    delta = max(0.0, (now if now is not None else time.time()) - when)
    if delta < 90:
        return f"{verb} just now"
    if delta < 3600:
        return f"{verb} {int(delta // 60)} min ago"
    if delta < 48 * 3600:
        return f"{verb} {int(delta // 3600)} h ago"
    return f"{verb} {int(delta // 86400)} days ago"


def describe_last_seen(last_seen: float, now: float | None = None) -> str:
    return describe_ago("seen", last_seen, now) if last_seen > 0 else "never seen"


def describe_conversation(conversation: Conversation, main: bool, now: float | None = None) -> str:
    """One line for the conversation picker: name (outside text, one line), kind, activity."""
    name = inline(conversation.display_name, 60, one_line=True) if conversation.display_name else ""
    kind = "main conversation" if main else f"{inline(conversation.type, 20, one_line=True)}"
    if name:
        parts = [name, kind]
    elif main:
        parts = [kind.capitalize()]
    else:  # no name: only its id tells two unnamed ones apart
        parts = [kind.capitalize(), inline(conversation.id, 12)]
    if conversation.last_updated > 0:
        parts.append(describe_ago("active", conversation.last_updated, now))
    return " · ".join(parts)


def describe_user(user: AppUser, now: float | None = None) -> str:
    """Two lines: name, email, channels and last seen (outside text made one-line here)."""
    parts = [inline(user.display_name, one_line=True)]
    if user.email and user.email != user.display_name:
        parts.append(inline(user.email, one_line=True))
    channels = []
    for client in user.clients:
        label = inline(client.platform, one_line=True)
        if client.primary:
            label += " (primary)"
        if not client.can_receive:
            label += f" ({inline(client.status, one_line=True)})"
        channels.append(label)
    line2 = " · ".join(channels) if channels else "no channels"
    return " — ".join(parts) + "\n" + line2 + " · " + describe_last_seen(user.last_seen, now)


class UserPanel(QWidget):
    """User ID field with recent IDs, and what the server knows about that user.

    Signals:
        userChanged(str): the settled, valid user ID changed ("" when cleared/invalid);
            emitted before the lookup finishes so typing to the old user stops at once.
        userLoaded(object): the AppUser for the current ID.
        lookupFailed(str): a message for the user (no such user, network problem...).
        conversationChanged(str): the agent picked another of the user's conversations
            (v2: a user can have several); "" is their main one. A new user starts on "".
    """

    userChanged = Signal(str)
    conversationChanged = Signal(str)
    userLoaded = Signal(object)
    lookupFailed = Signal(str)

    def __init__(
        self,
        tasks: TaskQueue,
        api_getter: Callable[[], ConversationApi | None],
        parent: QWidget | None = None,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("userPanel")
        self._tasks = tasks
        self._api_getter = api_getter
        self._current = ""
        self._conversation = ""
        self._user: AppUser | None = None
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(USER_SETTLE_MS)
        self._settle.timeout.connect(self.commit)
        #: Lookups of the current user that failed in a row (retried with back-off).
        self._failures = 0
        self._backoff = backoff or LOOKUP_BACKOFF
        self._rng = random.Random()
        self._retry = QTimer(self)
        self._retry.setObjectName("userLookupRetry")
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self.lookup)
        # Redraws "seen N min ago" from the loaded user: no request, only while visible.
        self._seen_timer = QTimer(self)
        self._seen_timer.setObjectName("lastSeenRefresh")
        self._seen_timer.setInterval(LAST_SEEN_REFRESH_MS)
        self._seen_timer.timeout.connect(self._refresh_last_seen)
        self._watched_window: QWidget | None = None

        self.combo = QComboBox()
        self.combo.setObjectName("userIdCombo")
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setAccessibleName("User ID")
        self.combo.setMinimumContentsLength(28)
        # Recent IDs come from the settings file: a long one must not widen the window.
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        line = self.combo.lineEdit()
        assert line is not None  # editable combo boxes always have one
        self.line_edit = line
        line.setPlaceholderText("appUser _id or your userId — paste it here")
        line.setMaxLength(1024)
        line.setObjectName("userIdEdit")
        # Names come from end users: plain, and elided so a long one can't widen the window.
        self.info = ElidedLabel("Type or pick a user to reply to.", max_lines=2)
        self.info.setObjectName("userInfo")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # One line (the whole text in the tooltip): the area below the field never grows.
        self.warning = ElidedLabel()
        self.warning.setObjectName("userWarning")
        self.warning.setStyleSheet("color: #b26a00;")
        self.warning.hide()
        # Shown instead of the user's two lines (the message, then the retry, if any).
        self.error = ElidedLabel(max_lines=2)
        self.error.setObjectName("fieldError")
        self.error.setStyleSheet("color: #c62828;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        # Shown only for a user with several conversations (v2); item data: the id to
        # send to, "" for the main one (so the outbox's entries stay version-neutral).
        self.conversations = QComboBox()
        self.conversations.setObjectName("conversationCombo")
        self.conversations.setAccessibleName("Conversation")
        self.conversations.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.conversations.setMinimumContentsLength(28)

        label = QLabel("&User:")
        label.setBuddy(self.combo)
        self.conversation_label = QLabel("C&onversation:")
        self.conversation_label.setBuddy(self.conversations)
        # The conversation picker comes and goes beside the field, never below it.
        row = QHBoxLayout()
        row.addWidget(label)
        row.addWidget(self.combo, 1)
        row.addWidget(self.conversation_label)
        row.addWidget(self.conversations, 1)
        # The area under the field keeps one height whatever it shows (1, 2 or 3 lines
        # of text, an error or none), so a click aimed below it lands where it was aimed.
        self.info_area = QWidget()
        self.info_area.setObjectName("userInfoArea")
        area = QVBoxLayout(self.info_area)
        area.setContentsMargins(0, 0, 0, 0)
        area.setSpacing(0)
        area.addWidget(self.error)
        area.addWidget(self.info)
        area.addWidget(self.warning)
        area.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.info_area)
        self._reserve_info_height()
        self._show_conversations(False)

        line.textEdited.connect(self._on_edited)
        line.returnPressed.connect(self.commit)
        # Leaving the field (Tab, a click into the message box) settles it at once.
        line.editingFinished.connect(self._on_editing_finished)
        self.combo.activated.connect(self._on_activated)
        self.conversations.activated.connect(self._on_conversation_activated)

    def _reserve_info_height(self) -> None:
        metrics = self.info.fontMetrics()
        self.info_area.setFixedHeight(INFO_LINES * metrics.lineSpacing() + 2)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._reserve_info_height()
        super().changeEvent(event)

    def _show_error(self, text: str) -> None:
        """The message in the two lines the user's details use (they come back without)."""
        self.error.setText(text)
        self.error.setVisible(bool(text))
        self.info.setVisible(not text)

    def _set_warning(self, text: str) -> None:
        self.warning.setText(text)
        self.warning.setVisible(bool(text))

    # "Seen N min ago" --------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self and window is not self._watched_window:
            # Only the window hears it is minimised or restored.
            if self._watched_window is not None:
                with contextlib.suppress(RuntimeError):  # deleted already
                    self._watched_window.removeEventFilter(self)
            window.installEventFilter(self)
            self._watched_window = window
        self._update_seen_timer()
        if self._failures and self._user is None and not self._retry.isActive():
            self.lookup()  # retries paused while hidden

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._update_seen_timer()
        self._retry.stop()  # a closed window asks the server nothing

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched_window and event.type() == QEvent.Type.WindowStateChange:
            was_ticking = self._seen_timer.isActive()
            self._update_seen_timer()
            if self._seen_timer.isActive() and not was_ticking:
                self._refresh_last_seen()  # restored: say how long ago it is now
        return super().eventFilter(watched, event)

    def _update_seen_timer(self) -> None:
        """Tick only while a loaded user is on screen (a hidden panel or a minimised window
        costs no wake-ups)."""
        if self._user is not None and self.isVisible() and not self.window().isMinimized():
            if not self._seen_timer.isActive():
                self._seen_timer.start()
        else:
            self._seen_timer.stop()

    @Slot()
    def _refresh_last_seen(self) -> None:
        if self._user is None or not self.isVisible() or self.window().isMinimized():
            self._seen_timer.stop()
            return
        text = describe_user(self._user, time.time())
        if text != self.info.text():
            self.info.setText(text)

    def set_recent(self, recent: list[str]) -> None:
        text = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(recent)
        self.combo.setEditText(text)
        self.combo.blockSignals(False)

    def current_user_ref(self) -> str:
        return self._current

    def current_user(self) -> AppUser | None:
        return self._user

    def current_conversation_id(self) -> str:
        """The conversation replies go to: "" for the user's main one, else its id."""
        return self._conversation

    def select_conversation(self, conversation_id: str) -> bool:
        """Pick one of the loaded user's conversations ("" = main); False if not offered."""
        index = self.conversations.findData(conversation_id)
        if index < 0:
            return False
        self.conversations.setCurrentIndex(index)
        self._on_conversation_activated(index)
        return True

    def _show_conversations(self, shown: bool) -> None:
        self.conversation_label.setVisible(shown)
        self.conversations.setVisible(shown)

    @Slot(int)
    def _on_conversation_activated(self, index: int) -> None:
        data = self.conversations.itemData(index)
        chosen = data if isinstance(data, str) else ""
        if chosen == self._conversation:
            return
        self._conversation = chosen
        self.conversationChanged.emit(chosen)

    def _fill_conversations(self, user: AppUser) -> None:
        """Offer the user's conversations when there is a choice (main one first).

        A looked-up-again user whose picked conversation is gone goes back to the main
        one, and the panel says so (what was queued for it stays there, kept).
        """
        main = user.conversation_id
        others = [c for c in user.conversations if c.id and c.id != main]
        self.conversations.clear()
        if main and others:
            now = time.time()
            for conversation in user.conversations:
                if conversation.id == main:
                    self.conversations.addItem(describe_conversation(conversation, True, now), "")
            for conversation in sorted(others, key=lambda c: -c.last_updated):
                text = describe_conversation(conversation, False, now)
                self.conversations.addItem(text, conversation.id)
        index = self.conversations.findData(self._conversation)
        if index < 0 and self._conversation:
            self._conversation = ""
            self._set_warning(
                "The conversation you picked no longer exists: replies now go to the user's "
                "main conversation."
            )
            self.conversationChanged.emit("")
            index = self.conversations.findData("")
        self.conversations.setCurrentIndex(max(index, 0))
        self._show_conversations(self.conversations.count() > 1)

    def set_user_ref(self, user_ref: str) -> None:
        self.combo.setEditText(user_ref)
        self.commit()

    @Slot(str)
    def _on_edited(self, text: str) -> None:
        self._settle.start()
        if self._current and text.strip() != self._current:
            # The field no longer names the user on screen. Let go of them at once, so a
            # reply sent, a draft saved or "typing…" in the moment before the field
            # settles can't reach them; what is typed meanwhile is addressed to no one
            # yet and goes to the user the field settles on.
            self._switch("")

    @Slot()
    def _on_editing_finished(self) -> None:
        if self._settle.isActive():
            self.commit()

    @Slot(int)
    def _on_activated(self, _index: int) -> None:
        self.commit()

    @Slot()
    def commit(self) -> None:
        """Validate the field and, if it names a new user, switch to it and look it up."""
        self._settle.stop()
        raw = self.combo.currentText()
        try:
            ref = clean_user_id(raw) if raw.strip() else ""
        except ValidationError as exc:
            self._switch("")
            self._show_error(exc.message)
            return
        if ref == self._current:
            if ref and self._user is None and self._retry.isActive():
                self.info.setText("Looking up the user…")
                self._show_error("")
                self.lookup()  # Return on a failed lookup tries again now
            elif self._user is not None or not ref:
                self._show_error("")
            return
        self._show_error("")
        self._switch(ref)
        if ref:
            self.lookup()

    def _switch(self, ref: str) -> None:
        if ref == self._current:
            return
        self._current = ref
        self._user = None
        self._failures = 0
        self._retry.stop()
        self._update_seen_timer()
        # A new user starts in their main conversation; the choice is not carried over.
        self._conversation = ""
        self.conversations.clear()
        self._show_conversations(False)
        self._set_warning("")
        self._show_error("")
        self.info.setText("Looking up the user…" if ref else "Type or pick a user to reply to.")
        self.userChanged.emit(ref)

    @Slot()
    def lookup(self) -> None:
        """Look the current user up (again); a pending retry is replaced by this one."""
        self._retry.stop()
        api = self._api_getter()
        ref = self._current
        if api is None or not ref:
            return
        get_user = api.get_user
        self._tasks.submit(
            lambda: (ref, get_user(ref)),
            self._on_user,
            lambda exc: self._on_error(ref, exc),
            kind="lookup",
        )

    def _on_user(self, result: object) -> None:
        assert isinstance(result, tuple)
        ref, user = result
        if ref != self._current:
            return  # an answer for a user no longer selected
        from smooch_desktop.api.models import AppUser

        assert isinstance(user, AppUser)
        self._user = user
        self._failures = 0
        self._retry.stop()
        self._show_error("")  # the server answers again: an earlier failure is over
        self.info.setText(describe_user(user, time.time()))
        self._set_warning("")
        self._fill_conversations(user)
        if not user.reachable_clients:
            earlier = self.warning.text() if not self.warning.isHidden() else ""
            self._set_warning(
                (earlier + " " if earlier else "")
                + "This user has no channel that can receive messages: a reply will be stored "
                "but may not reach them until they open a conversation."
            )
        self._update_seen_timer()
        self.userLoaded.emit(user)

    def _on_error(self, ref: str, exc: BaseException) -> None:
        if ref != self._current:
            return
        if isinstance(exc, HttpError) and exc.status == 404:
            code = inline(exc.code or "not_found", 80)
            text = f"No user with ID “{inline(ref)}” in this app (404 {code})."
        elif isinstance(exc, ConfigError):
            text = exc.message
        elif isinstance(exc, ApiError):
            text = f"Couldn't look the user up: {exc.user_message}"
        else:
            text = f"Couldn't look the user up: {exc}"
        if isinstance(exc, ApiError) and exc.is_retryable:
            # The server (or the way to it) may recover: try again, later each time.
            self._failures += 1
            delay = self._backoff.delay(self._failures, self._rng)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, self._backoff.cap_s))
            text += f"\nTrying again in {max(1, round(delay))} s…"
            self._retry.start(max(1, int(delay * 1000)))
        else:
            self._failures = 0  # an answer that retrying won't change
        self.info.setText("")
        self._show_error(text)
        self.lookupFailed.emit(text)
