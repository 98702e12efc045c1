"""UI fixtures: the window stack of ``ui_stack.py`` against the ``sandbox`` fixture.

No test here talks to the developer's desktop session bus (``no_desktop_bus``).

Teardown closes the windows (their ``typing:stop`` goes out first), stops both worker
threads and closes the stores; it fails the test if a worker thread outlived its stop or
a top-level widget was left open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from memory_keyring import MemoryKeyring
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from ui_stack import UiStack, build_stack, drain_deferred_deletes

from smooch_desktop.core import paths
from smooch_desktop.core.inbox import InboxStore
from smooch_desktop.ui import workers
from smooch_desktop.ui.inbox.pane import InboxPane, sandbox_demo_users
from smooch_desktop.ui.main_window import MainWindow

#: The conversation list's budget in tests: the scheduler's maximum (600 requests a
#: minute), so a round over the demo users takes well under a second instead of ten.
FAST_RPM = 600.0

#: The test modules these fixtures were written for (others in this folder keep their rules).
_OWN_MODULES = frozenset(
    {
        "test_main_window.py",
        "test_sender_panel.py",
        "test_user_panel.py",
        "test_composer.py",
        "test_typing_sender.py",
        "test_secrets_audit.py",
        "test_edit_unsent.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if path.parent == here and path.name in _OWN_MODULES:
            # The offscreen platform says this for every shown top-level window; harmless.
            item.add_marker(pytest.mark.qt_log_ignore("propagateSizeHints"))


@pytest.fixture(autouse=True)
def no_desktop_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here reaches the developer's desktop session bus (it would show real
    notifications there): a bus address that leads nowhere, unless a test starts its own
    private bus (``notification_server.private_session_bus``)."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/smooch-tests-no-bus")


@pytest.fixture
def leak_guard(qapp: QApplication) -> Iterator[None]:
    """Fail a test that leaves a worker thread running or a visible top-level widget."""
    before_widgets = {id(w) for w in QApplication.topLevelWidgets()}
    before_orphans = len(workers._ORPHANS)
    yield
    drain_deferred_deletes()
    left: list[QWidget] = [
        w for w in QApplication.topLevelWidgets() if id(w) not in before_widgets and w.isVisible()
    ]
    assert not left, f"top-level widgets left open: {[w.objectName() or w for w in left]}"
    assert len(workers._ORPHANS) == before_orphans, "a worker thread outlived its stop()"


@pytest.fixture
def stack_factory(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> Iterator[Callable[..., UiStack]]:
    made: list[UiStack] = []

    def make(**options: Any) -> UiStack:
        options.setdefault("api_version", api_version)
        stack = build_stack(sandbox, qtbot, **options)
        made.append(stack)
        return stack

    yield make
    for stack in reversed(made):
        stack.shutdown()


@pytest.fixture
def stack(stack_factory: Callable[..., UiStack]) -> UiStack:
    return stack_factory()


@pytest.fixture
def window(stack: UiStack) -> MainWindow:
    return stack.new_window()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """An in-memory keychain for the test (the real one is never touched), restored after."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def inbox() -> Iterator[InboxStore]:
    """The conversation list's store, where the app keeps it (the test's data dir)."""
    store = InboxStore(paths.data_dir() / "inbox.sqlite3")
    yield store
    store.close()


@pytest.fixture
def open_list(
    stack: UiStack, inbox: InboxStore
) -> Iterator[Callable[..., tuple[MainWindow, InboxPane]]]:
    """A window with the conversation list, wired as the controller wires it (``demo``:
    the sandbox's demo users listed, as with ``--sandbox``)."""
    import shiboken6

    panes: list[InboxPane] = []

    def make(*, demo: bool = True) -> tuple[MainWindow, InboxPane]:
        window = stack.new_window()
        pane = InboxPane(stack.tasks, stack.avatars, requests_per_minute=FAST_RPM)
        window.add_left_pane(pane)
        pane.bind_window(window)
        demo_users = sandbox_demo_users(stack.sandbox) if demo else []
        pane.attach(inbox, stack.session, stack.delivery, demo_users=demo_users)
        panes.append(pane)
        return window, pane

    yield make
    for pane in panes:
        if shiboken6.isValid(pane):  # not deleted with its window
            pane.shutdown()
    stack.barrier()  # a poll in flight has applied its page before the store closes


@pytest.fixture
def controller(sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str) -> Iterator[Any]:
    """The app as ``--sandbox --api-version …`` starts it (``AppController``), connected."""
    from ui_stack import dispose_controller

    from smooch_desktop.app import build_parser
    from smooch_desktop.ui.controller import AppController

    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    made = AppController(args, sandbox=sandbox)
    made.start()
    qtbot.waitUntil(lambda: made.session is not None, timeout=10_000)
    yield made
    dispose_controller(made)
