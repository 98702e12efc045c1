"""POST/GET messages: validation, response shapes, avatars, paging; app users."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any

import pytest
from sandbox_helpers import Api, FakeClock

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_APP_ID,
    DEMO_NO_CLIENTS_USER_ID,
    DEMO_PAGING_MESSAGE_COUNT,
    DEMO_PAGING_USER_ID,
    SandboxServer,
)

HEX24 = re.compile(r"^[0-9a-f]{24}$")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_seed_style_reply_shape(api: Api) -> None:
    body = {
        "type": "text",
        "text": "Hello, world!",
        "role": "appMaker",
        "name": "Business Man",
        "email": "boss@business.com",
    }
    resp = api.post_message(DEMO_ALICE_ID, body)
    assert resp.status_code == 201
    assert resp.headers["Content-Type"].startswith("application/json")
    data = resp.json()
    assert set(data) == {"message", "conversation"}
    msg = data["message"]
    assert HEX24.match(msg["_id"])
    assert HEX24.match(msg["authorId"])
    assert msg["role"] == "appMaker" and msg["type"] == "text"
    assert msg["text"] == "Hello, world!" and msg["name"] == "Business Man"
    assert msg["source"] == {"type": "api"}
    assert isinstance(msg["received"], float)
    assert msg["avatarUrl"] == (
        f"{api.srv.base_url}/avatar/{md5('boss@business.com')}.png?s=200&d=mm"
    )
    assert "email" not in msg
    assert set(data["conversation"]) == {"_id", "unreadCount"}
    assert HEX24.match(data["conversation"]["_id"])


def test_author_id_is_stable_per_email_and_type_defaults_to_text(api: Api) -> None:
    first = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "a", "email": "X@Y.z "})
    second = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "b", "email": "x@y.z"})
    other = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "c", "email": "q@y.z"})
    a, b, c = (r.json()["message"] for r in (first, second, other))
    assert a["type"] == "text"  # SmoochDesk omits "type"
    assert a["authorId"] == b["authorId"] != c["authorId"]
    assert a["avatarUrl"] == b["avatarUrl"]  # trimmed + lower-cased before hashing


def test_avatar_url_rules(api: Api) -> None:
    explicit = api.post_message(
        DEMO_ALICE_ID,
        {"role": "appMaker", "text": "x", "email": "a@b.c", "avatarUrl": "https://cdn/x.png"},
    ).json()["message"]
    assert explicit["avatarUrl"] == "https://cdn/x.png"
    nobody = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "x"}).json()["message"]
    assert nobody["avatarUrl"].endswith(f"/avatar/{'0' * 32}.png?s=200&d=mm")
    assert "name" not in nobody  # appMaker has no default name


def test_gravatar_base_is_configurable() -> None:
    with SandboxServer(gravatar_base="https://www.gravatar.com/avatar/") as srv:
        msg = srv.store.post_message(
            DEMO_APP_ID,
            DEMO_ALICE_ID,
            {"role": "appMaker", "type": "text", "text": "x", "email": "a@b.c"},
        )[0]
        assert msg["avatarUrl"] == f"https://www.gravatar.com/avatar/{md5('a@b.c')}.png?s=200&d=mm"


def test_app_user_message_defaults(api: Api) -> None:
    resp = api.post_message(DEMO_ALICE_ID, {"role": "appUser", "text": "from the user"})
    msg = resp.json()["message"]
    user = api.request("GET", api.user_url(DEMO_ALICE_ID)).json()["appUser"]
    assert msg["authorId"] == user["_id"]
    assert msg["name"] == "Alice Martin"
    assert msg["avatarUrl"].endswith(f"/avatar/{md5('alice@example.com')}.png?s=200&d=mm")
    assert resp.json()["conversation"]["unreadCount"] == 0


def test_unread_count_and_read(api: Api) -> None:
    api.post_message(DEMO_ALICE_ID, {"role": "appUser", "text": "hi"})
    one = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "1"}).json()
    two = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "2"}).json()
    assert (one["conversation"]["unreadCount"], two["conversation"]["unreadCount"]) == (1, 2)
    read = api.request("POST", api.user_url(DEMO_ALICE_ID, "/conversation/read"))
    assert read.status_code == 200
    assert read.json()["conversation"]["unreadCount"] == 0


def test_full_message_fields_are_echoed(api: Api) -> None:
    body = {
        "role": "appMaker",
        "type": "image",
        "text": "caption",
        "mediaUrl": "https://example.org/pic.jpg",
        "metadata": {"ticket": "123", "n": 3, "urgent": True},
        "actions": [
            {"type": "link", "text": "Open", "uri": "https://example.org"},
            {"type": "postback", "text": "Pick", "payload": "PICK"},
        ],
    }
    msg = api.post_message(DEMO_ALICE_ID, body).json()["message"]
    assert msg["mediaUrl"] == body["mediaUrl"]
    assert msg["mediaType"] == "image/jpeg"  # resolved from the URL
    assert msg["metadata"] == body["metadata"]
    assert [a["type"] for a in msg["actions"]] == ["link", "postback"]
    assert all(HEX24.match(a["_id"]) for a in msg["actions"])


def test_received_strictly_increases_even_with_a_frozen_clock(
    clocked_api: Api, clock: FakeClock
) -> None:
    clock.now = 1.0  # far before the demo history: still strictly after the last message
    times = [
        clocked_api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": str(i)}).json()[
            "message"
        ]["received"]
        for i in range(5)
    ]
    assert times == sorted(set(times))
    history = clocked_api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID)
    received = [m["received"] for m in history]
    assert all(a < b for a, b in itertools.pairwise(received))


OK_BODIES: list[dict[str, Any]] = [
    {
        "role": "appMaker",
        "text": "actions only",
        "actions": [
            {"type": "reply", "text": "Y", "payload": "Y"},
            {"type": "locationRequest", "text": "Where"},
        ],
    },
    {
        "role": "appMaker",
        "type": "text",
        "actions": [{"type": "buy", "text": "Buy", "amount": 100, "currency": "usd"}],
    },
    {
        "role": "appMaker",
        "type": "text",
        "text": "w",
        "actions": [
            {
                "type": "webview",
                "text": "W",
                "uri": "https://a",
                "fallback": "https://b",
                "size": "tall",
            }
        ],
    },
    {
        "role": "appMaker",
        "type": "file",
        "mediaUrl": "https://example.org/doc.pdf",
        "mediaType": "application/pdf",
    },
    {
        "role": "appMaker",
        "type": "carousel",
        "items": [
            {
                "title": "T",
                "actions": [{"type": "postback", "text": "P", "payload": "p"}, {"type": "share"}],
            }
        ],
    },
    {
        "role": "appMaker",
        "type": "list",
        "items": [{"title": "T", "actions": [{"type": "link", "text": "L", "uri": "https://x"}]}],
    },
    {"role": "appUser", "type": "location", "coordinates": {"lat": 45.5, "long": -73.6}},
    {
        "role": "appMaker",
        "type": "form",
        "fields": [
            {"type": "email", "name": "e", "label": "Email"},
            {"type": "select", "name": "s", "options": [{"name": "a", "label": "A"}]},
        ],
    },
]


@pytest.mark.parametrize("body", OK_BODIES, ids=lambda b: str(b.get("type", "text")))
def test_valid_bodies(api: Api, body: dict[str, Any]) -> None:
    resp = api.post_message(DEMO_ALICE_ID, body)
    assert resp.status_code == 201, resp.text


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"text": "no role"}, '"role"'),
    ({"role": "agent", "text": "x"}, '"role"'),
    ({"role": "appMaker", "type": "video", "text": "x"}, '"type"'),
    ({"role": "appMaker", "type": "formResponse", "text": "x"}, '"type"'),
    ({"role": "appMaker", "type": 5, "text": "x"}, '"type"'),
    ({"role": "appMaker"}, '"text"'),
    ({"role": "appMaker", "text": "   "}, '"text"'),
    ({"role": "appMaker", "text": 42}, '"text"'),
    ({"role": "appMaker", "type": "image"}, '"mediaUrl"'),
    ({"role": "appMaker", "type": "file", "mediaUrl": "not a url"}, '"mediaUrl"'),
    ({"role": "appMaker", "text": "x", "metadata": {"nested": {"a": 1}}}, '"metadata.nested"'),
    ({"role": "appMaker", "text": "x", "metadata": ["a"]}, '"metadata"'),
    ({"role": "appMaker", "text": "x", "metadata": {"n": None}}, '"metadata.n"'),
    ({"role": "appMaker", "text": "x", "name": 7}, '"name"'),
    ({"role": "appMaker", "text": "x", "email": ["a"]}, '"email"'),
    ({"role": "appMaker", "text": "x", "avatarUrl": {}}, '"avatarUrl"'),
    (
        {
            "role": "appUser",
            "text": "x",
            "actions": [{"type": "reply", "text": "a", "payload": "a"}],
        },
        '"actions"',
    ),
    ({"role": "appMaker", "text": "x", "actions": {"type": "link"}}, '"actions"'),
    (
        {"role": "appMaker", "text": "x", "actions": [{"type": "teleport", "text": "a"}]},
        '"actions[0].type"',
    ),
    (
        {"role": "appMaker", "text": "x", "actions": [{"type": "link", "text": "a"}]},
        '"actions[0].uri"',
    ),
    (
        {"role": "appMaker", "text": "x", "actions": [{"type": "link", "uri": "https://a"}]},
        '"actions[0].text"',
    ),
    (
        {"role": "appMaker", "text": "x", "actions": [{"type": "postback", "text": "a"}]},
        '"actions[0].payload"',
    ),
    (
        {"role": "appMaker", "text": "x", "actions": [{"type": "reply", "text": "a"}]},
        '"actions[0].payload"',
    ),
    (
        {"role": "appMaker", "text": "x", "actions": [{"type": "buy", "text": "a", "amount": 1.5}]},
        '"actions[0].amount"',
    ),
    (
        {
            "role": "appMaker",
            "text": "x",
            "actions": [{"type": "webview", "text": "a", "uri": "https://a"}],
        },
        '"actions[0].fallback"',
    ),
    ({"role": "appMaker", "text": "x", "actions": [{"type": "share"}]}, "share"),
    (
        {
            "role": "appMaker",
            "text": "x",
            "actions": [
                {"type": "reply", "text": "a", "payload": "a"},
                {"type": "link", "text": "l", "uri": "https://a"},
            ],
        },
        "reply and locationRequest",
    ),
    ({"role": "appMaker", "type": "carousel"}, '"items"'),
    (
        {"role": "appMaker", "type": "carousel", "items": [{"title": "t", "actions": []}]},
        '"items[0].actions"',
    ),
    (
        {"role": "appMaker", "type": "carousel", "items": [{"actions": [{"type": "share"}]}]},
        '"items[0].title"',
    ),
    (
        {
            "role": "appMaker",
            "type": "list",
            "items": [{"title": "t", "actions": [{"type": "share"}]}] * 11,
        },
        '"items"',
    ),
    ({"role": "appUser", "type": "location"}, '"coordinates"'),
    (
        {"role": "appUser", "type": "location", "coordinates": {"lat": 95, "long": 0}},
        '"coordinates.lat"',
    ),
    ({"role": "appMaker", "type": "form"}, '"fields"'),
    (
        {"role": "appMaker", "type": "form", "fields": [{"type": "date", "name": "d"}]},
        '"fields[0].type"',
    ),
]


@pytest.mark.parametrize(("body", "names"), BAD_BODIES, ids=[b[1] for b in BAD_BODIES])
def test_invalid_bodies_are_400_naming_the_field(
    api: Api, body: dict[str, Any], names: str
) -> None:
    before = len(api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID))
    resp = api.post_message(DEMO_ALICE_ID, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "bad_request"
    assert names in error["description"]
    assert len(api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID)) == before


def test_paging_walks_the_whole_history_without_gaps(api: Api) -> None:
    first = api.get_messages(DEMO_PAGING_USER_ID).json()
    assert len(first["messages"]) == 100
    assert "next" not in first  # nothing newer than the newest page
    seen = list(first["messages"])
    page = first
    pages = 1
    while "previous" in page:
        older = page["messages"][0]["received"]
        assert page["previous"].endswith(f"?before={older!r}")
        resp = api.request("GET", page["previous"])  # follow the URL as given
        page = resp.json()
        assert page["messages"], "a previous link must lead to messages"
        assert page["messages"][-1]["received"] < older
        assert "next" in page
        seen = page["messages"] + seen
        pages += 1
    assert pages == 3
    ids = [m["_id"] for m in seen]
    assert len(ids) == len(set(ids)) == DEMO_PAGING_MESSAGE_COUNT
    assert seen == api.srv.store.messages(DEMO_APP_ID, DEMO_PAGING_USER_ID, base=api.srv.base_url)
    texts = [m["text"] for m in seen]
    assert texts[0].endswith("(#1)") and texts[-1].endswith(f"(#{DEMO_PAGING_MESSAGE_COUNT})")


def test_paging_forward_with_after(api: Api) -> None:
    everything = api.srv.store.messages(DEMO_APP_ID, DEMO_PAGING_USER_ID)
    start = everything[9]["received"]
    page = api.get_messages(DEMO_PAGING_USER_ID, after=start).json()
    assert [m["_id"] for m in page["messages"]] == [m["_id"] for m in everything[10:110]]
    assert "next" in page and "previous" in page
    decimal = api.get_messages(
        DEMO_PAGING_USER_ID, before=f"{everything[1]['received']:.3f}"
    ).json()
    assert [m["_id"] for m in decimal["messages"]] == [everything[0]["_id"]]


@pytest.mark.parametrize(
    "params",
    [{"before": "1", "after": "2"}, {"before": "yesterday"}, {"after": "nan"}, {"before": ""}],
)
def test_bad_paging_params(api: Api, params: dict[str, str]) -> None:
    resp = api.get_messages(DEMO_PAGING_USER_ID, **params)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "bad_request"


def test_get_messages_404_without_conversation(api: Api) -> None:
    created = api.request(
        "POST", f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/appusers", json={"userId": "fresh"}
    )
    assert created.status_code == 201
    assert api.get_messages("fresh").status_code == 404
    assert api.request("POST", api.user_url("fresh", "/conversation/read")).status_code == 404
    # the first message creates the conversation
    assert api.post_message("fresh", {"role": "appMaker", "text": "welcome"}).status_code == 201
    assert len(api.get_messages("fresh").json()["messages"]) == 1


def test_get_app_user_shape(api: Api) -> None:
    user = api.request("GET", api.user_url(DEMO_ALICE_ID)).json()["appUser"]
    for key in (
        "_id",
        "userId",
        "givenName",
        "surname",
        "email",
        "signedUpAt",
        "properties",
        "conversationStarted",
        "clients",
        "pendingClients",
    ):
        assert key in user
    assert user["pendingClients"] == []
    client = user["clients"][0]
    assert {
        "id",
        "platform",
        "status",
        "active",
        "primary",
        "lastSeen",
        "displayName",
        "info",
    } <= set(client)
    platforms = {c["platform"] for u in api.srv.store.users(DEMO_APP_ID) for c in u["clients"]}
    assert {"web", "messenger", "telegram", "ios"} <= platforms
    nobody = api.request("GET", api.user_url(DEMO_NO_CLIENTS_USER_ID)).json()["appUser"]
    assert nobody["clients"] == []
    assert api.request("GET", api.user_url("nobody")).status_code == 404


def test_pre_create_and_update_user(api: Api) -> None:
    url = f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/appusers"
    body = {
        "userId": "carol@example.com",
        "givenName": "Carol",
        "surname": "King",
        "email": "carol@example.com",
        "signedUpAt": "2024-01-02T03:04:05.000Z",
        "properties": {"tier": "gold", "seats": 3},
    }
    resp = api.request("POST", url, json=body)
    assert resp.status_code == 201
    user = resp.json()["appUser"]
    assert user["userId"] == "carol@example.com" and user["conversationStarted"] is False
    assert user["clients"] == [] and user["properties"] == body["properties"]
    again = api.request("POST", url, json={"userId": "carol@example.com"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    missing = api.request("POST", url, json={"givenName": "No id"})
    assert missing.status_code == 400 and '"userId"' in missing.json()["error"]["description"]
    update = api.request(
        "PUT", api.user_url("carol@example.com"), json={"surname": "Queen", "properties": {"x": 1}}
    )
    assert update.status_code == 200
    updated = update.json()["appUser"]
    assert updated["surname"] == "Queen" and updated["givenName"] == "Carol"
    assert updated["properties"] == {"tier": "gold", "seats": 3, "x": 1}
    bad = api.request("PUT", api.user_url("carol@example.com"), json={"properties": {"a": [1]}})
    assert bad.status_code == 400


def test_demo_data_is_deterministic() -> None:
    with SandboxServer() as one, SandboxServer() as two:
        ids_one = [(u["_id"], u.get("userId")) for u in one.store.users(DEMO_APP_ID)]
        ids_two = [(u["_id"], u.get("userId")) for u in two.store.users(DEMO_APP_ID)]
        assert ids_one == ids_two and len(ids_one) == 5
        m1 = [m["_id"] for m in one.store.messages(DEMO_APP_ID, DEMO_PAGING_USER_ID)]
        m2 = [m["_id"] for m in two.store.messages(DEMO_APP_ID, DEMO_PAGING_USER_ID)]
        assert m1 == m2
