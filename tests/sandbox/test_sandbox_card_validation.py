"""Every structured-message rule, on v1.1 and on v2, over real HTTP.

Each rule is one content body (v1.1's flat fields are v2's ``content``) refused with 400
``bad_request`` in the version's own envelope (v1.1 ``error.description``, v2
``errors[].title``), naming the field the way that version names it, and storing nothing.
Then the rules where the versions differ (``share``, a file's actions, a list's own
actions), and what each version accepts.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from test_sandbox_cards import Side

from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_APP_ID, SandboxServer


@pytest.fixture(params=["v1.1", "v2"])
def side(request: pytest.FixtureRequest, srv: SandboxServer, session: requests.Session) -> Side:
    return Side(request.param, srv, session)


def postback(text: str = "Go", payload: str = "GO") -> dict[str, Any]:
    return {"type": "postback", "text": text, "payload": payload}


def item(**fields: Any) -> dict[str, Any]:
    return {"title": "Item", "actions": [postback()], **fields}


def text_with(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"type": "text", "text": "x", "actions": list(actions)}


#: (rule, content, the field the error names, in v1.1 terms)
SHARED_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown message type", {"type": "video", "text": "x"}, "type"),
    ("text needs text or actions", {"type": "text"}, "text"),
    ("blank text is no text", {"type": "text", "text": " \n "}, "text"),
    ("image needs mediaUrl", {"type": "image", "text": "x"}, "mediaUrl"),
    ("file needs mediaUrl", {"type": "file"}, "mediaUrl"),
    ("mediaUrl must be http(s)", {"type": "image", "mediaUrl": "ftp://x/a.png"}, "mediaUrl"),
    ("mediaUrl must be absolute", {"type": "file", "mediaUrl": "/a.pdf"}, "mediaUrl"),
    ("actions must be an array", {"type": "text", "text": "x", "actions": {}}, "actions"),
    ("action must be an object", text_with("link"), "actions[0]"),  # type: ignore[arg-type]
    ("unknown action type", text_with({"type": "call", "text": "a"}), "actions[0].type"),
    ("link needs uri", text_with({"type": "link", "text": "a"}), "actions[0].uri"),
    (
        "link needs text",
        text_with({"type": "link", "uri": "https://a.example"}),
        "actions[0].text",
    ),
    (
        "link uri must be absolute",
        text_with({"type": "link", "text": "a", "uri": "www.example.com"}),
        "actions[0].uri",
    ),
    (
        "webview needs uri",
        text_with({"type": "webview", "text": "a", "fallback": "https://f.example"}),
        "actions[0].uri",
    ),
    (
        "webview needs fallback",
        text_with({"type": "webview", "text": "a", "uri": "https://u.example"}),
        "actions[0].fallback",
    ),
    (
        "webview size is compact, tall or full",
        text_with(
            {
                "type": "webview",
                "text": "a",
                "uri": "https://u.example",
                "fallback": "https://f.example",
                "size": "huge",
            }
        ),
        "actions[0].size",
    ),
    (
        "one openOnReceive per message",
        text_with(
            *[
                {
                    "type": "webview",
                    "text": "a",
                    "uri": "https://u.example",
                    "fallback": "https://f.example",
                    "openOnReceive": True,
                }
            ]
            * 2
        ),
        "openOnReceive",
    ),
    ("reply needs payload", text_with({"type": "reply", "text": "a"}), "actions[0].payload"),
    ("reply needs text", text_with({"type": "reply", "payload": "A"}), "actions[0].text"),
    ("postback needs payload", text_with({"type": "postback", "text": "a"}), "actions[0].payload"),
    (
        "payload must be a string",
        text_with({"type": "postback", "text": "a", "payload": 7}),
        "actions[0].payload",
    ),
    ("buy needs amount", text_with({"type": "buy", "text": "a"}), "actions[0].amount"),
    (
        "buy amount is integer cents",
        text_with({"type": "buy", "text": "a", "amount": 49.99}),
        "actions[0].amount",
    ),
    (
        "buy amount is positive",
        text_with({"type": "buy", "text": "a", "amount": 0}),
        "actions[0].amount",
    ),
    (
        "buy currency is ISO 4217",
        text_with({"type": "buy", "text": "a", "amount": 100, "currency": "dollars"}),
        "actions[0].currency",
    ),
    ("locationRequest needs text", text_with({"type": "locationRequest"}), "actions[0].text"),
    (
        "reply mixes only with locationRequest",
        text_with({"type": "reply", "text": "a", "payload": "A"}, postback()),
        "reply and locationRequest",
    ),
    (
        "action metadata is flat",
        text_with({**postback(), "metadata": {"a": {"b": 1}}}),
        "actions[0].metadata.a",
    ),
    ("carousel needs items", {"type": "carousel"}, "items"),
    ("list needs items", {"type": "list", "items": []}, "items"),
    ("at most 10 items", {"type": "carousel", "items": [item()] * 11}, "items"),
    (
        "item needs title",
        {"type": "carousel", "items": [{"actions": [postback()]}]},
        "items[0].title",
    ),
    ("item needs actions", {"type": "list", "items": [{"title": "t"}]}, "items[0].actions"),
    ("item needs 1 action", {"type": "list", "items": [item(actions=[])]}, "items[0].actions"),
    (
        "item holds at most 3 actions",
        {"type": "carousel", "items": [item(actions=[postback()] * 4)]},
        "items[0].actions",
    ),
    (
        "no reply in items",
        {
            "type": "carousel",
            "items": [item(actions=[{"type": "reply", "text": "a", "payload": "A"}])],
        },
        "items[0].actions[0]",
    ),
    (
        "no locationRequest in items",
        {"type": "carousel", "items": [item(actions=[{"type": "locationRequest", "text": "a"}])]},
        "items[0].actions[0]",
    ),
    (
        "item mediaUrl must be http(s)",
        {"type": "carousel", "items": [item(mediaUrl="javascript:alert(1)")]},
        "items[0].mediaUrl",
    ),
    (
        "item size is compact or large",
        {"type": "carousel", "items": [item(size="huge")]},
        "items[0].size",
    ),
    (
        "imageAspectRatio is horizontal or square",
        {"type": "carousel", "items": [item()], "displaySettings": {"imageAspectRatio": "wide"}},
        "displaySettings.imageAspectRatio",
    ),
    (
        "no actions on a carousel itself",
        {"type": "carousel", "items": [item()], "actions": [postback()]},
        "actions",
    ),
    (
        "no actions on a location",
        {"type": "location", "coordinates": {"lat": 1, "long": 2}, "actions": [postback()]},
        "actions",
    ),
    ("location needs coordinates", {"type": "location"}, "coordinates"),
    (
        "latitude within ±90",
        {"type": "location", "coordinates": {"lat": 90.5, "long": 0}},
        "coordinates.lat",
    ),
    (
        "longitude within ±180",
        {"type": "location", "coordinates": {"lat": 0, "long": -181}},
        "coordinates.long",
    ),
    (
        "coordinates are numbers",
        {"type": "location", "coordinates": {"lat": "45", "long": 0}},
        "coordinates.lat",
    ),
]


@pytest.mark.parametrize(
    ("content", "field"), [r[1:] for r in SHARED_RULES], ids=[r[0] for r in SHARED_RULES]
)
def test_each_rule_is_refused_by_both_versions(
    side: Side, content: dict[str, Any], field: str
) -> None:
    before = len(side.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID))
    said = side.refusal(DEMO_ALICE_ID, content)
    named = field if " " in field or field == "openOnReceive" else side.field(field) + '"'
    assert named in said, said
    assert len(side.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID)) == before


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "reply with locationRequest",
        text_with(
            {
                "type": "reply",
                "text": "Yes",
                "payload": "YES",
                "iconUrl": "https://i.example/y.png",
            },
            {"type": "locationRequest", "text": "Where?"},
        ),
    ),
    ("actions without text", {"type": "text", "actions": [postback()]}),
    (
        "every button type on a text",
        text_with(
            {"type": "link", "text": "L", "uri": "https://l.example", "default": True},
            {"type": "link", "text": "Mail", "uri": "mailto:help@example.com"},
            postback(),
            {"type": "buy", "text": "B", "amount": 4999, "currency": "usd"},
            {
                "type": "webview",
                "text": "W",
                "uri": "https://w.example",
                "fallback": "https://f.example",
                "size": "tall",
                "openOnReceive": True,
            },
        ),
    ),
    (
        "image with caption and replies",
        {
            "type": "image",
            "text": "Pick one",
            "mediaUrl": "https://example.com/a.png",
            "actions": [
                {"type": "reply", "text": "Yes", "payload": "YES"},
                {"type": "reply", "text": "No", "payload": "NO"},
            ],
        },
    ),
    (
        "10 items of 3 actions",
        {
            "type": "carousel",
            "items": [
                item(
                    description="d",
                    mediaUrl="https://example.com/i.png",
                    size="large",
                    actions=[
                        postback(),
                        {"type": "link", "text": "L", "uri": "https://l.example"},
                        {"type": "buy", "text": "B", "amount": 1},
                    ],
                )
            ]
            * 10,
            "displaySettings": {"imageAspectRatio": "square"},
        },
    ),
    (
        "list with its own link",
        {
            "type": "list",
            "items": [item()],
            "actions": [{"type": "link", "text": "More", "uri": "https://m.example"}],
        },
    ),
    (
        "location with name",
        {
            "type": "location",
            "coordinates": {"lat": -90, "long": 180},
            "location": {"name": "Pole", "address": "South"},
        },
    ),
]


@pytest.mark.parametrize("content", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_both_versions_accept(side: Side, content: dict[str, Any]) -> None:
    side.send_ok(DEMO_ALICE_ID, content)


def test_share_exists_only_in_v1_items(side: Side) -> None:
    carousel = {"type": "carousel", "items": [item(actions=[{"type": "share"}])]}
    if side.version == "v1.1":
        side.send_ok(DEMO_ALICE_ID, carousel)
        said = side.refusal(DEMO_ALICE_ID, text_with({"type": "share"}))
        assert '"actions[0]": share actions are only allowed in message items' in said
    else:
        said = side.refusal(DEMO_ALICE_ID, carousel)
        assert '"content.items[0].actions[0]": v2 has no share action' in said


def test_a_files_actions_only_in_v1(side: Side) -> None:
    content = {"type": "file", "mediaUrl": "https://example.com/a.pdf", "actions": [postback()]}
    if side.version == "v1.1":
        side.send_ok(DEMO_ALICE_ID, content)
    else:
        said = side.refusal(DEMO_ALICE_ID, content)
        assert '"content.actions" are not allowed on file messages' in said


@pytest.mark.parametrize(
    "action",
    [{"type": "reply", "text": "a", "payload": "A"}, {"type": "locationRequest", "text": "a"}],
    ids=["reply", "locationRequest"],
)
def test_a_lists_own_actions_are_the_subset_in_v2(side: Side, action: dict[str, Any]) -> None:
    content = {"type": "list", "items": [item()], "actions": [action]}
    if side.version == "v1.1":
        side.send_ok(DEMO_ALICE_ID, content)
    else:
        said = side.refusal(DEMO_ALICE_ID, content)
        assert '"content.actions[0]": a list\'s actions must be one of [buy, link' in said


def test_a_lists_own_actions_are_1_to_10_in_v2(side: Side) -> None:
    link = {"type": "link", "text": "L", "uri": "https://l.example"}
    for count, ok in ((1, True), (10, True), (11, False), (0, False)):
        content = {"type": "list", "items": [item()], "actions": [link] * count}
        if side.version == "v1.1" or ok:
            if count:  # v1.1 takes an empty list as no actions
                side.send_ok(DEMO_ALICE_ID, content)
        else:
            assert '"content.actions" of a list must hold 1 to 10' in side.refusal(
                DEMO_ALICE_ID, content
            )


def test_v2_keeps_block_chat_input_and_item_alt_text(
    srv: SandboxServer, session: requests.Session
) -> None:
    side = Side("v2", srv, session)
    content = {
        "type": "carousel",
        "blockChatInput": True,
        "items": [item(altText="A blue shoe", mediaUrl="https://example.com/s.png")],
    }
    sent = side.send_ok(DEMO_ALICE_ID, content)
    assert sent["content"]["blockChatInput"] is True
    assert sent["content"]["items"][0]["altText"] == "A blue shoe"
    assert side.history(DEMO_ALICE_ID)[-1]["content"] == sent["content"]
    page = requests.get(f"{srv.base_url}/users/{DEMO_APP_ID}/{DEMO_ALICE_ID}", timeout=10).text
    assert '<img src="https://example.com/s.png" alt="A blue shoe">' in page
    said = side.refusal(DEMO_ALICE_ID, {"type": "text", "text": "x", "blockChatInput": "yes"})
    assert '"content.blockChatInput" must be a boolean' in said
