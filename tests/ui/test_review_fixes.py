"""Regressions for bugs found in review: a user switch during a slow history load, Edit
keeping a message's buttons, and Edit refusing a message that may be on its way."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.shorthand import parse_shorthand
from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_PAGING_USER_ID, FaultConfig
from smooch_desktop.ui.main_window import MainWindow, composer_text_for


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


@pytest.mark.parametrize(
    "typed",
    [
        "Pick one %[Yes](reply:YES) %[No](reply:NO)",
        "Docs %[Open](https://example.com/help)",
        "Where? %[Send location](location)",
        "Pay $[Buy](49.99)",
        "Look ![](https://example.com/a.png)",
    ],
)
def test_edit_puts_the_buttons_back(typed: str) -> None:
    parsed = parse_shorthand(typed)
    assert not parsed.problems
    message = OutgoingMessage(
        parsed.text,
        Sender(),
        type=parsed.message_type,
        actions=tuple(parsed.actions),
        media_url=parsed.media_url or "",
    )
    again = parse_shorthand(composer_text_for(message))
    assert again.actions == parsed.actions
    assert again.media_url == parsed.media_url
    assert again.text.split() == parsed.text.split()


def test_edit_leaves_a_message_that_may_have_arrived(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    assert window.delivery is not None
    outbox = window.delivery.outbox
    # Straight into the outbox, no delivery kick: the worker would race this test to it.
    entry = outbox.enqueue(window.delivery.profile, DEMO_ALICE_ID, OutgoingMessage("maybe there"))
    outbox.mark_sending(entry.client_id)
    outbox.mark_unknown(entry.client_id, "no answer")
    window._edit(entry.client_id)  # may be on the server already: no resend via Edit
    kept = outbox.get(entry.client_id)
    assert kept is not None and str(kept.state) == "unknown"
    assert window.composer.text() == ""
