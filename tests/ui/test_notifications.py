"""Desktop notifications (``ui/notifications.py``).

The rules (who is notified, Do not disturb, not for the conversation in view, not for
what was there at start, one per update) with a recording backend injected; the
freedesktop backend against a real notification server on a private session bus
(``dbus-daemon`` and ``tests/notification_server.py``): the ``Notify`` call's summary,
body, ``default`` action and ``replaces_id``, a click, and the fall back to the next
backend when no service answers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from notification_server import NotificationServer, private_session_bus
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from smooch_desktop.core.inbox import (
    ConversationKey,
    FollowReason,
    HistoryUpdate,
    InboxRow,
    Preview,
)
from smooch_desktop.ui import plain
from smooch_desktop.ui.notifications import (
    DEFAULT_ACTION,
    Backend,
    FreedesktopBackend,
    Notifier,
    token_of,
)
from smooch_desktop.ui.workers import TaskQueue

START = 1_000_000.0
ALICE = ConversationKey("profile", "alice")
BOB = ConversationKey("profile", "bob")


class Recorder(Backend):
    """A backend that shows nothing and remembers everything."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[tuple[str, str, str]] = []
        self.withdrawn: list[str] = []

    def show(self, token: str, summary: str, body: str) -> None:
        self.shown.append((token, summary, body))

    def withdraw(self, token: str) -> None:
        self.withdrawn.append(token)


def row(key: ConversationKey, name: str, text: str, at: float, role: str = "user") -> InboxRow:
    return InboxRow(
        key, name, "", "", Preview(text, role, name, at), at, 1, "", FollowReason.OPENED, False
    )


def update(*ids: str) -> HistoryUpdate:
    return HistoryUpdate(True, tuple(ids), len(ids))


class Looking:
    def __init__(self) -> None:
        self.key: ConversationKey | None = None

    def __call__(self, key: ConversationKey) -> bool:
        return key == self.key


@pytest.fixture
def backend() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.deleteLater()


@pytest.fixture
def looking() -> Looking:
    return Looking()


@pytest.fixture
def notifier(backend: Recorder, looking: Looking) -> Iterator[Notifier]:
    made = Notifier([backend], looking, clock=lambda: START)
    yield made
    made.deleteLater()


def test_one_notification_per_update_saying_how_many(notifier: Notifier, backend: Recorder) -> None:
    assert notifier.conversation_updated(ALICE, update("m1"), row(ALICE, "Alice", "Hi", START + 1))
    assert backend.shown == [(token_of(ALICE), "Alice", "Hi")]
    # Three in one poll: one notification, replacing Alice's, saying how many in all.
    assert notifier.conversation_updated(
        ALICE, update("m2", "m3", "m4"), row(ALICE, "Alice", "Still there?", START + 5)
    )
    assert backend.shown[1] == (token_of(ALICE), "Alice", "4 new messages: Still there?")
    assert len(backend.shown) == 2
    # Another conversation has its own.
    notifier.conversation_updated(BOB, update("b1"), row(BOB, "", "Yo", START + 6))
    assert backend.shown[2] == (token_of(BOB), "bob", "Yo")  # no name: the user id


def test_never_for_the_agents_own_messages_nor_an_update_without_new_ones(
    notifier: Notifier, backend: Recorder
) -> None:
    business = HistoryUpdate(True, (), 1)  # the agent's reply moved the preview only
    assert not notifier.conversation_updated(
        ALICE, business, row(ALICE, "Alice", "Our reply", START + 1, role="business")
    )
    assert not notifier.conversation_updated(ALICE, HistoryUpdate(), None)
    assert backend.shown == []


def test_not_for_the_conversation_in_view(
    notifier: Notifier, backend: Recorder, looking: Looking
) -> None:
    looking.key = ALICE
    assert not notifier.conversation_updated(ALICE, update("m1"), row(ALICE, "A", "x", START + 1))
    assert notifier.conversation_updated(BOB, update("b1"), row(BOB, "B", "y", START + 1))
    looking.key = None  # the window went to the background
    assert notifier.conversation_updated(ALICE, update("m2"), row(ALICE, "A", "z", START + 2))
    assert [t for t, _, _ in backend.shown] == [token_of(BOB), token_of(ALICE)]


def test_not_for_what_was_there_at_start(notifier: Notifier, backend: Recorder) -> None:
    # The first update after the start brings messages written while the app was closed.
    assert not notifier.conversation_updated(
        ALICE, update("old1", "old2"), row(ALICE, "A", "old", START - 60)
    )
    # Later ones notify.
    assert notifier.conversation_updated(ALICE, update("new"), row(ALICE, "A", "new", START + 9))
    # A conversation whose first update is newer than the start notifies at once.
    assert notifier.conversation_updated(BOB, update("b"), row(BOB, "B", "now", START + 10))
    assert len(backend.shown) == 2


def test_the_start_is_compared_in_the_servers_time_when_given(
    backend: Recorder, looking: Looking
) -> None:
    # The local clock is an hour ahead of the server: by it, everything is "before the start".
    made = Notifier([backend], looking, clock=lambda: START + 3600)
    try:
        assert made.conversation_updated(
            ALICE, update("m"), row(ALICE, "A", "just now", START + 1), started_at=START
        )
        assert not made.conversation_updated(
            BOB, update("b"), row(BOB, "B", "while closed", START - 60), started_at=START
        )
        assert len(backend.shown) == 1
    finally:
        made.deleteLater()


def test_do_not_disturb(notifier: Notifier, backend: Recorder) -> None:
    notifier.set_do_not_disturb(True)
    assert notifier.do_not_disturb
    assert not notifier.conversation_updated(ALICE, update("m"), row(ALICE, "A", "x", START + 1))
    notifier.set_do_not_disturb(False)
    assert notifier.conversation_updated(ALICE, update("n"), row(ALICE, "A", "y", START + 2))
    assert len(backend.shown) == 1


def test_messages_held_back_by_do_not_disturb_are_counted_in_the_next_one(
    notifier: Notifier, backend: Recorder
) -> None:
    notifier.set_do_not_disturb(True)
    notifier.conversation_updated(ALICE, update("m1"), row(ALICE, "A", "one", START + 1))
    notifier.conversation_updated(ALICE, update("m2"), row(ALICE, "A", "two", START + 2))
    notifier.conversation_updated(BOB, update("b1"), row(BOB, "B", "bee", START + 2))
    # Off again: no burst of what came in meanwhile (the unread marks say it).
    notifier.set_do_not_disturb(False)
    assert backend.shown == []
    # The next one for Alice says how many are new in all, Bob's own next one too.
    assert notifier.conversation_updated(ALICE, update("m3"), row(ALICE, "A", "three", START + 3))
    assert backend.shown == [(token_of(ALICE), "A", "3 new messages: three")]
    assert notifier.conversation_updated(BOB, update("b2"), row(BOB, "B", "bee2", START + 4))
    assert backend.shown[-1] == (token_of(BOB), "B", "2 new messages: bee2")
    # What the agent read meanwhile is not counted again.
    notifier.set_do_not_disturb(True)
    notifier.conversation_updated(ALICE, update("m4"), row(ALICE, "A", "four", START + 5))
    notifier.read(ALICE)
    notifier.set_do_not_disturb(False)
    assert notifier.conversation_updated(ALICE, update("m5"), row(ALICE, "A", "five", START + 6))
    assert backend.shown[-1] == (token_of(ALICE), "A", "five")


def test_messages_seen_in_view_are_not_counted_later(
    notifier: Notifier, backend: Recorder, looking: Looking
) -> None:
    looking.key = ALICE
    notifier.conversation_updated(ALICE, update("m1"), row(ALICE, "A", "seen", START + 1))
    looking.key = None
    assert notifier.conversation_updated(ALICE, update("m2"), row(ALICE, "A", "new", START + 2))
    assert backend.shown == [(token_of(ALICE), "A", "new")]


def test_name_and_text_are_literal_and_bounded(notifier: Notifier, backend: Recorder) -> None:
    name = "<b>Mallory</b>\n" + "x" * 500
    text = "<a href='https://evil.example'>click</a> & " + "y" * 5000
    notifier.conversation_updated(ALICE, update("m"), row(ALICE, name, text, START + 1))
    _token, summary, body = backend.shown[0]
    assert "\n" not in summary and len(summary) <= 81
    assert summary.startswith("<b>Mallory</b>")  # literal: the summary is never markup
    sent = plain.notification_text(body, markup=True)
    assert "<" not in sent and "&amp;" in sent
    assert len(sent) <= 6 * plain.NOTIFICATION_LIMIT


def test_a_click_opens_the_conversation_and_reading_withdraws_it(
    notifier: Notifier, backend: Recorder, qtbot: QtBot
) -> None:
    notifier.conversation_updated(ALICE, update("m"), row(ALICE, "A", "x", START + 1))
    with qtbot.waitSignal(notifier.openRequested) as opened:
        backend.clicked.emit(token_of(ALICE))
    assert opened.args == [ALICE]
    with qtbot.waitSignal(notifier.openRequested) as app_click:
        backend.clicked.emit("")
    assert app_click.args == [None]
    notifier.conversation_updated(BOB, update("b"), row(BOB, "B", "y", START + 1))
    notifier.read(BOB)
    notifier.read(BOB)  # once only
    assert backend.withdrawn == [token_of(BOB)]
    # After reading, the count starts over.
    notifier.conversation_updated(BOB, update("c"), row(BOB, "B", "z", START + 2))
    assert backend.shown[-1][2] == "z"


def test_the_next_backend_takes_over_when_one_is_unavailable(
    backend: Recorder, looking: Looking
) -> None:
    first = Recorder()
    notifier = Notifier([first, backend], looking, clock=lambda: START)
    notifier.conversation_updated(ALICE, update("m"), row(ALICE, "A", "x", START + 1))
    first.unavailable.emit()  # e.g. no notification service on the bus
    assert backend.shown == first.shown  # the one that failed is shown there
    notifier.conversation_updated(BOB, update("b"), row(BOB, "B", "y", START + 1))
    assert len(first.shown) == 1 and len(backend.shown) == 2
    notifier.deleteLater()
    first.deleteLater()


# The freedesktop backend on a real bus ---------------------------------------------------


@pytest.fixture
def bus() -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is not installed (scripts/setup.sh --test installs dbus)")
    with private_session_bus() as address:
        yield address


@pytest.fixture
def notify_tasks() -> Iterator[TaskQueue]:
    tasks = TaskQueue("notifications")
    yield tasks
    assert tasks.stop(5000)
    tasks.deleteLater()


def _backend(tasks: TaskQueue, parent: QObject | None = None) -> FreedesktopBackend:
    return FreedesktopBackend(tasks, parent)


def test_freedesktop_notify_replace_click_and_close(
    bus: str, notify_tasks: TaskQueue, qtbot: QtBot
) -> None:
    server = NotificationServer()
    fd = _backend(notify_tasks)
    try:
        fd.show("alice-token", "Alice", "Hi <there> & you")
        qtbot.waitUntil(lambda: "alice-token" in fd.shown, timeout=5_000)
        first = server.notifications()[0]
        assert first.summary == "Alice"
        assert first.body == "Hi &lt;there&gt; &amp; you"  # escaped for a markup reader
        assert first.actions[:1] == [DEFAULT_ACTION]
        assert first.app_name == "Smooch Desktop"
        assert first.replaces_id == 0
        # The same conversation again: replaces its notification instead of stacking.
        fd.show("alice-token", "Alice", "2 new messages: again")
        qtbot.waitUntil(lambda: len(server.notifications()) == 2, timeout=5_000)
        second = server.notifications()[1]
        assert second.replaces_id == first.id and second.id == first.id
        # Another conversation: another notification.
        fd.show("bob-token", "Bob", "Yo")
        qtbot.waitUntil(lambda: "bob-token" in fd.shown, timeout=5_000)
        assert fd.shown["bob-token"] != first.id

        with qtbot.waitSignal(fd.clicked, timeout=5_000) as clicked:
            server.invoke(first.id)
        assert clicked.args == ["alice-token"]
        qtbot.waitUntil(lambda: "alice-token" not in fd.shown, timeout=5_000)  # closed

        fd.withdraw("bob-token")
        qtbot.waitUntil(lambda: server.closed == [second.id + 1], timeout=5_000)
    finally:
        notify_tasks.stop(5000)
        fd.close()
        server.stop()
        fd.deleteLater()


def test_freedesktop_without_a_service_hands_over(
    bus: str, notify_tasks: TaskQueue, qtbot: QtBot
) -> None:
    fd = _backend(notify_tasks)
    try:
        with qtbot.waitSignal(fd.unavailable, timeout=10_000):
            fd.show("t", "Someone", "Hello")
        fd.show("t", "Someone", "Hello again")  # nothing more is tried
    finally:
        notify_tasks.stop(5000)
        fd.close()
        fd.deleteLater()


# The app, as app.run_gui starts it ---------------------------------------------------------


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")
def test_the_app_notifies_opens_on_click_and_keeps_do_not_disturb(
    bus: str, sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    """``--sandbox`` through the controller with a notification server on the bus: an end
    user of another conversation writes, the server gets one ``Notify``; a click opens
    that conversation; Do not disturb in the View menu silences the next one, is mirrored
    in the tray menu when there is one, and is kept in the settings."""
    from ui_stack import dispose_controller

    from smooch_desktop.app import build_parser
    from smooch_desktop.sandbox.demo import DEMO_ALICE_ID, DEMO_PAGING_USER_ID
    from smooch_desktop.ui.controller import AppController
    from smooch_desktop.ui.settings import AppSettings

    server = NotificationServer()
    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.notifier is not None, timeout=10_000)
        pane, window, notifier = controller.inbox_pane, controller.window, controller.notifier
        assert pane is not None and window is not None and notifier is not None
        assert isinstance(notifier.backend, FreedesktopBackend)
        assert pane.poller is not None
        pane.poller.scheduler.set_budget(600.0)  # a round in well under a second
        window.select_user(DEMO_ALICE_ID)
        qtbot.waitUntil(lambda: window.loaded_address[0] == DEMO_ALICE_ID, timeout=10_000)
        qtbot.waitUntil(lambda: all(r.last_seen_id for r in pane.model.rows()), timeout=15_000)

        sandbox.store.add_user_message(sandbox.app_id, DEMO_PAGING_USER_ID, "Where is it?")
        qtbot.waitUntil(lambda: len(server.notifications()) == 1, timeout=15_000)
        note = server.notifications()[0]
        assert note.summary.startswith("Bob") and note.body == "Where is it?"
        # The click must come after Notify's answer reached the app (as a person's does):
        # before it, the app can't know the id is its own.
        backend = notifier.backend
        assert isinstance(backend, FreedesktopBackend)
        qtbot.waitUntil(lambda: note.id in backend.shown.values(), timeout=5_000)

        server.invoke(note.id)
        qtbot.waitUntil(
            lambda: window.user_panel.current_user_ref() == DEMO_PAGING_USER_ID, timeout=10_000
        )

        window.dnd_action.trigger()
        assert notifier.do_not_disturb and AppSettings().do_not_disturb()
        if controller.tray is not None:
            assert controller.tray.contextMenu() is not None
        sandbox.store.add_user_message(sandbox.app_id, DEMO_ALICE_ID, "Quiet, please")

        def alice_preview() -> str:
            return next(
                r.preview.text for r in pane.model.rows() if r.key.user_ref == DEMO_ALICE_ID
            )

        qtbot.waitUntil(lambda: alice_preview() == "Quiet, please", timeout=15_000)
        assert len(server.notifications()) == 1  # Do not disturb
        window.dnd_action.trigger()
        assert not notifier.do_not_disturb and not AppSettings().do_not_disturb()
    finally:
        dispose_controller(controller)
        server.stop()
