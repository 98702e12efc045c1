"""The two-phase start-up: what is paused before the first paint comes back after it.

``app.run_gui`` switches the cyclic garbage collector off while the window is built
(start-up makes tens of thousands of long-lived objects); the controller switches it back
on once the window has painted. A collector left off would let every reference cycle of
a long session pile up, so these tests run the real controller against the sandbox, on
v1.1 and on v2.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller

from smooch_desktop.app import build_parser
from smooch_desktop.sandbox import SandboxServer
from smooch_desktop.ui.controller import AppController

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def gc_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def start_and_wait(qtbot: QtBot, sandbox: SandboxServer, api_version: str) -> AppController:
    args = build_parser().parse_args(["--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    controller.start()
    qtbot.waitUntil(lambda: controller.stores_open, timeout=10_000)
    return controller


def test_the_collector_paused_for_start_up_runs_again_once_the_window_has_painted(
    qtbot: QtBot, sandbox: SandboxServer, gc_restored: None, api_version: str
) -> None:
    gc.disable()  # as app.run_gui does before it imports the window
    controller = start_and_wait(qtbot, sandbox, api_version)
    try:
        assert gc.isenabled()
        # Still a normal collector: objects made before the paint can be collected.
        assert gc.get_freeze_count() == 0
    finally:
        dispose_controller(controller)


def test_a_collector_the_app_did_not_pause_is_left_as_it_was(
    qtbot: QtBot, sandbox: SandboxServer, gc_restored: None, api_version: str
) -> None:
    gc.enable()
    controller = start_and_wait(qtbot, sandbox, api_version)
    try:
        assert gc.isenabled()
    finally:
        dispose_controller(controller)


#: Loaded only after the first paint: the stores (SQLite), the delivery engine, the API
#: models and their helpers. Importing any of them with the window code costs start-up
#: time (the user panel once pulled in the whole engine for its back-off: +40 ms).
AFTER_FIRST_PAINT = (
    "sqlite3",
    "email.utils",
    "smooch_desktop.core.delivery",
    "smooch_desktop.core.outbox",
    "smooch_desktop.core.drafts",
    "smooch_desktop.core.inbox",
    "smooch_desktop.api.models",
    "smooch_desktop.api.client",
    "smooch_desktop.sandbox",
)


def test_the_window_code_loads_nothing_that_waits_for_the_first_paint() -> None:
    import os
    import subprocess
    import sys

    probe = (
        "import sys, smooch_desktop.app, smooch_desktop.ui.controller, "
        "smooch_desktop.ui.main_window\n"
        f"print([m for m in {AFTER_FIRST_PAINT!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_the_first_frame_lists_the_conversations_kept_by_the_last_run(
    qtbot: QtBot, sandbox: SandboxServer, api_version: str
) -> None:
    """The list paints from the cache in the window's first frame, before the session
    exists (so before any request), newest first, with the unread total in the title."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication, QMainWindow

    from smooch_desktop.api.models import HistoryPage, Message
    from smooch_desktop.core import paths
    from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
    from smooch_desktop.core.profiles import legacy_profile_id
    from smooch_desktop.ui.controller import SANDBOX_PROFILE, SANDBOX_PROFILE_ID

    profile = legacy_profile_id(SANDBOX_PROFILE)
    assert profile == SANDBOX_PROFILE_ID
    store = InboxStore(paths.data_dir() / "inbox.sqlite3")
    for n, user in enumerate(("kept-old", "kept-new", "kept-removed")):
        key = ConversationKey(profile, user)
        store.follow(key, FollowReason.OPENED, display_name=user.title(), at=1000.0 + n)
        first = Message(id=f"a{n}", role="user", text="hello", received=1500.0 + n)
        store.apply_history(key, HistoryPage((first,)))  # seen: what was there when followed
        message = Message(id=f"b{n}", role="user", text=f"hi {n}", received=2000.0 + n)
        store.apply_history(key, HistoryPage((first, message)))  # one new: unread
    store.remove(ConversationKey(profile, "kept-removed"))
    store.follow(ConversationKey("another-profile", "not-mine"), FollowReason.OPENED)
    store.close()

    seen: dict[str, object] = {}

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow) and not seen:
                pane = controller.inbox_pane
                assert pane is not None
                seen["users"] = [row.key.user_ref for row in pane.model.rows()]
                seen["title"] = watched.windowTitle()
                seen["session"] = controller.session
            return False

    probe = FirstPaint()
    app = QApplication.instance()
    assert app is not None
    app.installEventFilter(probe)
    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
        app.removeEventFilter(probe)
        assert seen["users"] == ["kept-new", "kept-old"]
        assert seen["title"] == "(2) Smooch Desktop"
        assert seen["session"] is None  # painted from the cache, before any request
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
    finally:
        app.removeEventFilter(probe)
        dispose_controller(controller)


def test_a_cached_row_opened_before_the_session_exists_is_the_user_once_connected(
    qtbot: QtBot, sandbox: SandboxServer, api_version: str
) -> None:
    from smooch_desktop.api.models import HistoryPage, Message
    from smooch_desktop.core import paths
    from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
    from smooch_desktop.ui.controller import SANDBOX_PROFILE_ID

    store = InboxStore(paths.data_dir() / "inbox.sqlite3")
    key = ConversationKey(SANDBOX_PROFILE_ID, "kept-user")
    store.follow(key, FollowReason.OPENED, display_name="Kept User")
    message = Message(id="m1", role="user", text="hello", received=1.0)
    store.apply_history(key, HistoryPage((message,)))
    store.close()
    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        pane, window = controller.inbox_pane, controller.window
        assert pane is not None and window is not None
        assert controller.session is None
        pane.open_user("kept-user")  # as a click on its row does
        window.composer.edit.insertPlainText("typed at once")
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        assert window.user_panel.current_user_ref() == "kept-user"
        assert window.composer.text() == "typed at once"  # nothing typed is lost
    finally:
        dispose_controller(controller)
