"""What the history may open and how it words a message's content (ui/conversation/content.py)."""

from __future__ import annotations

from typing import Any

import pytest

from smooch_desktop.ui.conversation.content import (
    DETAILS_MAX,
    action_kind,
    action_url,
    details_text,
    fetchable_media_url,
    file_name,
    find_links,
    form_lines,
    format_coordinates,
    format_size,
    map_url,
    safe_url,
)


@pytest.mark.parametrize(
    "url",
    ["https://x.example/a?b=1", "http://x.example", "HTTPS://X.EXAMPLE/", "mailto:a@b.example"],
)
def test_http_https_and_mailto_are_clickable(url: str) -> None:
    assert safe_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<script>alert(1)</script>",
        "ftp://x.example/",
        "https://",
        "mailto:nobody",
        "https://x.example/a b",
        "https://x.example/\u202eevil",
        "https://x.example/" + "a" * 3000,
        "",
    ],
)
def test_other_schemes_and_odd_urls_are_not(url: str) -> None:
    assert safe_url(url) is None


def test_links_are_found_in_text_without_trailing_punctuation() -> None:
    text = "See https://x.example/a. Or (https://y.example/b) or mailto:h@x.example, bye"
    assert [url for _s, _e, url in find_links(text)] == [
        "https://x.example/a",
        "https://y.example/b",
        "mailto:h@x.example",
    ]
    start, end, url = find_links(text)[0]
    assert text[start:end] == url
    assert find_links("https://en.wikipedia.org/wiki/Foo_(bar)")[0][2].endswith("(bar)")


def test_dangerous_schemes_in_text_are_not_links() -> None:
    text = "javascript:alert(1) file:///etc/passwd data:text/html,x vbscript:x"
    assert find_links(text) == []
    # A scheme glued to another word is not a link start either.
    assert find_links("xhttps://a.example") == []


def test_media_is_fetched_over_https_or_loopback_http_only() -> None:
    assert fetchable_media_url("https://cdn.example/a.png")
    assert fetchable_media_url("http://127.0.0.1:8080/_sandbox/media/1/a.png")
    assert fetchable_media_url("http://localhost/a.png")
    assert fetchable_media_url("http://[::1]:9/a.png")
    assert not fetchable_media_url("http://cdn.example/a.png")
    assert not fetchable_media_url("file:///tmp/a.png")
    assert not fetchable_media_url("data:image/png;base64,AAAA")


def test_file_names_sizes_places() -> None:
    assert file_name("https://x.example/f/report%202024.pdf?sig=1") == "report 2024.pdf"
    assert file_name("https://x.example/") == "file"
    assert format_size(0) == ""
    assert format_size(1) == "1 byte"
    assert format_size(999) == "999 bytes"
    assert format_size(48_213) == "48.2 KB"
    assert format_size(5_300_000) == "5.3 MB"
    assert format_coordinates(48.85837, 2.294481) == "48.85837° N, 2.29448° E"
    assert format_coordinates(-33.8, -70.5) == "33.80000° S, 70.50000° W"
    url = map_url(48.85837, 2.294481)
    assert url.startswith("https://www.openstreetmap.org/?mlat=48.858370&mlon=2.294481")
    assert safe_url(url) == url


def test_buttons_by_kind_and_where_links_go() -> None:
    assert action_kind({"type": "reply"}) == "reply"
    assert action_kind({"type": "webview"}) == "webview"
    assert action_kind({"type": "<b>x</b>"}) == "other"
    assert action_kind({}) == "other"
    assert action_url({"type": "link", "uri": "https://a.example"}) == "https://a.example"
    assert action_url({"type": "link", "uri": "javascript:alert(1)"}) is None
    assert action_url({"type": "webview", "uri": "x", "fallback": "https://f.example"}) == (
        "https://f.example"
    )
    assert action_url({"type": "postback", "uri": "https://a.example"}) is None


def test_form_lines_for_responses_and_forms() -> None:
    fields: list[dict[str, Any]] = [
        {"label": "Email", "type": "email", "email": "a@x.com"},
        {"name": "size", "type": "select", "select": [{"label": "L"}, {"label": "XL"}]},
        {"label": "Note", "type": "text"},
    ]
    assert form_lines(fields, response=True) == ["Email: a@x.com", "size: L, XL", "Note: —"]
    assert form_lines(fields, response=False) == ["Email (email)", "size (select)", "Note (text)"]
    many = [{"label": f"F{n}", "text": "x"} for n in range(20)]
    lines = form_lines(many, response=True)
    assert len(lines) == 13 and lines[-1] == "… 8 more fields"


def test_details_list_actions_items_payload_and_metadata_as_plain_text() -> None:
    text = details_text(
        message_id="m1",
        msg_type="carousel",
        role="business",
        author="<b>Sam</b>",
        received="today",
        text="Pick",
        payload="YES",
        coordinates=(1.0, 2.0),
        actions=[{"type": "link", "text": "Go", "uri": "https://a.example"}],
        items=[{"title": "Kettle", "actions": [{"type": "postback", "payload": "K1"}]}],
        fields=[{"name": "email"}],
        metadata={"source": "crm", "nested": {"a": 1}},
    )
    for expected in (
        "Type: carousel",
        "From: <b>Sam</b> (business)",
        "Payload: YES",
        "1. link",
        "uri: https://a.example",
        "1. Kettle",
        "payload: K1",
        '"source": "crm"',
        "openstreetmap",
    ):
        assert expected in text
    huge = details_text(
        message_id="m",
        msg_type="text",
        role="user",
        author="a",
        received="r",
        text="x",
        metadata={f"k{n}": "v" * 1500 for n in range(200)},
    )
    assert len(huge) <= DETAILS_MAX + 20
