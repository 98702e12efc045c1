"""Changing the User field: nothing typed or sent afterwards may go to the previous user.

The field settles after a short pause (so a lookup isn't made per keystroke). Until it
has, the user on screen is no longer the one the field names: a reply sent, a draft saved
or "typing…" shown in that moment must never reach the previous user.
"""

from __future__ import annotations

import pytest
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.sandbox import FaultConfig
from smooch_desktop.sandbox.demo import DEMO_ALICE_ID, DEMO_PAGING_USER_ID
from smooch_desktop.ui.main_window import MainWindow

# The offscreen platform says this for every shown top-level window; harmless.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def test_a_reply_sent_right_after_changing_the_user_goes_to_the_new_user(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_PAGING_USER_ID)
    before = len(stack.messages(DEMO_PAGING_USER_ID))
    stack.type_user(window, DEMO_ALICE_ID, enter=False)  # no pause, no Enter
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "For Alice only")
    window.send_current()
    qtbot.waitUntil(
        lambda: any(m.get("text") == "For Alice only" for m in stack.messages(DEMO_ALICE_ID)),
        timeout=10_000,
    )
    stack.barrier()
    assert len(stack.messages(DEMO_PAGING_USER_ID)) == before
    assert all(m.get("text") != "For Alice only" for m in stack.messages(DEMO_PAGING_USER_ID))


def test_text_typed_right_after_changing_the_user_is_not_the_previous_users_draft(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_PAGING_USER_ID)
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "For Bob")
    stack.type_user(window, DEMO_ALICE_ID, enter=False)
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Hello Alice")
    window.save_draft()  # what the autosave does a second later
    profile = stack.session.profile_id
    assert stack.drafts.load(profile, DEMO_PAGING_USER_ID) == "For Bob"
    # Once the field settles, the text is Alice's: in the box and as her draft.
    with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
        pass
    assert window.user_panel.current_user_ref() == DEMO_ALICE_ID
    assert "Hello Alice" in window.composer.text()
    assert "For Bob" not in window.composer.text()
    window.save_draft()
    assert "Hello Alice" in stack.drafts.load(profile, DEMO_ALICE_ID)


def test_the_previous_user_stops_seeing_typing_as_soon_as_the_field_changes(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_PAGING_USER_ID)
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "a")
    qtbot.waitUntil(lambda: "typing:start" in stack.activities(DEMO_PAGING_USER_ID), timeout=10_000)
    stack.type_user(window, DEMO_ALICE_ID, enter=False)
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "b")
    stack.barrier()
    activities = stack.activities(DEMO_PAGING_USER_ID)
    assert activities[-1] == "typing:stop"
    assert activities.count("typing:start") == 1


def test_leaving_the_user_field_settles_it_at_once(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_PAGING_USER_ID)
    window.activateWindow()
    qtbot.waitActive(window)
    stack.type_user(window, DEMO_ALICE_ID, enter=False)
    window.composer.edit.setFocus()  # focus leaves the field: no pause needed
    assert window.user_panel.current_user_ref() == DEMO_ALICE_ID


def test_switching_user_while_history_loads_still_loads_the_new_user(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.sandbox.set_faults(FaultConfig(latency_ms=800))
    stack.type_user(window, DEMO_ALICE_ID)
    qtbot.waitUntil(lambda: window._history_in_flight, timeout=5_000)
    stack.type_user(window, DEMO_PAGING_USER_ID)  # while Alice's history is still out
    stack.sandbox.set_faults(FaultConfig())
    stack.wait_history(window, DEMO_PAGING_USER_ID)
    assert window.model.rowCount() == 100
