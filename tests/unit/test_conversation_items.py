"""The conversation's rows as plain data (ui/conversation/items.py), without Qt."""

from __future__ import annotations

import time
from typing import Any

import pytest

from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, Message
from smooch_desktop.core.outbox import ACTIVE_STATES, OPEN_STATES, EntryState
from smooch_desktop.ui.conversation.items import (
    FLAG_FIRST_IN_GROUP,
    FLAG_STARTS_DAY,
    GROUP_GAP_S,
    ConversationItem,
    action_label,
    format_time,
    local_day,
    row_flags,
)

T0 = 1_700_000_000.0


def history(n: int, *, role: str = "user", at: float = T0, name: str = "Alice") -> ConversationItem:
    return ConversationItem.from_message(
        Message(id=f"m{n}", role=role, text=f"message {n}", author_name=name, received=at)
    )


def test_a_history_row_is_neither_local_nor_pending() -> None:
    item = history(1)
    assert item.state is None
    assert not item.is_local
    assert not item.is_pending
    assert item.server_id == "m1"
    assert item.status_text() == ""
    assert not item.is_outgoing  # the end user's side: drawn on the left


def test_a_server_message_keeps_the_client_id_it_was_sent_with() -> None:
    message = Message(
        id="m2", role="business", text="hi", received=T0, metadata={CLIENT_ID_METADATA_KEY: "c1"}
    )
    item = ConversationItem.from_message(message)
    assert item.client_id == "c1"
    assert item.is_outgoing
    assert item.state is None


def test_an_unknown_role_is_shown_as_the_end_user() -> None:
    assert history(1, role="somethingNew").role == history(2).role


def test_pending_rows_are_the_outbox_open_states_including_failed() -> None:
    pending = {
        state
        for state in EntryState
        if ConversationItem.local("c", "t", state=state, queued_at=T0).is_pending
    }
    assert pending == OPEN_STATES
    # Not the engine's "active" set: a failed entry waits below the history for the agent.
    assert EntryState.FAILED in pending - ACTIVE_STATES
    assert EntryState.SENT not in pending


def test_a_local_row_is_keyed_by_its_client_id_until_the_server_id_is_known() -> None:
    queued = ConversationItem.local("c1", "hello", queued_at=T0)
    assert (queued.key, queued.server_id, queued.state) == ("c1", "", EntryState.QUEUED)
    assert queued.is_local and queued.is_outgoing
    sent = ConversationItem.local("c1", "hello", state=EntryState.SENT, server_id="srv-1")
    assert (sent.key, sent.server_id) == ("srv-1", "srv-1")


def test_states_are_entry_states_and_local_rows_need_a_client_id() -> None:
    with pytest.raises(ValueError, match="state"):
        # A plain string, on purpose: the constructor must refuse what is not an EntryState.
        ConversationItem(key="x", state="sending", client_id="c")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client_id"):
        ConversationItem(key="x", state=EntryState.QUEUED)


def test_status_text_says_the_state_and_counts_down_a_retry() -> None:
    def status(state: EntryState, **kw: Any) -> str:
        item = ConversationItem.local("c", "t", state=state, queued_at=T0, **kw)
        return item.status_text(now=T0)

    assert status(EntryState.QUEUED) == "Queued"
    assert status(EntryState.QUEUED, next_attempt_at=T0 + 11.2) == "Queued — retrying in 12 s"
    assert status(EntryState.QUEUED, next_attempt_at=T0 - 1) == "Queued"
    assert status(EntryState.SENDING) == "Sending…"
    assert status(EntryState.UNKNOWN) == "Not confirmed yet — checking"
    assert status(EntryState.FAILED) == "Failed: the server gave no reason"
    assert status(EntryState.FAILED, error_text="429: slow down") == "Failed: 429: slow down"
    assert status(EntryState.SENT) == "Sent"


def test_a_file_gets_a_line_with_its_name_and_an_image_does_not() -> None:
    file = ConversationItem(key="m", text="see", media_url="https://x/a/report.pdf?sig=1")
    assert file.display_text == "see\n📎 report.pdf"
    image = ConversationItem(key="m", msg_type="image", media_url="https://x/cat.png")
    assert image.has_image
    assert image.display_text == ""


def test_row_flags_group_one_author_and_mark_new_days() -> None:
    first = history(1, at=T0)
    assert row_flags(None, first) == FLAG_STARTS_DAY | FLAG_FIRST_IN_GROUP
    assert row_flags(first, history(2, at=T0 + 60)) == 0
    assert row_flags(first, history(3, at=T0 + GROUP_GAP_S + 1)) == FLAG_FIRST_IN_GROUP
    assert row_flags(first, history(4, at=T0 + 60, name="Bob")) == FLAG_FIRST_IN_GROUP
    assert row_flags(first, history(5, role="business", at=T0 + 60)) == FLAG_FIRST_IN_GROUP
    assert row_flags(first, history(6, at=T0 + 2 * 86400)) & FLAG_STARTS_DAY


def test_local_day_and_time_of_an_unknown_time() -> None:
    assert local_day(0) == (0, 0)
    assert format_time(0) == ""
    local = time.localtime(T0)
    assert local_day(T0) == (local.tm_year, local.tm_yday)
    assert format_time(T0) == time.strftime("%H:%M", local)


def test_action_label_falls_back_to_what_the_action_has() -> None:
    assert action_label({"type": "reply", "text": " Refund "}) == "Refund"
    assert action_label({"type": "postback", "payload": "BUY"}) == "BUY"
    assert action_label({"type": "link", "text": "  "}) == "link"
    assert action_label({}) == "Action"
