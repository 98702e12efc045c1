"""The main window as a new user found it (issue 12, item 4): each defect reproduced
through the real window stack (``ui_stack.py``) against the sandbox over HTTP."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.sandbox.demo import DEMO_ALICE_ID
from smooch_desktop.ui.main_window import MainWindow

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
