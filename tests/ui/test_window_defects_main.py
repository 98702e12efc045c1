"""The main window as a new user found it (issue 12, item 4): each defect reproduced
through the real window stack (``ui_stack.py``) against the sandbox over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot
from ui_stack import UiStack, dispose_controller

from smooch_desktop.app import build_parser
from smooch_desktop.core.outbox import EntryState, OutboxEntry
from smooch_desktop.sandbox import FaultConfig, SandboxServer
from smooch_desktop.sandbox.demo import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_SECOND_CONVERSATION_ID,
)
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.conversation.items import ConversationItem
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.settings import SenderIdentity

# The offscreen platform says this for every shown top-level window; harmless.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

ALT = Qt.KeyboardModifier.AltModifier


@pytest.mark.parametrize("key", [Qt.Key.Key_Q, Qt.Key.Key_S, Qt.Key.Key_J])
def test_alt_and_a_letter_that_is_not_a_shortcut_types_nothing(
    stack: UiStack, window: MainWindow, qtbot: QtBot, key: Qt.Key
) -> None:
    # Alt+S with an empty box: Send is disabled, so its mnemonic does not take the key.
    stack.open_user(window, DEMO_ALICE_ID)
    window.activateWindow()
    window.composer.edit.setFocus()
    QTest.keyClick(window.composer.edit, key, ALT)
    assert window.composer.text() == ""
    assert not window.composer.send_button.isEnabled()
    stack.barrier()
    assert "typing:start" not in stack.activities(DEMO_ALICE_ID)
    # Plain letters still type, and Alt+S sends once there is text.
    QTest.keyClicks(window.composer.edit, "Alt test")
    assert window.composer.text() == "Alt test"
    QTest.keyClick(window.composer.edit, Qt.Key.Key_S, ALT)
    qtbot.waitUntil(
        lambda: [m.get("text") for m in stack.messages(DEMO_ALICE_ID)][-1] == "Alt test",
        timeout=10_000,
    )
    assert window.composer.text() == ""


def mnemonic(text: str) -> str:
    """The letter Alt opens in ``text`` ("" if none): the one after a single "&"."""
    i = 0
    while i < len(text) - 1:
        if text[i] == "&":
            if text[i + 1] != "&":
                return text[i + 1].lower()
            i += 1
        i += 1
    return ""


def test_every_alt_letter_of_the_window_leads_to_one_place(window: MainWindow) -> None:
    # Two owners of one Alt+letter make Qt cycle between them (Alt+V went to the avatar
    # field instead of the View menu). Buttons that show only sometimes count too.
    from PySide6.QtWidgets import QAbstractButton, QLabel

    window.ensure_conversation()
    owners: dict[str, list[str]] = {}
    texts = [a.text() for a in window.menuBar().actions()]
    texts += [w.text() for w in window.findChildren(QAbstractButton)]
    texts += [w.text() for w in window.findChildren(QLabel) if w.buddy() is not None]
    for text in texts:
        letter = mnemonic(text)
        if letter:
            owners.setdefault(letter, []).append(text)
    clashes = {k: v for k, v in owners.items() if len(v) > 1}
    assert clashes == {}
    assert {"f", "e", "v", "h"} <= owners.keys()  # the menus, found


NOBODY = "nobody-yet-42"


def missing_user_box(window: MainWindow) -> QMessageBox | None:
    boxes = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.isVisible() and w.parent() is window
    ]
    return boxes[0] if boxes else None


def user_exists(stack: UiStack, user_ref: str) -> bool:
    try:
        stack.sandbox.store.get_user(stack.app_id, user_ref)
    except Exception:  # the store's 404
        return False
    return True


def send_to_missing_user(stack: UiStack, window: MainWindow, qtbot: QtBot) -> QMessageBox:
    with qtbot.waitSignal(window.user_panel.lookupFailed, timeout=10_000):
        stack.type_user(window, NOBODY)
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Welcome aboard")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: missing_user_box(window) is not None, timeout=5000)
    box = missing_user_box(window)
    assert box is not None
    return box


def test_send_to_a_user_the_app_said_does_not_exist_asks_first_and_cancel_keeps_the_text(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    box = send_to_missing_user(stack, window, qtbot)
    assert NOBODY in box.text()
    assert stack.outbox.active(stack.session.profile_id) == []  # nothing queued yet
    box.button(QMessageBox.StandardButton.Cancel).click()
    stack.barrier()
    assert window.composer.text() == "Welcome aboard"
    assert stack.outbox.active(stack.session.profile_id) == []
    assert not user_exists(stack, NOBODY)
    assert stack.api_calls("/messages", "POST") == []


def test_send_to_a_user_the_app_said_does_not_exist_can_pre_create_them(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    box = send_to_missing_user(stack, window, qtbot)
    create = [b for b in box.buttons() if "Create" in b.text()]
    assert len(create) == 1
    create[0].click()
    qtbot.waitUntil(lambda: user_exists(stack, NOBODY), timeout=10_000)
    qtbot.waitUntil(
        lambda: [m.get("text") for m in stack.messages(NOBODY)] == ["Welcome aboard"],
        timeout=10_000,
    )
    assert window.composer.text() == ""
    qtbot.waitUntil(lambda: window.user_panel.current_user() is not None, timeout=10_000)


def test_typing_to_a_user_the_app_said_does_not_exist_sends_no_indicator(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    with qtbot.waitSignal(window.user_panel.lookupFailed, timeout=10_000):
        stack.type_user(window, NOBODY)
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Hello there")
    qtbot.wait(300)
    stack.barrier()
    assert window.typing.missing
    assert stack.api_calls(f"/{NOBODY}/", "POST") == []  # no typing:start, no 404s
    # Once the user exists (pre-created by Send), typing reaches them again.
    box = send_to_missing_user_again(window, qtbot)
    [create] = [b for b in box.buttons() if "Create" in b.text()]
    create.click()
    qtbot.waitUntil(lambda: window.user_panel.current_user() is not None, timeout=10_000)
    assert not window.typing.missing
    QTest.keyClicks(window.composer.edit, "More")
    qtbot.waitUntil(lambda: "typing:start" in stack.activities(NOBODY), timeout=10_000)


def send_to_missing_user_again(window: MainWindow, qtbot: QtBot) -> QMessageBox:
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: missing_user_box(window) is not None, timeout=5000)
    box = missing_user_box(window)
    assert box is not None
    return box


def shown_texts(window: MainWindow) -> list[str]:
    return [window.model.item(r).text for r in range(window.model.rowCount())]


def test_a_message_delivered_after_faults_is_shown_where_the_server_put_it(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    """Queued while the server failed, it reached the conversation after the end user's
    answer: it is shown after it at once, not above it until the next poll."""
    stack.open_user(window, DEMO_ALICE_ID)
    stack.sandbox.set_faults(FaultConfig(error_rate=1.0, seed=4))
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Through the storm")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(stack.api_calls("/messages", "POST")) >= 1, timeout=5000)
    time.sleep(0.02)
    stack.sandbox.store.add_user_message(stack.app_id, DEMO_ALICE_ID, "Hello? Anyone?")
    stack.sandbox.set_faults(FaultConfig())
    window._load_history()  # a poll: the end user's message shows
    qtbot.waitUntil(lambda: "Hello? Anyone?" in shown_texts(window), timeout=10_000)
    # The order on screen the moment the window learns it was delivered (before any poll).
    at_sent: list[list[str]] = []

    def on_entry(entry: OutboxEntry) -> None:
        if entry.state is EntryState.SENT and not at_sent:
            at_sent.append(shown_texts(window))

    stack.delivery.entryChanged.connect(on_entry)
    qtbot.waitUntil(lambda: bool(at_sent), timeout=15_000)
    server = [m.get("text") for m in stack.messages(DEMO_ALICE_ID)]
    assert server[-2:] == ["Hello? Anyone?", "Through the storm"]
    assert at_sent[0][-2:] == ["Hello? Anyone?", "Through the storm"]
    window._load_history()  # and the next poll changes nothing
    stack.barrier()
    qtbot.waitUntil(lambda: not window._history_in_flight, timeout=10_000)
    assert shown_texts(window)[-2:] == ["Hello? Anyone?", "Through the storm"]


def test_the_agents_own_messages_stay_in_the_order_they_were_written(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    stack.sandbox.set_faults(FaultConfig(error_rate=1.0, seed=4))
    for text in ("one", "two", "three"):
        window.composer.edit.setFocus()
        QTest.keyClicks(window.composer.edit, text)
        QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(stack.api_calls("/messages", "POST")) >= 1, timeout=5000)
    stack.sandbox.set_faults(FaultConfig())
    qtbot.waitUntil(
        lambda: (
            [m.get("text") for m in stack.messages(DEMO_ALICE_ID)][-3:] == ["one", "two", "three"]
        ),
        timeout=15_000,
    )
    stack.barrier()
    assert shown_texts(window)[-3:] == ["one", "two", "three"]
    window._load_history()
    qtbot.waitUntil(lambda: not window._history_in_flight, timeout=10_000)
    assert shown_texts(window)[-3:] == ["one", "two", "three"]


@pytest.mark.parametrize("email", ["agent@example.com", ""])
def test_a_just_sent_bubble_has_the_avatar_the_end_user_will_see(
    stack_factory: Callable[..., UiStack], qtbot: QtBot, email: str
) -> None:
    stack = stack_factory(sender=SenderIdentity("", "Sam Tester", email))
    window = stack.new_window()
    stack.open_user(window, DEMO_ALICE_ID)
    with stack.api_thread_held():  # not delivered yet: the bubble is the local one
        window.composer.edit.setFocus()
        QTest.keyClicks(window.composer.edit, "Look who's here")
        QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
        (entry,) = stack.delivery.entries_for(DEMO_ALICE_ID)
        row = window.model.find_client(entry.client_id)
        assert row is not None
        local = window.model.item(row)
        assert local.is_local

    def shown() -> ConversationItem:
        row = window.model.find_client(entry.client_id)
        assert row is not None
        return window.model.item(row)

    def state() -> str:
        stored = stack.outbox.get(entry.client_id)
        return stored.state if stored is not None else ""

    qtbot.waitUntil(lambda: state() == "sent", timeout=10_000)
    window._load_history()  # the next poll brings the server's copy
    qtbot.waitUntil(lambda: not shown().is_local, timeout=10_000)
    server_copy = shown()
    assert server_copy.avatar_url  # the server derives one from the email (or none)
    assert local.avatar_url == server_copy.avatar_url


LONG_PROFILE = (
    "Profile: the support team of Example Corporation, Europe · v2 · "
    "api.example-long-host-name.smooch.io"
)
LONG_ERROR = (
    "message failed: The server answered 503 Service Unavailable; the message may have "
    "arrived and is checked in a moment, before anything is resent"
)


def cut_after_a_word(shown: str, full: str) -> bool:
    """``shown`` is ``full``, or a prefix of it ending at a word's end, then "…"."""
    if shown == full:
        return True
    if not shown.endswith("…"):
        return False
    kept = shown[:-1]
    return full.startswith(kept) and (full[len(kept)] in " ,;:·—-")


@pytest.mark.parametrize("width", [1100, 800])
def test_the_status_bar_texts_never_overlap_and_are_cut_after_whole_words(
    stack: UiStack, window: MainWindow, qtbot: QtBot, width: int
) -> None:
    window.resize(width, 600)
    window.show_connecting(LONG_PROFILE)
    window.set_call_failed(LONG_ERROR)
    qtbot.wait(50)  # the bar lays out
    left, right = window.status_profile, window.status_call
    assert left.geometry().right() < right.geometry().left()
    assert cut_after_a_word(left.shown_text(), LONG_PROFILE), left.shown_text()
    assert cut_after_a_word(right.shown_text(), "✗ " + LONG_ERROR), right.shown_text()
    assert right.toolTip()  # the whole error, on hover

    # A passing message stops before the right-hand text, also after a whole word.
    bar = window.statusBar()
    bar.showMessage(LONG_ERROR.replace("message failed", "typing indicator failed"), 5000)
    qtbot.wait(20)
    shown = bar.shown_message()  # type: ignore[attr-defined]
    full = bar.currentMessage()
    assert cut_after_a_word(shown, full), shown
    assert bar.fontMetrics().horizontalAdvance(shown) < right.geometry().left()
    assert "typing indicator failed" in bar.toolTip()  # the whole message, on hover


def start_app(qtbot: QtBot, sandbox: SandboxServer, api_version: str) -> AppController:
    controller = AppController(
        build_parser().parse_args(["--api-version", api_version]), sandbox=sandbox
    )
    controller.start()
    qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
    assert controller.window is not None
    return controller


def test_the_last_open_conversation_is_reopened_at_the_next_start(
    qtbot: QtBot, sandbox: SandboxServer, api_version: str, leak_guard: None
) -> None:
    first = start_app(qtbot, sandbox, api_version)
    try:
        opened = first.window
        assert opened is not None
        window = opened
        with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            window.user_panel.set_user_ref(DEMO_ENCODED_USER_ID)
        if api_version == "v2":  # v2: a user can have several conversations
            window.user_panel.select_conversation(DEMO_SECOND_CONVERSATION_ID)
        qtbot.waitUntil(lambda: window.loaded_address[0] == DEMO_ENCODED_USER_ID, timeout=10_000)
        expected = window.current_address()
    finally:
        dispose_controller(first)
    assert expected[1] == (DEMO_SECOND_CONVERSATION_ID if api_version == "v2" else "")

    again = start_app(qtbot, sandbox, api_version)
    try:
        reopened = again.window
        assert reopened is not None
        qtbot.waitUntil(lambda: reopened.loaded_address == expected, timeout=10_000)
        assert reopened.user_panel.combo.currentText() == DEMO_ENCODED_USER_ID
    finally:
        dispose_controller(again)


def test_a_window_closed_with_no_user_open_reopens_none(
    qtbot: QtBot, sandbox: SandboxServer, api_version: str, leak_guard: None
) -> None:
    first = start_app(qtbot, sandbox, api_version)
    try:
        window = first.window
        assert window is not None
        with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            window.user_panel.set_user_ref(DEMO_ALICE_ID)
        window.user_panel.set_user_ref("")  # the agent cleared the field
    finally:
        dispose_controller(first)
    again = start_app(qtbot, sandbox, api_version)
    try:
        assert again.window is not None
        qtbot.wait(200)
        assert again.window.user_panel.current_user_ref() == ""
    finally:
        dispose_controller(again)


def conversation_width(window: MainWindow) -> int:
    return window.view.width()


def test_a_narrow_window_can_collapse_the_sender_panel_and_it_stays_collapsed(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    window.resize(window.minimumSizeHint().width(), 600)
    qtbot.wait(50)
    squeezed = conversation_width(window)
    assert window.sender_panel.isVisible()
    # The conversation gets the panel's width back (the list pane keeps its own).
    panel = window.side_split.width()
    assert panel >= 200
    # The splitter's handle can close it: dragged to the window's edge.
    side = window.hsplit.indexOf(window.side_split)
    handle = window.hsplit.handle(side)
    start = handle.rect().center()
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for dx in range(20, window.width(), 20):
        QTest.mouseMove(handle, start + QPoint(dx, 0))
    QTest.mouseRelease(
        handle,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        start + QPoint(window.width(), 0),
    )
    qtbot.waitUntil(lambda: window.side_split.width() == 0)
    assert conversation_width(window) >= squeezed + panel
    assert not window.sender_action.isChecked()
    window.sender_action.trigger()
    # Back at least as wide as it was (the narrow window has no room for more).
    qtbot.waitUntil(lambda: window.side_split.width() >= panel)
    # So can the View menu's action, with its shortcut.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert window.sender_action.isChecked()
    QTest.keyClick(
        window,
        Qt.Key.Key_P,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: not window.sender_panel.isVisible() or window.side_split.width() == 0)
    assert not window.sender_action.isChecked()
    assert conversation_width(window) >= squeezed + panel

    # Remembered: the next window opens with it collapsed, and it opens again on demand.
    stack.close_window(window)
    again = stack.new_window()
    qtbot.wait(50)
    assert again.side_split.width() == 0 or not again.side_split.isVisible()
    assert not again.sender_action.isChecked()
    again.sender_action.trigger()
    qtbot.waitUntil(lambda: again.side_split.width() >= 200)
    assert again.sender_action.isChecked()
    assert again.sender_panel.isVisible()


@pytest.mark.parametrize(
    "raw",
    ["not json", "5", "[]", '["only one"]', "[1, 2]", '{"user": "x"}', '["a", "b", "c"]'],
)
def test_a_damaged_last_user_entry_reopens_nothing(stack: UiStack, qtbot: QtBot, raw: str) -> None:
    key = f"lastUser/{stack.session.profile_id.encode().hex()}"
    stack.settings._s.setValue(key, raw)
    assert stack.settings.last_user(stack.session.profile_id) == ("", "")
    window = stack.new_window()
    qtbot.wait(50)
    assert window.user_panel.combo.currentText() == ""
    assert window.user_panel.current_user_ref() == ""
