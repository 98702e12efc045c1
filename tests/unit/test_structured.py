"""Structured messages: the API's rules per version, sentences that name the field, and
the conversion to what the outbox stores. Cross-checked against the sandbox's own
validators (which follow the API docs): whatever this module accepts, they accept."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from smooch_desktop.api.models import Sender
from smooch_desktop.api.v1 import outgoing_to_v1
from smooch_desktop.api.v2 import outgoing_to_v2
from smooch_desktop.core.structured import (
    V1,
    V2,
    StructuredAction,
    StructuredItem,
    StructuredMessage,
    composer_preview,
    needs_structure,
    parse_amount,
)
from smooch_desktop.sandbox import v2_validation
from smooch_desktop.sandbox import validation as v1_validation
from smooch_desktop.sandbox.errors import ErrorReply

LINK = StructuredAction("link", "Open", "https://example.com/a")
POSTBACK = StructuredAction("postback", "Pick", "PICK_1")
REPLY = StructuredAction("reply", "Yes", "YES")
LOCATION = StructuredAction("locationRequest", "Where are you?")
BUY = StructuredAction("buy", "Buy", "25.00", currency="usd")
WEBVIEW = StructuredAction(
    "webview", "Form", "https://example.com/form", fallback="https://example.com/f", size="tall"
)
SHARE = StructuredAction("share")


def card(n: int, *actions: StructuredAction) -> StructuredItem:
    return StructuredItem(
        f"Card {n}", f"About card {n}", f"https://example.com/{n}.png", actions or (POSTBACK,)
    )


def carousel(n: int = 10, kind: str = "carousel") -> StructuredMessage:
    return StructuredMessage(kind, items=tuple(card(i) for i in range(n)))


def fields(message: StructuredMessage, version: str = V1) -> list[str]:
    return [p.field for p in message.problems(version)]


def sandbox_accepts(message: StructuredMessage, version: str) -> bool:
    outgoing = message.to_outgoing(Sender("Sam"))
    try:
        if version == V1:
            v1_validation.validate_message(outgoing_to_v1(outgoing))
        else:
            v2_validation.validate_message(outgoing_to_v2(outgoing))
    except ErrorReply:
        return False
    return True


VALID = [
    StructuredMessage("text", "Pick one", actions=(REPLY, LOCATION)),
    StructuredMessage("text", "", actions=(LINK, POSTBACK, BUY, WEBVIEW)),
    StructuredMessage("image", "Look", "https://example.com/p.jpg", actions=(LINK,)),
    StructuredMessage("file", "", "https://example.com/doc.pdf"),
    carousel(1),
    carousel(10),
    StructuredMessage("carousel", items=(card(0, LINK, POSTBACK, WEBVIEW), card(1, BUY))),
    StructuredMessage("list", items=(card(0), card(1)), actions=(LINK,)),
]


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize("message", VALID, ids=lambda m: m.summary())
def test_valid_messages_have_no_problems_and_the_api_accepts_them(
    message: StructuredMessage, version: str
) -> None:
    assert message.problems(version) == []
    assert sandbox_accepts(message, version)


def test_a_carousel_becomes_the_items_the_api_takes() -> None:
    message = StructuredMessage(
        "carousel",
        items=(
            StructuredItem(" Shoes ", "", "", (LINK, BUY)),
            StructuredItem("Hat", "Warm", "https://example.com/h.png", (WEBVIEW,)),
        ),
    )
    outgoing = message.to_outgoing(Sender("Sam"))
    assert outgoing.type == "carousel" and outgoing.text == "" and outgoing.actions == ()
    assert outgoing.sender == Sender("Sam")
    assert outgoing.items == (
        {
            "title": "Shoes",
            "actions": [
                {"type": "link", "text": "Open", "uri": "https://example.com/a"},
                {"type": "buy", "text": "Buy", "amount": 2500, "currency": "usd"},
            ],
        },
        {
            "title": "Hat",
            "description": "Warm",
            "mediaUrl": "https://example.com/h.png",
            "actions": [
                {
                    "type": "webview",
                    "text": "Form",
                    "uri": "https://example.com/form",
                    "fallback": "https://example.com/f",
                    "size": "tall",
                }
            ],
        },
    )


@pytest.mark.parametrize("version", [V1, V2])
def test_card_counts(version: str) -> None:
    assert fields(carousel(0), version) == ["items"]
    eleven = carousel(11)
    assert fields(eleven, version) == ["items"]
    assert "at most 10 cards (11 now)" in eleven.problems(version)[0].message
    assert fields(carousel(0, "list"), version) == ["items"]


@pytest.mark.parametrize("version", [V1, V2])
def test_card_fields_are_named_by_card(version: str) -> None:
    items = list(carousel(3).items)
    items[1] = replace(items[1], title="  ", description="d" * 129)
    items[2] = replace(items[2], title="t" * 129, media_url="javascript:alert(1)")
    problems = StructuredMessage("carousel", items=tuple(items)).problems(version)
    assert [(p.field, p.message) for p in problems] == [
        ("items.1.title", "Card 2 needs a title."),
        (
            "items.1.description",
            "Card 2: the description can be at most 128 characters long (this one has 129).",
        ),
        (
            "items.2.title",
            "Card 3: the title can be at most 128 characters long (this one has 129).",
        ),
        (
            "items.2.media_url",
            'Card 3: the image address must use https or http; "javascript:" addresses are '
            "not allowed.",
        ),
    ]


def test_a_card_needs_one_to_three_buttons() -> None:
    none = StructuredMessage("carousel", items=(StructuredItem("A", actions=()),))
    assert [p.message for p in none.problems()] == ["Card 1 needs at least one button."]
    four = StructuredMessage("carousel", items=(card(0, LINK, LINK, LINK, LINK),))
    assert [p.message for p in four.problems()] == ["Card 1 can have at most 3 buttons (4 now)."]


@pytest.mark.parametrize(
    ("action", "field", "message"),
    [
        (replace(LINK, text=""), "items.0.actions.1.text", "Card 1, button 2 needs a label."),
        (
            replace(LINK, target=""),
            "items.0.actions.1.target",
            'Card 1, button 2 ("Open"): the address is needed, as in '
            "https://example.com/photo.jpg.",
        ),
        (
            replace(LINK, target="javascript:alert(1)"),
            "items.0.actions.1.target",
            'Card 1, button 2 ("Open"): the address must use https or http; "javascript:" '
            "addresses are not allowed.",
        ),
        (
            replace(POSTBACK, target=" "),
            "items.0.actions.1.target",
            'Card 1, button 2 ("Pick"): a postback button needs a payload.',
        ),
        (
            replace(BUY, target="49,99"),
            "items.0.actions.1.target",
            'Card 1, button 2 ("Buy"): write the amount with a dot for cents and no thousands '
            "separator, as in 1000.00.",
        ),
        (
            replace(BUY, target="free"),
            "items.0.actions.1.target",
            'Card 1, button 2 ("Buy"): the amount must be a number like 25.00.',
        ),
        (
            replace(BUY, currency="dollars"),
            "items.0.actions.1.currency",
            'Card 1, button 2 ("Buy"): the currency must be a three-letter code such as usd.',
        ),
        (
            replace(WEBVIEW, fallback=""),
            "items.0.actions.1.fallback",
            'Card 1, button 2 ("Form"): the fallback address is needed, as in '
            "https://example.com/photo.jpg.",
        ),
        (
            replace(WEBVIEW, size="huge"),
            "items.0.actions.1.size",
            'Card 1, button 2 ("Form"): the size must be compact, tall or full.',
        ),
        (
            REPLY,
            "items.0.actions.1.type",
            "Card 1, button 2: a reply button can't go here (allowed: link, postback, buy, "
            "webview, share).",
        ),
    ],
)
def test_each_button_field_is_named(action: StructuredAction, field: str, message: str) -> None:
    msg = StructuredMessage("carousel", items=(card(0, LINK, action),))
    assert [(p.field, p.message) for p in msg.problems(V1)] == [(field, message)]


def test_share_is_a_v1_card_button_only() -> None:
    in_card = StructuredMessage("carousel", items=(card(0, SHARE),))
    assert in_card.problems(V1) == []
    assert sandbox_accepts(in_card, V1)
    assert fields(in_card, V2) == ["items.0.actions.0.type"]
    at_top = StructuredMessage("text", "Hi", actions=(SHARE,))
    assert fields(at_top, V1) == ["actions.0.type"]


def test_reply_mixes_only_with_location_request() -> None:
    assert StructuredMessage("text", "?", actions=(REPLY, LOCATION)).problems() == []
    mixed = StructuredMessage("text", "?", actions=(REPLY, LINK)).problems()
    assert [(p.field, p.message) for p in mixed] == [
        ("actions", "Reply and location request buttons can only be combined with each other.")
    ]
    assert fields(StructuredMessage("text", "?", actions=(LOCATION, POSTBACK))) == ["actions"]


def test_text_rules() -> None:
    assert fields(StructuredMessage("text", "  ")) == ["text"]
    long = StructuredMessage("text", "x" * 4097)
    assert [p.message for p in long.problems(V2)] == [
        "The text is 4,097 characters long; the limit is 4,096. Remove 1 character."
    ]
    assert StructuredMessage("text", "x" * 4096).problems(V2) == []
    with_text = replace(carousel(1), text="Pick one")
    assert fields(with_text, V1) == ["text"] and fields(with_text, V2) == ["text"]


def test_media_and_message_level_buttons_by_type() -> None:
    assert fields(StructuredMessage("image", "x")) == ["media_url"]
    assert fields(StructuredMessage("file", "", "ftp://example.com/a")) == ["media_url"]
    file_with_button = StructuredMessage("file", "", "https://example.com/a.pdf", (LINK,))
    assert file_with_button.problems(V1) == []
    assert sandbox_accepts(file_with_button, V1)
    assert fields(file_with_button, V2) == ["actions"]
    assert fields(replace(carousel(1), actions=(LINK,))) == ["actions"]
    list_reply = StructuredMessage("list", items=(card(0),), actions=(REPLY,))
    assert fields(list_reply) == ["actions.0.type"]


def test_location_is_checked_but_cannot_be_sent() -> None:
    good = StructuredMessage("location", coordinates=("45.5", "-73.6"))
    assert good.problems() == []
    bad = StructuredMessage("location", coordinates=("91", "x"))
    assert fields(bad) == ["coordinates.0", "coordinates.1"]
    with pytest.raises(ValueError, match="location"):
        good.to_outgoing()


def test_to_outgoing_refuses_an_invalid_message() -> None:
    with pytest.raises(ValueError, match="Card 1 needs a title"):
        StructuredMessage("carousel", items=(StructuredItem("", actions=(LINK,)),)).to_outgoing()


@pytest.mark.parametrize(
    ("raw", "cents"), [("25", 2500), ("25.5", 2550), ("25.00", 2500), ("$ 1000.99", 100099)]
)
def test_amounts(raw: str, cents: int) -> None:
    assert parse_amount(raw) == cents


@pytest.mark.parametrize("raw", ["", "0", "0.00", "-1", "1.999", "1e3", "١٢", "49,99"])
def test_bad_amounts(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(raw)


@pytest.mark.parametrize("message", VALID, ids=lambda m: m.summary())
def test_an_outbox_message_comes_back_as_the_same_structure(message: StructuredMessage) -> None:
    outgoing = message.to_outgoing()
    again = StructuredMessage.from_outgoing(outgoing)
    assert again.to_outgoing() == outgoing


def test_which_messages_need_the_editor_to_be_edited_again() -> None:
    assert not needs_structure(StructuredMessage("text", "Hi", actions=(REPLY,)).to_outgoing())
    assert needs_structure(carousel(1).to_outgoing())
    assert needs_structure(StructuredMessage("text", "Hi", actions=(WEBVIEW,)).to_outgoing())
    assert needs_structure(StructuredMessage("text", "Hi", actions=(BUY,)).to_outgoing())


def test_summaries() -> None:
    assert carousel(3).summary() == "Carousel: 3 cards"
    assert carousel(1, "list").summary() == "List: 1 card"
    assert StructuredMessage("text", "Hi", actions=(REPLY,)).summary() == "Text with 1 button"
    assert StructuredMessage("image", media_url="https://e.com/a.png").summary() == "Image"


def test_composer_preview_is_what_send_would_queue() -> None:
    empty = composer_preview("", None)
    assert empty.messages == () and empty.problems == ()
    preview = composer_preview("Pick one ![](https://e.com/a.png) %[Yes](reply:YES)", carousel(2))
    first, second = preview.messages
    assert (first.type, first.text, first.media_url) == ("image", "Pick one", "https://e.com/a.png")
    assert first.actions == ({"type": "reply", "text": "Yes", "payload": "YES"},)
    assert second.type == "carousel" and len(second.items) == 2
    assert preview.problems == ()
    bad = composer_preview("%[x](javascript:alert(1))", None)
    assert bad.problems == (
        'The link of the "x" button must use https or http; "javascript:" addresses are not '
        "allowed.",
    )


def test_composer_preview_shows_an_invalid_structure_as_it_would_look() -> None:
    items: list[Any] = [StructuredItem("", actions=(replace(BUY, target="lots"),))]
    preview = composer_preview("", StructuredMessage("carousel", items=tuple(items)), V2)
    (message,) = preview.messages
    assert message.items[0]["actions"][0]["amount"] == 0
    assert preview.problems == (
        "Card 1 needs a title.",
        'Card 1, button 1 ("Buy"): the amount must be a number like 25.00.',
    )


def test_a_structured_message_is_kept_as_json_exactly_as_typed_valid_or_not() -> None:
    from smooch_desktop.core.structured import StructuredAction, StructuredItem, StructuredMessage

    typed = StructuredMessage(
        type="carousel",
        text="ignored for cards",
        items=(
            StructuredItem(
                title="Réd \ud83d\ude00",
                description="",
                media_url="not a url yet",
                actions=(StructuredAction(type="buy", text="Buy", target="25.0x", currency="usd"),),
            ),
        ),
        coordinates=("45.5", ""),
    )
    assert StructuredMessage.from_json(typed.to_json()) == typed
    assert StructuredMessage.from_json('{"items": [3, {"title": 5}], "type": 7}') == (
        StructuredMessage(items=(StructuredItem(),))
    )
    for bad in ("", "[]", "{"):
        with pytest.raises(ValueError):
            StructuredMessage.from_json(bad)
