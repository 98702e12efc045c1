"""Owns the long-lived parts (stores, worker queues, tray, notifications) and the window
per connection.

Notifications (:mod:`smooch_desktop.ui.notifications`) are built once, after the first
paint: the list pane reports each conversation update to the :class:`Notifier`, a click
on a notification raises the window and opens that conversation, and Do not disturb
(the View menu, the tray menu) is kept in the settings.

Changing the connection profile rebuilds the session and the window; the outbox,
drafts and worker threads live for the whole run. So does changing the API version of
the ``--sandbox`` connection in Connection settings: the same built-in profile (same
id, so the same queued messages and drafts) reconnects to the same sandbox with the
other version's adapter, and the choice is remembered for the next ``--sandbox`` run.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from smooch_desktop import appinfo
from smooch_desktop.api.errors import ApiError, ConfigError
from smooch_desktop.core import paths
from smooch_desktop.core.gravatar import GRAVATAR_BASE, AvatarDiskCache
from smooch_desktop.core.validation import ValidationError, clean_secret
from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.main_window import MainWindow, Session
from smooch_desktop.ui.plain import inline
from smooch_desktop.ui.settings import AppSettings
from smooch_desktop.ui.task_errors import TaskErrorSink
from smooch_desktop.ui.workers import TaskQueue

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu, QSystemTrayIcon

    from smooch_desktop.api.auth import AuthMethod, Credentials
    from smooch_desktop.api.factory import ApiVersion
    from smooch_desktop.api.protocol import ConversationApi
    from smooch_desktop.core.drafts import DraftStore
    from smooch_desktop.core.inbox import ConversationKey, HistoryUpdate, InboxRow, InboxStore
    from smooch_desktop.core.outbox import Outbox
    from smooch_desktop.core.profiles import Profile, ProfileData
    from smooch_desktop.core.secrets import SecretStore, SessionSecrets
    from smooch_desktop.sandbox import SandboxServer
    from smooch_desktop.ui.connection.dialog import ConnectionDialog
    from smooch_desktop.ui.connection.form import BuiltinConnection
    from smooch_desktop.ui.delivery import DeliveryService
    from smooch_desktop.ui.inbox.live_updates import LiveUpdates
    from smooch_desktop.ui.inbox.pane import DemoUser, InboxPane
    from smooch_desktop.ui.notifications import Notifier
    from smooch_desktop.ui.single_instance import InstanceServer

log = logging.getLogger(__name__)


def gravatar_base_for(base_url: str) -> str:
    """Where avatar previews come from: Gravatar, or the sandbox's copy on loopback.

    A loopback API is the local sandbox (nothing else is allowed over http), which serves
    Gravatar-compatible images itself so previews work offline.
    """
    from smooch_desktop.api.hosts import is_loopback_host

    host = urlsplit(base_url).hostname or ""
    return base_url.rstrip("/") + "/avatar" if is_loopback_host(host) else GRAVATAR_BASE


def connect_api(
    version: ApiVersion, base_url: str, app_id: str, creds: Credentials, gravatar_base: str
) -> ConversationApi:
    """The API adapter for a session (no request is sent).

    v2 messages carry no email, so the v2 adapter gets the avatar URL Smooch itself would
    derive from the sender's email (Gravatar's "mystery man" when there is no picture),
    from ``gravatar_base``: Gravatar, or the sandbox's copy on loopback.
    """
    from smooch_desktop.api import factory
    from smooch_desktop.api.factory import ApiVersion

    if ApiVersion(version) is ApiVersion.V2:
        from smooch_desktop.core.gravatar import smooch_avatar_url

        def avatar_for_email(email: str) -> str:
            return smooch_avatar_url(email, gravatar_base)

        return factory.connect(version, base_url, app_id, creds, avatar_for_email=avatar_for_email)
    return factory.connect(version, base_url, app_id, creds)


def _nothing() -> None:
    """A barrier on a task queue: its callback runs once everything queued before has."""


def _delete_later(obj: QObject, _result: object) -> None:
    obj.deleteLater()


SECRET_ENV = "SMOOCH_KEY_SECRET"
PHASE_TWO_DELAY_MS = 15
COMMAND_LINE_PROFILE = "Command line"
SANDBOX_PROFILE = "Sandbox"
#: ``core.profiles.legacy_profile_id(SANDBOX_PROFILE)``, written out: the first frame
#: lists the sandbox's conversations without importing the profiles (and hashlib).
SANDBOX_PROFILE_ID = "n-67fc62497e85d81bc54ea07aa87dca68"


class AppController(QObject):
    """Builds sessions and windows; shuts everything down in order."""

    #: (key, text) for the window's notice bar; emitted from any thread (store callbacks).
    _storageNotice = Signal(str, str)

    def __init__(
        self,
        args: argparse.Namespace,
        sandbox: SandboxServer | None = None,
        *,
        outbox: Outbox | None = None,
    ) -> None:
        """``sandbox`` and ``outbox``, when given, are used instead of starting/opening
        the app's own (tests hand in a prepared one)."""
        super().__init__()
        self.args = args
        #: A running sandbox; with ``args.sandbox`` and none given, started after first paint.
        self.sandbox = sandbox
        self._owns_sandbox = False
        self.settings = AppSettings()
        self._secrets: SecretStore | None = None
        self._session_secrets: SessionSecrets | None = None
        self._outbox: Outbox | None = outbox
        self._drafts: DraftStore | None = None
        #: The conversation list's store (None until opened, or if it can't be).
        self._inbox: InboxStore | None = None
        self.inbox_pane: InboxPane | None = None
        #: The webhook receiver and its registration (built with the first session).
        self.live_updates: LiveUpdates | None = None
        self.api_tasks = TaskQueue("api", self)
        # Keychain calls can block on D-Bus (an unlock prompt); never behind a slow send.
        self.keychain_tasks = TaskQueue("keychain", self)
        # Uploads take minutes: never in front of typing and other messages on the API queue.
        self.upload_tasks = TaskQueue("uploads", self)
        self.task_errors = TaskErrorSink(lambda: self.window, self)
        self.task_errors.watch(self.api_tasks, self.keychain_tasks, self.upload_tasks)
        self.avatars = AvatarLoader(AvatarDiskCache(paths.cache_dir() / "avatars"), self)
        self.window: MainWindow | None = None
        self.session: Session | None = None
        self.delivery: DeliveryService | None = None
        self.tray: QSystemTrayIcon | None = None
        #: Desktop notifications (built with the tray), and the thread of their bus calls.
        self.notifier: Notifier | None = None
        self._notify_tasks: TaskQueue | None = None
        self._tray_dnd: QAction | None = None
        self._tray_menu: QMenu | None = None
        self._dialog: ConnectionDialog | None = None
        self._shut_down = False
        self._recovered = False
        #: Secrets read ahead on the keychain thread, by (profile, key id); used once.
        self._prefetched: dict[tuple[str, str], str | None] = {}
        #: The locked data directory; set by app.run_gui so later starts can find this one.
        self.instance_dir: Path | None = None
        self._instance_server: InstanceServer | None = None
        #: Notice-bar texts by key, carried to each new window.
        self._notices: dict[str, str] = {}
        self._storageNotice.connect(self._set_notice)

    @property
    def stores_open(self) -> bool:
        """True once the outbox and the drafts are open (phase two of the start-up)."""
        return self._outbox is not None and self._drafts is not None

    @property
    def connection_dialog(self) -> ConnectionDialog | None:
        """The connection dialog while it is open."""
        return self._dialog

    @property
    def outbox(self) -> Outbox:
        """The outbox, opened on first use (after the first paint at start-up)."""
        if self._outbox is None:
            from smooch_desktop.core.outbox import Outbox

            self._outbox = Outbox(paths.data_dir() / "outbox.sqlite3")
        if self._outbox.on_rewritten is None:
            self._outbox.on_rewritten = functools.partial(self._storageNotice.emit, "outboxFile")
        return self._outbox

    @property
    def drafts(self) -> DraftStore:
        if self._drafts is None:
            from smooch_desktop.core.drafts import DraftStore

            self._drafts = DraftStore(paths.data_dir() / "drafts.sqlite3")
        if self._drafts.on_rewritten is None:
            self._drafts.on_rewritten = functools.partial(self._storageNotice.emit, "draftsFile")
        return self._drafts

    def open_stores(self) -> None:
        """Open the outbox and drafts now, so errors surface here (see app.run_gui)."""
        _ = self.outbox, self.drafts
        self._open_inbox()

    def _open_inbox(self) -> InboxStore | None:
        """The conversation list's store, beside the outbox; a cache, so a file that can't
        be opened only leaves the list empty (said in the notice bar)."""
        if self._inbox is None:
            import sqlite3

            from smooch_desktop.core.inbox import InboxStore

            try:
                self._inbox = InboxStore(paths.data_dir() / "inbox.sqlite3")
            except (OSError, sqlite3.Error) as exc:
                self._storageNotice.emit("inboxFile", f"The conversation list can't be kept: {exc}")
                return None
            self._inbox.on_rewritten = functools.partial(self._storageNotice.emit, "inboxFile")
        return self._inbox

    @property
    def secrets(self) -> SecretStore:
        """The keychain, opened on first use (keyring is not needed to paint the window)."""
        if self._secrets is None:
            from smooch_desktop.core.secrets import SecretStore

            self._secrets = SecretStore()
        return self._secrets

    @property
    def session_secrets(self) -> SessionSecrets:
        if self._session_secrets is None:
            from smooch_desktop.core.secrets import SessionSecrets

            self._session_secrets = SessionSecrets()
        return self._session_secrets

    # Start-up -------------------------------------------------------------------------------
    def start(self) -> None:
        """Show the window at once; connect (sandbox, network stack, keychain) after it paints.

        The window is usable for typing from its first paint; what needs the network
        arrives a moment later, so start-up feels as fast as a bare Qt window.
        """
        self._open_window(None, defer_conversation=True)
        assert self.window is not None
        self.window.show_connecting("Connecting…")
        if self.args.user_id:
            self.window.preselect_user(self.args.user_id)  # the composer takes text at once
        self.window.installEventFilter(self)
        self._first_paint_seen = False
        # Fallback in case no paint event is delivered (minimised, no screen).
        QTimer.singleShot(300, self._after_first_paint)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and watched is self.window:
            watched.removeEventFilter(self)
            # A short pause lets the window system present the first frame (and events
            # queued behind it run) before the heavier connection work starts.
            QTimer.singleShot(PHASE_TWO_DELAY_MS, self._after_first_paint)
        return False

    @Slot()
    def _after_first_paint(self) -> None:
        if self._first_paint_seen or self._shut_down:
            return
        self._first_paint_seen = True
        if not gc.isenabled():
            # Paused by app.run_gui for the start-up. Not gc.freeze(): the first window's
            # reference cycles must stay collectable once a profile change replaces it.
            gc.enable()
        self.finish_start()

    def finish_start(self) -> None:
        """Phase two: open the stores, start the sandbox if asked, open the session."""
        import sqlite3

        from smooch_desktop.core.drafts import DraftStoreTooNew
        from smooch_desktop.core.outbox import OutboxError

        try:
            self.open_stores()
        except (OSError, OutboxError, DraftStoreTooNew, sqlite3.Error) as exc:
            # Without its outbox the app can't promise anything about messages: stop here.
            from smooch_desktop.ui.startup_errors import report_fatal

            report_fatal(f"can't open the app's data ({paths.data_dir()}): {exc}", self.window)
            QApplication.exit(1)
            return
        self._listen_for_other_starts()
        if self.args.sandbox and self.sandbox is None:
            reason = self._start_sandbox()
            if reason:
                print(f"smooch-desktop: can't start the sandbox: {reason}", file=sys.stderr)
                QApplication.exit(2)
                return
            for key in ("base_url", "app_id", "key_id", "secret"):
                print(f"{key}={getattr(self.sandbox, key)}", flush=True)
        self._set_app_icon()
        wanted = self._keychain_wanted()
        if wanted is not None:
            # The keychain can block (an unlock prompt): read it on its own thread.
            self._prefetch_secret(wanted, self._connect_at_start)
            return
        self._connect_at_start()

    def _start_sandbox(self) -> str:
        """Start the built-in sandbox on loopback; "" when it runs, else why it can't."""
        from smooch_desktop.sandbox import SandboxServer

        try:
            self.sandbox = SandboxServer(host="127.0.0.1", port=self.args.sandbox_port).start()
        except OSError as exc:
            return str(exc.strerror or exc)
        self._owns_sandbox = True
        return ""

    @Slot()
    def try_sandbox(self) -> None:
        """Start the sandbox on demand (the connection dialog offers it) and connect to it."""
        if self._shut_down:
            return
        reason = self._start_sandbox() if self.sandbox is None else ""
        if reason:
            if self.window is not None:
                self.window.status_profile.setText(f"Can't start the sandbox: {inline(reason)}")
            return
        self.switch_sandbox_version(self._sandbox_start_version().value)

    def _listen_for_other_starts(self) -> None:
        """Let a second start of the app bring this window forward instead of failing."""
        if self.instance_dir is None or self._instance_server is not None:
            return
        from smooch_desktop.ui.single_instance import InstanceServer, server_name

        server = InstanceServer(server_name(self.instance_dir), self)
        if not server.listen():
            log.warning("later starts can't reach this one: %s", server.name)
            return
        server.activationRequested.connect(self.bring_to_front)
        self._instance_server = server

    @Slot(str)
    def bring_to_front(self, user_id: str = "") -> None:
        """Show, raise and focus the window; open ``user_id``'s conversation if it is valid."""
        window = self.window
        if window is None or self._shut_down:
            return
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        if QApplication.platformName() == "xcb":
            # An X11 focus request carries the time of the last X event the app saw, and
            # the server (or the window manager) ignores one older than the last focus
            # change. Changing a property of our window makes the server send a fresh
            # time (a PropertyNotify), as GTK does for the same purpose; ask after it.
            title = window.windowTitle()
            window.setWindowTitle(title + " ")
            window.setWindowTitle(title)
            QTimer.singleShot(50, window, window.activateWindow)
        else:
            window.activateWindow()
        if not user_id:
            return
        # As for --user-id at start: a bad ID gets its message under the User field.
        if self.session is not None:
            window.select_user(user_id)
        else:
            window.preselect_user(user_id)

    def _connect_at_start(self) -> None:
        session, problem = self._resolve_session()
        self._attach(session)
        self._setup_tray()
        self._setup_notifications()
        moved = [
            str(path)
            for path in (self.outbox.recovered_from, self.drafts.recovered_from)
            if path is not None
        ]
        if moved and self.window is not None:
            # A damaged file was set aside (not deleted): say where, it may hold unsent text.
            from smooch_desktop.ui.plain import warning

            warning(
                self.window,
                "Damaged data file set aside",
                "A damaged data file could not be read and was moved aside, not deleted:\n"
                + "\n".join(moved)
                + "\nIt may contain unsent messages or drafts.",
            )
        if problem and self.window is not None:
            self.window.status_profile.setText(problem)
            QTimer.singleShot(0, self.open_connection_dialog)

    def _resolve_session(self) -> tuple[Session | None, str]:
        from smooch_desktop.api.auth import AuthMethod, Credentials
        from smooch_desktop.api.factory import ApiVersion
        from smooch_desktop.api.hosts import validate_base_url, zendesk_base_url

        args = self.args
        method = AuthMethod(args.auth or "basic")
        if self.sandbox is not None:
            return self._sandbox_session(self._sandbox_start_version()), ""
        # app.main has refused a version this build can't speak, and v1.1 with a Zendesk
        # host; a Zendesk host speaks v2 only.
        zendesk = args.zendesk_subdomain
        version = ApiVersion(args.api_version or (ApiVersion.V2 if zendesk else ApiVersion.V1_1))
        if args.base_url or zendesk:
            # Validated by app.main; the subdomain reduced to its label there.
            base_url = zendesk_base_url(zendesk) if zendesk else validate_base_url(args.base_url)
            profile = args.profile or COMMAND_LINE_PROFILE
            env_problem = self._env_secret_problem()
            if env_problem:
                return None, env_problem
            secret = self._env_secret() or self._keychain_secret(profile, args.key_id)
            if not secret:
                return None, (
                    f"No secret for key {inline(args.key_id)}: set ${SECRET_ENV} or save it in "
                    "Connection settings."
                )
            creds = Credentials(args.key_id, secret, method)
            gravatar = gravatar_base_for(base_url)
            api = connect_api(version, base_url, args.app_id, creds, gravatar)
            # A saved profile of that name shares its messages and drafts (as before ids);
            # otherwise "" gives the stable id of the name.
            saved = next((p for p in self.settings.profiles() if p.name == profile), None)
            profile_id = saved.id if saved is not None else ""
            return Session(profile, api, api.host, gravatar, profile_id, protocol=version), ""
        chosen = self._start_profile()
        if chosen is None and args.profile:
            return None, f"No connection profile named “{inline(args.profile)}”."
        if chosen is None:
            return None, "Not connected yet: set up a connection (File ▸ Connection settings)."
        given = ApiVersion(args.api_version) if args.api_version else None
        return self._session_for_profile(chosen, method if args.auth else None, given)

    # The built-in sandbox connection ------------------------------------------------------
    def _sandbox_start_version(self) -> ApiVersion:
        """``--api-version`` for this run, else the version last chosen in Connection
        settings (when this build still speaks it), else v1.1."""
        from smooch_desktop.api.factory import ApiVersion, version_problem

        if self.args.api_version:
            return ApiVersion(self.args.api_version)  # checked by app.main
        stored = self.settings.sandbox_api_version()
        if stored in set(ApiVersion) and not version_problem(stored):
            return ApiVersion(stored)
        if stored:
            log.warning("sandbox API version %r in the settings not usable; using v1.1", stored)
        return ApiVersion.V1_1

    def _sandbox_session(self, version: ApiVersion) -> Session:
        """A session on the running sandbox: always the one built-in profile, whatever
        the version, so its outbox entries, drafts and recent users carry over."""
        from smooch_desktop.api.auth import AuthMethod, Credentials

        sb = self.sandbox
        assert sb is not None
        creds = Credentials(sb.key_id, sb.secret, AuthMethod(self.args.auth or "basic"))
        avatars = sb.base_url + "/avatar"
        api = connect_api(version, sb.base_url, sb.app_id, creds, avatars)
        return Session(SANDBOX_PROFILE, api, api.host, avatars, protocol=version)

    @property
    def on_sandbox(self) -> bool:
        """True while the session is the built-in sandbox connection."""
        from smooch_desktop.core.profiles import legacy_profile_id

        session = self.session
        return (
            self.sandbox is not None
            and session is not None
            and session.profile_id == legacy_profile_id(SANDBOX_PROFILE)
        )

    def _sandbox_connection(self) -> BuiltinConnection:
        """The sandbox as the connection dialog lists it (the version now in use)."""
        from smooch_desktop.api.auth import AuthMethod
        from smooch_desktop.api.factory import ApiVersion
        from smooch_desktop.ui.connection.form import BuiltinConnection

        sb = self.sandbox
        assert sb is not None
        session = self.session
        if self.on_sandbox and session is not None:
            version = ApiVersion(session.protocol)
        else:
            version = self._sandbox_start_version()
        return BuiltinConnection(
            SANDBOX_PROFILE,
            sb.base_url,
            sb.app_id,
            sb.key_id,
            sb.secret,
            AuthMethod(self.args.auth or "basic"),
            version,
        )

    @Slot(str)
    def switch_sandbox_version(self, version: str) -> None:
        """Connect to the running sandbox with API ``version`` and remember the choice.

        The window is rebuilt as for a profile change (:meth:`_reconnect`): the selected
        user, the composer's text and the draft stay. The profile stays the same built-in
        one, so its queued outbox entries continue under the new version; a send already
        on the API thread finishes with the old adapter first (one FIFO thread), and one
        whose outcome is unknown is checked in the history through the new one.
        """
        from smooch_desktop.api.factory import ApiVersion, version_problem

        if self.sandbox is None or self._shut_down:
            return
        chosen = ApiVersion(version)
        if version_problem(chosen):
            return  # the dialog never offers it
        self.settings.set_sandbox_api_version(chosen.value)
        try:
            self.settings.sync()
        except OSError as exc:
            log.warning("%s", exc)
        if self.on_sandbox and self.session is not None and self.session.protocol == chosen:
            return  # already connected that way
        self._reconnect(self._sandbox_session(chosen))

    def _start_profile(self) -> Profile | None:
        """The saved profile start-up connects with: ``--profile``, else the active one, else
        the first (None: there is none, or ``--profile`` names none)."""
        profiles = {p.name: p for p in self.settings.profiles()}
        if self.args.profile:
            return profiles.get(self.args.profile)
        active = profiles.get(self.settings.active_profile_name())
        return active or next(iter(profiles.values()), None)

    def _session_for_profile(
        self, profile: Profile, method: AuthMethod | None = None, version: ApiVersion | None = None
    ) -> tuple[Session | None, str]:
        """The session for a saved profile (None and one sentence when it can't be used).

        ``method`` and ``version`` come from the command line (``--auth``,
        ``--api-version``) and replace the profile's own.
        """
        from smooch_desktop.api import factory
        from smooch_desktop.api.auth import AuthMethod, Credentials
        from smooch_desktop.api.hosts import base_url_for

        env_problem = self._env_secret_problem()
        if env_problem:
            return None, env_problem
        secret = self._env_secret() or self._keychain_secret(profile.name, profile.key_id)
        if not secret:
            name = inline(profile.name)
            return None, f"No secret for profile “{name}”: enter it in Connection settings."
        unusable = profile.unusable_reason(
            auth_given=method is not None, version_given=version is not None
        )
        if unusable:
            return None, f"Profile “{inline(profile.name)}” is not usable: {inline(unusable)}."
        version = version or profile.api_version
        try:
            base_url = base_url_for(profile.region, profile.base_url, profile.zendesk_subdomain)
            problem = factory.version_problem(version, profile.region)
            if problem:
                raise ConfigError("api_version", problem)
            creds = Credentials(profile.key_id, secret, method or AuthMethod(profile.auth))
            gravatar = gravatar_base_for(base_url)
            api = connect_api(version, base_url, profile.app_id, creds, gravatar)
        except (ConfigError, ValueError) as exc:
            text = exc.message if isinstance(exc, ConfigError) else str(exc)
            return None, f"Profile “{inline(profile.name)}” is not usable: {inline(text)}"
        return Session(profile.name, api, api.host, gravatar, profile.id, protocol=version), ""

    @staticmethod
    def _env_secret() -> str | None:
        value = os.environ.get(SECRET_ENV) or None
        if value is None:
            return None
        try:
            return clean_secret(value)
        except ValidationError:
            return None

    @staticmethod
    def _env_secret_problem() -> str:
        """A message naming $SMOOCH_KEY_SECRET when it is set but unusable (never its value)."""
        value = os.environ.get(SECRET_ENV)
        if not value:
            return ""
        try:
            clean_secret(value)
        except ValidationError as exc:
            return f"${SECRET_ENV}: {exc.message}"
        return ""

    def _keychain_wanted(self) -> tuple[str, str] | None:
        """The (profile, key id) whose secret the start-up session needs from the keychain."""
        args = self.args
        if self.sandbox is not None or os.environ.get(SECRET_ENV):
            return None
        if args.base_url or args.zendesk_subdomain:
            return (args.profile or COMMAND_LINE_PROFILE, args.key_id)
        chosen = self._start_profile()
        if chosen is None or not chosen.key_id:
            return None
        return (chosen.name, chosen.key_id)

    def _prefetch_secret(self, wanted: tuple[str, str], then: Callable[[], None]) -> None:
        """Read one secret on the keychain thread, then continue on the GUI thread."""
        from smooch_desktop.core.secrets import KeychainUnavailable, account_for

        store = self.secrets  # created here, used there: keyring is thread-safe to call
        account = account_for(*wanted)

        def read() -> str | None:
            try:
                return store.get(account)
            except KeychainUnavailable as exc:
                log.warning("keychain unavailable: %s", exc.reason)
                return None

        def done(secret: object) -> None:
            self._prefetched[wanted] = secret if isinstance(secret, str) else None
            then()

        def failed(_exc: BaseException) -> None:
            self._prefetched[wanted] = None
            then()

        self.keychain_tasks.submit(read, done, failed, kind="keychain", owner=self)

    def _keychain_secret(self, profile: str, key_id: str) -> str | None:
        """The secret for a profile: session-only, or read ahead by :meth:`_prefetch_secret`.

        Never calls the keychain itself: this runs on the GUI thread, and a keychain call
        can wait on D-Bus or an unlock prompt.
        """
        from smooch_desktop.core.secrets import account_for

        if not profile or not key_id:
            return None
        found = self.session_secrets.get(account_for(profile, key_id))
        if found:
            return found
        return self._prefetched.pop((profile, key_id), None)

    def _open_window(self, session: Session | None, *, defer_conversation: bool = False) -> None:
        """A new main window (the first one, or after the connection profile changed)."""
        old = self.window
        if old is not None:
            old.close()
            old.deleteLater()
        window = MainWindow(
            self.settings,
            None,
            None,
            self._drafts,
            self.api_tasks,
            self.avatars,
            defer_conversation=defer_conversation,
        )
        window.connectionSettingsRequested.connect(self.open_connection_dialog)
        window.liveUpdatesRequested.connect(self.open_live_updates)
        window.notify.connect(self._notify)
        window.doNotDisturbToggled.connect(self.set_do_not_disturb)
        window.storageProblem.connect(self._on_storage_problem)
        self._add_inbox_pane(window)
        if session is None and old is None:
            self._show_cached_list()
        for key, text in self._notices.items():
            window.set_notice(key, text)
        window.show()
        self.window = window
        if session is not None:
            self._attach(session)

    def _attach(self, session: Session | None, problem: str = "") -> None:
        """Give the window its session and delivery, replacing any previous one."""
        from smooch_desktop.ui.delivery import DeliveryService

        old_delivery, self.delivery = self.delivery, None
        if old_delivery is not None:
            old_delivery.retire()
        if self.live_updates is not None:  # its webhook goes with the old session's API
            self.live_updates.detach()
        if self.session is not None and self.session is not session:
            self.api_tasks.submit(self.session.api.close, kind="close")
        if old_delivery is not None:
            # A send queued or running on the API thread still reports through the old
            # service: delete it only once the thread has run past it (one FIFO).
            self.api_tasks.submit(
                _nothing,
                functools.partial(_delete_later, old_delivery),
                kind="retire",
                owner=old_delivery,
            )
        self.session = session
        if session is not None:
            self.delivery = DeliveryService(
                self.outbox,
                self.api_tasks,
                session.profile_id,
                session.api,
                self,
                uploads=self.upload_tasks,
            )
            self.delivery.recoveryProblem.connect(functools.partial(self._set_notice, "outbox"))
            self.delivery.recovered.connect(self._on_recovered)
            if old_delivery is not None and old_delivery.profile == session.profile_id:
                # Same profile, new session (the sandbox's other API version): what the
                # old one still finishes shows in the new window.
                old_delivery.entryChanged.connect(self.delivery.entryChanged)
        assert self.window is not None
        if self.inbox_pane is not None:  # the list from cache, before any request
            self.inbox_pane.attach(
                self._open_inbox(), session, self.delivery, demo_users=self._demo_users()
            )
        self._attach_live_updates(session)
        self.window.ensure_conversation()
        self.window.attach_session(session, self.delivery, self.drafts)
        if self.delivery is not None:
            # Recovery runs once per process, when it succeeds (it is retried on a full disk).
            self.delivery.start(recover=not self._recovered)
        if session is not None:
            self._check_connection(session)

    def _attach_live_updates(self, session: Session | None) -> None:
        if self.live_updates is None and session is not None:
            from smooch_desktop.ui.inbox.live_updates import LiveUpdates

            self.live_updates = LiveUpdates(self.api_tasks, self.settings, self)
        if self.live_updates is not None:
            store = self._inbox if session is not None else None
            self.live_updates.attach(
                session, store, self.inbox_pane, self.window, sandbox=self.on_sandbox
            )

    @Slot()
    def open_live_updates(self) -> None:
        """View ▸ Live updates…: webhooks on or off for the session's profile."""
        if self.window is None:
            return
        if self.live_updates is None:
            from smooch_desktop.ui.inbox.live_updates import LiveUpdates

            self.live_updates = LiveUpdates(self.api_tasks, self.settings, self)
        self.live_updates.open_dialog(self.window)

    def _add_inbox_pane(self, window: MainWindow) -> None:
        from smooch_desktop.ui.inbox.pane import InboxPane

        pane = InboxPane(self.api_tasks, self.avatars)
        window.add_left_pane(pane)
        pane.bind_window(window)
        pane.unreadChanged.connect(self._on_unread_changed)
        pane.conversationUpdated.connect(self._on_conversation_updated)
        pane.conversationRead.connect(self._on_conversation_read)
        self.inbox_pane = pane

    def _show_cached_list(self) -> None:
        """The first window's list from the cache kept by the last run, before it is shown:
        the first frame has it, long before the session's first request."""
        path = paths.data_dir() / "inbox.sqlite3"
        if self.inbox_pane is None or not path.exists():  # a first run: nothing to import
            return
        profile_id, version = self._start_profile_and_version()
        if profile_id:
            from smooch_desktop.core.inbox import read_listed

            rows = read_listed(path, profile_id, main_only=version != "v2")
            self.inbox_pane.show_cached(rows)

    def _start_profile_and_version(self) -> tuple[str, str]:
        """The profile id ("" when there is none) and API version the start-up session
        will have, as :meth:`_resolve_session` picks them, without building the session
        (v1.1 lists only the users' main conversations)."""
        args = self.args
        if args.sandbox:
            return SANDBOX_PROFILE_ID, args.api_version or self.settings.sandbox_api_version()
        from smooch_desktop.core.profiles import legacy_profile_id

        if args.base_url or args.zendesk_subdomain:
            name = args.profile or COMMAND_LINE_PROFILE
            saved = next((p for p in self.settings.profiles() if p.name == name), None)
            profile_id = saved.id if saved is not None else legacy_profile_id(name)
            return profile_id, args.api_version or ("v2" if args.zendesk_subdomain else "v1.1")
        chosen = self._start_profile()
        if chosen is None:
            return "", ""
        return chosen.id, args.api_version or chosen.api_version

    def _demo_users(self) -> list[DemoUser]:
        """The sandbox's demo users who wrote in, on the built-in sandbox connection."""
        from smooch_desktop.ui.inbox.pane import sandbox_demo_users

        if self.sandbox is None or not self.on_sandbox:
            return []
        return list(sandbox_demo_users(self.sandbox))

    @Slot(int)
    def _on_unread_changed(self, total: int) -> None:
        if self.tray is not None:
            from smooch_desktop.ui.inbox.pane import title_for

            self.tray.setToolTip(title_for(total))

    @Slot()
    def _on_recovered(self) -> None:
        self._recovered = True

    @Slot(str, str)
    def _set_notice(self, key: str, text: str) -> None:
        """Show (or, with "", clear) a notice about the app's data in the window."""
        if text:
            self._notices[key] = text
        else:
            self._notices.pop(key, None)
        if self.window is not None:
            self.window.set_notice(key, text)

    @Slot(str)
    def _on_storage_problem(self, text: str) -> None:
        self._notify("Your text may not be kept", text)

    def _check_connection(self, session: Session) -> None:
        self.api_tasks.submit(
            session.api.check_connection,
            self._on_connection_ok,
            self._on_connection_error,
            kind="check",
        )

    def _on_connection_ok(self, _result: object) -> None:
        if self.window is not None:
            self.window.set_call_ok("connected")

    def _on_connection_error(self, exc: BaseException) -> None:
        text = inline(exc.user_message if isinstance(exc, ApiError) else str(exc))
        if self.window is not None:
            self.window.set_call_failed(f"connection: {text}")
            shown = inline(text, 300, one_line=True)
            self.window.statusBar().showMessage(f"Can't reach the API: {shown}", 15000)

    # Connection settings -------------------------------------------------------------------
    @Slot()
    def open_connection_dialog(self) -> None:
        from smooch_desktop.ui.connection.dialog import ConnectionDialog

        if self._dialog is not None:
            self._dialog.raise_()
            return
        builtin = self._sandbox_connection() if self.sandbox is not None else None
        dialog = ConnectionDialog(
            self.settings,
            self.secrets,
            self.session_secrets,
            self.keychain_tasks,
            self.window,
            select=SANDBOX_PROFILE if self.on_sandbox else None,
            builtin=builtin,
            offer_sandbox=self.sandbox is None,
        )
        dialog.set_profile_data(self._profile_data())
        dialog.profileSaved.connect(self.switch_profile)
        dialog.builtinChosen.connect(self.switch_sandbox_version)
        dialog.sandboxRequested.connect(self.try_sandbox)
        dialog.profileDeleted.connect(self._on_profile_deleted)
        dialog.finished.connect(self._on_dialog_finished)
        self._dialog = dialog
        dialog.open()

    def _profile_data(self) -> ProfileData | None:
        """What the dialog asks before deleting a profile with messages (stores open only)."""
        from smooch_desktop.core.profiles import ProfileData

        if self._outbox is None or self._drafts is None:
            return None
        return ProfileData(self._outbox, self._drafts)

    @Slot(int)
    def _on_dialog_finished(self, _code: int) -> None:
        if self._dialog is not None:
            self._dialog.deleteLater()
        self._dialog = None

    @Slot(str)
    def _on_profile_deleted(self, name: str) -> None:
        """The profile in use was deleted: disconnect (its secret is gone from the keychain)."""
        if self.session is not None and self.session.profile == name and self.sandbox is None:
            if self.window is not None:
                self.window.typing.set_user("")  # end any "typing…" while we still can
            self._attach(None)

    @Slot(str)
    def switch_profile(self, name: str) -> None:
        """Make the saved profile ``name`` the active one and reconnect with it."""
        profile = next((p for p in self.settings.profiles() if p.name == name), None)
        if profile is None:
            return
        self.settings.set_active_profile_name(name)
        if profile.key_id and not os.environ.get(SECRET_ENV):
            # Queued behind the dialog's own keychain write (same FIFO thread): reads it back.
            wanted = (profile.name, profile.key_id)
            self._prefetch_secret(wanted, lambda: self._apply_profile(name))
        else:
            self._apply_profile(name)

    def _apply_profile(self, name: str) -> None:
        profile = next((p for p in self.settings.profiles() if p.name == name), None)
        if profile is None or self._shut_down:
            return
        session, problem = self._session_for_profile(profile)
        self._reconnect(session, problem)

    def _reconnect(self, session: Session | None, problem: str = "") -> None:
        """A new window on ``session`` that keeps the user, the typed text and the draft.

        ``problem`` is shown in the status bar when there is no session.
        """
        old = self.window
        user_text = old.user_panel.combo.currentText().strip() if old else ""
        typed = old.composer.text() if old else ""
        if old is not None:
            old.save_draft()
        self._open_window(session)
        if self.window is not None:
            if user_text:
                if session is not None:
                    self.window.select_user(user_text)
                else:
                    self.window.preselect_user(user_text)
            # Whatever was in the box survives the new window (never lose typed text).
            if typed.strip() and typed not in self.window.composer.text():
                self.window.composer.set_text(typed)
        if session is None and self.window is not None:
            self.window.status_profile.setText(problem)

    # Icon, tray and notifications ----------------------------------------------------------
    @staticmethod
    def _set_app_icon() -> None:
        """The app icon for every window (set after the first paint: loading SVG costs)."""
        from PySide6.QtGui import QIcon

        try:
            from smooch_desktop.resources import app_icon_path

            path = app_icon_path()
        except (ImportError, FileNotFoundError):
            return
        QApplication.setWindowIcon(QIcon(str(path)))

    def _setup_tray(self) -> None:
        from PySide6.QtWidgets import QSystemTrayIcon  # phase two: not needed to paint

        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        icon = QApplication.windowIcon()
        self.tray = QSystemTrayIcon(icon, self)
        from smooch_desktop.ui.inbox.pane import title_for

        total = self.inbox_pane.unread_total if self.inbox_pane is not None else 0
        self.tray.setToolTip(title_for(total))
        self.tray.activated.connect(self._on_tray_activated)
        from PySide6.QtWidgets import QMenu

        menu = QMenu()
        menu.addAction(f"Show {appinfo.NAME}", self.bring_to_front)
        self._tray_dnd = menu.addAction("Do not disturb")
        self._tray_dnd.setCheckable(True)
        self._tray_dnd.setChecked(self.settings.do_not_disturb())
        self._tray_dnd.toggled.connect(self.set_do_not_disturb)
        menu.addSeparator()
        menu.addAction("Quit", self._close_from_signal)
        self._tray_menu = menu
        self.tray.setContextMenu(menu)
        self.tray.show()

    def _setup_notifications(self) -> None:
        """Desktop notifications: the session bus's service, else the tray, else none."""
        if self.notifier is not None:
            return
        from smooch_desktop.ui.notifications import Notifier, default_backends

        self._notify_tasks = TaskQueue("notifications", self)
        self.task_errors.watch(self._notify_tasks)
        self.notifier = Notifier(
            default_backends(self._notify_tasks, self.tray, self),
            self._looking_at,
            do_not_disturb=self.settings.do_not_disturb(),
            parent=self,
        )
        self.notifier.openRequested.connect(self._open_from_notification)

    def _looking_at(self, key: ConversationKey) -> bool:
        return self.inbox_pane is not None and self.inbox_pane.looking_at(key)

    @Slot(object, object, object)
    def _on_conversation_updated(
        self, key: ConversationKey, update: HistoryUpdate, row: InboxRow | None
    ) -> None:
        session = self.session
        if self.notifier is not None and session is not None and key.profile == session.profile_id:
            poller = self.inbox_pane.poller if self.inbox_pane is not None else None
            started = poller.start_in_server_time() if poller is not None else None
            self.notifier.conversation_updated(key, update, row, started_at=started)

    @Slot(object)
    def _on_conversation_read(self, key: ConversationKey) -> None:
        if self.notifier is not None:
            self.notifier.read(key)

    @Slot(object)
    def _open_from_notification(self, key: ConversationKey | None) -> None:
        """A click on a notification: the window comes forward, on that conversation."""
        same = (
            self.session is not None and key is not None and key.profile == self.session.profile_id
        )
        self.bring_to_front()
        if same and key is not None and self.window is not None and not self._shut_down:
            self.window.open_conversation(key.user_ref, key.conversation_id)

    @Slot(bool)
    def set_do_not_disturb(self, on: bool) -> None:
        """Do not disturb: no notifications (remembered; the unread marks still show)."""
        self.settings.set_do_not_disturb(on)
        if self.notifier is not None:
            self.notifier.set_do_not_disturb(on)
        for action in (
            self._tray_dnd,
            self.window.dnd_action if self.window is not None else None,
        ):
            if action is not None and action.isChecked() != on:
                action.blockSignals(True)
                action.setChecked(on)
                action.blockSignals(False)

    @Slot(str, str)
    def _notify(self, title: str, text: str) -> None:
        # Titles are the app's own; the body may quote end users: bounded and escaped
        # by the backend that shows it.
        if self.notifier is not None:
            self.notifier.app_message(title, text)
        elif self.tray is not None:
            from smooch_desktop.ui.plain import notification_text

            icon = self.tray.MessageIcon.Information
            self.tray.showMessage(title, notification_text(text), icon, 8000)

    @Slot(object)
    def _on_tray_activated(self, _reason: object) -> None:
        if self.window is not None:
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()

    # Shutdown -------------------------------------------------------------------------------
    def request_quit_from_signal(self, _signum: int, _frame: object) -> None:
        QTimer.singleShot(0, self._close_from_signal)

    @Slot()
    def _close_from_signal(self) -> None:
        if self.window is not None:
            self.window.close()
        QApplication.quit()

    def shutdown(self) -> None:
        """Called after the event loop ends: let the last calls (typing:stop) finish."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.window is not None and not self.window.is_closing:
            self.window.close()
        if self.tray is not None:
            self.tray.hide()
        if self._notify_tasks is not None:
            self._notify_tasks.stop(1000)
        if self.notifier is not None:
            self.notifier.close()
        if self._tray_menu is not None:
            self._tray_menu.deleteLater()
        if self._instance_server is not None:
            self._instance_server.close()
        if self.delivery is not None:
            self.delivery.abandon_uploads()  # kept queued: uploaded at the next start
        if self.inbox_pane is not None:
            self.inbox_pane.shutdown()
        if self.live_updates is not None:  # this run's webhook is deleted before the queue stops
            self.live_updates.shutdown()
        self.upload_tasks.stop(2000)
        self.api_tasks.stop(4000)
        self.keychain_tasks.stop(1000)
        self.avatars.stop()
        if self.session is not None:
            self.session.api.close()
        if self._outbox is not None:
            self._outbox.close()
        if self._drafts is not None:
            self._drafts.close()
        if self._inbox is not None:
            self._inbox.close()
        if self._owns_sandbox and self.sandbox is not None:
            self.sandbox.stop()
        try:
            self.settings.sync()
        except OSError as exc:
            log.warning("%s", exc)
