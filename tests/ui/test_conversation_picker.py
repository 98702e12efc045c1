"""Picking one of a user's conversations (v2), driven like a person in the real window.

The demo user Chloé has her main conversation and a second one, "Returns" (v2 only).
Under v1.1 she has one conversation and the window offers no choice.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY
from smooch_desktop.sandbox import FaultConfig
from smooch_desktop.sandbox.demo import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_SECOND_CONVERSATION_ID,
    DEMO_SECOND_CONVERSATION_NAME,
)
from smooch_desktop.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

CHLOE = DEMO_ENCODED_USER_ID
SECOND = DEMO_SECOND_CONVERSATION_ID


def texts_in(stack: UiStack, conversation_id: str) -> list[str]:
    messages = stack.sandbox.store.page_by_cursor(stack.app_id, conversation_id)[0]
    return [str(m.get("text")) for m in messages]


def main_conversation(stack: UiStack) -> str:
    [main] = [c for c in stack.sandbox.store.conversations(stack.app_id, CHLOE) if c["isDefault"]]
    return str(main["id"])


def shown_texts(window: MainWindow) -> list[str]:
    return [window.model.item(r).text for r in range(window.model.rowCount())]


def pick(qtbot: QtBot, window: MainWindow, conversation_id: str) -> None:
    """Choose a conversation in the combo with the keyboard, as a person would."""
    combo = window.user_panel.conversations
    target = combo.findData(conversation_id)
    assert target >= 0, [combo.itemData(i) for i in range(combo.count())]
    combo.setFocus()
    while combo.currentIndex() != target:
        key = Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up
        QTest.keyClick(combo, key)
    qtbot.waitUntil(lambda: window.user_panel.current_conversation_id() == conversation_id)


def test_only_a_user_with_several_conversations_is_offered_a_choice(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    panel = window.user_panel
    stack.open_user(window, CHLOE)
    if api_version == "v1.1":
        assert panel.conversations.isHidden()
        return
    assert not panel.conversations.isHidden()
    labels = [panel.conversations.itemText(i) for i in range(panel.conversations.count())]
    assert labels[0].startswith("Main conversation") and DEMO_SECOND_CONVERSATION_NAME in labels[1]
    assert [panel.conversations.itemData(i) for i in range(2)] == ["", SECOND]
    assert panel.current_conversation_id() == ""
    stack.open_user(window, DEMO_ALICE_ID)  # one conversation: no choice, and none kept
    assert panel.conversations.isHidden() and panel.current_conversation_id() == ""


@pytest.mark.parametrize("api_version", ["v2"], indirect=True)
def test_a_reply_goes_to_the_picked_conversation_and_the_view_follows(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, CHLOE)
    main_before = texts_in(stack, main_conversation(stack))
    assert shown_texts(window)[-1] == main_before[-1]

    pick(qtbot, window, SECOND)
    qtbot.waitUntil(lambda: window.loaded_address == (CHLOE, SECOND), timeout=10_000)
    assert shown_texts(window) == texts_in(stack, SECOND)

    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Your label is on its way")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    [entry] = stack.delivery.entries_for(CHLOE, SECOND)
    assert entry.conversation_id == SECOND and stack.delivery.entries_for(CHLOE) == []
    qtbot.waitUntil(
        lambda: texts_in(stack, SECOND)[-1] == "Your label is on its way", timeout=10_000
    )
    assert texts_in(stack, main_conversation(stack)) == main_before
    sent = stack.sandbox.store.page_by_cursor(stack.app_id, SECOND)[0][-1]
    assert sent["metadata"] == {CLIENT_ID_METADATA_KEY: entry.client_id}

    # Back to the main conversation: its messages, not the other one's reply.
    pick(qtbot, window, "")
    qtbot.waitUntil(lambda: window.loaded_address == (CHLOE, ""), timeout=10_000)
    assert "Your label is on its way" not in shown_texts(window)


@pytest.mark.parametrize("api_version", ["v2"], indirect=True)
def test_typing_follows_the_picked_conversation_and_stops_in_the_one_left(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, CHLOE)
    pick(qtbot, window, SECOND)
    stack.sandbox.clear_log()
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Hel")
    qtbot.waitUntil(
        lambda: bool(stack.api_calls(f"/conversations/{SECOND}/activity")), timeout=10_000
    )
    pick(qtbot, window, "")
    main = main_conversation(stack)

    def bodies(conversation_id: str) -> list[Any]:
        calls = stack.api_calls(f"/conversations/{conversation_id}/activity")
        return [c["body"]["type"] for c in calls]

    qtbot.waitUntil(lambda: bodies(SECOND)[-1:] == ["typing:stop"], timeout=10_000)
    assert bodies(SECOND)[0] == "typing:start"
    assert "typing:start" not in bodies(main)  # nothing shown where the agent didn't type
    # The text typed stays in the box across the switch: nothing typed is lost.
    assert window.composer.text() == "Hel"


@pytest.mark.parametrize("api_version", ["v2"], indirect=True)
def test_an_unsent_reply_stays_in_its_conversation_and_is_delivered_there_once(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, CHLOE)
    pick(qtbot, window, SECOND)
    stack.sandbox.set_faults(FaultConfig(drop_after_rate=1.0))
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "maybe lost")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    [entry] = stack.delivery.entries_for(CHLOE, SECOND)
    qtbot.waitUntil(
        lambda: str(stack.outbox.get(entry.client_id).state) == "unknown",  # type: ignore[union-attr]
        timeout=10_000,
    )
    # Switching away shows the main conversation without it; back, it is there again.
    pick(qtbot, window, "")
    assert window.model.find_client(entry.client_id) is None
    stack.sandbox.set_faults(FaultConfig())
    pick(qtbot, window, SECOND)
    assert window.model.find_client(entry.client_id) is not None
    qtbot.waitUntil(
        lambda: str(stack.outbox.get(entry.client_id).state) == "sent",  # type: ignore[union-attr]
        timeout=20_000,
    )
    assert texts_in(stack, SECOND).count("maybe lost") == 1
    assert "maybe lost" not in texts_in(stack, main_conversation(stack))


@pytest.mark.parametrize("api_version", ["v2"], indirect=True)
def test_a_picked_conversation_that_vanishes_falls_back_to_the_main_one_with_a_warning(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, CHLOE)
    pick(qtbot, window, SECOND)
    # Someone deletes the conversation on the server; the next lookup must notice.
    store = stack.sandbox.store
    with store._lock:
        user = store._user(stack.app_id, CHLOE)
        user["otherConversations"] = []
    with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
        window.user_panel.lookup()
    panel = window.user_panel
    assert panel.current_conversation_id() == ""
    assert panel.conversations.isHidden()
    assert "no longer exists" in panel.warning.text() and not panel.warning.isHidden()
    qtbot.waitUntil(lambda: window.loaded_address == (CHLOE, ""), timeout=10_000)


def test_a_conversation_name_from_outside_is_one_plain_line_and_short() -> None:
    from smooch_desktop.api.models import Conversation
    from smooch_desktop.ui.user_panel import describe_conversation

    now = 1_800_000_000.0
    hostile = Conversation(
        id="c1",
        display_name="<b>Refunds</b>\n\u202eevil" + "x" * 500,
        last_updated=now - 3 * 86400,
    )
    text = describe_conversation(hostile, False, now)
    assert "\n" not in text
    # A direction override in the name stays inside its isolate: " · personal" reads right.
    assert text.startswith("\u2068") and "\u2069 · personal · " in text
    assert "<b>Refunds</b>" in text  # shown as typed, never as markup (plain combo text)
    assert len(text) < 120 and text.endswith("active 3 days ago")
    unnamed = describe_conversation(Conversation(id="5e1f000c0000000000000099"), False, now)
    assert unnamed.startswith("Personal · 5e1f000c")
    assert describe_conversation(Conversation(id="m", last_updated=now - 30), True, now) == (
        "Main conversation · active just now"
    )
