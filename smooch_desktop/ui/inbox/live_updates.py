"""Live updates by webhook: the receiver's life in the app, and the "Live updates…" dialog.

:class:`LiveUpdates` (one per run, owned by the controller) runs the app's
:class:`~smooch_desktop.core.webhook_receiver.WebhookReceiver` for the session's profile
when the agent turned webhooks on:

* **On**: the receiver binds ``127.0.0.1:port`` (GUI thread: a local bind, no network
  wait), then the webhook is registered for the public URL the agent gave on the ``api``
  :class:`~smooch_desktop.ui.workers.TaskQueue` (``api/webhooks.py``: a crashed run's
  leftover for the same URL is deleted first). Its secret goes to the receiver and
  nowhere else: it is kept in memory only and a new one is made at each registration.
  A refusal is shown next to the URL in the server's words.
* **Retried until it is made**: a registration that fails for a reason that can pass (the
  server down, a 5xx, a 429, a timeout) is tried again with back-off
  (:class:`~smooch_desktop.core.backoff.Backoff`, :data:`RETRY_BACKOFF`; a longer
  ``Retry-After`` is honoured) until it succeeds, or webhooks are turned off, the profile
  changes or the app quits (each stops the retry timer). Never two registrations in
  flight: one asked for while another is still on the ``api`` queue waits for it to end.
  A refusal that would only repeat (400, 401, 403…) is not retried. The state is said as
  it is, next to the choice in the dialog (:meth:`LiveUpdates.summary`): "Registering…",
  "On (since HH:MM)", "Not registered: <reason>, retrying in N s"; the receiver keeps its
  port meanwhile.
* **Events** are applied to the :class:`~smooch_desktop.core.inbox.InboxStore` on the
  receiver's dispatcher thread (the store is thread-safe; the GUI thread never waits on
  a webhook), then each change is announced on the GUI thread exactly as a polled page's
  (``InboxPoller.applied``: the list re-reads the store, the open conversation stays
  read, and anything listening for new messages hears them the same way); an end-user message
  for the open conversation makes the window poll it at once (``MainWindow.poll_now``).
* **Polling goes on**: Smooch gives up on a call after 5 attempts and a tunnel can drop
  calls, so the list's poller keeps running with a fifth of its budget
  (:data:`WEBHOOK_POLL_SHARE`: 6 requests a minute of the default 30) while a webhook is
  registered, and with all of it while it is not (registering, retrying, failed); the
  open conversation keeps the window's own poll.
* **Off** (the agent's choice, or another profile, or quit): the receiver stops and the
  registration is deleted on the ``api`` queue (at quit as a ``finish_at_stop`` task).
  Only the registration this run made is deleted; one left by a crash is found by its
  URL and replaced at the next start with webhooks on. One still being made when the
  agent turns off or quits is taken back on the ``api`` thread as soon as it is made
  (at quit no GUI callback runs). A deletion the server refuses is said in the dialog.

Settings (on/off, URL, port) are kept per profile in the settings file
(``AppSettings.live_updates``); never the secret.

This module must not hold the receiver's HTTP rules (``core/webhook_receiver.py``), the
registration requests (``api/webhooks.py``) nor the store's rules (``core/inbox.py``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Final, NamedTuple
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.core.backoff import Backoff
from smooch_desktop.ui.connection.widgets import FieldError
from smooch_desktop.ui.plain import inline
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from smooch_desktop.api.webhooks import Registration, WebhookAdmin
    from smooch_desktop.core.inbox import InboxStore
    from smooch_desktop.core.webhook_receiver import Applied, WebhookEvent, WebhookReceiver
    from smooch_desktop.ui.inbox.pane import InboxPane
    from smooch_desktop.ui.main_window import MainWindow, Session
    from smooch_desktop.ui.settings import AppSettings

log = logging.getLogger(__name__)

#: The receiver's port unless the agent picks another (unprivileged, rarely used).
DEFAULT_PORT: Final = 8742
#: With webhooks on, the list's poller keeps this share of its request budget.
WEBHOOK_POLL_SHARE: Final = 0.2
MAX_URL: Final = 2048
#: Lines kept for the dialog's status (the server's words when it refuses).
STATUS_LINES: Final = 5
#: Waits between registration attempts that failed for a reason that can pass: 2 s,
#: 4 s, 8 s… up to 5 minutes (less up to half, so many apps don't retry in lockstep).
RETRY_BACKOFF: Final = Backoff(base_s=2.0, factor=2.0, cap_s=300.0, jitter=0.5)
#: Longest reason shown next to the choice (characters; the status below has all of it).
SUMMARY_REASON: Final = 80


class LiveConfig(NamedTuple):
    """One profile's choice: webhooks on or off, the public URL, the local port."""

    enabled: bool = False
    public_url: str = ""
    port: int = DEFAULT_PORT


def load_config(settings: AppSettings, profile_id: str) -> LiveConfig:
    """The saved choice; anything odd in the file falls back to the default (off)."""
    raw = settings.live_updates(profile_id)
    url = raw.get("url")
    port = raw.get("port")
    ok_port = isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535
    return LiveConfig(
        raw.get("enabled") is True,
        url[:MAX_URL] if isinstance(url, str) else "",
        port if ok_port and isinstance(port, int) else DEFAULT_PORT,
    )


def save_config(settings: AppSettings, profile_id: str, config: LiveConfig) -> None:
    settings.set_live_updates(
        profile_id,
        {"enabled": config.enabled, "url": config.public_url, "port": config.port},
    )


def loopback_url(port: int) -> str:
    """The local receiver's own address (what the sandbox, on this machine, can call)."""
    return f"http://127.0.0.1:{port}/smooch-desktop"


def url_port_problem(url: str, port: int) -> str:
    """A loopback URL must name the receiver's port (nothing else would answer there)."""
    from smooch_desktop.api.hosts import is_loopback_host

    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if not is_loopback_host(host):
        return ""
    try:
        named = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""
    if not port:
        return "Choose a port: with any free port, this address can't name the receiver's."
    if named != port:
        return f"This address is on this computer, port {named}, but the receiver uses {port}."
    return ""


class LiveUpdates(QObject):
    """The webhook receiver of the session's profile, and its registration.

    Signals:
        stateChanged(str, str): (``off``, ``starting``, ``on``, ``retrying`` (not
            registered, tried again later) or ``failed`` (not retried); a sentence).
        problem(str, str): (field ``url`` or ``port``; a sentence) to show next to it.
    """

    stateChanged = Signal(str, str)
    problem = Signal(str, str)
    #: A list of ``Applied`` from the receiver's thread (queued to the GUI thread).
    _pushed = Signal(object)

    def __init__(
        self, tasks: TaskQueue, settings: AppSettings, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._settings = settings
        self._session: Session | None = None
        self._store: InboxStore | None = None
        self._pane: InboxPane | None = None
        self._window: MainWindow | None = None
        self._sandbox = False
        self._receiver: WebhookReceiver | None = None
        self._admin: WebhookAdmin | None = None
        self._registration: Registration | None = None
        self._attempt = 0
        #: Set when the registration running on the api thread is no longer wanted.
        self._cancel = threading.Event()
        #: The app the registration is for (read on the receiver's thread).
        self._app_id = ""
        self._saved_budget: float | None = None
        #: The back-off between attempts (tests shorten it) and its random draws.
        self.backoff = RETRY_BACKOFF
        self._rng = random.Random()
        self._failures = 0
        #: Monotonic instant of the next attempt while ``retrying``.
        self._retry_at = 0.0
        self._retry_timer = QTimer(self)
        self._retry_timer.setSingleShot(True)
        self._retry_timer.timeout.connect(self._retry)
        #: A registration task is on the api queue (its callback has not run yet).
        self._in_flight = False
        #: A registration is wanted but waits for the one in flight to end.
        self._queued = False
        self._target = ""
        self._reason = ""
        self._since = ""
        #: Registration attempts submitted (for tests: never two in flight).
        self.attempts = 0
        self.state = "off"
        self.state_text = "Off: the list is polled."
        self._dialog: LiveUpdatesDialog | None = None
        self._pushed.connect(self._on_pushed, Qt.ConnectionType.QueuedConnection)

    # Session ----------------------------------------------------------------------------------

    @property
    def receiver(self) -> WebhookReceiver | None:
        return self._receiver

    @property
    def registration(self) -> Registration | None:
        return self._registration

    def config(self) -> LiveConfig:
        if self._session is None:
            return LiveConfig()
        return load_config(self._settings, self._session.profile_id)

    def attach(
        self,
        session: Session | None,
        store: InboxStore | None,
        pane: InboxPane | None,
        window: MainWindow | None,
        *,
        sandbox: bool = False,
    ) -> None:
        """Serve ``session`` (after the pane is attached): starts what its profile chose."""
        self.detach()
        self._session, self._store, self._pane, self._window = session, store, pane, window
        self._sandbox = sandbox
        config = self.config()
        if session is not None and store is not None and config.enabled:
            self._start(config)

    def detach(self, *, quitting: bool = False) -> None:
        """Stop the receiver and delete this run's registration (the choice is kept)."""
        self._stop(quitting=quitting)
        self._session = None

    def shutdown(self) -> None:
        """At quit, before the API queue stops: the deletion still goes out."""
        import shiboken6

        self.detach(quitting=True)
        if self._dialog is not None and shiboken6.isValid(self._dialog):
            self._dialog.close()

    # On and off -------------------------------------------------------------------------------

    def apply(self, config: LiveConfig) -> bool:
        """The agent's choice from the dialog: check, save, and start or stop. False (and
        ``problem`` emitted) when an input is wrong; nothing is saved then."""
        from smooch_desktop.core.webhook_receiver import public_url_problem

        if self._session is None or self._store is None:
            self.problem.emit("url", "Connect to an app first (File ▸ Connection settings…).")
            return False
        if config.enabled:
            text = public_url_problem(config.public_url) or url_port_problem(
                config.public_url, config.port
            )
            if text:
                self.problem.emit("url", text)
                return False
        save_config(self._settings, self._session.profile_id, config)
        self._stop()
        if config.enabled:
            self._start(config)
        return True

    def _set_state(self, state: str, text: str) -> None:
        self.state, self.state_text = state, text
        self.stateChanged.emit(state, text)

    def summary(self) -> str:
        """The state in a few words, as it is now (the retry countdown is recomputed)."""
        reason = _short(self._reason)
        if self.state == "starting":
            return "Registering…"
        if self.state == "on":
            return f"On (since {self._since})"
        if self.state == "retrying":
            left = max(1, round(self._retry_at - time.monotonic()))
            return f"Not registered: {reason}, retrying in {left} s"
        if self.state == "failed":
            return f"Not registered: {reason}"
        return "Off"

    def _start(self, config: LiveConfig) -> None:
        from smooch_desktop.api.webhooks import webhooks_for
        from smooch_desktop.core.webhook_receiver import WebhookReceiver

        session = self._session
        assert session is not None
        admin = webhooks_for(session.api)
        if admin is None:
            self._set_state("failed", "This connection can't register webhooks.")
            return
        receiver = WebhookReceiver(self._on_events, port=config.port)
        try:
            receiver.start()
        except OSError as exc:
            text = f"Port {config.port} can't be used ({exc.strerror or 'in use'})."
            self.problem.emit("port", text)
            self._set_state("failed", text)
            return
        self._receiver, self._admin = receiver, admin
        self._attempt += 1
        self._target = config.public_url.strip()
        self._failures = 0
        self._cancel = threading.Event()
        self._set_state("starting", f"Registering the webhook for {inline(self._target, 80)}…")
        self._request_registration()

    def _request_registration(self) -> None:
        """Submit one registration, or wait for the one in flight to end first."""
        admin, target = self._admin, self._target
        if self._receiver is None or admin is None:
            return
        if self._in_flight:
            self._queued = True
            return
        self._queued = False
        self._in_flight = True
        self.attempts += 1
        attempt, cancel = self._attempt, self._cancel
        self._tasks.submit(
            lambda: _register(admin, target, cancel),
            lambda result: self._registered(attempt, admin, result),
            lambda exc: self._register_failed(attempt, exc),
            kind="webhook-register",
            owner=self,
        )

    def _ended(self) -> None:
        """A registration task's callback ran: one that was waiting may go now."""
        self._in_flight = False
        if self._queued:
            self._request_registration()

    @Slot()
    def _retry(self) -> None:
        if self._receiver is None or self.state != "retrying":
            return
        self._set_state("starting", f"Registering the webhook for {inline(self._target, 80)}…")
        self._request_registration()

    def _registered(self, attempt: int, admin: WebhookAdmin, result: object) -> None:
        from smooch_desktop.api.webhooks import Registration

        if result is None:  # taken back on the api thread: turned off meanwhile
            self._ended()
            return
        assert isinstance(result, Registration)
        if attempt != self._attempt or self._receiver is None:
            # Turned off (or another profile) while registering: take it back, through
            # the API it was made with (queued before any registration waiting to go).
            self._tasks.submit(lambda: admin.unregister(result.id), kind="webhook-unregister")
            self._ended()
            return
        self._in_flight = False
        self._failures = 0
        self._since = datetime.now().strftime("%H:%M")
        self._registration = result
        self._app_id = result.app_id
        self._receiver.set_secret(result.secret)
        self._slow_polling(True)
        if self._window is not None:  # an earlier refusal must not stay in the status bar
            self._window.set_call_ok("live updates on")
        self._set_state(
            "on",
            f"On since {self._since}: Smooch calls {inline(result.target, 80)}, received on "
            f"127.0.0.1:{self._receiver.port}. The list is still polled, less often, in case "
            "a call is lost.",
        )

    def _register_failed(self, attempt: int, exc: BaseException) -> None:
        from smooch_desktop.api.errors import ApiError

        if attempt != self._attempt:
            self._ended()
            return
        self._in_flight = False
        text = exc.user_message if isinstance(exc, ApiError) else "The webhook was not registered."
        self._reason = text
        if isinstance(exc, ApiError) and exc.is_retryable and self._receiver is not None:
            self._schedule_retry(text, exc.retry_after)
            return
        self._stop_receiver()
        self._admin = None
        self.problem.emit("url", text)
        self._set_state("failed", f"Not registered: {inline(text, 300)}")
        if self._window is not None:  # also when it was the saved choice, at start
            self._window.set_call_failed(f"live updates: {inline(text, 200)}")

    def _schedule_retry(self, text: str, retry_after: float | None) -> None:
        """Not registered for a reason that can pass: try again after the back-off."""
        self._failures += 1
        delay = self.backoff.delay(self._failures, self._rng)
        if retry_after is not None:  # the server's own wait, within the back-off's cap
            delay = max(delay, min(retry_after, self.backoff.cap_s))
        self._retry_at = time.monotonic() + delay
        self._retry_timer.start(max(1, round(delay * 1000)))
        self._set_state(
            "retrying",
            f"Not registered: {inline(text, 300)} It is tried again with back-off (next: "
            f"attempt {self._failures + 1}); the list is polled with its whole budget meanwhile.",
        )
        if self._window is not None:
            self._window.set_call_failed(f"live updates: {inline(text, 200)} (retrying)")

    def _stop_receiver(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.stop()

    def _stop(self, *, quitting: bool = False) -> None:
        self._attempt += 1  # a registration still running is taken back when it ends
        self._cancel.set()  # ... on the api thread itself: at quit no callback runs
        self._retry_timer.stop()
        self._queued = False
        self._stop_receiver()
        registration, admin = self._registration, self._admin
        self._registration = self._admin = None
        if registration is not None and admin is not None:
            self._tasks.submit(
                lambda: admin.unregister(registration.id),
                None,
                self._unregister_failed,
                kind="webhook-unregister",
                finish_at_stop=quitting,
                owner=self,
            )
        self._slow_polling(False)
        was_on = self.state == "on"
        if self.state != "off":
            self._set_state("off", "Off: the list is polled.")
        window = self._live_window()
        if was_on and window is not None and not quitting:  # not "on" in the status bar
            window.set_call_ok("live updates off")

    def _live_window(self) -> MainWindow | None:
        import shiboken6

        window = self._window
        return window if window is not None and shiboken6.isValid(window) else None

    def _unregister_failed(self, exc: BaseException) -> None:
        """The server kept the webhook (down, refusing): say so, it would go on calling."""
        text = _said(exc)
        log.warning("webhook not removed: %s", text)
        if self.state == "off":
            self._set_state(
                "off",
                "Off, but the webhook could not be removed from the server: "
                f"{inline(text, 200)} Turning webhooks on again for the same URL replaces it.",
            )
        window = self._live_window()
        if window is not None:
            window.set_call_failed(f"live updates: webhook not removed: {inline(text, 200)}")

    def _slow_polling(self, slow: bool) -> None:
        poller = self._pane.poller if self._pane is not None else None
        if poller is None:
            return
        scheduler = poller.scheduler
        if slow and self._saved_budget is None:
            self._saved_budget = scheduler.requests_per_minute
            scheduler.set_budget(self._saved_budget * WEBHOOK_POLL_SHARE)
        elif not slow and self._saved_budget is not None:
            scheduler.set_budget(self._saved_budget)
            self._saved_budget = None
        if self._pane is not None:
            self._pane.refresh()  # re-arms the poller with the new budget

    # Events ---------------------------------------------------------------------------------------

    def _on_events(self, events: list[WebhookEvent]) -> None:
        """On the receiver's thread: apply to the store, then tell the GUI thread."""
        from smooch_desktop.core.webhook_receiver import StoreFailed, apply_to_inbox

        store, session = self._store, self._session
        if store is None or session is None:
            return
        # v2: each message to its own conversation's row (the pane's, fed by its lookups).
        places = self._pane.places if self._pane is not None else None
        try:
            applied = apply_to_inbox(
                store, session.profile_id, events, app_id=self._app_id, places=places
            )
        except StoreFailed as exc:  # disk full…: the poll catches up later
            log.warning("live update not kept: %s", exc)
            applied = exc.applied  # what went in before it is still shown
        if applied:
            self._pushed.emit(applied)

    @Slot(object)
    def _on_pushed(self, applied: list[Applied]) -> None:
        pane, window = self._pane, self._window
        if pane is None:
            return
        poller = pane.poller
        if poller is None:
            pane.refresh()
        for item in applied:
            if poller is not None and item.update.changed:
                # As a polled page would: the pane re-reads the list and marks the open
                # conversation read; whoever listens for new messages hears it the same way.
                poller.applied.emit(item.key, item.update)
        open_ref = window.user_panel.current_user_ref() if window is not None else ""
        open_conversation = window.user_panel.current_conversation_id() if window else ""
        for item in applied:
            message = item.event.message
            if message is None or message.is_business:
                continue
            if pane.poller is not None:
                pane.poller.note_activity(item.key)
            refs = {item.key.user_ref, item.event.user_id, item.event.external_id}
            same_conversation = item.key.conversation_id == open_conversation
            if window is not None and open_ref and open_ref in refs and same_conversation:
                window.poll_now()

    # The dialog -----------------------------------------------------------------------------

    def open_dialog(self, parent: QWidget) -> LiveUpdatesDialog:
        """Show the dialog over ``parent`` (the window; a new window gets a new dialog)."""
        import shiboken6

        if self._dialog is not None and (
            not shiboken6.isValid(self._dialog) or self._dialog.parentWidget() is not parent
        ):
            if shiboken6.isValid(self._dialog):
                self._dialog.close()
                self._dialog.deleteLater()
            self._dialog = None
        if self._dialog is None:
            self._dialog = LiveUpdatesDialog(self, parent)
            self._dialog.finished.connect(self._forget_dialog)
        self._dialog.load(self.config(), sandbox=self._sandbox)
        self._dialog.show()
        self._dialog.raise_()
        self._dialog.activateWindow()
        return self._dialog

    @Slot()
    def _forget_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.deleteLater()
            self._dialog = None


def _register(admin: WebhookAdmin, target: str, cancel: threading.Event) -> Registration | None:
    """On the api thread: register; if turned off (or quitting) meanwhile, take it back
    here and now, since at quit the GUI callback that would do it never runs."""
    registration = admin.register(target)
    if cancel.is_set():
        admin.unregister(registration.id)
        return None
    return registration


def _short(text: str) -> str:
    """A reason in a few words (beside the choice; the status below has all of it): the
    sentence before its details in brackets or after a colon."""
    head = text.split(" (", 1)[0].split(": ", 1)[0].strip().rstrip(".")
    if len(head) > 1 and head[0].isupper() and head[1].islower():
        head = head[0].lower() + head[1:]
    return inline(head, SUMMARY_REASON, one_line=True)


def _said(exc: BaseException) -> str:
    from smooch_desktop.api.errors import ApiError

    return exc.user_message if isinstance(exc, ApiError) else type(exc).__name__


class LiveUpdatesDialog(QDialog):
    """Off (polling) or webhooks; the public URL; the local port. Errors under fields."""

    def __init__(self, live: LiveUpdates, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveUpdatesDialog")
        self.setWindowTitle("Live updates")
        self._live = live
        self._sandbox = False

        intro = QLabel(
            "New messages from end users reach the conversation list by polling, within "
            "a request budget. With webhooks, Smooch calls this computer instead and a "
            "message shows within a second. Smooch must be able to reach the URL below: "
            "point your own tunnel or reverse proxy at the local port."
        )
        intro.setWordWrap(True)
        self.off_radio = QRadioButton("&Off: poll for new messages (default)")
        self.on_radio = QRadioButton("&Webhooks: Smooch calls this computer")
        group = QButtonGroup(self)
        group.addButton(self.off_radio)
        group.addButton(self.on_radio)
        # What is true now, beside the choice: "On" is said only once it is registered.
        self.state_label = QLabel()
        self.state_label.setObjectName("liveState")
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label.setWordWrap(True)
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # Two lines kept from the start: a reason coming in moves nothing below it.
        self.state_label.setMinimumHeight(2 * self.fontMetrics().lineSpacing())
        self.state_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        on_row = QHBoxLayout()  # under the Webhooks choice, indented to its text
        on_row.addSpacing(
            self.style().pixelMetric(self.style().PixelMetric.PM_ExclusiveIndicatorWidth) + 8
        )
        on_row.addWidget(self.state_label, 1)
        # The retry countdown ticks only while it is shown.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_summary)

        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("liveUrl")
        # Room past the limit: a longer paste is refused in words, never cut to a URL
        # that looks right and is not the one given.
        self.url_edit.setMaxLength(4 * MAX_URL)
        self.url_edit.setPlaceholderText("https://your-tunnel.example.com/smooch")
        self.url_edit.setAccessibleName("Public URL")
        self.port_spin = QSpinBox()
        self.port_spin.setObjectName("livePort")
        self.port_spin.setRange(0, 65535)
        self.port_spin.setSpecialValueText("any free port")
        self.port_spin.setAccessibleName("Local port")
        self.port_spin.setMinimumWidth(self.fontMetrics().horizontalAdvance("any free port") + 48)
        self.port_spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Public &URL:", self.url_edit)
        self.url_error = FieldError("liveUrlError", form, self.url_edit, self)
        form.addRow("Local &port:", self.port_spin)
        self.port_error = FieldError("livePortError", form, self.port_spin, self)
        self.hint = QLabel()
        self.hint.setObjectName("liveHint")
        self.hint.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("liveStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Room for a server's longest answer kept from the start: nothing moves when it comes.
        self.status.setMinimumHeight(STATUS_LINES * self.fontMetrics().lineSpacing())

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Close
        )
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # never squeezed
        layout.addWidget(intro)
        layout.addWidget(self.off_radio)
        layout.addWidget(self.on_radio)
        layout.addLayout(on_row)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

        self.on_radio.toggled.connect(self._sync_enabled)
        self.url_edit.textEdited.connect(lambda _t: self.url_error.show_message(""))
        self.port_spin.valueChanged.connect(self._on_port_changed)
        live.problem.connect(self._on_problem)
        live.stateChanged.connect(self._on_state)

    def load(self, config: LiveConfig, *, sandbox: bool) -> None:
        """Show ``config``; in ``--sandbox`` an empty URL is the local receiver's own."""
        self._sandbox = sandbox
        (self.on_radio if config.enabled else self.off_radio).setChecked(True)
        self.port_spin.setValue(config.port)
        url = config.public_url or (loopback_url(config.port or DEFAULT_PORT) if sandbox else "")
        self.url_edit.setText(url)
        self.url_error.show_message("")
        self.port_error.show_message("")
        self._sync_enabled()
        self._on_state(self._live.state, self._live.state_text)

    def config(self) -> LiveConfig:
        return LiveConfig(
            self.on_radio.isChecked(), self.url_edit.text().strip(), self.port_spin.value()
        )

    @Slot()
    def apply(self) -> None:
        self.url_error.show_message("")
        self.port_error.show_message("")
        self._live.apply(self.config())

    @Slot()
    def _sync_enabled(self) -> None:
        on = self.on_radio.isChecked()
        self.url_edit.setEnabled(on)
        self.port_spin.setEnabled(on)
        self._update_hint()

    @Slot(int)
    def _on_port_changed(self, port: int) -> None:
        self.port_error.show_message("")
        old = self.url_edit.text().strip()
        # The sandbox's prefilled address follows the port while it is the local one.
        if self._sandbox and old.startswith("http://127.0.0.1:") and port:
            self.url_edit.setText(loopback_url(port))
        self._update_hint()

    def _update_hint(self) -> None:
        port = self.port_spin.value()
        where = f"127.0.0.1:{port}" if port else "127.0.0.1 (the port is picked when it starts)"
        text = f"The receiver listens on {where}, on this computer only."
        if self._sandbox:
            text += " The sandbox runs on this computer too, so the address above works as is."
        self.hint.setText(text)

    @Slot(str, str)
    def _on_problem(self, field: str, text: str) -> None:
        (self.port_error if field == "port" else self.url_error).show_message(text)

    @Slot(str, str)
    def _on_state(self, state: str, text: str) -> None:
        self.status.setText(inline(text, 400))
        self.apply_button.setEnabled(state != "starting")
        self._show_summary()

    @Slot()
    def _show_summary(self) -> None:
        self.state_label.setText(self._live.summary())
        if self._live.state == "retrying" and self.isVisible():
            if not self._tick.isActive():
                self._tick.start()
        else:
            self._tick.stop()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_summary()

    def hideEvent(self, event: QHideEvent) -> None:
        self._tick.stop()
        super().hideEvent(event)
