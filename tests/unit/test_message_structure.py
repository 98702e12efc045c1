"""Structured message fields (items, payload, coordinates, fields, file facts) read from
v1.1 and v2 bodies into the same model, written back out for both versions, and kept
through the outbox's JSON."""

from __future__ import annotations

from typing import Any

import pytest

from smooch_desktop.api.models import Message, OutgoingMessage, Sender
from smooch_desktop.api.v1 import outgoing_to_v1
from smooch_desktop.api.v2 import outgoing_to_v2
from smooch_desktop.core.outbox.entry import message_from_json, message_to_json

ITEMS: list[dict[str, Any]] = [
    {
        "title": "Blue backpack",
        "description": "30 L",
        "mediaUrl": "https://example.com/b.png",
        "actions": [{"type": "postback", "text": "Buy", "payload": "BUY_B"}],
    },
    {"title": "Red", "actions": [{"type": "link", "text": "See", "uri": "https://example.com"}]},
]


def test_v1_and_v2_bodies_give_the_same_structure() -> None:
    v1 = Message.from_v1(
        {
            "_id": "m1",
            "role": "appUser",
            "type": "location",
            "text": "Yes",
            "payload": "YES",
            "items": [*ITEMS, "not an item"],
            "coordinates": {"lat": 45.5, "long": -73.6},
            "fields": [{"type": "email", "name": "e", "email": "a@b.c"}, 3],
            "altText": "a map",
            "mediaSize": 1234,
        }
    )
    v2 = Message.from_v2(
        {
            "id": "m1",
            "author": {"type": "user"},
            "content": {
                "type": "location",
                "text": "Yes",
                "payload": "YES",
                "items": [*ITEMS, "not an item"],
                "coordinates": {"lat": 45.5, "long": -73.6},
                "fields": [{"type": "email", "name": "e", "email": "a@b.c"}, 3],
                "altText": "a map",
                "mediaSize": 1234,
            },
        }
    )
    for message in (v1, v2):
        assert message.items == tuple(ITEMS)
        assert message.payload == "YES"
        assert message.coordinates == (45.5, -73.6)
        assert message.fields == ({"type": "email", "name": "e", "email": "a@b.c"},)
        assert (message.alt_text, message.media_size) == ("a map", 1234)


@pytest.mark.parametrize(
    "coordinates",
    [
        None,
        {},
        {"lat": "45", "long": 1},
        {"lat": 91, "long": 0},
        {"lat": 0, "long": 181},
        {"lat": True, "long": 0},
        [45, 1],
    ],
)
def test_odd_coordinates_and_sizes_read_as_absent(coordinates: Any) -> None:
    message = Message.from_v1({"_id": "m", "coordinates": coordinates, "mediaSize": -5})
    assert message.coordinates is None and message.media_size == 0
    assert Message.from_v2({"content": {"mediaSize": True}}).media_size == 0


def test_items_are_sent_in_each_versions_place_and_survive_the_outbox() -> None:
    message = OutgoingMessage(
        "Pick one", sender=Sender(name="Sam"), type="carousel", items=tuple(ITEMS)
    )
    assert outgoing_to_v1(message)["items"] == ITEMS
    body = outgoing_to_v2(message)
    assert body["content"]["items"] == ITEMS and body["content"]["type"] == "carousel"
    assert "items" not in outgoing_to_v1(OutgoingMessage("plain"))
    assert "items" not in outgoing_to_v2(OutgoingMessage("plain"))["content"]
    assert message_from_json(message_to_json(message)) == message
    # A message stored before items existed reads back without any.
    old = '{"text": "hi", "type": "text", "sender": {}, "actions": [], "metadata": {}}'
    assert message_from_json(old).items == ()
