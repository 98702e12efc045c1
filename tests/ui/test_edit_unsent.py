"""Edit on an unsent message: it goes back into the composer, buttons and all, and a
message that may already be on the server is never taken back (Edit would resend it)."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.shorthand import parse_shorthand
from smooch_desktop.sandbox import DEMO_ALICE_ID
from smooch_desktop.ui.main_window import MainWindow, composer_text_for


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
    # The delivery engine works the outbox on the API thread. Held, it can't take the
    # entry (to send or check it) between the steps below that put it in 'unknown'.
    with stack.api_thread_held():
        entry = outbox.enqueue(
            window.delivery.profile, DEMO_ALICE_ID, OutgoingMessage("maybe there")
        )
        outbox.mark_sending(entry.client_id)
        outbox.mark_unknown(entry.client_id, "no answer")
        window._edit(entry.client_id)  # may be on the server already: no resend via Edit
        kept = outbox.get(entry.client_id)
        assert kept is not None and str(kept.state) == "unknown"
        assert window.composer.text() == ""
