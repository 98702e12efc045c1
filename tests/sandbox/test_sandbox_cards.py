"""Structured messages on the end-user page, and the end user pressing their buttons.

The issue's "done when" round trip over real HTTP, on v1.1 and on v2 (one store, two
views): the agent sends ``Pick one ![](<image>) %[Yes](reply:YES) %[No](reply:NO)`` as the
app sends it (an ``image`` message with explicit reply ``actions``), the user page shows
the card, the end user presses "Yes", and the version's own history shows the user's
message with text "Yes" and payload "YES" from the user's channel. A postback press is a
webhook event, never a message. Plus how every kind of message and button is drawn,
hostile content, and attachments served with the right Content-Type.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests
from sandbox_helpers import V2, Api

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_APP_ID,
    DEMO_ENCODED_USER_ID,
    SandboxServer,
)
from smooch_desktop.sandbox.pages import size_label


def _png(width: int = 2, height: int = 2) -> bytes:
    """A real, decodable RGB PNG (signature, IHDR, IDAT, IEND with correct CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\0" + b"\x0a\x66\xd8" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


PNG = _png()


@dataclass
class Side:
    """One API version's way of sending, uploading and reading, over real HTTP."""

    version: str
    srv: SandboxServer
    session: requests.Session

    @property
    def api(self) -> Api:
        return Api(self.srv, self.session)

    @property
    def v2(self) -> V2:
        return V2(self.srv, self.session)

    def send(self, user: str, content: dict[str, Any], **sender: Any) -> requests.Response:
        """Post ``content`` (the v2 ``content`` form, which is v1.1's flat form) as the business."""
        if self.version == "v1.1":
            return self.api.post_message(user, {"role": "appMaker", **sender, **content})
        author = {"type": "business", **sender}
        return self.v2.post(self.v2.default_conversation(user), {"author": author, **content})

    def send_ok(self, user: str, content: dict[str, Any], **sender: Any) -> dict[str, Any]:
        resp = self.send(user, {"content": content} if self.version == "v2" else content, **sender)
        assert resp.status_code == 201, resp.text
        body = resp.json()
        message: dict[str, Any] = body["message"] if self.version == "v1.1" else body["messages"][0]
        return message

    def refusal(self, user: str, content: dict[str, Any]) -> str:
        """The 400's text, after checking the version's status, code and envelope."""
        resp = self.send(user, {"content": content} if self.version == "v2" else content)
        assert resp.status_code == 400, resp.text
        if self.version == "v1.1":
            assert set(resp.json()) == {"error"}
            error = resp.json()["error"]
            assert error["code"] == "bad_request"
            description: str = error["description"]
            return description
        (error,) = resp.json()["errors"]
        assert error["code"] == "bad_request"
        title: str = error["title"]
        return title

    def field(self, name: str) -> str:
        """How this version names a content field in an error (``"content.x"`` on v2)."""
        return f'"{name}' if self.version == "v1.1" else f'"content.{name}'

    def upload(self, filename: str, data: bytes, media_type: str | None) -> dict[str, Any]:
        part = (filename, data, media_type) if media_type else (filename, data)
        if self.version == "v1.1":
            url = f"{self.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/attachments"
            resp = self.api.request(
                "POST", url, params={"access": "public"}, files={"source": part}
            )
            assert resp.status_code == 201, resp.text
            answer: dict[str, Any] = resp.json()
            return answer
        resp = self.v2.request(
            "POST", "/attachments", params={"access": "public"}, files={"source": part}
        )
        assert resp.status_code == 201, resp.text
        attachment: dict[str, Any] = resp.json()["attachment"]
        return attachment

    def history(self, user: str) -> list[dict[str, Any]]:
        if self.version == "v1.1":
            resp = self.api.get_messages(user)
        else:
            resp = self.v2.messages(self.v2.default_conversation(user))
        assert resp.status_code == 200, resp.text
        messages: list[dict[str, Any]] = resp.json()["messages"]
        return messages


@pytest.fixture(params=["v1.1", "v2"])
def side(request: pytest.FixtureRequest, srv: SandboxServer, session: requests.Session) -> Side:
    return Side(request.param, srv, session)


def page_url(srv: SandboxServer, user: str, suffix: str = "") -> str:
    return f"{srv.base_url}/users/{DEMO_APP_ID}/{quote(user, safe='')}{suffix}"


def user_page(srv: SandboxServer, user: str) -> str:
    resp = requests.get(page_url(srv, user), timeout=10)
    assert resp.status_code == 200
    return resp.text


def feed(srv: SandboxServer, user: str, after: float | None = None) -> dict[str, Any]:
    params = {"after": repr(after)} if after is not None else {}
    resp = requests.get(page_url(srv, user, "/feed"), params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = resp.json()
    return body


def press(srv: SandboxServer, user: str, action_id: str) -> requests.Response:
    return requests.post(page_url(srv, user, f"/actions/{quote(action_id, safe='')}"), timeout=10)


def row_of(page: str, message_id: str) -> str:
    """The HTML of one entry's row (up to the next row or the end of the list)."""
    start = page.index(f'data-id="{message_id}"')
    start = page.rindex("<div", 0, start)
    ends = [
        i for i in (page.find('<div class="row', start + 1), page.find("</div><div id=")) if i > 0
    ]
    return page[start : min(ends)]


def action_ids(message: dict[str, Any], srv: SandboxServer, user: str) -> dict[str, str]:
    """Button text → action ``_id``, read from the store (v2 answers carry no action ids)."""
    stored = next(m for m in srv.store.messages(DEMO_APP_ID, user) if m["_id"] == _id(message))
    actions = list(stored.get("actions", []))
    for item in stored.get("items", []):
        actions += item["actions"]
    return {a.get("text", a["type"]): a["_id"] for a in actions}


def _id(message: dict[str, Any]) -> str:
    value: str = message.get("_id") or message["id"]
    return value


PICK_ONE_ACTIONS = [
    {"type": "reply", "text": "Yes", "payload": "YES"},
    {"type": "reply", "text": "No", "payload": "NO"},
]


# ---------------------------------------------------------------------- the round trip


def test_pick_one_card_is_shown_and_pressing_yes_stores_the_users_reply(side: Side) -> None:
    srv = side.srv
    image = side.upload("photo.png", PNG, "image/png")
    sent = side.send_ok(
        DEMO_ALICE_ID,
        {
            "type": "image",
            "text": "Pick one",
            "mediaUrl": image["mediaUrl"],
            "actions": PICK_ONE_ACTIONS,
        },
        **({"name": "Sam"} if side.version == "v1.1" else {"displayName": "Sam"}),
    )
    ids = action_ids(sent, srv, DEMO_ALICE_ID)
    before = side.history(DEMO_ALICE_ID)

    row = row_of(user_page(srv, DEMO_ALICE_ID), _id(sent))
    assert "stale" not in row.split(">", 1)[0]  # the latest message: its replies show
    assert f'<img class="media" src="{image["mediaUrl"]}"' in row
    assert f'<a href="{image["mediaUrl"]}" target="_blank" rel="noopener noreferrer">' in row
    assert '<div class="caption">Pick one</div></div>' in row
    assert '<div class="sender">Sam</div>' in row
    for text in ("Yes", "No"):
        button = (
            f'<button type="button" class="action reply" data-action="{ids[text]}"'
            f' title="Reply button">{text}</button>'
        )
        assert button in row
    assert row.index("photo.png") < row.index("Pick one") < row.index(">Yes<") < row.index(">No<")
    image_served = requests.get(image["mediaUrl"], timeout=10)
    assert image_served.headers["Content-Type"] == "image/png"
    assert image_served.content == PNG

    resp = press(srv, DEMO_ALICE_ID, ids["Yes"])
    assert resp.status_code == 201, resp.text
    reply = resp.json()["message"]
    assert reply["role"] == "appUser"
    assert (reply["type"], reply["text"], reply["payload"]) == ("text", "Yes", "YES")
    assert reply["source"] == {"type": "web"}  # Alice's primary channel
    assert reply["authorId"] == srv.store.get_user(DEMO_APP_ID, DEMO_ALICE_ID)["_id"]

    after = side.history(DEMO_ALICE_ID)
    assert len(after) == len(before) + 1
    if side.version == "v1.1":
        last = after[-1]
        assert (last["_id"], last["role"], last["type"]) == (reply["_id"], "appUser", "text")
        assert (last["text"], last["payload"], last["source"]) == ("Yes", "YES", {"type": "web"})
    else:
        last = after[-1]
        assert last["id"] == reply["_id"]
        assert last["author"]["type"] == "user"
        assert last["author"]["userId"] == reply["authorId"]
        assert last["content"] == {"type": "text", "text": "Yes", "payload": "YES"}
        assert last["source"] == {"type": "web"}
        assert "quotedMessage" not in last  # the spec: only formResponse messages quote

    page = user_page(srv, DEMO_ALICE_ID)
    assert 'class="row msg biz stale"' in row_of(page, _id(sent))  # quick replies gone
    assert '<div class="bubble">Yes</div>' in row_of(page, reply["_id"])
    assert 'class="row msg me"' in row_of(page, reply["_id"])


def test_reply_comes_from_the_users_own_channel(side: Side) -> None:
    sent = side.send_ok(
        DEMO_ENCODED_USER_ID, {"type": "text", "text": "?", "actions": PICK_ONE_ACTIONS}
    )
    ids = action_ids(sent, side.srv, DEMO_ENCODED_USER_ID)
    resp = press(side.srv, DEMO_ENCODED_USER_ID, ids["No"])
    assert resp.status_code == 201, resp.text
    last = side.history(DEMO_ENCODED_USER_ID)[-1]
    assert last["source"] == {"type": "telegram"}
    text = last["text"] if side.version == "v1.1" else last["content"]["text"]
    assert text == "No"


def test_the_feed_brings_the_card_and_the_reply_as_rendered_entries(side: Side) -> None:
    srv = side.srv
    start = feed(srv, DEMO_ALICE_ID)
    newest = start["entries"][-1]["received"]
    assert start["typing"]["typing"] is False
    sent = side.send_ok(
        DEMO_ALICE_ID, {"type": "text", "text": "Pick one", "actions": PICK_ONE_ACTIONS}
    )
    entries = feed(srv, DEMO_ALICE_ID, after=newest)["entries"]
    assert [e["id"] for e in entries][-1] == _id(sent)
    assert entries[-1]["html"].startswith(f'<div class="row msg biz" data-id="{_id(sent)}">')
    assert 'class="action reply"' in entries[-1]["html"]
    resp = press(srv, DEMO_ALICE_ID, action_ids(sent, srv, DEMO_ALICE_ID)["Yes"])
    entry = resp.json()["entry"]
    assert entry["id"] == resp.json()["message"]["_id"]
    later = feed(srv, DEMO_ALICE_ID, after=entries[-1]["received"])["entries"]
    assert [e["id"] for e in later] == [_id(sent), entry["id"]]  # ">= after": nothing lost
    assert later[-1]["html"] == entry["html"]


# ---------------------------------------------------------------------- postbacks


def test_a_postback_is_a_webhook_event_not_a_message(side: Side) -> None:
    srv = side.srv
    content = {
        "type": "text",
        "text": "Need help?",
        "actions": [
            {"type": "postback", "text": "Call me", "payload": "CALL", "metadata": {"a": 1}}
        ],
    }
    sent = side.send_ok(DEMO_ALICE_ID, content)
    action_id = action_ids(sent, srv, DEMO_ALICE_ID)["Call me"]
    before = side.history(DEMO_ALICE_ID)
    unread = srv.store.page(DEMO_APP_ID, DEMO_ALICE_ID)[0]["unreadCount"]

    row = row_of(user_page(srv, DEMO_ALICE_ID), _id(sent))
    assert f'class="action postback" data-action="{action_id}"' in row
    for _ in range(2):  # a postback button can be pressed again
        resp = press(srv, DEMO_ALICE_ID, action_id)
        assert resp.status_code == 201, resp.text
    event = resp.json()["postback"]
    assert event["trigger"] == "postback"
    assert event["message"] == {"_id": _id(sent)}
    assert event["action"] == {
        "_id": action_id,
        "type": "postback",
        "text": "Call me",
        "payload": "CALL",
        "metadata": {"a": 1},
    }
    assert event["source"] == {"type": "web"}
    assert "message" not in resp.json()

    assert side.history(DEMO_ALICE_ID) == before  # nothing added, on either view
    assert srv.store.page(DEMO_APP_ID, DEMO_ALICE_ID)[0]["unreadCount"] == unread
    assert [e["_id"] for e in srv.store.postbacks(DEMO_APP_ID, DEMO_ALICE_ID)][-1] == event["_id"]
    page = user_page(srv, DEMO_ALICE_ID)
    note = row_of(page, event["_id"])
    assert "Postback &#8220;Call me&#8221;" in note and "<code>CALL</code>" in note
    assert "webhook event" in note and "not as a message" in note
    assert page.count('class="row note"') == 2
    assert "stale" not in row_of(page, _id(sent)).split(">", 1)[0]  # still the latest message


def test_postback_buttons_inside_carousel_items_can_be_pressed(side: Side) -> None:
    item = {
        "title": "Shoes",
        "actions": [{"type": "postback", "text": "More", "payload": "MORE_SHOES"}],
    }
    sent = side.send_ok(DEMO_ALICE_ID, {"type": "carousel", "items": [item]})
    resp = press(side.srv, DEMO_ALICE_ID, action_ids(sent, side.srv, DEMO_ALICE_ID)["More"])
    assert resp.status_code == 201, resp.text
    assert resp.json()["postback"]["action"]["payload"] == "MORE_SHOES"
    assert resp.json()["postback"]["message"] == {"_id": _id(sent)}


def test_only_reply_and_postback_buttons_can_be_pressed(side: Side) -> None:
    content = {
        "type": "text",
        "text": "x",
        "actions": [
            {"type": "link", "text": "Site", "uri": "https://example.com"},
            {"type": "buy", "text": "Buy", "amount": 4999, "currency": "usd"},
        ],
    }
    sent = side.send_ok(DEMO_ALICE_ID, content)
    before = side.history(DEMO_ALICE_ID)
    for text, kind in (("Site", "link"), ("Buy", "buy")):
        resp = press(side.srv, DEMO_ALICE_ID, action_ids(sent, side.srv, DEMO_ALICE_ID)[text])
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "bad_request"
        assert kind in resp.json()["error"]["description"]
    missing = press(side.srv, DEMO_ALICE_ID, "000000000000000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "not_found", "description": "Action not found"}
    assert press(side.srv, "nobody", "x").status_code == 404
    assert side.history(DEMO_ALICE_ID) == before


def test_another_users_button_cannot_be_pressed(side: Side) -> None:
    sent = side.send_ok(DEMO_ALICE_ID, {"type": "text", "text": "?", "actions": PICK_ONE_ACTIONS})
    alices = action_ids(sent, side.srv, DEMO_ALICE_ID)["Yes"]
    assert press(side.srv, DEMO_ENCODED_USER_ID, alices).status_code == 404


# ---------------------------------------------------------------------- how things are drawn


def test_carousel_and_list_are_cards_with_buttons_styled_by_type(side: Side) -> None:
    items = [
        {
            "title": "Blue shoes",
            "description": "Size 42",
            "mediaUrl": "https://example.com/blue.jpg",
            "actions": [
                {"type": "link", "text": "Open", "uri": "https://example.com/blue"},
                {"type": "postback", "text": "Buy later", "payload": "LATER"},
                {
                    "type": "webview",
                    "text": "Sizes",
                    "uri": "https://example.com/sizes",
                    "fallback": "https://example.com/sizes-fallback",
                },
            ],
        },
        {
            "title": "Red shoes",
            "actions": [{"type": "buy", "text": "Buy", "amount": 4999, "currency": "usd"}],
        },
    ]
    carousel = side.send_ok(DEMO_ALICE_ID, {"type": "carousel", "items": items})
    listed = side.send_ok(DEMO_ALICE_ID, {"type": "list", "items": items})
    page = user_page(side.srv, DEMO_ALICE_ID)
    for message, layout in ((carousel, "carousel"), (listed, "list")):
        row = row_of(page, _id(message))
        assert f'<div class="cards {layout}">' in row
        assert row.count('<div class="item">') == 2
        assert '<img src="https://example.com/blue.jpg" alt="">' in row
        assert '<div class="title">Blue shoes</div><div class="desc">Size 42</div>' in row
        assert (
            '<a class="action link" href="https://example.com/blue" target="_blank"'
            ' rel="noopener noreferrer" title="Opens in a new tab">Open</a>'
        ) in row
        assert '<a class="action webview" href="https://example.com/sizes" target="_blank"' in row
        assert 'class="action postback" data-action=' in row
        assert '<button type="button" class="action buy" disabled>Buy · 49.99 USD</button>' in row
        assert "A buy button needs a real channel: it does nothing here." in row
        assert "Blue shoes" not in re.sub(r"<[^>]+>", "|", row).replace("|Blue shoes|", "")


def test_share_and_location_request_are_shown_as_inert_buttons(
    srv: SandboxServer, api: Api
) -> None:
    # share exists only in v1.1 (items); locationRequest is a quick reply on both versions
    api.post_message(
        DEMO_ALICE_ID,
        {
            "role": "appMaker",
            "type": "carousel",
            "items": [{"title": "T", "actions": [{"type": "share"}]}],
        },
    )
    sent = api.post_message(
        DEMO_ALICE_ID,
        {
            "role": "appMaker",
            "text": "Where are you?",
            "actions": [
                {"type": "locationRequest", "text": "Send location"},
                {"type": "reply", "text": "Skip", "payload": "SKIP"},
            ],
        },
    ).json()["message"]
    page = user_page(srv, DEMO_ALICE_ID)
    assert '<button type="button" class="action share" disabled>Share</button>' in page
    assert "A share button needs a real channel" in page
    row = row_of(page, sent["_id"])
    assert (
        '<div class="replies"><div class="actions"><button type="button"'
        ' class="action locationRequest" disabled>Send location</button>'
    ) in row
    assert (
        '</div><div class="hint">A location request button needs a real channel: it does'
        " nothing here.</div></div>"  # inside the quick replies: hidden with them
    ) in row
    assert 'class="action reply"' in row


def test_location_shows_coordinates_and_a_map_link(srv: SandboxServer, api: Api) -> None:
    sent = api.post_message(
        DEMO_ALICE_ID,
        {
            "role": "appUser",
            "type": "location",
            "coordinates": {"lat": 45.5017, "long": -73.5673},
            "location": {"name": "Old Port", "address": "333 de la Commune"},
        },
    ).json()["message"]
    row = row_of(user_page(srv, DEMO_ALICE_ID), sent["_id"])
    assert "<b>Old Port</b><br>333 de la Commune<br>" in row
    assert '<span class="coords">45.5017, -73.5673</span>' in row
    assert 'href="https://maps.google.com/maps?q=45.5017,-73.5673" target="_blank"' in row
    assert "Location shared:" not in row  # the fallback text is not shown twice


def test_files_show_name_and_size(side: Side) -> None:
    data = b"%PDF-1.4\n" + b"x" * 3000
    uploaded = side.upload("Quote 2024 <final>.pdf", data, "application/pdf")
    own = side.send_ok(DEMO_ALICE_ID, {"type": "file", "mediaUrl": uploaded["mediaUrl"]})
    outside = side.send_ok(
        DEMO_ALICE_ID, {"type": "file", "mediaUrl": "https://example.com/docs/terms%20v2.pdf"}
    )
    page = user_page(side.srv, DEMO_ALICE_ID)
    row = row_of(page, _id(own))
    href = uploaded["mediaUrl"].replace("&", "&amp;")
    assert f'<a class="bubble file" href="{href}" target="_blank" rel="noopener noreferrer">' in row
    assert '<span class="fname">Quote 2024 &lt;final&gt;.pdf</span>' in row
    assert f'<span class="fsize">{size_label(len(data))}</span>' in row
    assert size_label(len(data)) == "3 KB"
    far = row_of(page, _id(outside))
    assert '<span class="fname">terms v2.pdf</span>' in far and "fsize" not in far


def test_a_pasted_png_sent_as_image_or_file_shows_as_thumbnail_or_file_link(side: Side) -> None:
    # a clipboard paste may come without a useful type or file name
    uploaded = side.upload("clipboard", PNG, "application/octet-stream")
    assert uploaded["mediaType"] == "image/png"
    served = requests.get(uploaded["mediaUrl"], timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "sandbox"
    image = side.send_ok(DEMO_ALICE_ID, {"type": "image", "mediaUrl": uploaded["mediaUrl"]})
    file = side.send_ok(DEMO_ALICE_ID, {"type": "file", "mediaUrl": uploaded["mediaUrl"]})
    page = user_page(side.srv, DEMO_ALICE_ID)
    assert f'<img class="media" src="{uploaded["mediaUrl"]}" alt="">' in row_of(page, _id(image))
    file_row = row_of(page, _id(file))
    assert '<span class="fname">clipboard</span>' in file_row and 'class="media"' not in file_row
    assert f'<span class="fsize">{len(PNG)} bytes</span>' in file_row
    stored = side.history(DEMO_ALICE_ID)[-2]
    media_type = stored["mediaType"] if side.version == "v1.1" else stored["content"]["mediaType"]
    assert media_type == "image/png"


@pytest.mark.parametrize(
    ("name", "data", "part_type", "expected"),
    [
        ("shot.png", PNG, None, "image/png"),
        ("photo", b"\xff\xd8\xff\xe0" + b"\0" * 20, "application/octet-stream", "image/jpeg"),
        ("anim", b"GIF89a" + b"\0" * 20, None, "image/gif"),
        ("pic", b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20, None, "image/webp"),
        ("notes.txt", b"GIF89a is how it starts", "text/plain", "text/plain"),
        ("blob", b"\0\1\2", None, "application/octet-stream"),
    ],
)
def test_attachment_types(
    side: Side, name: str, data: bytes, part_type: str | None, expected: str
) -> None:
    uploaded = side.upload(name, data, part_type)
    assert uploaded["mediaType"] == expected
    served = requests.get(uploaded["mediaUrl"], timeout=10)
    assert served.headers["Content-Type"].split(";")[0] == expected


def test_a_form_is_shown_read_only(srv: SandboxServer, api: Api) -> None:
    sent = api.post_message(
        DEMO_ALICE_ID,
        {
            "role": "appMaker",
            "type": "form",
            "fields": [
                {"type": "email", "name": "e", "label": "Your email", "placeholder": "a@b.c"},
                {
                    "type": "select",
                    "name": "s",
                    "label": "Size",
                    "options": [{"name": "m", "label": "M"}],
                },
            ],
        },
    ).json()["message"]
    row = row_of(user_page(srv, DEMO_ALICE_ID), sent["_id"])
    assert '<label>Your email<input disabled placeholder="a@b.c"></label>' in row
    assert "<label>Size<select disabled><option>M</option></select></label>" in row
    assert "Forms can&#x27;t be filled in on this page." in row


# ---------------------------------------------------------------------- hostile content

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_hostile_content_is_escaped_and_unsafe_uris_never_reach_the_page(side: Side) -> None:
    srv = side.srv
    srv.store.create_user(DEMO_APP_ID, {"userId": "evil<b>", "givenName": EVIL})
    srv.store.add_user_message(DEMO_APP_ID, "evil<b>", EVIL, name=EVIL)  # starts the conversation
    sender = {"name": EVIL} if side.version == "v1.1" else {"displayName": EVIL}
    text = side.send_ok(
        "evil<b>",
        {
            "type": "text",
            "text": EVIL,
            "actions": [
                {"type": "link", "text": EVIL, "uri": "javascript:alert(2)"},
                {
                    "type": "webview",
                    "text": "W" + EVIL,
                    "uri": "javascript:alert(3)",
                    "fallback": "data:text/html,<script>alert(4)</script>",
                },
                {"type": "postback", "text": "P" + EVIL, "payload": EVIL},
            ],
        },
        **sender,
    )
    replies = side.send_ok(
        "evil<b>",
        {
            "type": "text",
            "text": "r",
            "actions": [
                {
                    "type": "reply",
                    "text": "R" + EVIL,
                    "payload": EVIL,
                    "iconUrl": "javascript:alert(5)",
                }
            ],
        },
    )
    side.send_ok(
        "evil<b>",
        {
            "type": "carousel",
            "items": [
                {
                    "title": "T" + EVIL,
                    "description": "D" + EVIL,
                    "actions": [{"type": "link", "text": "L" + EVIL, "uri": "vbscript:msgbox"}],
                }
            ],
        },
    )
    ids = action_ids(text, srv, "evil<b>")
    press(srv, "evil<b>", ids["P" + EVIL])
    reply = press(srv, "evil<b>", action_ids(replies, srv, "evil<b>")["R" + EVIL]).json()["message"]
    assert reply["text"] == "R" + EVIL and reply["payload"] == EVIL

    page = user_page(srv, "evil<b>")
    everything = page + "".join(e["html"] for e in feed(srv, "evil<b>")["entries"])
    assert EVIL not in everything
    assert "<script>alert" not in everything and "<img src=x" not in everything
    for scheme in ("javascript:", "data:text", "vbscript:"):
        assert scheme not in everything
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # only the page's own script
    assert page.count('class="action link off"') == 2
    assert page.count('class="action webview off"') == 1
    assert "Only http(s) links are opened here; this one is not." in page
    assert f'data-action="{ids["P" + EVIL]}"' in page


def test_validation_refuses_non_http_media_urls_on_both_versions(side: Side) -> None:
    for url in ("javascript:alert(1)", "data:image/png;base64,AAAA", "file:///etc/passwd"):
        assert side.field("mediaUrl") in side.refusal(
            DEMO_ALICE_ID, {"type": "image", "mediaUrl": url}
        )
        item = {
            "title": "t",
            "mediaUrl": url,
            "actions": [{"type": "postback", "text": "p", "payload": "p"}],
        }
        assert side.field("items[0].mediaUrl") in side.refusal(
            DEMO_ALICE_ID, {"type": "carousel", "items": [item]}
        )


@pytest.mark.parametrize("after", ["abc", "nan", "inf", ""])
def test_a_bad_feed_position_is_a_400(srv: SandboxServer, after: str) -> None:
    resp = requests.get(page_url(srv, DEMO_ALICE_ID, "/feed"), params={"after": after}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "bad_request",
        "description": '"after" must be a Unix timestamp in seconds',
    }
