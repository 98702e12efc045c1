"""Smooch messaging shorthand: each element, each problem, and text that has none."""

from __future__ import annotations

import pytest

from smooch_desktop.core.shorthand import (
    MIXED_LOCATION_PROBLEM,
    MIXED_REPLY_PROBLEM,
    ParsedMessage,
    parse_shorthand,
)


def only_problem(text: str) -> str:
    parsed = parse_shorthand(text)
    assert len(parsed.problems) == 1, parsed.problems
    return parsed.problems[0]


# --- no shorthand ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hi, how can I help?",
        "",
        "  spaced  out  \n\n\n lines  ",
        "Costs $49.99, 50% off [today] (really)!",
        "An array a[0](x) and 100%[sic] and ![alt] text",
        "Markdown [link](https://example.com) is not shorthand",
        "مرحبا 🙂",
    ],
)
def test_text_without_shorthand_is_unchanged(text: str) -> None:
    parsed = parse_shorthand(text)
    assert parsed == ParsedMessage(text=text)
    assert parsed.actions == [] and parsed.problems == [] and parsed.media_url is None
    assert not parsed.has_shorthand
    assert parsed.to_message_fields() == (
        {"type": "text", "text": text} if text else {"type": "text"}
    )


# --- each element ------------------------------------------------------------------


def test_link_button() -> None:
    parsed = parse_shorthand("See our menu\n%[Open menu](https://example.com/menu?x=1#top)")
    assert parsed.text == "See our menu"
    assert parsed.actions == [
        {"type": "link", "text": "Open menu", "uri": "https://example.com/menu?x=1#top"}
    ]
    assert parsed.problems == []
    assert parsed.has_shorthand


def test_link_with_parentheses_in_the_url() -> None:
    parsed = parse_shorthand("%[Wiki](https://en.wikipedia.org/wiki/Foo_(bar))")
    assert parsed.actions[0]["uri"] == "https://en.wikipedia.org/wiki/Foo_(bar)"


def test_reply_buttons_keep_their_order() -> None:
    parsed = parse_shorthand(
        "Which do you prefer?\n%[Tacos](reply:TACOS)\n%[Burritos](reply:BURRITOS)"
    )
    assert parsed.text == "Which do you prefer?"
    assert parsed.actions == [
        {"type": "reply", "text": "Tacos", "payload": "TACOS"},
        {"type": "reply", "text": "Burritos", "payload": "BURRITOS"},
    ]
    assert parsed.problems == []


def test_payloads_may_contain_spaces_and_colons() -> None:
    parsed = parse_shorthand("%[Yes please](Reply: yes please:1 )")
    assert parsed.actions == [{"type": "reply", "text": "Yes please", "payload": "yes please:1"}]


def test_postback_button() -> None:
    parsed = parse_shorthand("%[Send vinegar ](postback:buy_vinegar)")
    assert parsed.actions == [
        {"type": "postback", "text": "Send vinegar", "payload": "buy_vinegar"}
    ]
    assert parsed.text == ""
    assert parsed.to_message_fields() == {"type": "text", "actions": parsed.actions}


def test_location_request() -> None:
    parsed = parse_shorthand("Where are you? %[Send location](location)")
    assert parsed.text == "Where are you?"
    assert parsed.actions == [{"type": "locationRequest", "text": "Send location"}]


def test_location_with_replies_is_allowed() -> None:
    parsed = parse_shorthand("%[Here](location) %[Skip](reply:skip)")
    assert parsed.problems == []
    assert [a["type"] for a in parsed.actions] == ["locationRequest", "reply"]


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("25.00", 2500),
        ("$49.99", 4999),
        ("$ 10", 1000),
        ("0.5", 50),
        ("1000.1", 100010),
        ("7", 700),
    ],
)
def test_buy_button_amounts(amount: str, cents: int) -> None:
    parsed = parse_shorthand(f"Would you like them? $[Buy Now]({amount})")
    assert parsed.actions == [{"type": "buy", "text": "Buy Now", "amount": cents}]
    assert parsed.text == "Would you like them?"
    assert parsed.problems == []


def test_image() -> None:
    parsed = parse_shorthand("![](https://example.com/sneakers.png)\nHow about these?")
    assert parsed.media_url == "https://example.com/sneakers.png"
    assert parsed.text == "How about these?"
    assert parsed.message_type == "image"
    assert parsed.to_message_fields() == {
        "type": "image",
        "text": "How about these?",
        "mediaUrl": "https://example.com/sneakers.png",
    }


def test_image_alt_text_is_dropped() -> None:
    parsed = parse_shorthand("![a cat](https://example.com/cat.jpg)")
    assert parsed.media_url == "https://example.com/cat.jpg"
    assert parsed.text == ""
    assert parsed.to_message_fields() == {
        "type": "image",
        "mediaUrl": "https://example.com/cat.jpg",
    }


def test_card_with_text_image_and_button() -> None:
    parsed = parse_shorthand(
        "Pre-wrapped cat\n"
        "![](https://example.com/cat.jpg)\n"
        "%[Purchase cat](https://example.com/buy)"
    )
    assert parsed.problems == []
    assert parsed.to_message_fields() == {
        "type": "image",
        "text": "Pre-wrapped cat",
        "mediaUrl": "https://example.com/cat.jpg",
        "actions": [{"type": "link", "text": "Purchase cat", "uri": "https://example.com/buy"}],
    }


def test_link_postback_and_buy_may_be_mixed() -> None:
    parsed = parse_shorthand("%[Site](https://x.io) %[More](postback:more) $[Buy](5.00)")
    assert parsed.problems == []
    assert [a["type"] for a in parsed.actions] == ["link", "postback", "buy"]


# --- tidying -----------------------------------------------------------------------


def test_inline_buttons_leave_no_double_spaces() -> None:
    parsed = parse_shorthand("Click %[here](https://x.io) to see  it")
    assert parsed.text == "Click to see it"


def test_button_lines_leave_no_blank_gaps() -> None:
    parsed = parse_shorthand("Hi\n\n%[A](reply:a)\n%[B](reply:b)\n\nBye\n%[C](reply:c)\n")
    assert parsed.text == "Hi\n\nBye"


def test_untouched_lines_keep_their_spacing() -> None:
    parsed = parse_shorthand("  indented   line\n%[A](reply:a)")
    assert parsed.text == "  indented   line"


# --- problems ----------------------------------------------------------------------


def test_reply_mixed_with_link() -> None:
    parsed = parse_shorthand("%[Yes](reply:yes) %[Site](https://x.io)")
    assert parsed.problems == [MIXED_REPLY_PROBLEM]
    assert MIXED_REPLY_PROBLEM == "Reply buttons can't be mixed with other button types."


def test_reply_mixed_with_buy_and_postback() -> None:
    assert only_problem("%[Yes](reply:yes) $[Buy](1.00) %[P](postback:p)") == MIXED_REPLY_PROBLEM


def test_location_mixed_with_link() -> None:
    assert only_problem("%[Here](location) %[Site](https://x.io)") == MIXED_LOCATION_PROBLEM


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("javascript:alert(1)", "javascript:"),
        ("JAVASCRIPT:alert(document.cookie)", "javascript:"),
        ("data:text/html,<script>alert(1)</script>", "data:"),
        ("file:///etc/passwd", "file:"),
        ("tel:+15551234", "tel:"),
    ],
)
def test_link_with_other_scheme_is_rejected(uri: str, scheme: str) -> None:
    parsed = parse_shorthand(f"Click %[Pay now]({uri})")
    assert parsed.actions == []
    assert len(parsed.problems) == 1
    assert '"Pay now"' in parsed.problems[0]
    assert f'"{scheme}"' in parsed.problems[0]
    assert parsed.text == "Click"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("example.com", "must start with https://"),
        ("https://", "no host name"),
        ("https://exa mple.com", "spaces"),
        ("", "needs a link"),
    ],
)
def test_bad_link_targets(target: str, expected: str) -> None:
    assert expected in only_problem(f"%[Go]({target})")


def test_empty_button_label() -> None:
    assert "needs a label" in only_problem("%[](reply:yes)")
    assert "needs a label" in only_problem("%[   ](https://x.io)")


@pytest.mark.parametrize("kind", ["reply", "postback"])
def test_empty_payload(kind: str) -> None:
    problem = only_problem(f"%[Yes]({kind}:  )")
    assert f'needs a payload after "{kind}:"' in problem


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("49,99", "with a dot for cents"),
        ("1,000.00", "no thousands separator"),
        ("abc", 'a number like 25.00 (found "abc")'),
        ("25.999", "a number like 25.00"),
        ("-5", "a number like 25.00"),
        ("", "a number like 25.00"),
        ("€5", "a number like 25.00"),
        ("0", "more than 0"),
        ("$0.00", "more than 0"),
    ],
)
def test_bad_amounts(amount: str, expected: str) -> None:
    parsed = parse_shorthand(f"$[Buy]({amount})")
    assert parsed.actions == []
    assert len(parsed.problems) == 1
    assert expected in parsed.problems[0]
    assert '"Buy"' in parsed.problems[0]


def test_empty_payment_label() -> None:
    assert "payment button needs a label" in only_problem("$[](5.00)")


def test_bad_image_urls() -> None:
    assert '"javascript:"' in only_problem("![](javascript:alert(1))")
    assert "needs an address" in only_problem("![]()")
    assert "must start with https://" in only_problem("![](cat.jpg)")


def test_only_one_image() -> None:
    parsed = parse_shorthand("![](https://x.io/a.png) ![](https://x.io/b.png)")
    assert parsed.problems == ["Only one image can be sent per message (found 2)."]
    assert parsed.media_url == "https://x.io/a.png"


def test_templates_are_kept_and_reported() -> None:
    for template in [
        "%((template:cat-purchase))%",
        "%{{template:cat-purchase}}%",
        "&((namespace=[[ns]] template=[[t]] fallback=[[hi]] language=[[en]]))&",
    ]:
        parsed = parse_shorthand(f"How about a cat? {template}")
        assert parsed.text == f"How about a cat? {template}"
        assert len(parsed.problems) == 1
        assert "template" in parsed.problems[0]


def test_problems_are_collected_not_short_circuited() -> None:
    parsed = parse_shorthand("%[](reply:a) %[B](javascript:x) $[C](abc) %[D](reply:d)")
    assert len(parsed.problems) == 3
    assert parsed.actions == [{"type": "reply", "text": "D", "payload": "d"}]


def test_to_message_fields_is_a_copy() -> None:
    parsed = parse_shorthand("Hi %[A](reply:a)")
    fields = parsed.to_message_fields()
    actions = fields["actions"]
    assert isinstance(actions, list)
    actions[0]["text"] = "changed"
    assert parsed.actions[0]["text"] == "A"


def test_large_text_parses_quickly() -> None:
    text = ("Lorem ipsum %[A](reply:a) " * 2000) + "[(" * 20_000
    parsed = parse_shorthand(text)
    assert len(parsed.actions) == 2000
