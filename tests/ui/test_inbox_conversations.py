"""A v2 user's other conversations in the list: rows of their own, polled, opened, read.

The demo user Chloé has her main conversation and, on v2, a second one, "Returns". The
end user writes into "Returns" through the sandbox's end-user route over HTTP
(``POST /_sandbox/apps/{app}/appusers/{user}/messages`` with ``conversationId``). On v2
that message must be a row of its own (unread 1, its own preview), never on her main
row; a click on it opens Chloé with "Returns" picked, and the read receipt goes to that
conversation. On v1.1 only main conversations exist: the list is as it always was.
Real HTTP to the sandbox, the real API thread and SQLite stores (``ui_stack.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxRow, InboxStore
from smooch_desktop.sandbox.demo import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_SECOND_CONVERSATION_ID,
    DEMO_SECOND_CONVERSATION_NAME,
)
from smooch_desktop.ui.inbox.pane import InboxPane
from smooch_desktop.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

CHLOE = DEMO_ENCODED_USER_ID
RETURNS = DEMO_SECOND_CONVERSATION_ID
Opened = tuple[MainWindow, InboxPane]


def write_as_end_user(sandbox: Any, text: str, conversation_id: str | None = None) -> None:
    """Chloé writes, through the sandbox's end-user route (real HTTP)."""
    body: dict[str, Any] = {"text": text}
    if conversation_id is not None:
        body["conversationId"] = conversation_id
    url = (
        f"{sandbox.base_url}/_sandbox/apps/{sandbox.app_id}/appusers/"
        f"{quote(CHLOE, safe='')}/messages"
    )
    answer = requests.post(url, json=body, timeout=10)
    assert answer.status_code == 201, answer.text


def row(pane: InboxPane, conversation_id: str) -> InboxRow | None:
    return next(
        (
            r
            for r in pane.model.rows()
            if r.key.user_ref == CHLOE and r.key.conversation_id == conversation_id
        ),
        None,
    )


def pick(qtbot: QtBot, window: MainWindow, conversation_id: str) -> None:
    """Choose a conversation under *Conversation* with the keyboard, as a person would."""
    combo = window.user_panel.conversations
    qtbot.waitUntil(lambda: combo.findData(conversation_id) >= 0, timeout=10_000)
    target = combo.findData(conversation_id)
    combo.setFocus()
    while combo.currentIndex() != target:
        key = Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up
        QTest.keyClick(combo, key)
    qtbot.waitUntil(lambda: window.user_panel.current_conversation_id() == conversation_id)


def click_row(pane: InboxPane, listed: InboxRow) -> None:
    index = pane.model.index_of(listed.key)
    assert index.isValid()
    rect = pane.view.visualRect(index)
    QTest.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def activate(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


def test_a_message_in_another_conversation_is_its_own_row_by_polling(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot, api_version: str
) -> None:
    if api_version != "v2":
        pytest.skip("only v2 users have several conversations")
    window, pane = open_list()
    activate(qtbot, window)
    stack.open_user(window, CHLOE)
    pick(qtbot, window, RETURNS)
    # The conversation the agent opened is followed, named by the user and itself.
    qtbot.waitUntil(lambda: row(pane, RETURNS) is not None, timeout=5_000)
    returns = row(pane, RETURNS)
    assert returns is not None
    assert returns.conversation_name == DEMO_SECOND_CONVERSATION_NAME
    assert returns.label.endswith(" · " + DEMO_SECOND_CONVERSATION_NAME)
    assert returns.label.startswith("Chlo")
    assert pane.current_key() == returns.key  # the open conversation is the selected row
    main_before = row(pane, "")
    assert main_before is not None

    # The agent goes to another user; every row is polled once.
    stack.open_user(window, DEMO_ALICE_ID)
    qtbot.waitUntil(
        lambda: all(r.last_seen_id for r in pane.model.rows()) and row(pane, RETURNS) is not None,
        timeout=15_000,
    )
    main_before = row(pane, "")
    assert main_before is not None and main_before.unread == 0

    write_as_end_user(stack.sandbox, "The parcel came back damaged", RETURNS)

    def returns_unread() -> bool:
        found = row(pane, RETURNS)
        return found is not None and found.unread == 1

    qtbot.waitUntil(returns_unread, timeout=15_000)
    returns = row(pane, RETURNS)
    assert returns is not None and returns.preview.text == "The parcel came back damaged"
    assert returns.preview.role == "user"
    main = row(pane, "")
    assert main is not None
    assert (main.unread, main.preview) == (main_before.unread, main_before.preview)
    assert pane.unread_total == 1
    # Polled as the conversation it is: its own history, by id.
    assert stack.api_calls(f"/conversations/{RETURNS}/messages", "GET")
    assert pane.model.rows()[0].key == returns.key  # newest activity first

    # A click opens Chloé on "Returns"; seeing it sends the receipt there.
    click_row(pane, returns)
    qtbot.waitUntil(lambda: window.loaded_address == (CHLOE, RETURNS), timeout=10_000)
    assert window.user_panel.current_conversation_id() == RETURNS
    qtbot.waitUntil(lambda: (row(pane, RETURNS) or returns).unread == 0, timeout=5_000)
    store = stack.sandbox.store
    qtbot.waitUntil(
        lambda: store.conversation(stack.app_id, RETURNS).get("businessLastRead") is not None,
        timeout=5_000,
    )
    [main_info] = [c for c in store.conversations(stack.app_id, CHLOE) if c["isDefault"]]
    assert main_info.get("businessLastRead") is None  # the main one was not marked read
    assert pane.read_receipts == 1

    # Her main row opens her main conversation again.
    main = row(pane, "")
    assert main is not None
    click_row(pane, main)
    qtbot.waitUntil(lambda: window.loaded_address == (CHLOE, ""), timeout=10_000)
    assert window.user_panel.current_conversation_id() == ""


def test_a_message_in_her_main_conversation_stays_on_her_main_row(
    stack: UiStack, open_list: Callable[..., Opened], qtbot: QtBot, api_version: str
) -> None:
    """Both versions: a message in the main conversation marks the main row only (on
    v1.1 that is the only one there is)."""
    _window, pane = open_list()
    qtbot.waitUntil(lambda: all(r.last_seen_id for r in pane.model.rows()), timeout=15_000)
    write_as_end_user(stack.sandbox, "Any news?")
    qtbot.waitUntil(lambda: getattr(row(pane, ""), "unread", 0) == 1, timeout=15_000)
    assert row(pane, RETURNS) is None
    assert all(r.key.conversation_id == "" for r in pane.model.rows())


def test_v1_lists_and_polls_main_conversations_only(
    stack: UiStack,
    inbox: InboxStore,
    open_list: Callable[..., Opened],
    qtbot: QtBot,
    api_version: str,
) -> None:
    """A row for another conversation left in the file (the sandbox switched from v2 to
    v1.1 keeps its profile) is neither listed, polled nor counted on v1.1."""
    assert stack.session is not None
    key = ConversationKey(stack.session.profile_id, CHLOE, RETURNS)
    inbox.follow(key, FollowReason.OPENED, conversation_name=DEMO_SECOND_CONVERSATION_NAME)
    _window, pane = open_list()
    qtbot.waitUntil(lambda: all(r.last_seen_id for r in pane.model.rows()), timeout=15_000)
    listed = row(pane, RETURNS) is not None
    assert listed == (api_version == "v2")
    if api_version == "v2":
        return
    assert pane.poller is not None and key not in pane.poller.recent
    assert not stack.api_calls(RETURNS)
    # The filter finds it by name on v2 only; on v1.1 nothing.
    pane.filter_edit.setText(DEMO_SECOND_CONVERSATION_NAME)
    assert pane.model.rowCount() == 0
    pane.filter_edit.clear()


def test_webhooks_file_a_message_under_its_own_conversation(
    controller: Any, sandbox: Any, qtbot: QtBot, api_version: str
) -> None:
    """Live updates (the real receiver, the sandbox's webhook lane posting to it): on v2
    a message in "Returns" is its own row, named from the user's lookup, and one in her
    main conversation stays on her main row; a click on the notification opens
    "Returns". On v1.1 every message of hers is on her one row, as before."""
    from webhook_support import free_port

    from smooch_desktop.ui.inbox.live_updates import LiveConfig, loopback_url

    window, pane, live = controller.window, controller.inbox_pane, controller.live_updates
    assert window is not None and pane is not None and live is not None
    qtbot.waitUntil(lambda: row(pane, "") is not None, timeout=10_000)
    port = free_port()
    assert live.apply(LiveConfig(True, loopback_url(port), port))
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    assert pane.poller is not None
    pane.poller.stop()  # only a webhook can change the list now
    main_before = row(pane, "")
    assert main_before is not None

    write_as_end_user(sandbox, "The parcel came back damaged", RETURNS)
    if api_version == "v2":
        qtbot.waitUntil(lambda: getattr(row(pane, RETURNS), "unread", 0) == 1, timeout=5_000)
        returns = row(pane, RETURNS)
        assert returns is not None
        assert returns.conversation_name == DEMO_SECOND_CONVERSATION_NAME  # from the lookup
        assert returns.preview.text == "The parcel came back damaged"
        assert returns.reasons & FollowReason.LIVE_UPDATE
        main = row(pane, "")
        assert main is not None and (main.unread, main.preview) == (0, main_before.preview)
        assert pane.places is not None and pane.places.lookups == 1
    else:
        qtbot.waitUntil(lambda: getattr(row(pane, ""), "unread", 0) == 1, timeout=5_000)
        assert all(r.key.conversation_id == "" for r in pane.model.rows())
    assert live.receiver is not None and live.receiver.stats().events == 1

    write_as_end_user(sandbox, "Any news?")
    expected_main = 1 if api_version == "v2" else 2
    qtbot.waitUntil(lambda: getattr(row(pane, ""), "unread", 0) == expected_main, timeout=5_000)
    main = row(pane, "")
    assert main is not None and main.preview.text == "Any news?"
    if api_version == "v2":
        returns = row(pane, RETURNS)
        assert returns is not None and returns.unread == 1  # untouched
        assert pane.places is not None and pane.places.lookups == 1  # remembered
        # A click on the notification of "Returns" opens it.
        qtbot.waitUntil(lambda: controller.notifier is not None, timeout=10_000)
        controller.notifier.openRequested.emit(returns.key)
        qtbot.waitUntil(lambda: window.loaded_address == (CHLOE, RETURNS), timeout=10_000)
        assert window.user_panel.current_conversation_id() == RETURNS


def test_the_row_name_isolates_the_conversation_name_from_the_users(qapp: Any) -> None:
    """Outside text twice on one line: each part literal (controls and direction marks by
    name) and in its own isolate, so a right-to-left name can't take the other along."""
    from PySide6.QtGui import QFont, QFontMetrics

    from smooch_desktop.core.inbox import Preview
    from smooch_desktop.ui.inbox.model import _shown_label

    hostile = InboxRow(
        ConversationKey("p", CHLOE, RETURNS),
        "Chloé\u202e",
        "",
        "",
        Preview(),
        0.0,
        0,
        "",
        FollowReason.OPENED,
        False,
        "\u05d4\u05d7\u05d6\u05e8\u05d5\u05ea\x07",
    )
    shown = _shown_label(hostile, QFontMetrics(QFont()), 10_000)
    assert shown == "\u2068Chloé[RLO]\u2069 · \u2068\u05d4\u05d7\u05d6\u05e8\u05d5\u05ea[BEL]\u2069"
    main = hostile._replace(key=ConversationKey("p", CHLOE, ""))
    assert _shown_label(main, QFontMetrics(QFont()), 10_000) == "Chloé[RLO]"


def test_a_narrow_row_keeps_the_conversation_name_and_cuts_the_users(qapp: Any) -> None:
    from PySide6.QtGui import QFont, QFontMetrics

    from smooch_desktop.core.inbox import Preview
    from smooch_desktop.ui.inbox.model import _shown_label

    metrics = QFontMetrics(QFont())
    named = InboxRow(
        ConversationKey("p", CHLOE, RETURNS), "Chloé Dubois-Tremblay de la Fontaine", "",
        "", Preview(), 0.0, 0, "", FollowReason.OPENED, False, "Returns",
    )  # fmt: skip
    width = metrics.horizontalAdvance("Chloé Dubois · Returns")
    shown = _shown_label(named, metrics, width)
    assert shown.endswith("\u2068Returns\u2069") and "…" in shown
    assert metrics.horizontalAdvance(shown) <= width
