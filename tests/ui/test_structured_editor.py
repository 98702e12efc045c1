"""The structured-message editor in the real window: compose a carousel with real key
presses, Insert, send, and read what the sandbox stored (v1.1 and v2); Cancel changes
nothing; problems are shown next to their field; tab order follows the form."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from ui_stack import SENDER_NAME, UiStack

from smooch_desktop.core.structured import StructuredAction, StructuredItem, StructuredMessage
from smooch_desktop.sandbox import DEMO_ALICE_ID
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.structured_editor import StructuredEditor

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def open_editor(qtbot: QtBot, window: MainWindow) -> StructuredEditor:
    assert window.composer.structure_button.isEnabled()
    QTest.mouseClick(window.composer.structure_button, Qt.MouseButton.LeftButton)
    assert window.attachment is not None
    editor = window.attachment.editor
    assert editor is not None
    qtbot.waitExposed(editor)
    return editor


def fields(editor: StructuredEditor, name: str) -> list[Any]:
    return [w for w in editor.form_host.findChildren(QWidget, name) if not w.isHidden()]


def type_into(widget: QWidget, text: str) -> None:
    widget.setFocus()
    QTest.keyClicks(widget, text)


def choose(combo: QComboBox, data: str) -> None:
    combo.setFocus()
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    editor = combo.window()
    if isinstance(editor, StructuredEditor):  # the form is laid out again: wait until shown
        qtbot_wait_shown(editor)


def qtbot_wait_shown(editor: StructuredEditor) -> None:
    QApplication.processEvents()  # layouts show new children with a queued call
    assert all(w.isVisible() for w in fields(editor, "actionLabel"))


def next_in_chain(widget: QWidget) -> QWidget:
    following = widget.nextInFocusChain()
    assert following is not None
    return following


def without_ids(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sandbox gives each stored action an ``_id``, as Smooch does."""
    return [{k: v for k, v in a.items() if k != "_id"} for a in actions]


def fill_card(editor: StructuredEditor, index: int, title: str, payload: str) -> None:
    type_into(fields(editor, "cardTitle")[index], title)
    type_into(fields(editor, "cardDescription")[index], f"About {title}")
    type_into(fields(editor, "cardImage")[index], f"https://example.com/{payload}.png")
    group = editor.form_host.findChild(QWidget, f"structureCard{index}")
    assert group is not None
    label = next(w for w in group.findChildren(QLineEdit, "actionLabel") if not w.isHidden())
    target = next(w for w in group.findChildren(QLineEdit, "actionTarget") if not w.isHidden())
    type_into(label, f"Pick {title}")
    type_into(target, payload)


def test_a_carousel_composed_in_the_editor_is_sent_after_the_text_and_stored(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    before = len(stack.messages(DEMO_ALICE_ID))
    type_into(window.composer.edit, "Pick one")
    editor = open_editor(qtbot, window)
    choose(editor.type_combo, "carousel")
    fill_card(editor, 0, "Red", "RED")
    QTest.mouseClick(editor.add_card, Qt.MouseButton.LeftButton)
    qtbot_wait_shown(editor)
    # The new card's title has the focus: the agent types on.
    assert editor.focusWidget() is fields(editor, "cardTitle")[1]
    fill_card(editor, 1, "Blue", "BLUE")
    link = [w for w in fields(editor, "addButton")][-1]
    QTest.mouseClick(link, Qt.MouseButton.LeftButton)
    qtbot_wait_shown(editor)
    group = editor.form_host.findChild(QWidget, "structureCard1")
    assert group is not None
    choose([w for w in group.findChildren(QComboBox, "actionType")][-1], "link")
    group = editor.form_host.findChild(QWidget, "structureCard1")
    assert group is not None
    type_into(group.findChildren(QLineEdit, "actionLabel")[-1], "More")
    type_into(group.findChildren(QLineEdit, "actionTarget")[-1], "https://example.com/blue")
    assert editor.problems() == []
    QTest.mouseClick(editor.insert_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.attachment is not None and window.attachment.editor is None)

    assert window.attachment is not None and window.attachment.pending is not None
    assert not window.composer.attached.isHidden()
    assert "Carousel: 2 cards attached" in window.composer.attached_label.text()
    assert window.composer.text() == "Pick one"  # the typed text is untouched

    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.composer.text() == ""
    assert window.attachment.pending is None and window.composer.attached.isHidden()
    qtbot.waitUntil(lambda: len(stack.messages(DEMO_ALICE_ID)) == before + 2, timeout=10_000)
    stack.barrier()
    text, cards = stack.messages(DEMO_ALICE_ID)[before:]
    assert (text["type"], text["text"], text["name"]) == ("text", "Pick one", SENDER_NAME)
    assert cards["type"] == "carousel" and cards["name"] == SENDER_NAME
    assert "text" not in cards
    items = [{**without_ids([i])[0], "actions": without_ids(i["actions"])} for i in cards["items"]]
    assert items == [
        {
            "title": "Red",
            "description": "About Red",
            "mediaUrl": "https://example.com/RED.png",
            "actions": [{"type": "postback", "text": "Pick Red", "payload": "RED"}],
        },
        {
            "title": "Blue",
            "description": "About Blue",
            "mediaUrl": "https://example.com/BLUE.png",
            "actions": [
                {"type": "postback", "text": "Pick Blue", "payload": "BLUE"},
                {"type": "link", "text": "More", "uri": "https://example.com/blue"},
            ],
        },
    ]
    posts = stack.api_calls("/messages", "POST")
    body = posts[-1]["body"]
    assert (body["content"] if api_version == "v2" else body)["type"] == "carousel"


def test_a_structure_alone_is_sent_without_text(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    before = len(stack.messages(DEMO_ALICE_ID))
    assert window.attachment is not None
    assert not window.composer.send_button.isEnabled()
    window.attachment.attach(
        StructuredMessage(
            "text",
            "Where are you?",
            actions=(StructuredAction("locationRequest", "Share location"),),
        )
    )
    assert window.composer.send_button.isEnabled()
    QTest.mouseClick(window.composer.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stack.messages(DEMO_ALICE_ID)) == before + 1, timeout=10_000)
    sent = stack.messages(DEMO_ALICE_ID)[-1]
    assert sent["text"] == "Where are you?"
    assert without_ids(sent["actions"]) == [{"type": "locationRequest", "text": "Share location"}]


def test_cancel_changes_nothing_and_remove_detaches(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)  # cards are made for a user
    assert window.attachment is not None
    attached = StructuredMessage(
        "list", items=(StructuredItem("Kept", actions=(StructuredAction("postback", "Go", "GO"),)),)
    )
    window.attachment.attach(attached)
    type_into(window.composer.edit, "typed")
    editor = open_editor(qtbot, window)
    type_into(fields(editor, "cardTitle")[0], " and changed")
    choose(editor.type_combo, "text")
    assert editor.value() != attached
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.attachment is not None and window.attachment.editor is None)
    assert window.attachment.pending == attached
    assert window.composer.text() == "typed"

    QTest.mouseClick(window.composer.attached_remove, Qt.MouseButton.LeftButton)
    assert window.attachment.pending is None
    assert window.composer.attached.isHidden()
    assert window.composer.text() == "typed"


def test_insert_with_problems_shows_them_next_to_their_fields_and_stays_open(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)  # cards are made for a user
    editor = open_editor(qtbot, window)
    choose(editor.type_combo, "carousel")
    type_into(fields(editor, "cardImage")[0], "javascript:alert(1)")
    errors = [e.text() for e in fields(editor, "fieldError")]
    # Only the field that was edited says something before Insert.
    assert errors == [
        'Card 1: the image address must use https or http; "javascript:" addresses are not allowed.'
    ]
    QTest.mouseClick(editor.insert_button, Qt.MouseButton.LeftButton)
    assert editor.isVisible()
    assert editor.focusWidget() is fields(editor, "cardTitle")[0]
    errors = [e.text() for e in fields(editor, "fieldError")]
    assert "Card 1 needs a title." in errors
    assert (
        "Card 1, button 1 needs a label.\nCard 1, button 1: a postback button needs a payload."
        in (errors)
    )
    assert "Card 1 needs a title." in editor.preview.problem_text()
    assert fields(editor, "cardTitle")[0].styleSheet()  # marked
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    assert window.attachment is not None and window.attachment.pending is None


def test_share_is_offered_in_cards_on_v1_only(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)  # cards are made for a user
    editor = open_editor(qtbot, window)
    choose(editor.type_combo, "carousel")
    combo = fields(editor, "actionType")[0]
    offered = [combo.itemData(i) for i in range(combo.count())]
    if api_version == "v2":
        assert offered == ["link", "postback", "buy", "webview"]
    else:
        assert offered == ["link", "postback", "buy", "webview", "share"]
    choose(editor.type_combo, "text")
    assert fields(editor, "actionType") == []  # the untouched empty button was dropped
    QTest.mouseClick(fields(editor, "addButton")[0], Qt.MouseButton.LeftButton)
    qtbot_wait_shown(editor)
    combo = fields(editor, "actionType")[0]
    offered = [combo.itemData(i) for i in range(combo.count())]
    assert offered == ["link", "postback", "reply", "locationRequest", "buy", "webview"]
    QTest.keyClick(editor, Qt.Key.Key_Escape)


def test_tab_order_follows_the_form_and_labels_have_mnemonics(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)  # cards are made for a user
    editor = open_editor(qtbot, window)
    choose(editor.type_combo, "carousel")
    order: list[str] = []
    widget: QWidget = editor.type_combo
    for _ in range(9):
        order.append(widget.objectName())
        widget = next_in_chain(widget)
        while not (widget.isVisibleTo(editor) and widget.focusPolicy() & Qt.FocusPolicy.TabFocus):
            widget = next_in_chain(widget)
    assert order == [
        "structureType",
        "cardTitle",
        "cardDescription",
        "cardImage",
        "actionType",
        "actionLabel",
        "actionTarget",
        "removeButton",
        "addButton",
    ]
    buddies = {
        label.text(): buddy.objectName()
        for label in editor.findChildren(QLabel)
        if (buddy := label.buddy()) is not None
    }
    assert buddies["&Type:"] == "structureType"
    assert buddies["T&itle:"] == "cardTitle"
    QTest.keyClick(editor, Qt.Key.Key_Escape)


def test_editing_an_unsent_carousel_puts_it_back_in_the_editor(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    assert window.attachment is not None
    carousel = StructuredMessage(
        "carousel",
        items=(StructuredItem("One", actions=(StructuredAction("postback", "Go", "GO"),)),),
    )
    with stack.api_thread_held():
        window.attachment.attach(carousel)
        QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
        (entry,) = stack.delivery.entries_for(DEMO_ALICE_ID)
        window.view.editRequested.emit(entry.client_id)
    assert window.attachment.pending == carousel
    assert stack.delivery.entries_for(DEMO_ALICE_ID) == []
