"""A message that comes in between the app's start and the first poll of its conversation.

The first page of a conversation is the inbox's baseline (what was there before is not
new). Today a message that arrived after the start but before that first poll went into
the baseline too: no unread mark, no notification. Now what was there at the start is
still the baseline, and what came in after it (by the server's received time, compared
with the start in the server's time: the ``Date`` of its answers, so a local clock an hour
off changes nothing) is new. Real HTTP to the sandbox, v1.1 and v2.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from api_versions import sandbox_api
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import HistoryPage, Message
from smooch_desktop.core import paths
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.sandbox.demo import DEMO_ALICE_ID, DEMO_PAGING_USER_ID
from smooch_desktop.ui.inbox.poller import InboxPoller
from smooch_desktop.ui.workers import TaskQueue

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

PROFILE = "profile"


def message(n: int, at: float, role: str = "user") -> Message:
    return Message(id=f"m{n}", role=role, text=f"text {n}", author_name="A", received=at)


def test_the_first_page_counts_what_came_after_the_start(tmp_path: Any) -> None:
    store = InboxStore(tmp_path / "inbox.sqlite3")
    try:
        key = ConversationKey(PROFILE, "ann")
        store.follow(key, FollowReason.OPENED)
        page = HistoryPage((message(1, 100.0), message(2, 150.0, "business"), message(3, 201.0)))
        update = store.apply_history(key, page, new_after=200.0)
        assert update.new_user_ids == ("m3",) and update.new_messages == 1
        row = store.get(key)
        assert row is not None and row.unread == 1 and row.preview.text == "text 3"
        assert store.apply_history(key, page, new_after=200.0).changed is False  # idempotent
        # Without a start (or with everything before it), the first page is all baseline.
        other = ConversationKey(PROFILE, "ben")
        store.follow(other, FollowReason.OPENED)
        assert store.apply_history(other, page, new_after=500.0).new_user_ids == ()
        third = ConversationKey(PROFILE, "cai")
        store.follow(third, FollowReason.OPENED)
        assert store.apply_history(third, page).new_user_ids == ()
    finally:
        store.close()


@pytest.fixture
def tasks(qtbot: QtBot) -> Iterator[TaskQueue]:
    queue = TaskQueue("test-api")
    yield queue
    queue.stop()


@pytest.mark.parametrize("skew_s", [3600.0, -3600.0, 0.0])
def test_the_poller_compares_with_the_start_in_server_time_whatever_the_local_clock(
    sandbox: Any, api_version: str, qtbot: QtBot, tasks: TaskQueue, skew_s: float
) -> None:
    api = sandbox_api(sandbox, api_version)
    store = InboxStore(paths.data_dir() / "inbox.sqlite3")
    try:
        alice, bob = (
            ConversationKey(PROFILE, DEMO_ALICE_ID),
            ConversationKey(PROFILE, DEMO_PAGING_USER_ID),
        )
        for key in (alice, bob):
            store.follow(key, FollowReason.OPENED)
        api.check_connection()  # the server has said its time once (as at the app's start)
        poller = InboxPoller(store, tasks, api, wall=lambda: time.time() + skew_s)
        poller.scheduler.set_budget(600.0)
        time.sleep(0.05)
        sandbox.store.add_user_message(sandbox.app_id, DEMO_PAGING_USER_ID, "After the start")
        applied: list[tuple[ConversationKey, Any]] = []
        poller.applied.connect(lambda key, update: applied.append((key, update)))
        poller.set_followed(store.conversations(PROFILE))
        poller.start()
        qtbot.waitUntil(lambda: {k for k, _ in applied} == {alice, bob}, timeout=10_000)
        poller.stop()
        updates = dict(applied)
        assert len(updates[bob].new_user_ids) == 1  # new, not the baseline
        assert updates[alice].new_user_ids == ()  # there before the start: baseline
        bob_row, alice_row = store.get(bob), store.get(alice)
        assert bob_row is not None and bob_row.unread == 1
        assert bob_row.preview.text == "After the start"
        assert alice_row is not None and alice_row.unread == 0
    finally:
        store.close()
        api.close()


def test_the_app_notifies_a_message_that_came_before_its_first_poll(
    controller: Any, sandbox: Any, qtbot: QtBot
) -> None:
    pane, notifier = controller.inbox_pane, controller.notifier
    assert pane is not None and pane.poller is not None and notifier is not None
    # Bob writes before the list has polled his conversation for the first time.
    assert not any(
        r.last_seen_id for r in pane.model.rows() if r.key.user_ref == DEMO_PAGING_USER_ID
    )
    sandbox.store.add_user_message(sandbox.app_id, DEMO_PAGING_USER_ID, "Hello? Anyone?")
    pane.poller.scheduler.set_budget(600.0)  # a round in well under a second
    pane.poller.set_followed(pane.model.rows())
    qtbot.waitUntil(lambda: all(r.last_seen_id for r in pane.model.rows()), timeout=15_000)
    bob = next(r for r in pane.model.rows() if r.key.user_ref == DEMO_PAGING_USER_ID)
    assert bob.unread == 1 and bob.preview.text == "Hello? Anyone?"
    qtbot.waitUntil(lambda: len(notifier.shown) >= 1, timeout=5_000)
    assert [body for _t, _s, body in notifier.shown] == ["Hello? Anyone?"]
    # Whatever was there at the start: no mark, no notification.
    assert pane.unread_total == 1


def test_the_window_counts_a_message_that_came_before_it_opened_the_conversation(
    controller: Any, sandbox: Any, qtbot: QtBot
) -> None:
    """The same for the conversation the window opens (its own poll, not the list's): with
    the window in the background, the message is unread and notified."""
    pane, notifier, window = controller.inbox_pane, controller.notifier, controller.window
    assert pane is not None and pane.poller is not None and notifier is not None
    pane.poller.stop()  # only the window's poll reads Bob's conversation here
    sandbox.store.add_user_message(sandbox.app_id, DEMO_PAGING_USER_ID, "Are you there?")
    other = QWidget()  # another app's window, active: the main window is in the background
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(other.isActiveWindow, timeout=5_000)
    assert not window.isActiveWindow()
    window.select_user(DEMO_PAGING_USER_ID)

    def bob() -> Any:
        return next(r for r in pane.model.rows() if r.key.user_ref == DEMO_PAGING_USER_ID)

    qtbot.waitUntil(lambda: bool(bob().last_seen_id), timeout=15_000)
    assert bob().unread == 1 and bob().preview.text == "Are you there?"
    qtbot.waitUntil(lambda: len(notifier.shown) >= 1, timeout=5_000)
    assert [body for _t, _s, body in notifier.shown] == ["Are you there?"]
