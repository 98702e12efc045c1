"""A structured message attached in the composer belongs to the user it was made for:
kept per user in the drafts file (across a user switch, a new window, a restart), never
sent to another user, gone once sent."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import PROFILE_ID, UiStack

from smooch_desktop.core.structured import StructuredAction, StructuredItem, StructuredMessage
from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_PAGING_USER_ID
from smooch_desktop.ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

CAROUSEL = StructuredMessage(
    type="carousel",
    items=(
        StructuredItem(
            title="Red", actions=(StructuredAction(type="postback", text="Buy", target="RED"),)
        ),
        StructuredItem(
            title="Blue", actions=(StructuredAction(type="postback", text="Buy", target="BLUE"),)
        ),
    ),
)


def attached(window: MainWindow) -> StructuredMessage | None:
    assert window.attachment is not None
    return window.attachment.pending


def test_an_attachment_stays_with_its_user_and_is_never_sent_to_another(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    assert window.attachment is not None
    window.attachment.attach(CAROUSEL)
    assert stack.drafts.load_structure(PROFILE_ID, DEMO_ALICE_ID) == CAROUSEL.to_json()

    stack.open_user(window, DEMO_PAGING_USER_ID)
    assert attached(window) is None
    assert window.composer.attached.isHidden()
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Only text for Bob")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: stack.messages(DEMO_PAGING_USER_ID)[-1].get("text") == "Only text for Bob",
        timeout=10_000,
    )
    assert not stack.messages(DEMO_PAGING_USER_ID)[-1].get("items")
    # Still Alice's, untouched by Bob's send.
    assert stack.drafts.load_structure(PROFILE_ID, DEMO_ALICE_ID) == CAROUSEL.to_json()
    assert stack.drafts.load_structure(PROFILE_ID, DEMO_PAGING_USER_ID) == ""

    stack.open_user(window, DEMO_ALICE_ID)
    assert attached(window) == CAROUSEL


def test_an_attachment_survives_a_new_window_and_is_forgotten_once_sent(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    assert window.attachment is not None
    window.attachment.attach(CAROUSEL)
    stack.close_window(window)  # as at quit (or a kill: the change was already written)

    again = stack.new_window()
    stack.open_user(again, DEMO_ALICE_ID)
    assert attached(again) == CAROUSEL
    before = len(stack.messages(DEMO_ALICE_ID))
    again.send_current()
    qtbot.waitUntil(lambda: len(stack.messages(DEMO_ALICE_ID)) == before + 1, timeout=10_000)
    assert [i["title"] for i in stack.messages(DEMO_ALICE_ID)[-1]["items"]] == ["Red", "Blue"]
    assert attached(again) is None
    assert stack.drafts.load_structure(PROFILE_ID, DEMO_ALICE_ID) == ""


def test_with_no_user_chosen_the_editor_says_to_choose_one_first(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    window.ensure_conversation()
    assert window.attachment is not None
    QTest.mouseClick(window.composer.structure_button, Qt.MouseButton.LeftButton)
    assert window.attachment.editor is None
    assert "Choose the user to reply to first" in window.composer.error.text()
