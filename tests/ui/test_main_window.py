"""The main window against a real sandbox: pick a user, write, send, fail, retry, drafts.

Every action is a real key press or a signal the view itself emits; every request is real
HTTP to the sandbox on loopback, run on the real API thread; results are checked in the
sandbox's own store and request log.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import PROFILE_ID, SENDER_EMAIL, SENDER_NAME, UiStack

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY
from smooch_desktop.core import paths
from smooch_desktop.core.drafts import DraftStore
from smooch_desktop.core.outbox import OutboxEntry
from smooch_desktop.core.validation import TEXT_LIMIT
from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_NO_CLIENTS_USER_ID,
    DEMO_PAGING_USER_ID,
    FaultConfig,
)
from smooch_desktop.sandbox.store import app_maker_author_id, email_hash
from smooch_desktop.ui.main_window import MainWindow

UNKNOWN_USER = "nobody-here-42"
ENTER = Qt.Key.Key_Return
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier


def app_maker_posts(stack: UiStack) -> list[dict[str, Any]]:
    """Message POSTs the sandbox received (faulted ones included)."""
    return stack.api_calls("/messages", "POST")


def item_for(window: MainWindow, client_id: str) -> Any:
    row = window.model.find_client(client_id)
    return None if row is None else window.model.item(row)


def write(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, text)


def send_with_enter(qtbot: QtBot, window: MainWindow) -> None:
    QTest.keyClick(window.composer.edit, ENTER)


def only_entry(stack: UiStack, user_ref: str) -> OutboxEntry:
    entries = stack.delivery.entries_for(user_ref)
    assert len(entries) == 1, entries
    return entries[0]


# Picking a user -----------------------------------------------------------------------------
def test_typing_a_demo_user_id_shows_who_it_is_and_loads_the_conversation(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    panel = window.user_panel
    with qtbot.waitSignal(panel.userLoaded, timeout=10_000) as loaded:
        stack.type_user(window, DEMO_ALICE_ID, enter=False)  # the field settles by itself
    assert loaded.args[0].user_id == DEMO_ALICE_ID
    info = panel.info.text()
    assert "Alice Martin" in info
    assert "alice@example.com" in info
    # The same on both: v2's primary client is the first of the conversation's participant.
    assert "web (primary)" in info and "messenger" in info
    assert panel.warning.isHidden()
    assert panel.error.isHidden()
    stack.wait_history(window, DEMO_ALICE_ID)
    expected = [m["text"] for m in stack.messages(DEMO_ALICE_ID)]
    assert window.model.rowCount() == len(expected) > 0
    assert [window.model.item(r).text for r in range(window.model.rowCount())] == expected
    assert window.status_call.text().startswith("✓")


def test_switching_user_clears_the_conversation_and_loads_the_other(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    alice_rows = window.model.rowCount()
    assert alice_rows > 0
    cleared: list[int] = []
    window.user_panel.userChanged.connect(lambda _ref: cleared.append(window.model.rowCount()))
    stack.open_user(window, DEMO_PAGING_USER_ID)
    # Nothing of Alice's is shown from the first key press in the field to Bob's history.
    assert cleared and set(cleared) == {0}
    texts = {m["text"] for m in stack.messages(DEMO_PAGING_USER_ID)}
    rows = [window.model.item(r) for r in range(window.model.rowCount())]
    assert len(rows) == 100  # the newest page of Bob's 250 messages
    assert all(item.text in texts for item in rows)
    assert window.model.has_older


def test_a_user_id_with_a_slash_and_accents_round_trips(
    stack: UiStack, window: MainWindow, api_version: str
) -> None:
    stack.open_user(window, DEMO_ENCODED_USER_ID)
    user = window.user_panel.current_user()
    assert user is not None and user.user_id == DEMO_ENCODED_USER_ID
    assert window.model.rowCount() == len(stack.messages(DEMO_ENCODED_USER_ID))
    users = "/appusers/" if api_version == "v1.1" else "/users/"
    assert any("vip%2Fchlo%C3%A9" in e["path"] for e in stack.api_calls(users, "GET"))


def test_an_unknown_user_id_says_so_next_to_the_field(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.user_panel
    with qtbot.waitSignal(panel.lookupFailed, timeout=10_000) as failed:
        stack.type_user(window, UNKNOWN_USER)
    text = failed.args[0]
    assert text.startswith(f"No user with ID “{UNKNOWN_USER}”")
    assert "404" in text
    assert panel.error.text() == text
    assert not panel.error.isHidden()
    assert panel.current_user() is None


def test_an_invalid_user_id_is_flagged_and_never_requested(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    before = len(stack.sandbox.log())
    QGuiApplication.clipboard().setText("bad\x07id")  # control characters only get in by paste
    edit = window.user_panel.line_edit
    edit.setFocus()
    changed: list[str] = []
    window.user_panel.userChanged.connect(changed.append)
    QTest.keyClick(edit, Qt.Key.Key_V, CTRL)
    assert edit.text() == "bad\x07id"
    QTest.keyClick(edit, ENTER)
    assert "control characters" in window.user_panel.error.text()
    assert "U+0007" in window.user_panel.error.text()
    assert not window.user_panel.error.isHidden()
    assert window.user_panel.current_user_ref() == ""
    assert changed == []  # it was "" before and stays ""
    stack.barrier()
    assert stack.sandbox.log()[before:] == []


def test_a_user_without_channels_gets_a_warning(stack: UiStack, window: MainWindow) -> None:
    stack.open_user(window, DEMO_NO_CLIENTS_USER_ID)
    panel = window.user_panel
    assert not panel.warning.isHidden()
    assert "no channel that can receive messages" in panel.warning.text()
    assert "no channels" in panel.info.text()
    # Switching to a reachable user takes the warning away.
    stack.open_user(window, DEMO_ALICE_ID)
    assert panel.warning.isHidden()


def test_recent_user_ids_are_listed_newest_first_and_kept(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    stack.open_user(window, DEMO_PAGING_USER_ID)
    combo = window.user_panel.combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        DEMO_PAGING_USER_ID,
        DEMO_ALICE_ID,
    ]
    assert combo.currentText() == DEMO_PAGING_USER_ID
    # Picking a recent entry from the list switches to it.
    with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
        combo.setCurrentIndex(1)
        combo.activated.emit(1)
    assert window.user_panel.current_user_ref() == DEMO_ALICE_ID
    stack.close_window(window)
    again = stack.new_window()
    combo = again.user_panel.combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        DEMO_ALICE_ID,
        DEMO_PAGING_USER_ID,
    ]


# Sending ----------------------------------------------------------------------------------
def test_enter_sends_exactly_one_message_with_the_sender_and_client_id(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    before = len(stack.messages(DEMO_ALICE_ID))
    cleared_with: list[int] = []

    def on_text_changed() -> None:
        if not window.composer.text():
            cleared_with.append(len(stack.outbox.entries_for(PROFILE_ID, DEMO_ALICE_ID)))

    window.composer.edit.textChanged.connect(on_text_changed)
    states: list[str] = []
    stack.delivery.entryChanged.connect(lambda e: states.append(str(e.state)))
    write(qtbot, window, "Hello")
    send_with_enter(qtbot, window)

    # Cleared only once the outbox held the message; shown at once as pending.
    assert window.composer.text() == ""
    assert cleared_with == [1]
    entry = only_entry(stack, DEMO_ALICE_ID)
    item = item_for(window, entry.client_id)
    assert item is not None and item.is_pending and item.text == "Hello"
    assert item.author_name == SENDER_NAME

    qtbot.waitUntil(lambda: item_for(window, entry.client_id).state == "sent", timeout=10_000)
    assert states[-1] == "sent" and "sending" in states
    assert window.status_call.text() == "✓ message sent"
    messages = stack.messages(DEMO_ALICE_ID)
    assert len(messages) == before + 1
    sent = messages[-1]
    assert sent["role"] == "appMaker"
    assert sent["text"] == "Hello"
    assert sent["name"] == SENDER_NAME
    # The avatar the user sees comes from the sender's email: v1.1 sends the email, v2
    # (which has none) the Gravatar URL Smooch would derive from it.
    assert email_hash(SENDER_EMAIL) in sent["avatarUrl"]
    assert sent["metadata"] == {CLIENT_ID_METADATA_KEY: entry.client_id}
    posts = app_maker_posts(stack)
    assert len(posts) == 1
    if api_version == "v1.1":
        assert sent["authorId"] == app_maker_author_id(SENDER_EMAIL)
        assert posts[0]["body"]["email"] == SENDER_EMAIL
        assert posts[0]["body"]["role"] == "appMaker"
    else:
        author = posts[0]["body"]["author"]
        assert author["type"] == "business" and author["displayName"] == SENDER_NAME
        assert email_hash(SENDER_EMAIL) in author["avatarUrl"] and "email" not in author
    assert stack.drafts.load(PROFILE_ID, DEMO_ALICE_ID) == ""


def test_shift_enter_adds_a_line_and_enter_sends_both(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    write(qtbot, window, "line one")
    QTest.keyClick(window.composer.edit, ENTER, SHIFT)
    QTest.keyClicks(window.composer.edit, "line two")
    assert window.composer.text() == "line one\nline two"
    stack.barrier()
    assert app_maker_posts(stack) == []
    send_with_enter(qtbot, window)
    qtbot.waitUntil(lambda: len(app_maker_posts(stack)) == 1, timeout=10_000)
    stack.barrier()
    assert stack.messages(DEMO_ALICE_ID)[-1]["text"] == "line one\nline two"


def test_ctrl_enter_mode_makes_enter_add_a_line(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    assert window.composer.send_button.text() == "&Send (Enter)"
    window.ctrl_enter_action.trigger()
    assert window.ctrl_enter_action.isChecked()
    assert stack.settings.send_with_ctrl_enter()
    assert window.composer.send_button.text() == "&Send (Ctrl+Enter)"
    write(qtbot, window, "first")
    send_with_enter(qtbot, window)
    QTest.keyClicks(window.composer.edit, "second")
    assert window.composer.text() == "first\nsecond"
    stack.barrier()
    assert app_maker_posts(stack) == []
    QTest.keyClick(window.composer.edit, ENTER, CTRL)
    assert window.composer.text() == ""
    qtbot.waitUntil(lambda: len(stack.api_calls("/messages", "POST")) == 1, timeout=10_000)
    # The choice is remembered by the next window.
    stack.close_window(window)
    again = stack.new_window()
    assert again.ctrl_enter_action.isChecked()
    assert again.composer.send_button.text() == "&Send (Ctrl+Enter)"


def test_pasted_control_characters_are_removed_and_said_so(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    QGuiApplication.clipboard().setText("Order\x00 #42\x1b shipped")
    window.composer.edit.setFocus()
    QTest.keyClick(window.composer.edit, Qt.Key.Key_V, CTRL)
    send_with_enter(qtbot, window)
    assert window.composer.note.text() == "2 invisible control character(s) were removed."
    assert not window.composer.note.isHidden()
    qtbot.waitUntil(
        lambda: stack.messages(DEMO_ALICE_ID)[-1]["text"] == "Order #42 shipped", timeout=10_000
    )


@pytest.mark.parametrize("typed", ["", "   "])
def test_empty_or_blank_text_is_not_sent(
    stack: UiStack, window: MainWindow, qtbot: QtBot, typed: str
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    write(qtbot, window, typed)
    assert not window.composer.send_button.isEnabled()
    send_with_enter(qtbot, window)
    assert window.composer.error.text() == "Type a message first."
    assert not window.composer.error.isHidden()
    assert window.composer.text() == typed
    stack.barrier()
    assert app_maker_posts(stack) == []
    assert stack.delivery.entries_for(DEMO_ALICE_ID) == []


def test_text_over_the_limit_is_blocked_with_its_count(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    long_text = "x" * (TEXT_LIMIT + 4)
    QGuiApplication.clipboard().setText(long_text)
    window.composer.edit.setFocus()
    QTest.keyClick(window.composer.edit, Qt.Key.Key_V, CTRL)
    assert window.composer.counter.text() == f"{TEXT_LIMIT + 4}/{TEXT_LIMIT}"
    assert not window.composer.send_button.isEnabled()
    send_with_enter(qtbot, window)
    error = window.composer.error.text()
    assert f"{TEXT_LIMIT + 4:,} characters long" in error
    assert f"the limit is {TEXT_LIMIT:,}" in error
    assert "Remove 4 characters" in error
    assert window.composer.text() == long_text
    stack.barrier()
    assert app_maker_posts(stack) == []


def test_an_invalid_sender_email_blocks_sending_and_names_the_field(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    email = window.sender_panel.email_edit
    email.setFocus()
    QTest.keyClick(email, Qt.Key.Key_A, CTRL)
    QTest.keyClicks(email, "sam.example.com")
    write(qtbot, window, "Hi")
    send_with_enter(qtbot, window)
    error = window.composer.error.text()
    assert error.startswith("Fix the sender first:")
    assert "email address" in error
    assert window.composer.text() == "Hi"
    stack.barrier()
    assert app_maker_posts(stack) == []


def test_without_a_user_the_composer_asks_for_one(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    write(qtbot, window, "Hello?")
    send_with_enter(qtbot, window)
    assert window.composer.error.text() == "Choose the user to reply to first (User ID above)."
    assert window.composer.text() == "Hello?"
    stack.barrier()
    assert app_maker_posts(stack) == []


# Failures, retry, edit --------------------------------------------------------------------
def fail_to_unknown_user(stack: UiStack, window: MainWindow, qtbot: QtBot, text: str) -> str:
    # Sent before the lookup answers (once it has said 404, Send asks first instead).
    with qtbot.waitSignal(window.user_panel.lookupFailed), stack.api_thread_held():
        stack.type_user(window, UNKNOWN_USER)
        write(qtbot, window, text)
        send_with_enter(qtbot, window)
    assert window.composer.text() == ""
    client_id = only_entry(stack, UNKNOWN_USER).client_id
    qtbot.waitUntil(
        lambda: getattr(item_for(window, client_id), "state", "") == "failed", timeout=10_000
    )
    return client_id


def test_a_rejected_message_shows_the_servers_words_and_retry_really_resends(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    client_id = fail_to_unknown_user(stack, window, qtbot, "Are you there?")
    item = item_for(window, client_id)
    words = "App user not found" if api_version == "v1.1" else "User not found"
    assert item.error_text == words  # the sandbox's own description
    assert item.status_text() == f"Failed: {words}"
    assert item.text == "Are you there?"  # kept
    entry = stack.outbox.get(client_id)
    assert entry is not None and entry.error_status == 404
    assert window.status_call.text() == f"✗ message failed: {words}"
    # v1.1 posts to the unknown user and is refused; v2 is refused when it looks the user
    # up for their conversation, before any message is posted.
    refused_posts = 1 if api_version == "v1.1" else 0
    assert len(app_maker_posts(stack)) == refused_posts

    # The cause goes away (the user now exists); Retry sends it, once.
    stack.sandbox.store.create_user(stack.app_id, {"userId": UNKNOWN_USER})
    window.view.retryRequested.emit(client_id)
    qtbot.waitUntil(lambda: item_for(window, client_id).state == "sent", timeout=10_000)
    stored = stack.messages(UNKNOWN_USER)
    assert [m["text"] for m in stored] == ["Are you there?"]
    assert stored[0]["metadata"][CLIENT_ID_METADATA_KEY] == client_id
    assert len(app_maker_posts(stack)) == refused_posts + 1


def test_edit_puts_a_failed_message_back_into_the_composer(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    client_id = fail_to_unknown_user(stack, window, qtbot, "Please read this")
    write(qtbot, window, "Draft already here")
    window.view.editRequested.emit(client_id)
    assert window.composer.text() == "Draft already here\nPlease read this"
    assert item_for(window, client_id) is None
    assert stack.outbox.get(client_id) is None
    assert stack.drafts.load(PROFILE_ID, UNKNOWN_USER) == "Draft already here\nPlease read this"


def test_server_faults_show_the_error_then_deliver_exactly_once(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    before = len(stack.messages(DEMO_ALICE_ID))
    write(qtbot, window, "Through the storm")
    stack.barrier()  # the typing call is done before the server starts failing
    errors: list[str] = []
    stack.delivery.entryChanged.connect(lambda e: errors.append(e.error_text or ""))
    stack.sandbox.set_faults(FaultConfig(error_rate=1.0, seed=4))  # 500 first
    send_with_enter(qtbot, window)
    client_id = only_entry(stack, DEMO_ALICE_ID).client_id
    qtbot.waitUntil(
        lambda: "sandbox fault injection" in item_for(window, client_id).error_text,
        timeout=10_000,
    )
    item = item_for(window, client_id)
    assert item.is_pending and item.text == "Through the storm"
    qtbot.waitUntil(lambda: len(app_maker_posts(stack)) >= 1, timeout=5_000)
    stack.sandbox.set_faults(FaultConfig())
    qtbot.waitUntil(lambda: item_for(window, client_id).state == "sent", timeout=15_000)
    messages = stack.messages(DEMO_ALICE_ID)
    copies = [m for m in messages if m.get("metadata", {}).get(CLIENT_ID_METADATA_KEY) == client_id]
    assert len(copies) == 1
    assert len(messages) == before + 1
    assert any("sandbox fault injection" in text for text in errors)


# Drafts ------------------------------------------------------------------------------------
def test_drafts_survive_switching_users_and_a_new_window(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    write(qtbot, window, "Half a reply for Alice")
    stack.open_user(window, DEMO_PAGING_USER_ID)
    assert window.composer.text() == ""
    write(qtbot, window, "Bob's note")
    stack.open_user(window, DEMO_ALICE_ID)
    assert window.composer.text() == "Half a reply for Alice"
    stack.open_user(window, DEMO_PAGING_USER_ID)
    assert window.composer.text() == "Bob's note"

    # A new window over a re-opened drafts file (as after a restart).
    stack.close_window(window)
    path = stack.drafts.path
    stack.drafts.close()
    stack.drafts = DraftStore(path)
    assert path.parent == paths.data_dir()
    again = stack.new_window()
    stack.open_user(again, DEMO_ALICE_ID)
    assert again.composer.text() == "Half a reply for Alice"
    stack.open_user(again, DEMO_PAGING_USER_ID)
    assert again.composer.text() == "Bob's note"
    # Loading a draft is not typing: nobody was told "typing…" by the switches.
    stack.barrier()
    assert stack.activities(DEMO_PAGING_USER_ID).count("typing:start") == 1


def test_a_message_written_while_the_engine_finishes_a_job_is_still_sent(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    """A kick() while a delivery job is out must not be lost (that job's next_due predates it)."""
    stack.open_user(window, DEMO_ALICE_ID)
    stack.barrier()
    gate, job_done = threading.Event(), threading.Event()
    stack.tasks.submit(lambda: gate.wait(5), kind="slow")  # the API thread is busy…
    stack.delivery.kick()  # …so this delivery job waits behind it (nothing to send yet)
    stack.tasks.submit(job_done.set, kind="marker")
    gate.set()
    assert job_done.wait(5)  # the job ran on the worker; its answer is not processed yet
    # The user sends now, before the GUI thread has heard back from that job.
    window.composer.set_text("Sent while the engine was busy")
    window.send_current()
    client_id = only_entry(stack, DEMO_ALICE_ID).client_id
    qtbot.waitUntil(lambda: item_for(window, client_id).state == "sent", timeout=5000)


# Window layout ------------------------------------------------------------------------------
def test_the_next_window_keeps_the_conversation_and_composer_split_the_agent_left(
    stack: UiStack, qtbot: QtBot
) -> None:
    """A profile change builds a new window with the conversation view at once: it must
    open with the split the previous window had, not a composer twice as tall."""
    first = stack.new_window()
    total = sum(first.vsplit.sizes())
    first.vsplit.setSizes([total - 110, 110])  # the agent drags the handle
    kept = first.vsplit.sizes()
    assert kept[1] == 110
    stack.close_window(first)  # saves the layout, as closing for a profile change does
    second = stack.new_window()
    qtbot.waitUntil(lambda: second.vsplit.sizes() == kept, timeout=2000)
