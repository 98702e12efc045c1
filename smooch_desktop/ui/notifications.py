"""Desktop notifications: who is told about a new message, and how it reaches the desktop.

:class:`Notifier` decides (the rules below); a backend shows:

* :class:`FreedesktopBackend`: ``org.freedesktop.Notifications`` on the session bus, as
  Linux desktop apps do (GNOME Shell, KDE Plasma, dunst, mako… serve it). ``Notify``
  with a ``default`` action (a click) and ``replaces_id`` (one conversation's
  notification is updated in place, never stacked); ``ActionInvoked`` opens the
  conversation, ``NotificationClosed`` forgets the id. Every bus call runs on the
  ``notifications`` :class:`~smooch_desktop.ui.workers.TaskQueue` (jeepney's thread-safe
  router, whose receiver thread sleeps in ``select`` until the bus speaks), so the GUI
  thread never waits on D-Bus (docs/architecture.md#gui-never-waits). Qt's own D-Bus
  module is not used: from Python it can't send the ``uint32`` that ``replaces_id`` and
  ``CloseNotification`` require (it sends ``int32``, which GDBus-based servers refuse).
* :class:`TrayBackend`: ``QSystemTrayIcon.showMessage`` and ``messageClicked``, when no
  notification service answers (or off Linux).
* nothing: with neither, the unread badge and the window title still say it.

The rules (:meth:`Notifier.conversation_updated`): a notification for a conversation
update that brought new *end-user* messages (never the agent's own), one per update
however many arrived ("3 new messages"), none while Do not disturb is on, none for the
conversation the agent is looking at (open in the active window), and none for messages
that were already there when the app started (a conversation's first update after the
start only notifies if its newest message is newer than the start). Messages held back by
Do not disturb are still counted: the conversation's next notification says how many are
new in all ("3 new messages: …") until the agent reads it. Turning Do not disturb off shows
nothing by itself, as desktop chat apps do (Slack, Teams and GNOME's own switch drop the
banners of the quiet time rather than replaying them): the unread marks, the window title
and the tray already say what came in, and a burst of stale banners would bury the next
real one. The sender's name
and the preview are outside text: literal and bounded (docs/architecture.md#outside-text).

This module must not decide what is unread (:mod:`smooch_desktop.core.inbox`) nor poll.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from smooch_desktop import appinfo
from smooch_desktop.ui.plain import literal, notification_text

if TYPE_CHECKING:
    from PySide6.QtWidgets import QSystemTrayIcon

    from smooch_desktop.core.inbox import ConversationKey, HistoryUpdate, InboxRow
    from smooch_desktop.ui.workers import TaskQueue

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
BUS_PATH = "/org/freedesktop/Notifications"
#: The action key a click on the notification itself invokes (the spec's "default").
DEFAULT_ACTION = "default"
#: How long a bus call may take before the backend is given up (seconds).
CALL_TIMEOUT_S = 5.0
#: Longest sender name shown in a notification's title (characters).
NAME_LIMIT = 80
#: How long the tray's balloon stays (ms); the freedesktop server decides its own.
TRAY_TIMEOUT_MS = 8000


class Backend(QObject):
    """Shows notifications somewhere. ``token`` names one conversation's notification.

    Signals:
        clicked(str): the notification with this token was clicked ("" for one without).
        unavailable(): the backend can't show anything (no service): use the next one.
    """

    clicked = Signal(str)
    unavailable = Signal()

    def show(self, token: str, summary: str, body: str) -> None:
        raise NotImplementedError

    def withdraw(self, token: str) -> None:
        """Take ``token``'s notification off the screen, if it is still shown."""

    def close(self) -> None:
        """Stop (the app quits)."""


class TrayBackend(Backend):
    """The tray icon's balloon messages (one at a time: a click opens the latest)."""

    def __init__(self, tray: QSystemTrayIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        self._last = ""
        tray.messageClicked.connect(self._on_clicked)

    def show(self, token: str, summary: str, body: str) -> None:
        self._last = token
        self._tray.showMessage(
            summary, notification_text(body), self._tray.MessageIcon.Information, TRAY_TIMEOUT_MS
        )

    @Slot()
    def _on_clicked(self) -> None:
        self.clicked.emit(self._last)


class _SignalQueue:
    """What jeepney's router puts matching signals into (from its receiver thread): each
    becomes a queued Qt signal on the GUI thread."""

    def __init__(self, emit: Callable[[object], None]) -> None:
        self._emit = emit

    def put_nowait(self, msg: object) -> None:
        self._emit(msg)


class FreedesktopBackend(Backend):
    """``org.freedesktop.Notifications`` over the session bus, off the GUI thread."""

    _busSignal = Signal(object)

    def __init__(self, tasks: TaskQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._router: Any = None
        self._failed = False
        #: Server id of each token's notification while it is shown, and back.
        self._ids: dict[str, int] = {}
        self._tokens: dict[int, str] = {}
        self._busSignal.connect(self._on_bus_signal)
        self._tasks.submit(self._open, None, self._on_failed, kind="notify-open", owner=self)

    @property
    def shown(self) -> dict[str, int]:
        """Token → server id of the notifications on screen (for tests)."""
        return dict(self._ids)

    # Worker thread -------------------------------------------------------------------------

    def _open(self) -> None:
        from jeepney import MatchRule
        from jeepney.io.threading import DBusRouter, open_dbus_connection

        router = DBusRouter(open_dbus_connection(bus="SESSION"))
        try:
            # Servers may send the signals to the caller only, or to everyone: ask for both.
            for member in ("ActionInvoked", "NotificationClosed"):
                rule = MatchRule(type="signal", interface=BUS_NAME, path=BUS_PATH, member=member)
                _add_match(router, rule)
                router.filter(rule, queue=_SignalQueue(self._busSignal.emit))
        except BaseException:
            _close_router(router)
            raise
        self._router = router

    def _call(self, member: str, signature: str, body: tuple[Any, ...]) -> Any:
        from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call

        if self._router is None:
            raise ConnectionError("no session bus")
        address = DBusAddress(BUS_PATH, bus_name=BUS_NAME, interface=BUS_NAME)
        reply = self._router.send_and_get_reply(
            new_method_call(address, member, signature, body), timeout=CALL_TIMEOUT_S
        )
        if reply.header.message_type is MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "an error")
            raise ConnectionError(f"{member} answered {name}")
        return reply.body

    # GUI thread ----------------------------------------------------------------------------

    def show(self, token: str, summary: str, body: str) -> None:
        if self._failed:
            return
        replaces = self._ids.get(token, 0)
        args = (
            appinfo.NAME,
            replaces,
            "mail-unread",
            summary,
            notification_text(body, markup=True),
            [DEFAULT_ACTION, "Open"],
            {"category": ("s", "im.received"), "desktop-entry": ("s", "smooch-desktop")},
            -1,
        )

        def notify() -> int:
            return int(self._call("Notify", "susssasa{sv}i", args)[0])

        self._tasks.submit(
            notify,
            lambda nid: self._on_shown(token, nid),
            self._on_failed,
            kind="notify",
            owner=self,
        )

    def withdraw(self, token: str) -> None:
        nid = self._ids.pop(token, 0)
        if not nid or self._failed:
            return
        self._tokens.pop(nid, None)
        self._tasks.submit(
            lambda: self._call("CloseNotification", "u", (nid,)),
            None,
            _log_failure,
            kind="notify",
            owner=self,
        )

    def close(self) -> None:
        router, self._router = self._router, None
        if router is not None:
            _close_router(router)

    def _on_shown(self, token: str, nid: object) -> None:
        assert isinstance(nid, int)
        old = self._ids.get(token)
        if old is not None and old != nid:
            self._tokens.pop(old, None)
        self._ids[token] = nid
        self._tokens[nid] = token

    def _on_failed(self, exc: BaseException) -> None:
        if self._failed:
            return
        self._failed = True
        log.info("no desktop notification service: %s", type(exc).__name__)
        self.unavailable.emit()

    @Slot(object)
    def _on_bus_signal(self, msg: Any) -> None:
        from jeepney import HeaderFields

        member = msg.header.fields.get(HeaderFields.member)
        try:
            nid = int(msg.body[0])
        except (IndexError, TypeError, ValueError):
            return
        token = self._tokens.get(nid)
        if token is None:
            return  # another app's notification
        if member == "ActionInvoked" and len(msg.body) > 1 and msg.body[1] == DEFAULT_ACTION:
            self.clicked.emit(token)
        elif member == "NotificationClosed":
            self._tokens.pop(nid, None)
            if self._ids.get(token) == nid:
                del self._ids[token]


def _close_router(router: Any) -> None:
    """Stop the router's receiver thread, then close its connection (not done by it)."""
    router.close()
    router.conn.close()


def _add_match(router: Any, rule: Any) -> None:
    from jeepney.bus_messages import message_bus

    router.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT_S)


def _log_failure(exc: BaseException) -> None:
    log.info("notification not withdrawn: %s", type(exc).__name__)


def token_of(key: ConversationKey) -> str:
    return "\n".join(key)


class Notifier(QObject):
    """Decides which conversation updates notify, and shows them through its backends.

    ``backends`` are tried in order: when one reports it is unavailable the next one
    takes over (the notification that failed is shown there). ``looking_at(key)`` is
    true while the agent sees that conversation (open in the active window).

    Signals:
        openRequested(object): the agent clicked the notification of this
            ``ConversationKey`` (None: one about the app, not a conversation).
    """

    openRequested = Signal(object)

    def __init__(
        self,
        backends: list[Backend],
        looking_at: Callable[[ConversationKey], bool],
        *,
        do_not_disturb: bool = False,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._backends = list(backends)
        self._looking_at = looking_at
        self._dnd = do_not_disturb
        #: Wall-clock start: messages received before it were there already.
        self.started_at = clock()
        self._seen: set[str] = set()
        self._keys: dict[str, ConversationKey] = {}
        #: New messages counted into each conversation's notification (shown, or held back
        #: by Do not disturb) until the agent reads it.
        self._counts: dict[str, int] = {}
        self._last: tuple[str, str, str] | None = None
        #: (token, summary, body) of every notification asked for (for tests and logs).
        self.shown: list[tuple[str, str, str]] = []
        for backend in self._backends:
            backend.clicked.connect(self._on_clicked)
            backend.unavailable.connect(self._on_unavailable)

    @property
    def backend(self) -> Backend | None:
        return self._backends[0] if self._backends else None

    @property
    def do_not_disturb(self) -> bool:
        return self._dnd

    def set_do_not_disturb(self, on: bool) -> None:
        """Quiet or not; turning it off shows nothing of the quiet time by itself."""
        self._dnd = on

    def conversation_updated(
        self,
        key: ConversationKey,
        update: HistoryUpdate,
        row: InboxRow | None,
        *,
        started_at: float | None = None,
    ) -> bool:
        """A conversation's newest page was applied; True if a notification went out.

        ``started_at``: the start in the server's time (the poller's
        ``start_in_server_time``), which the messages' times are compared with; the local
        wall clock at construction when not given."""
        token = token_of(key)
        first = token not in self._seen
        self._seen.add(token)
        new = len(update.new_user_ids)
        if not new or row is None:
            return False
        start = self.started_at if started_at is None else started_at
        if first and row.preview.at and row.preview.at < start:
            return False  # there before the app started: the list's unread mark says it
        if self._looking_at(key):
            return False  # seen as they come: the conversation is read, nothing to count
        count = self._counts.get(token, 0) + new
        self._counts[token] = count
        self._keys[token] = key
        if self._dnd:
            return False  # held back, but counted into the next notification
        text = row.preview.text if row.preview.role == "user" else ""
        if count > 1:
            head = f"{count} new messages"
            body = f"{head}: {text}" if text else head
        else:
            body = text or "New message"
        summary = literal(row.label, NAME_LIMIT, one_line=True)
        self._show(token, summary, body)
        return True

    def read(self, key: ConversationKey) -> None:
        """The agent has seen ``key``: its notification goes, and the count starts over."""
        token = token_of(key)
        if self._counts.pop(token, None) is not None and self.backend is not None:
            self.backend.withdraw(token)

    def app_message(self, title: str, text: str) -> None:
        """A notification about the app itself (a click raises the window)."""
        self._show("", title, text)

    def close(self) -> None:
        for backend in self._backends:
            backend.close()

    def _show(self, token: str, summary: str, body: str) -> None:
        self._last = (token, summary, body)
        self.shown.append(self._last)
        if self.backend is not None:
            self.backend.show(token, summary, body)

    @Slot(str)
    def _on_clicked(self, token: str) -> None:
        key = self._keys.get(token) if token else None
        if key is not None:
            self._counts.pop(token, None)
        self.openRequested.emit(key)

    @Slot()
    def _on_unavailable(self) -> None:
        sender = self.sender()
        if not self._backends or sender is not self._backends[0]:
            return
        self._backends.pop(0)
        if self._backends and self._last is not None:
            self._backends[0].show(*self._last)


def default_backends(
    tasks: TaskQueue | None, tray: QSystemTrayIcon | None, parent: QObject
) -> list[Backend]:
    """The session bus's notification service (Linux and the BSDs), then the tray."""
    backends: list[Backend] = []
    if tasks is not None and not sys.platform.startswith(("win", "darwin")):
        try:
            import jeepney  # noqa: F401  (the keychain's own D-Bus library there)
        except ImportError:
            pass
        else:
            backends.append(FreedesktopBackend(tasks, parent))
    if tray is not None:
        backends.append(TrayBackend(tray, parent))
    return backends
