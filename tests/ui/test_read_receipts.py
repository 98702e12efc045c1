"""Read receipts: one ``conversation:read`` when the agent actually sees new messages.

The real stack against the sandbox over loopback HTTP, on v1.1 and v2: the window's own
poll brings the end user's messages in, the list pane decides when the agent sees them
(window active, conversation on screen, view at the bottom), and the sandbox's request
log says how many ``conversation:read`` activities went out and with what body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop import appinfo
from smooch_desktop.core.inbox import ConversationKey
from smooch_desktop.sandbox.demo import DEMO_ALICE_ID, DEMO_PAGING_USER_ID
from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.ui.inbox.pane import InboxPane
from smooch_desktop.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

Opened = tuple[MainWindow, InboxPane]


@pytest.fixture
def other_window(qtbot: QtBot) -> Iterator[QWidget]:
    """Another top-level window: activating it puts the main window in the background."""
    widget = QWidget()
    widget.setWindowTitle("Another app")
    qtbot.addWidget(widget)
    yield widget
    widget.close()


def reads(stack: UiStack, user_ref: str) -> list[dict[str, Any]]:
    """The ``conversation:read`` requests the sandbox received for ``user_ref``."""
    found = []
    for entry in stack.sandbox.log():
        body = entry.get("body")
        if entry["method"] != "POST" or not entry["path"].endswith("/activity"):
            continue
        if isinstance(body, dict) and body.get("type") == "conversation:read":
            found.append(entry)
    user = stack.sandbox.store.get_user(stack.app_id, user_ref)
    ids = {user_ref, user["_id"]} | set(
        c["id"] for c in stack.sandbox.store.conversations(stack.app_id, user["_id"])
    )
    return [e for e in found if any(f"/{quote(i, safe='')}/" in e["path"] for i in ids)]


def activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


def poll_now(stack: UiStack, window: MainWindow) -> None:
    """Run the window's own poll at once (it would come within POLL_INTERVAL_MS)."""
    seq = stack.sandbox.log()[-1]["seq"] if stack.sandbox.log() else 0
    window._poll()
    stack.qtbot.waitUntil(
        lambda: any(
            e["method"] == "GET" and "/messages" in e["path"] for e in stack.sandbox.log(seq)
        ),
        timeout=10_000,
    )
    stack.barrier()
    stack.qtbot.wait(50)  # the page's callbacks, then the pane's zero-delay check


def unread(pane: InboxPane, user_ref: str) -> int:
    row = next(r for r in pane.model.rows() if r.key.user_ref == user_ref)
    return int(row.unread)


def write(stack: UiStack, user_ref: str, *texts: str) -> None:
    for text in texts:
        stack.sandbox.store.add_user_message(stack.app_id, user_ref, text)


def test_one_read_per_burst_and_none_when_nothing_is_new(
    stack: UiStack, open_list: Callable[[], Opened], qtbot: QtBot, api_version: str
) -> None:
    window, pane = open_list()
    activate(qtbot, window)
    stack.open_user(window, DEMO_ALICE_ID)
    stack.barrier()
    qtbot.wait(50)
    assert reads(stack, DEMO_ALICE_ID) == []  # nothing was unread: no receipt on opening

    write(stack, DEMO_ALICE_ID, "One", "Two", "Three")
    poll_now(stack, window)
    qtbot.waitUntil(lambda: len(reads(stack, DEMO_ALICE_ID)) == 1, timeout=5_000)
    assert unread(pane, DEMO_ALICE_ID) == 0
    assert pane.read_receipts == 1
    sent = reads(stack, DEMO_ALICE_ID)[0]
    assert f"/{api_version}/" in sent["path"]
    if api_version == "v2":  # the business read it (the spec's activityPost author)
        assert sent["body"]["author"]["type"] == "business"
    else:
        assert sent["body"]["role"] == "appMaker"

    # Polls with nothing new: no more receipts.
    poll_now(stack, window)
    poll_now(stack, window)
    assert len(reads(stack, DEMO_ALICE_ID)) == 1

    # The next burst: one more.
    write(stack, DEMO_ALICE_ID, "Four", "Five")
    poll_now(stack, window)
    qtbot.waitUntil(lambda: len(reads(stack, DEMO_ALICE_ID)) == 2, timeout=5_000)
    poll_now(stack, window)
    assert len(reads(stack, DEMO_ALICE_ID)) == 2


def test_none_while_the_window_is_in_the_background_then_sent_on_activation(
    stack: UiStack,
    open_list: Callable[[], Opened],
    qtbot: QtBot,
    other_window: QWidget,
) -> None:
    window, pane = open_list()
    activate(qtbot, window)
    stack.open_user(window, DEMO_ALICE_ID)
    other_window.show()
    activate(qtbot, other_window)
    assert not window.isActiveWindow()

    write(stack, DEMO_ALICE_ID, "Are you there?", "Hello?")
    poll_now(stack, window)
    qtbot.waitUntil(lambda: unread(pane, DEMO_ALICE_ID) == 2, timeout=5_000)
    assert window.windowTitle() == f"(2) {appinfo.NAME}"
    # Nothing while it stays in the background (waits for the zero-delay check and more).
    qtbot.wait(300)
    assert reads(stack, DEMO_ALICE_ID) == []
    assert unread(pane, DEMO_ALICE_ID) == 2

    activate(qtbot, window)
    qtbot.waitUntil(lambda: len(reads(stack, DEMO_ALICE_ID)) == 1, timeout=5_000)
    assert unread(pane, DEMO_ALICE_ID) == 0
    assert window.windowTitle() == appinfo.NAME
    # Back and forth with nothing new: no more.
    activate(qtbot, other_window)
    activate(qtbot, window)
    stack.barrier()
    qtbot.wait(100)
    assert len(reads(stack, DEMO_ALICE_ID)) == 1


def test_none_while_scrolled_up_then_sent_when_scrolled_down(
    stack: UiStack, open_list: Callable[[], Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    activate(qtbot, window)
    # The paging demo user has a long history: there is somewhere to scroll up to.
    stack.open_user(window, DEMO_PAGING_USER_ID)
    stack.barrier()
    view = window.view
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0, timeout=5_000)
    view.scroll_to_latest()
    bottoms: list[bool] = []
    view.atBottomChanged.connect(bottoms.append)
    view.verticalScrollBar().setValue(0)
    assert bottoms[-1:] == [False] and not view.is_at_bottom()

    write(stack, DEMO_PAGING_USER_ID, "Scroll down, please")
    poll_now(stack, window)
    qtbot.waitUntil(lambda: unread(pane, DEMO_PAGING_USER_ID) == 1, timeout=5_000)
    qtbot.wait(300)  # nothing while scrolled up
    assert reads(stack, DEMO_PAGING_USER_ID) == []

    view.scroll_to_latest()
    assert bottoms[-1] is True
    qtbot.waitUntil(lambda: len(reads(stack, DEMO_PAGING_USER_ID)) == 1, timeout=5_000)
    assert unread(pane, DEMO_PAGING_USER_ID) == 0


def test_a_failed_receipt_is_not_retried_and_does_not_hold_up_a_send(
    stack: UiStack, open_list: Callable[[], Opened], qtbot: QtBot
) -> None:
    window, pane = open_list()
    activate(qtbot, window)
    stack.open_user(window, DEMO_ALICE_ID)
    write(stack, DEMO_ALICE_ID, "Hello")
    # The API thread (one FIFO) runs: the history poll, then a hold; the receipt, queued
    # when the page lands, comes after the hold, and the server fails it.
    release = threading.Event()
    with stack.api_thread_held():
        window._poll()
        stack.tasks.submit(lambda: release.wait(10), kind="test-hold")
    qtbot.waitUntil(lambda: pane.read_receipts == 1, timeout=5_000)
    stack.sandbox.set_faults(FaultConfig(error_rate=1.0, seed=1))
    release.set()
    stack.barrier()
    stack.sandbox.set_faults(FaultConfig())
    failed = reads(stack, DEMO_ALICE_ID)
    assert [e["status"] >= 500 for e in failed] == [True]
    assert unread(pane, DEMO_ALICE_ID) == 0  # seen is seen: no retry later

    window.composer.set_text("A reply after the failed receipt")
    window.send_current()
    qtbot.waitUntil(
        lambda: any(
            m.get("text") == "A reply after the failed receipt"
            for m in stack.messages(DEMO_ALICE_ID)
        ),
        timeout=10_000,
    )
    poll_now(stack, window)
    poll_now(stack, window)
    assert len(reads(stack, DEMO_ALICE_ID)) == 1  # never retried, in a loop or otherwise
    assert pane.read_receipts == 1
    key = ConversationKey(stack.session.profile_id, DEMO_ALICE_ID)
    assert pane.looking_at(key)
