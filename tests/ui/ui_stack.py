"""A MainWindow wired to a real sandbox exactly as ``ui/controller.py`` wires it.

Everything is real: HTTP to the sandbox on loopback, the API ``TaskQueue`` thread, the
avatar loader's thread, the SQLite outbox and drafts under the test's isolated data dir.
Only the delivery engine's timings are shortened (backoff, verify grace) so failure paths
finish in well under a second.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.core import paths
from smooch_desktop.core.delivery import Backoff
from smooch_desktop.core.drafts import DraftStore
from smooch_desktop.core.gravatar import AvatarDiskCache
from smooch_desktop.core.outbox import Outbox
from smooch_desktop.core.profiles import legacy_profile_id
from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.controller import AppController, connect_api
from smooch_desktop.ui.delivery import DeliveryService
from smooch_desktop.ui.main_window import MainWindow, Session
from smooch_desktop.ui.settings import AppSettings, SenderIdentity
from smooch_desktop.ui.workers import TaskQueue

SENDER_NAME = "Sam Tester"
SENDER_EMAIL = "agent@example.com"
PROFILE = "Sandbox"
#: What the outbox and drafts are keyed by (the built-in sandbox profile's stable id).
PROFILE_ID = legacy_profile_id(PROFILE)
DEFAULT_SENDER = SenderIdentity("", SENDER_NAME, SENDER_EMAIL)

#: Engine options that keep failure paths short (the defaults wait seconds).
FAST_DELIVERY: dict[str, Any] = {
    "backoff": Backoff(base_s=0.05, factor=2.0, cap_s=0.3, jitter=0.0),
    "verify_grace_s": 0.1,
}


def type_text(qtbot: QtBot, widget: QWidget, text: str) -> None:
    """Type ``text`` into ``widget``; non-ASCII goes in by Ctrl+V (QTest only types ASCII)."""
    if text.isascii():
        QTest.keyClicks(widget, text)
        return
    QGuiApplication.clipboard().setText(text)
    QTest.keyClick(widget, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)


def drain_deferred_deletes() -> None:
    """Run pending ``deleteLater`` calls now (there is no event loop between tests)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QCoreApplication.processEvents()


def dispose_controller(controller: AppController) -> None:
    """Shut an app controller down as ``app.run_gui`` does, then delete it and its window
    (and with them their timers) before the test ends."""
    controller.shutdown()
    if controller.window is not None:
        controller.window.deleteLater()
    controller.deleteLater()
    drain_deferred_deletes()


@dataclass
class UiStack:
    """The long-lived parts the controller owns, built against one sandbox."""

    sandbox: Any
    qtbot: QtBot
    settings: AppSettings
    api: ConversationApi
    tasks: TaskQueue
    avatars: AvatarLoader
    outbox: Outbox
    drafts: DraftStore
    delivery: DeliveryService
    session: Session
    windows: list[MainWindow] = field(default_factory=list)
    _stopped: bool = False

    @property
    def app_id(self) -> str:
        return str(self.sandbox.app_id)

    def new_window(self, *, show: bool = True) -> MainWindow:
        """A main window on the shared stores and queues (as after a profile change)."""
        window = MainWindow(
            self.settings, self.session, self.delivery, self.drafts, self.tasks, self.avatars
        )
        self.windows.append(window)
        if show:
            window.show()
            self.qtbot.waitExposed(window)
        return window

    def close_window(self, window: MainWindow) -> None:
        window.close()
        window.deleteLater()
        drain_deferred_deletes()
        self.windows.remove(window)

    # Driving the window like a person ---------------------------------------------------------
    def type_user(self, window: MainWindow, user_ref: str, *, enter: bool = True) -> None:
        """Replace the user ID field's text with real key presses (Ctrl+A, type, Return)."""
        edit = window.user_panel.line_edit
        edit.setFocus()
        QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        if user_ref:
            type_text(self.qtbot, edit, user_ref)
        else:
            QTest.keyClick(edit, Qt.Key.Key_Delete)
        if enter:
            QTest.keyClick(edit, Qt.Key.Key_Return)

    def open_user(self, window: MainWindow, user_ref: str) -> None:
        """Pick ``user_ref`` and wait until the user is known and the history is shown."""
        with self.qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            self.type_user(window, user_ref)
        self.wait_history(window, user_ref)

    def wait_history(self, window: MainWindow, user_ref: str) -> None:
        self.qtbot.waitUntil(lambda: window.loaded_address[0] == user_ref, timeout=10_000)

    @contextmanager
    def api_thread_held(self) -> Iterator[None]:
        """Hold the API thread for the block: nothing queued on it (a delivery step) runs.

        Everything queued before has run when the block starts (one FIFO thread).
        """
        entered, release = threading.Event(), threading.Event()

        def hold() -> None:
            entered.set()
            release.wait(10)

        self.tasks.submit(hold, kind="test-hold")
        try:
            self.qtbot.waitUntil(entered.is_set, timeout=10_000)
            yield
        finally:
            release.set()

    def barrier(self, timeout_ms: int = 10_000) -> None:
        """Wait until everything queued on the API thread so far has run."""
        done: list[bool] = []
        self.tasks.submit(lambda: None, lambda _r: done.append(True), kind="barrier")
        self.qtbot.waitUntil(lambda: bool(done), timeout=timeout_ms)

    def messages(self, user_ref: str) -> list[dict[str, Any]]:
        return list(self.sandbox.store.messages(self.app_id, user_ref))

    def activities(self, user_ref: str) -> list[str]:
        return [a["type"] for a in self.sandbox.store.activities(self.app_id, user_ref)]

    def api_calls(self, path_part: str, method: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.sandbox.log()
            if path_part in e["path"] and (method is None or e["method"] == method)
        ]

    # Shutdown, in the controller's order --------------------------------------------------------
    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for window in list(self.windows):
            self.close_window(window)
        assert self.tasks.stop(5000), "the API thread did not stop"
        self.avatars.stop()
        self.api.close()
        self.delivery.deleteLater()
        self.tasks.deleteLater()
        self.avatars.deleteLater()
        drain_deferred_deletes()
        self.outbox.close()
        self.drafts.close()
        self.settings.sync()


def build_stack(
    sandbox: Any,
    qtbot: QtBot,
    *,
    secret: str | None = None,
    method: AuthMethod = AuthMethod.BASIC,
    app_id: str | None = None,
    key_id: str | None = None,
    sender: SenderIdentity | None = DEFAULT_SENDER,
    api_version: str = "v1.1",
    **delivery_options: Any,
) -> UiStack:
    settings = AppSettings()
    if sender is not None:
        settings.set_current_identity(sender)
    creds = Credentials(key_id or sandbox.key_id, secret or sandbox.secret, method)
    version = ApiVersion(api_version)
    avatars_base = sandbox.base_url + "/avatar"
    # The adapter the app's sessions get (connect_api), for either API version.
    api = connect_api(version, sandbox.base_url, app_id or sandbox.app_id, creds, avatars_base)
    tasks = TaskQueue("api")
    avatars = AvatarLoader(AvatarDiskCache(paths.cache_dir() / "avatars"))
    outbox = Outbox(paths.data_dir() / "outbox.sqlite3")
    drafts = DraftStore(paths.data_dir() / "drafts.sqlite3")
    options = {**FAST_DELIVERY, **delivery_options}
    session = Session(PROFILE, api, api.host, avatars_base, protocol=version)
    delivery = DeliveryService(outbox, tasks, session.profile_id, api, **options)
    delivery.start()
    return UiStack(sandbox, qtbot, settings, api, tasks, avatars, outbox, drafts, delivery, session)
