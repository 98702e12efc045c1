"""Typing indicator: what the end user is told, checked in the sandbox's own records.

The window tests type with real key presses and read ``store.activities`` (what the
server accepted) and the request log (what was asked). Timing is shortened by giving
the window's TypingSender a policy with a short idle time, or driven by a fake clock.
All of them run on v1.1 and v2 (``api_version``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import SENDER_EMAIL, SENDER_NAME, UiStack

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.models import Sender
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.core.gravatar import gravatar_url
from smooch_desktop.core.typing_policy import TypingPolicy
from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_PAGING_USER_ID, FaultConfig
from smooch_desktop.ui import typing_sender
from smooch_desktop.ui.controller import connect_api
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.typing_sender import TypingSender
from smooch_desktop.ui.workers import TaskQueue

IDLE_S = 0.3


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def quick_idle(window: MainWindow) -> None:
    """Make the composer's idle stop come after IDLE_S instead of 4 s."""
    window.typing.policy = TypingPolicy(time.monotonic, idle_stop_s=IDLE_S, heartbeat_s=60)


def activity_calls(stack: UiStack, user_ref: str = "") -> list[dict[str, Any]]:
    # v1.1: …/appusers/{id}/conversation/activity; v2: …/conversations/{id}/activity
    calls = stack.api_calls("/activity", "POST")
    return [c for c in calls if not user_ref or user_ref.split("@")[0] in c["path"]]


def type_in_composer(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, text)


# Through the window ---------------------------------------------------------------------------
def test_keystrokes_send_one_start_with_the_sender_then_a_stop_when_idle(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    quick_idle(window)
    type_in_composer(qtbot, window, "Hello, how can I help?")
    qtbot.waitUntil(lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start"], timeout=5000)
    start = stack.sandbox.store.activities(stack.app_id, DEMO_ALICE_ID)[0]
    assert start["name"] == SENDER_NAME
    assert start["avatarUrl"] == gravatar_url(
        SENDER_EMAIL, default="mm", base=stack.sandbox.base_url + "/avatar"
    )
    assert stack.sandbox.store.typing(stack.app_id, DEMO_ALICE_ID)["typing"]
    qtbot.waitUntil(
        lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start", "typing:stop"], timeout=5000
    )
    assert len(activity_calls(stack)) == 2  # 22 keystrokes, two requests
    assert not stack.sandbox.store.typing(stack.app_id, DEMO_ALICE_ID)["typing"]


def test_clearing_the_box_stops_at_once(stack: UiStack, window: MainWindow, qtbot: QtBot) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    type_in_composer(qtbot, window, "Oops")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Backspace)
    qtbot.waitUntil(
        lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start", "typing:stop"], timeout=5000
    )


def test_no_stop_follows_a_send(stack: UiStack, window: MainWindow, qtbot: QtBot) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    quick_idle(window)
    type_in_composer(qtbot, window, "Done!")
    qtbot.waitUntil(lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start"], timeout=5000)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: stack.messages(DEMO_ALICE_ID)[-1]["text"] == "Done!", timeout=5000)
    assert window.typing.policy.next_deadline() is None
    # A fixed wait on purpose: this asserts that nothing happens (no idle typing:stop)
    # for twice the idle time, and there is no event to wait for instead.
    qtbot.wait(int(IDLE_S * 2000))
    stack.barrier()
    assert stack.activities(DEMO_ALICE_ID) == ["typing:start"]
    # The message itself ended the indicator on the user's side.
    assert not stack.sandbox.store.typing(stack.app_id, DEMO_ALICE_ID)["typing"]


def test_switching_user_stops_typing_to_the_previous_one(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    type_in_composer(qtbot, window, "For Alice")
    qtbot.waitUntil(lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start"], timeout=5000)
    stack.open_user(window, DEMO_PAGING_USER_ID)
    stack.barrier()
    assert stack.activities(DEMO_ALICE_ID) == ["typing:start", "typing:stop"]
    assert stack.activities(DEMO_PAGING_USER_ID) == []  # loading Bob's (empty) draft is silent


def test_closing_the_window_stops_typing(stack: UiStack, window: MainWindow, qtbot: QtBot) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    type_in_composer(qtbot, window, "Bye")
    qtbot.waitUntil(lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start"], timeout=5000)
    stack.close_window(window)
    qtbot.waitUntil(
        lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start", "typing:stop"], timeout=5000
    )


def test_quitting_while_a_call_is_out_still_sends_the_stop(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    """The controller closes the window, then stops the queue at once (``shutdown``).

    Here the API thread is busy (a slow send) when that happens, so the ``typing:stop``
    waits in the queue: stopping the queue must still send it, not drop it.
    """
    stack.open_user(window, DEMO_ALICE_ID)
    type_in_composer(qtbot, window, "x")
    qtbot.waitUntil(lambda: stack.activities(DEMO_ALICE_ID) == ["typing:start"], timeout=5000)
    slow_call = threading.Event()
    stack.tasks.submit(lambda: slow_call.wait(5), kind="deliver")
    stack.close_window(window)
    finish = threading.Timer(0.2, slow_call.set)  # the slow call ends while stop() waits
    finish.start()
    assert stack.tasks.stop(4000)
    finish.join()
    assert stack.activities(DEMO_ALICE_ID) == ["typing:start", "typing:stop"]


def test_a_429_pauses_typing(stack: UiStack, window: MainWindow, qtbot: QtBot) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    stack.sandbox.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=120))
    with qtbot.waitSignal(window.typing.activityFailed, timeout=5000) as failed:
        type_in_composer(qtbot, window, "abc")
    assert failed.args == ["Typing indicator paused: rate limited by the server."]
    assert window.statusBar().currentMessage() == failed.args[0]
    paused_until = window.typing.policy.paused_until
    assert paused_until is not None and paused_until > time.monotonic() + 100
    stack.sandbox.set_faults(FaultConfig())
    type_in_composer(qtbot, window, " and more text, for a while")
    stack.barrier()
    calls = activity_calls(stack)
    assert [(c["body"]["type"], c["status"]) for c in calls] == [("typing:start", 429)]
    assert stack.activities(DEMO_ALICE_ID) == []
    # Messages are not held back by the pause.
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: stack.messages(DEMO_ALICE_ID)[-1]["text"] == "abc and more text, for a while",
        timeout=5000,
    )


# The TypingSender on its own, with a fake clock ------------------------------------------------
@pytest.fixture
def api(sandbox: Any, api_version: str) -> Iterator[ConversationApi]:
    """The adapter a session of ``api_version`` gets (as the controller builds it)."""
    client = connect_api(
        ApiVersion(api_version),
        sandbox.base_url,
        sandbox.app_id,
        Credentials(sandbox.key_id, sandbox.secret),
        sandbox.base_url + "/avatar",
    )
    yield client
    client.close()


@pytest.fixture
def tasks(qtbot: QtBot) -> Iterator[TaskQueue]:
    queue = TaskQueue("api")
    yield queue
    assert queue.stop(5000)
    queue.deleteLater()


def sandbox_types(sandbox: Any, user_ref: str = DEMO_ALICE_ID) -> list[str]:
    return [a["type"] for a in sandbox.store.activities(sandbox.app_id, user_ref)]


def settle(qtbot: QtBot, tasks: TaskQueue) -> None:
    qtbot.waitUntil(lambda: not tasks.is_busy(), timeout=5000)


def test_fake_clock_one_start_per_burst_heartbeat_and_idle_stop(
    sandbox: Any, api: ConversationApi, tasks: TaskQueue, qtbot: QtBot
) -> None:
    clock = FakeClock()
    sent: list[tuple[str, str]] = []
    typing = TypingSender(tasks, lambda: api, lambda: Sender("Ann", "ann@example.com"), clock=clock)
    typing.activitySent.connect(lambda user, activity: sent.append((user, activity)))
    typing.set_user(DEMO_ALICE_ID)
    text = ""
    for char in "Typing for a while":  # one key per 0.5 s for 9 s
        text += char
        typing.text_edited(text)
        clock.advance(0.5)
    settle(qtbot, tasks)
    # A start, and one heartbeat start 7 s later; the single-shot timer waits for idle.
    assert sandbox_types(sandbox) == ["typing:start", "typing:start"]
    assert sandbox.store.activities(sandbox.app_id, DEMO_ALICE_ID)[0]["name"] == "Ann"
    assert typing._timer.isActive()
    clock.advance(3.0)  # 3.5 s since the last key: not idle yet
    typing._on_tick()
    clock.advance(1.0)
    typing._on_tick()
    settle(qtbot, tasks)
    assert sandbox_types(sandbox) == ["typing:start", "typing:start", "typing:stop"]
    assert not typing._timer.isActive()
    assert sent == [(DEMO_ALICE_ID, t) for t in sandbox_types(sandbox)]
    typing.shutdown()  # nothing left to end
    settle(qtbot, tasks)
    assert len(sandbox_types(sandbox)) == 3


def test_a_late_stop_is_still_sent_while_a_stale_start_is_dropped(
    sandbox: Any,
    api: ConversationApi,
    tasks: TaskQueue,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Any wait behind another call makes a start stale: no need to sleep past a limit.
    monkeypatch.setattr(typing_sender, "STALE_AFTER_S", 0.0)
    typing = TypingSender(tasks, lambda: api, Sender)
    typing.set_user(DEMO_ALICE_ID)
    release = threading.Event()
    tasks.submit(lambda: release.wait(5), kind="slow-send")  # e.g. a send on a slow server
    typing.text_edited("h")
    typing.text_edited("")
    release.set()
    settle(qtbot, tasks)
    assert sandbox_types(sandbox) == ["typing:stop"]


def test_results_for_a_deleted_sender_are_dropped(
    sandbox: Any, api: ConversationApi, tasks: TaskQueue, qtbot: QtBot
) -> None:
    """A window closed (and deleted) while its typing call was out: no callback into it."""
    typing = TypingSender(tasks, lambda: api, Sender)
    typing.set_user("no-such-user")  # the call fails with 404
    release = threading.Event()
    tasks.submit(lambda: release.wait(5), kind="slow-send")
    typing.text_edited("h")
    typing.deleteLater()
    qtbot.waitUntil(lambda: not _alive(typing), timeout=2000)
    release.set()
    with qtbot.assertNotEmitted(tasks.errorOccurred):  # settle: every result is reported
        settle(qtbot, tasks)
    assert any(c["status"] == 404 for c in sandbox.log())


def _alive(obj: object) -> bool:
    import shiboken6

    return bool(shiboken6.isValid(obj))
