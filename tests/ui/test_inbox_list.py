"""The conversation list beside the conversation, on the real stack against the sandbox.

Real HTTP to the sandbox, the real API thread, the real SQLite inbox, outbox and drafts.
The list's budget is raised (600 requests a minute, the scheduler's maximum) so a round
over the demo users takes well under a second instead of ten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack, type_text

from smooch_desktop import appinfo
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.sandbox.demo import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_PAGING_USER_ID,
)
from smooch_desktop.ui.inbox.model import OutboxMark
from smooch_desktop.ui.inbox.pane import FILTER_MAX, InboxPane, sandbox_demo_users, title_for
from smooch_desktop.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

FAST_RPM = 600.0

Opened = tuple[MainWindow, InboxPane]


def labels(pane: InboxPane) -> list[str]:
    return [row.label for row in pane.model.rows()]


def row_of(pane: InboxPane, user_ref: str) -> Any:
    return next((r for r in pane.model.rows() if r.key.user_ref == user_ref), None)


def unread_of(pane: InboxPane, user_ref: str) -> int:
    row = row_of(pane, user_ref)
    return -1 if row is None else int(row.unread)


def wait_all_synced(qtbot: QtBot, pane: InboxPane) -> None:
    """Every listed conversation has been polled once (it knows its newest message)."""
    qtbot.waitUntil(
        lambda: bool(pane.model.rows()) and all(r.last_seen_id for r in pane.model.rows()),
        timeout=15_000,
    )


def test_demo_users_are_listed_from_the_cache_before_any_request(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    demo = sandbox_demo_users(stack.sandbox)
    assert len(demo) >= 4
    assert {r.key.user_ref for r in pane.model.rows()} == {u.user_ref for u in demo}
    wait_all_synced(qtbot, pane)
    assert pane.poller is not None and pane.poller.requests >= len(demo)
    # Sorted by last activity, newest first.
    times = [r.last_activity for r in pane.model.rows()]
    assert times == sorted(times, reverse=True)
    shown = labels(pane)
    stack.close_window(window)

    # The next window (the next start): the list, with previews, before any request.
    calls = len(stack.sandbox.log())
    _window2, pane2 = open_list(demo=False)
    assert labels(pane2) == shown
    assert all(r.preview.text for r in pane2.model.rows())
    assert len(stack.sandbox.log()) == calls


def test_a_new_message_in_another_conversation_shows_unread_in_the_list_and_title(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    stack.open_user(window, DEMO_ALICE_ID)
    wait_all_synced(qtbot, pane)
    assert window.windowTitle() == appinfo.NAME
    polled = pane.poller.requests if pane.poller else 0

    stack.sandbox.store.add_user_message(stack.app_id, DEMO_PAGING_USER_ID, "Anyone there?")
    stack.sandbox.store.add_user_message(stack.app_id, DEMO_PAGING_USER_ID, "Hello?")
    qtbot.waitUntil(lambda: unread_of(pane, DEMO_PAGING_USER_ID) == 2, timeout=15_000)
    bob = row_of(pane, DEMO_PAGING_USER_ID)
    assert bob.preview.text == "Hello?"
    assert labels(pane)[0] == bob.label  # newest activity on top
    assert window.windowTitle() == title_for(2) == f"(2) {appinfo.NAME}"
    assert pane.unread_total == 2
    # The open conversation was never polled by the list (the window polls it).
    assert pane.poller is not None and pane.poller.requests > polled
    alice = ConversationKey(stack.session.profile_id, DEMO_ALICE_ID)
    assert pane.poller.scheduler.open_key == alice
    assert DEMO_PAGING_USER_ID in {k.user_ref for k in pane.poller.recent}
    assert alice not in pane.poller.recent  # the window polls it, not the list

    # Opening it marks it read.
    pane.open_user(DEMO_PAGING_USER_ID)
    stack.wait_history(window, DEMO_PAGING_USER_ID)
    qtbot.waitUntil(lambda: row_of(pane, DEMO_PAGING_USER_ID).unread == 0, timeout=5_000)
    assert window.windowTitle() == appinfo.NAME


def test_filter_by_name_email_or_id_as_you_type(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    everyone = len(pane.model.rows())
    window.activateWindow()
    qtbot.waitActive(window)
    window.composer.edit.setFocus()
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert pane.filter_edit.hasFocus()
    assert window.composer.text() == ""
    type_text(qtbot, pane.filter_edit, "chlo")
    assert [r.key.user_ref for r in pane.model.rows()] == [DEMO_ENCODED_USER_ID]
    pane.filter_edit.clear()
    type_text(qtbot, pane.filter_edit, "ALICE@EXAMPLE")
    assert [r.key.user_ref for r in pane.model.rows()] == [DEMO_ALICE_ID]
    pane.filter_edit.clear()
    type_text(qtbot, pane.filter_edit, "bob-10")
    assert [r.key.user_ref for r in pane.model.rows()] == [DEMO_PAGING_USER_ID]
    pane.filter_edit.clear()
    type_text(qtbot, pane.filter_edit, "nobody by that name")
    assert pane.model.rowCount() == 0
    QTest.keyClick(pane.filter_edit, Qt.Key.Key_Escape)
    assert pane.model.rowCount() == everyone
    # No wildcards: % and _ are letters like any other; a huge paste is cut.
    for text in ("%", "_", "a%e"):
        pane.filter_edit.setText(text)
        assert pane.model.rowCount() == 0, text
    pane.filter_edit.setText("x" * 100_000)
    assert len(pane.filter_edit.text()) == FILTER_MAX
    assert pane.model.rowCount() == 0
    pane.filter_edit.setText("\0\x1b alice")
    assert pane.model.rowCount() == 0  # the filter is all of it, control characters too


def test_enter_opens_the_conversation_as_typing_its_id_does(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    type_text(qtbot, pane.filter_edit, "bob")
    with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
        QTest.keyClick(pane.filter_edit, Qt.Key.Key_Return)
    stack.wait_history(window, DEMO_PAGING_USER_ID)
    assert window.user_panel.current_user_ref() == DEMO_PAGING_USER_ID
    assert window.user_panel.combo.currentText() == DEMO_PAGING_USER_ID
    assert window.composer.edit.hasFocus()
    # The filter was a quick switcher: the whole list is back, the chosen one selected.
    assert pane.filter_edit.text() == ""
    assert len(pane.model.rows()) == len(sandbox_demo_users(stack.sandbox))
    assert pane.current_key() == ConversationKey(stack.session.profile_id, DEMO_PAGING_USER_ID)

    # Arrows in the list, then Enter.
    pane.filter_edit.clear()
    pane.view.setFocus()
    pane.view.setCurrentIndex(pane.model.index(0, 0))
    target = pane.model.row(1).key.user_ref
    QTest.keyClick(pane.view, Qt.Key.Key_Down)
    QTest.keyClick(pane.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.user_panel.current_user_ref() == target, timeout=5_000)
    stack.wait_history(window, target)


def test_remove_hides_it_until_the_user_writes_again(
    stack: UiStack, open_list: Callable[..., Opened], inbox: InboxStore, qtbot: QtBot
) -> None:
    _window, pane = open_list()
    wait_all_synced(qtbot, pane)
    key = ConversationKey(stack.session.profile_id, DEMO_ENCODED_USER_ID)
    pane.remove(key)
    assert row_of(pane, DEMO_ENCODED_USER_ID) is None
    assert pane.poller is not None and key not in pane.poller.scheduler.followed()
    # Writing again brings it back (a live update would; here, the window opening it).
    stack.sandbox.store.add_user_message(stack.app_id, DEMO_ENCODED_USER_ID, "Still there?")
    inbox.follow(key, FollowReason.OPENED)
    pane.refresh()
    assert row_of(pane, DEMO_ENCODED_USER_ID) is not None


def test_a_queued_message_shows_the_icon_and_a_failed_one_follows_the_user(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    stack.open_user(window, DEMO_ALICE_ID)
    with stack.api_thread_held():
        window.composer.set_text("On its way")
        QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
        assert pane.model.mark(DEMO_ALICE_ID) == OutboxMark.QUEUED
    qtbot.waitUntil(lambda: pane.model.mark(DEMO_ALICE_ID) == OutboxMark.NONE, timeout=10_000)

    # A message to a user the server doesn't know fails; that user is now followed.
    sender = Sender(name="Sam Tester", email="agent@example.com")
    stack.delivery.enqueue("nobody-like-this", OutgoingMessage(text="Hi", sender=sender))
    qtbot.waitUntil(
        lambda: pane.model.mark("nobody-like-this") == OutboxMark.FAILED, timeout=10_000
    )
    assert row_of(pane, "nobody-like-this") is not None


def test_the_app_shows_the_list_beside_the_conversation_with_the_demo_users(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    """``smooch-desktop --sandbox`` as app.run_gui starts it: the pane is in the window,
    the demo users are listed, a new end-user message reaches the title."""
    from ui_stack import dispose_controller

    from smooch_desktop.app import build_parser
    from smooch_desktop.ui.controller import AppController

    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        pane = controller.inbox_pane
        window = controller.window
        assert pane is not None and window is not None
        assert window.findChild(InboxPane, "inboxPane") is pane
        demo = {u.user_ref for u in sandbox_demo_users(sandbox)}
        assert {r.key.user_ref for r in pane.model.rows()} == demo
        assert pane.poller is not None
        pane.poller.scheduler.set_budget(FAST_RPM)  # a round in well under a second
        pane.poller.set_open(None)
        wait_all_synced(qtbot, pane)
        sandbox.store.add_user_message(sandbox.app_id, DEMO_ALICE_ID, "One more thing")
        qtbot.waitUntil(lambda: window.windowTitle() == title_for(1), timeout=15_000)
    finally:
        dispose_controller(controller)


def test_demo_users_show_their_last_message_before_the_first_poll(
    stack: UiStack, open_list: Callable[..., Opened]
) -> None:
    calls = len(stack.sandbox.log())
    _window, pane = open_list()
    # Read as attach painted it: the poller has not applied a page yet.
    rows = {r.key.user_ref: r for r in pane.model.rows()}
    assert len(stack.sandbox.log()) == calls
    for user in sandbox_demo_users(stack.sandbox):
        assert user.preview is not None
        assert rows[user.user_ref].preview.text == user.preview.text != ""
        assert rows[user.user_ref].preview.text != user.user_ref


def test_a_user_the_app_pre_creates_is_followed_at_once(
    stack: UiStack, open_list: Callable[..., Opened], inbox: InboxStore, qtbot: QtBot
) -> None:
    window, pane = open_list(demo=False)
    with qtbot.waitSignal(window.user_panel.lookupFailed, timeout=10_000):
        stack.type_user(window, "precreated-7")
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Welcome")
    with qtbot.waitSignal(window.userCreated, timeout=10_000):
        QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: missing_box_create(window) is not None, timeout=5000)
        button = missing_box_create(window)
        assert button is not None
        button.click()
    row = inbox.get(ConversationKey(stack.session.profile_id, "precreated-7"))
    assert row is not None and row.reasons & FollowReason.PRECREATED
    assert "precreated-7" in labels(pane)


def missing_box_create(window: Any) -> Any:
    from PySide6.QtWidgets import QApplication, QMessageBox

    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMessageBox) and widget.isVisible() and widget.parent() is window:
            return next((b for b in widget.buttons() if "Create" in b.text()), None)
    return None


def test_the_lists_width_is_remembered(sandbox: Any, qtbot: QtBot, leak_guard: None) -> None:
    """Through the controller, as a start and a restart build the window."""
    from ui_stack import dispose_controller

    from smooch_desktop.app import build_parser
    from smooch_desktop.ui.controller import AppController

    widths: list[int] = []
    for _start in range(2):
        controller = AppController(build_parser().parse_args(["--sandbox"]), sandbox=sandbox)

        def connected(c: AppController = controller) -> bool:
            return c.session is not None

        try:
            controller.start()
            qtbot.waitUntil(connected, timeout=10_000)
            window = controller.window
            assert window is not None and window.inbox_split is not None
            split = window.inbox_split
            widths.append(split.sizes()[0])
            if not _start:
                split.setSizes([333, sum(split.sizes()) - 333])
                assert split.sizes()[0] == 333
        finally:
            dispose_controller(controller)
        # The offscreen screen is 800 px wide: a restored 1100 px geometry would come back
        # clamped to it, too narrow for that list. Start the next window at its default.
        controller.settings._s.remove("window/geometry")
    assert widths == [250, 333]
