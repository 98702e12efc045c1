"""Composer: which key sends, the character counter and its limits, the send button."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from smooch_desktop.core.validation import TEXT_LIMIT, TEXT_WARN_AT
from smooch_desktop.ui.composer import Composer

ENTER = Qt.Key.Key_Return
NONE = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier
KEYPAD = Qt.KeyboardModifier.KeypadModifier


@pytest.fixture
def composer(qtbot: QtBot) -> Composer:
    widget = Composer()
    qtbot.addWidget(widget)
    return widget


def press(qtbot: QtBot, composer: Composer, key: Qt.Key, mods: Qt.KeyboardModifier) -> bool:
    """Press a key in the box; True if it asked to send."""
    sent: list[bool] = []
    composer.sendRequested.connect(lambda: sent.append(True))
    QTest.keyClick(composer.edit, key, mods)
    composer.sendRequested.disconnect()
    return bool(sent)


@pytest.mark.parametrize(
    ("ctrl_mode", "key", "mods", "sends"),
    [
        (False, ENTER, NONE, True),
        (False, Qt.Key.Key_Enter, KEYPAD, True),
        (False, ENTER, SHIFT, False),
        (False, ENTER, CTRL, True),
        (True, ENTER, NONE, False),
        (True, Qt.Key.Key_Enter, KEYPAD, False),
        (True, ENTER, SHIFT, False),
        (True, ENTER, CTRL, True),
    ],
)
def test_which_keys_send_and_which_add_a_line(
    composer: Composer,
    qtbot: QtBot,
    ctrl_mode: bool,
    key: Qt.Key,
    mods: Qt.KeyboardModifier,
    sends: bool,
) -> None:
    composer.set_ctrl_enter_mode(ctrl_mode)
    QTest.keyClicks(composer.edit, "ab")
    assert press(qtbot, composer, key, mods) is sends
    assert composer.text() == ("ab" if sends else "ab\n")


def test_the_send_button_names_its_key(composer: Composer, qtbot: QtBot) -> None:
    assert composer.send_button.text() == "&Send (Enter)"
    assert composer.send_button.toolTip() == "Send with Enter; Shift+Enter adds a new line."
    composer.set_ctrl_enter_mode(True)
    assert composer.send_button.text() == "&Send (Ctrl+Enter)"
    assert composer.send_button.toolTip() == "Send with Ctrl+Enter; Enter adds a new line."
    composer.set_ctrl_enter_mode(False)
    assert composer.send_button.text() == "&Send (Enter)"


def test_the_button_sends_only_when_there_is_text(composer: Composer, qtbot: QtBot) -> None:
    sent: list[bool] = []
    composer.sendRequested.connect(lambda: sent.append(True))
    assert not composer.send_button.isEnabled()
    QTest.keyClicks(composer.edit, "   ")
    assert not composer.send_button.isEnabled()
    QTest.keyClicks(composer.edit, "hi")
    assert composer.send_button.isEnabled()
    QTest.mouseClick(composer.send_button, Qt.MouseButton.LeftButton)
    assert sent == [True]


def test_typing_is_reported_but_filling_the_box_is_not(composer: Composer, qtbot: QtBot) -> None:
    edits: list[str] = []
    composer.textEdited.connect(edits.append)
    QTest.keyClicks(composer.edit, "Hey")
    assert edits == ["H", "He", "Hey"]
    composer.set_text("A draft loaded for another user")
    composer.set_text("")
    assert edits == ["H", "He", "Hey"]
    assert composer.edit.textCursor().position() == 0
    composer.set_text("abc")
    assert composer.edit.textCursor().position() == 3  # ready to keep typing at the end


def test_an_error_goes_away_when_the_user_edits(composer: Composer, qtbot: QtBot) -> None:
    composer.show_error("Type a message first.")
    assert not composer.error.isHidden()
    QTest.keyClicks(composer.edit, "x")
    assert composer.error.isHidden()
    composer.show_note("2 invisible control character(s) were removed.")
    assert not composer.note.isHidden()
    composer.show_note("")
    assert composer.note.isHidden()


@pytest.mark.parametrize(
    ("length", "counter", "colour", "tooltip", "enabled"),
    [
        (0, "0", "#616161", "", False),
        (TEXT_WARN_AT - 1, f"{TEXT_WARN_AT - 1}", "#616161", "", True),
        (
            TEXT_WARN_AT,
            f"{TEXT_WARN_AT}/{TEXT_LIMIT}",
            "#b26a00",
            f"{TEXT_LIMIT - TEXT_WARN_AT} characters left",
            True,
        ),
        (TEXT_LIMIT - 1, f"{TEXT_LIMIT - 1}/{TEXT_LIMIT}", "#b26a00", "1 character left", True),
        (TEXT_LIMIT, f"{TEXT_LIMIT}/{TEXT_LIMIT}", "#b26a00", "0 characters left", True),
        (
            TEXT_LIMIT + 1,
            f"{TEXT_LIMIT + 1}/{TEXT_LIMIT}",
            "#c62828",
            "1 character over the limit",
            False,
        ),
        (
            TEXT_LIMIT + 50,
            f"{TEXT_LIMIT + 50}/{TEXT_LIMIT}",
            "#c62828",
            "50 characters over the limit",
            False,
        ),
    ],
)
def test_counter_colours_and_limits(
    composer: Composer,
    length: int,
    counter: str,
    colour: str,
    tooltip: str,
    enabled: bool,
) -> None:
    composer.set_text("y" * length)
    assert composer.counter.text() == counter
    assert f"color: {colour}" in composer.counter.styleSheet()
    assert composer.counter.toolTip() == tooltip
    assert composer.send_button.isEnabled() is enabled


def test_the_counter_follows_typing(composer: Composer, qtbot: QtBot) -> None:
    composer.set_text("z" * (TEXT_WARN_AT - 2))
    QTest.keyClicks(composer.edit, "ab")
    assert composer.counter.text() == f"{TEXT_WARN_AT}/{TEXT_LIMIT}"
    QTest.keyClick(composer.edit, Qt.Key.Key_Backspace)
    assert composer.counter.text() == f"{TEXT_WARN_AT - 1}"
