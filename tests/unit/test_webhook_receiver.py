"""The webhook receiver's pure parts: payload parsing (v1.1 and v2, through the models'
own ``from_v1``/``from_v2``), the bounded id set, the public URL check, and pushed
messages in the inbox store (idempotent, unread only for end users)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smooch_desktop.api.errors import HttpError
from smooch_desktop.api.models import ROLE_BUSINESS, AppUser, Conversation, HistoryPage, Message
from smooch_desktop.api.webhooks import Registration
from smooch_desktop.core.conversation_places import ConversationPlaces
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.core.webhook_receiver import (
    MAX_LOOKUPS_PER_CALL,
    RecentIds,
    WebhookEvent,
    WebhookReceiver,
    apply_to_inbox,
    parse_payload,
    public_url_problem,
)

PROFILE = "p1"

V1_BODY: dict[str, Any] = {
    "trigger": "message:appUser",
    "app": {"_id": "app1"},
    "messages": [
        {
            "_id": "m1",
            "type": "text",
            "text": "Hi! Do you have time to chat?",
            "role": "appUser",
            "authorId": "u1",
            "name": "Steve",
            "received": 1444348338.704,
        }
    ],
    "appUser": {"_id": "u1", "userId": "bob@example.com"},
    "conversation": {"_id": "c1"},
    "version": "v1.1",
}

V2_BODY: dict[str, Any] = {
    "app": {"id": "app1"},
    "webhook": {"id": "w1", "version": "v2"},
    "events": [
        {
            "id": "e1",
            "type": "conversation:message",
            "createdAt": "2020-09-30T15:14:29.834Z",
            "payload": {
                "conversation": {"id": "c1", "type": "personal"},
                "message": {
                    "id": "m1",
                    "received": "2020-09-30T15:14:29.834Z",
                    "author": {
                        "type": "user",
                        "userId": "u1",
                        "displayName": "Steve Rogers",
                        "user": {"id": "u1", "externalId": "steve"},
                    },
                    "content": {"type": "text", "text": "hello"},
                },
            },
        }
    ],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InboxStore]:
    with InboxStore(tmp_path / "inbox.sqlite3") as opened:
        yield opened


def test_a_v1_message_payload_becomes_one_event_with_the_models_message() -> None:
    [event] = parse_payload(V1_BODY)
    assert event.kind == "message" and event.version == "v1.1"
    assert (event.user_id, event.external_id, event.conversation_id) == (
        "u1",
        "bob@example.com",
        "c1",
    )
    assert event.message == Message.from_v1(V1_BODY["messages"][0])
    assert event.event_id == "message:m1"
    assert event.display_name == "Steve"


def test_a_v2_batch_becomes_one_event_per_entry() -> None:
    body = dict(V2_BODY)
    read = {
        "id": "e2",
        "type": "conversation:read",
        "payload": {"activity": {"author": {"userId": "u1"}}},
    }
    body["events"] = [*V2_BODY["events"], read, "junk"]
    first, second = parse_payload(body)
    assert first.message == Message.from_v2(V2_BODY["events"][0]["payload"]["message"])
    assert (first.user_id, first.external_id, first.display_name) == ("u1", "steve", "Steve Rogers")
    assert first.event_id == "event:e1"
    assert second.kind == "read" and second.message is None and second.user_id == "u1"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {},
        {"trigger": 5},
        {"events": "x"},
        {"trigger": "message:appUser", "messages": "x"},
    ],
)
def test_odd_bodies_give_no_message_events(body: Any) -> None:
    assert all(e.message is None for e in parse_payload(body))


def test_v1_events_without_a_message_are_named_by_trigger_user_and_time() -> None:
    body = {"trigger": "conversation:read", "appUser": {"_id": "u1"}, "timestamp": 12.5}
    [event] = parse_payload(body)
    assert event.kind == "read" and event.event_id == "conversation:read:u1:12.5:"
    assert parse_payload(body)[0].event_id == event.event_id  # a redelivery is the same


def test_recent_ids_are_bounded_and_forget_the_oldest_first() -> None:
    seen = RecentIds(limit=3)
    assert [seen.first_time(i) for i in "abca"] == [True, True, True, False]
    assert seen.first_time("d")  # "b" (least recently seen) goes
    assert len(seen) == 3
    assert seen.first_time("b")
    assert seen.first_time("") and seen.first_time("")  # no id: never deduplicated
    with pytest.raises(ValueError):
        RecentIds(limit=0)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "Enter the public URL"),
        ("   ", "Enter the public URL"),
        ("example.com/hook", "https://"),
        ("ftp://example.com/", "https://"),
        ("https://", "no host"),
        ("https://a:b@example.com/", "user name and password"),
        ("https://a@example.com/", "user name and password"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com:0x/", "port"),
        ("https://exa\nmple.com/", "control"),
        ("https://example.com/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_bad_public_urls_are_named(url: str, says: str) -> None:
    assert says in public_url_problem(url)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "http://127.0.0.1:8742/x", "https://[::1]:9/", "HTTPS://A.B"],
)
def test_good_public_urls_pass(url: str) -> None:
    assert public_url_problem(url) == ""


def test_a_pushed_message_is_unread_once_and_follows_a_new_user(store: InboxStore) -> None:
    [event] = parse_payload(V1_BODY)
    [applied] = apply_to_inbox(store, PROFILE, [event])
    assert applied.key == ConversationKey(PROFILE, "bob@example.com")
    row = store.get(applied.key)
    assert row is not None and row.unread == 1 and row.reasons & FollowReason.LIVE_UPDATE
    assert row.display_name == "Steve"
    [again] = apply_to_inbox(store, PROFILE, [event])
    assert not again.update.changed
    # The next poll's page holds the same message: nothing more is unread.
    store.apply_history(applied.key, HistoryPage((event.message,)))  # type: ignore[arg-type]
    assert store.unread_total(PROFILE) == 1


def test_a_pushed_message_goes_to_the_row_already_followed_by_smooch_id(store: InboxStore) -> None:
    store.follow(ConversationKey(PROFILE, "u1"), FollowReason.OPENED)
    store.apply_history(ConversationKey(PROFILE, "u1"), HistoryPage(()))
    [applied] = apply_to_inbox(store, PROFILE, parse_payload(V1_BODY))
    assert applied.key.user_ref == "u1"
    assert [r.key.user_ref for r in store.conversations(PROFILE)] == ["u1"]


def test_a_business_message_never_starts_following_and_never_counts(store: InboxStore) -> None:
    business = Message("b1", ROLE_BUSINESS, "from us", received=10.0)
    event = WebhookEvent(
        "event:x", "v2", "conversation:message", "message", "u9", "", "c", "", business
    )
    assert apply_to_inbox(store, PROFILE, [event]) == []
    store.follow(ConversationKey(PROFILE, "u9"), FollowReason.OPENED)
    [applied] = apply_to_inbox(store, PROFILE, [event])
    row = store.get(applied.key)
    assert row is not None and row.unread == 0 and row.preview.text == "from us"


def test_an_older_pushed_message_than_the_newest_seen_changes_nothing(store: InboxStore) -> None:
    key = ConversationKey(PROFILE, "bob@example.com")
    store.follow(key, FollowReason.OPENED)
    newer = Message("m9", "user", "newer", received=2_000_000_000.0)
    store.apply_history(key, HistoryPage((newer,)))  # the baseline
    [applied] = apply_to_inbox(store, PROFILE, parse_payload(V1_BODY))  # received in 2015
    assert not applied.update.changed
    assert store.unread_total(PROFILE) == 0


def test_secrets_stay_out_of_reprs() -> None:
    registration = Registration("id1", "https://x/", "v1.1", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(registration)
    receiver = WebhookReceiver(lambda events: None)
    receiver.set_secret("s3cr3t-value")
    assert "s3cr3t-value" not in repr(receiver)
    assert receiver.armed
    with pytest.raises(ValueError):
        WebhookReceiver(lambda events: None, port=70000)


def v2_event(event_id: str, conversation: str, user: str = "u1", external: str = "steve") -> Any:
    [event] = parse_payload(
        {
            **V2_BODY,
            "events": [
                {
                    **V2_BODY["events"][0],
                    "id": event_id,
                    "payload": {
                        "conversation": {"id": conversation, "type": "personal"},
                        "message": {
                            **V2_BODY["events"][0]["payload"]["message"],
                            "id": f"m-{event_id}",
                            "author": {
                                "type": "user",
                                "userId": user,
                                "displayName": "Steve Rogers",
                                "user": {"id": user, "externalId": external},
                            },
                        },
                    },
                }
            ],
        }
    )
    return event


class Lookups:
    """``ConversationApi.get_user`` as a v2 server answers it: Steve's main conversation
    is c-main, his other one c-billing ("Billing"); anyone else is unknown (a 404)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, user_ref: str) -> AppUser:
        self.asked.append(user_ref)
        if user_ref not in ("steve", "u1"):
            raise HttpError(404, code="user_not_found", description="User not found")
        return AppUser(
            id="u1",
            user_id="steve",
            conversation_id="c-main",
            conversations=(
                Conversation("c-main", is_default=True),
                Conversation("c-billing", display_name="Billing"),
            ),
        )


def test_v2_messages_go_to_their_own_conversations_row(store: InboxStore) -> None:
    lookups = Lookups()
    places = ConversationPlaces(lookups)
    [other] = apply_to_inbox(store, PROFILE, [v2_event("e1", "c-billing")], places=places)
    assert other.key == ConversationKey(PROFILE, "steve", "c-billing")
    row = store.get(other.key)
    assert row is not None and row.unread == 1 and row.label == "Steve Rogers · Billing"
    assert store.get(ConversationKey(PROFILE, "steve")) is None  # the main row: untouched
    [main] = apply_to_inbox(store, PROFILE, [v2_event("e2", "c-main")], places=places)
    assert main.key == ConversationKey(PROFILE, "steve", "")
    assert lookups.asked == ["steve"]  # remembered for the run
    # A conversation made since the lookup: looked up once more, its own row, unnamed.
    [new] = apply_to_inbox(store, PROFILE, [v2_event("e3", "c-new")], places=places)
    assert new.key == ConversationKey(PROFILE, "steve", "c-new")
    assert lookups.asked == ["steve", "steve"]
    # A conversation followed under the Smooch id (as the agent typed it) is that row,
    # with no lookup.
    followed = ConversationKey(PROFILE, "u1", "c-support")
    store.follow(followed, FollowReason.OPENED, conversation_name="Support")
    [again] = apply_to_inbox(store, PROFILE, [v2_event("e4", "c-support")], places=places)
    assert again.key == followed and len(lookups.asked) == 2
    # v1.1 (no places, or a v1.1 body): the main row, whatever the conversation.
    [v1] = apply_to_inbox(store, PROFILE, parse_payload(V1_BODY), places=places)
    assert v1.key.conversation_id == ""
    [unplaced] = apply_to_inbox(store, PROFILE, [v2_event("e5", "c-other")])
    assert unplaced.key == ConversationKey(PROFILE, "steve", "")


def test_a_failed_lookup_keeps_the_message_on_the_main_row_and_lookups_are_bounded(
    store: InboxStore,
) -> None:
    lookups = Lookups()
    places = ConversationPlaces(lookups)
    [lost] = apply_to_inbox(store, PROFILE, [v2_event("e1", "c-x", "u7", "nobody")], places=places)
    assert lost.key == ConversationKey(PROFILE, "nobody", "")  # kept, not dropped
    events = [v2_event(f"f{n}", f"c-{n}", f"u{n}", f"user-{n}") for n in range(20)]
    applied = apply_to_inbox(store, PROFILE, events, places=places)
    assert len(applied) == 20 and all(a.key.conversation_id == "" for a in applied)
    assert len(lookups.asked) == 1 + MAX_LOOKUPS_PER_CALL  # one call can't make twenty
