"""v2's own validation rules and limits over real HTTP, each answered 400 (or 413/423) in the
errors[] envelope with a title naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_helpers import V2, business_text

from smooch_desktop.sandbox import DEMO_ALICE_ID, SandboxServer
from smooch_desktop.sandbox import store as store_module


def refusal(v2: V2, body: Any, status: int = 400) -> str:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    resp = v2.post(conversation, body)
    assert resp.status_code == status, resp.text
    (error,) = resp.json()["errors"]
    assert error["code"] == {400: "bad_request", 413: "payload_too_large"}.get(
        status, error["code"]
    )
    title: str = error["title"]
    return title


def accepted(v2: V2, body: Any) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    resp = v2.post(conversation, body)
    assert resp.status_code == 201, resp.text


def item(n_actions: int = 1) -> dict[str, Any]:
    action = {"type": "postback", "text": "Go", "payload": "GO"}
    return {"title": "Item", "actions": [dict(action) for _ in range(n_actions)]}


def test_text_up_to_4096_characters(v2: V2) -> None:
    accepted(v2, business_text("é" * 4096))
    assert '"content.text"' in refusal(v2, business_text("é" * 4097))


def test_metadata_up_to_4_kb(v2: V2) -> None:
    fits = business_text("hi")
    fits["metadata"] = {"k": "x" * (4096 - len('{"k":""}'))}
    accepted(v2, fits)
    over = business_text("hi")
    over["metadata"] = {"k": "x" * (4097 - len('{"k":""}'))}
    assert '"metadata" is limited to 4 KB' in refusal(v2, over)


def test_metadata_must_be_flat(v2: V2) -> None:
    body = business_text("hi")
    body["metadata"] = {"nested": {"no": 1}}
    assert '"metadata.nested"' in refusal(v2, body)


def test_body_over_100_kb_is_413(v2: V2) -> None:
    body = business_text("hi")
    body["metadata"] = {"pad": "x" * (100 * 1024)}
    refusal(v2, body, 413)


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (10, True), (11, False)])
def test_items_1_to_10(v2: V2, count: int, ok: bool) -> None:
    body = {
        "author": {"type": "business"},
        "content": {"type": "carousel", "items": [item()] * count},
    }
    if ok:
        accepted(v2, body)
    else:
        assert '"content.items"' in refusal(v2, body)


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (3, True), (4, False)])
def test_actions_1_to_3_per_item(v2: V2, count: int, ok: bool) -> None:
    body = {"author": {"type": "business"}, "content": {"type": "list", "items": [item(count)]}}
    if ok:
        accepted(v2, body)
    else:
        assert '"content.items[0].actions"' in refusal(v2, body)


def test_item_title_up_to_128(v2: V2) -> None:
    long_title = {**item(), "title": "t" * 129}
    body = {"author": {"type": "business"}, "content": {"type": "carousel", "items": [long_title]}}
    assert '"content.items[0].title"' in refusal(v2, body)


def test_no_share_action_in_v2(v2: V2) -> None:
    share = {"title": "A", "actions": [{"type": "share"}]}
    body = {"author": {"type": "business"}, "content": {"type": "carousel", "items": [share]}}
    assert "share" in refusal(v2, body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, '"author"'),
        ({"author": {"type": "business"}}, '"content"'),
        ({"author": {}, "content": {"type": "text", "text": "x"}}, '"author.type"'),
        (
            {"author": {"type": "appMaker"}, "content": {"type": "text", "text": "x"}},
            '"author.type"',
        ),
        ({"author": {"type": "business"}, "content": {"type": "sticker"}}, '"content.type"'),
        ({"author": {"type": "business"}, "content": {"type": "text"}}, '"content.text"'),
        (
            {"author": {"type": "business"}, "content": {"type": "text", "text": "   "}},
            '"content.text"',
        ),
        ({"author": {"type": "business"}, "content": {"type": "image"}}, '"content.mediaUrl"'),
        (
            {
                "author": {"type": "business"},
                "content": {"type": "image", "mediaUrl": "ftp://x/a.png"},
            },
            '"content.mediaUrl"',
        ),
        (
            {
                "author": {"type": "business", "avatarUrl": "not a url"},
                "content": {"type": "text", "text": "x"},
            },
            '"author.avatarUrl"',
        ),
        (
            {
                "author": {"type": "business", "userId": "u"},
                "content": {"type": "text", "text": "x"},
            },
            '"author.userId"',
        ),
        ({"author": {"type": "user"}, "content": {"type": "text", "text": "x"}}, '"author"'),
        (
            {
                "author": {"type": "business"},
                "content": {"type": "file", "mediaUrl": "https://e.com/a", "altText": "a" * 129},
            },
            '"content.altText"',
        ),
        ({"author": {"type": "business"}, "content": {"type": "form", "fields": []}}, "sandbox"),
    ],
)
def test_malformed_messages_name_the_field(v2: V2, body: dict[str, Any], field: str) -> None:
    assert field in refusal(v2, body)


def test_not_json_is_400_in_the_v2_envelope(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    resp = v2.request(
        "POST",
        f"/conversations/{conversation}/messages",
        data="{oops",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "typing:start"}, '"author"'),
        ({"author": {"type": "business"}}, '"type"'),
        ({"author": {"type": "business"}, "type": "typing:maybe"}, '"type"'),
    ],
)
def test_malformed_activities(v2: V2, body: dict[str, Any], field: str) -> None:
    resp = v2.activity(v2.default_conversation(DEMO_ALICE_ID), body)
    assert resp.status_code == 400
    assert field in resp.json()["errors"][0]["title"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"externalId": ""}, '"externalId"'),
        ({"externalId": "x" * 1025}, '"externalId"'),
        ({"externalId": 5}, '"externalId"'),
        ({"profile": {"givenName": "g" * 129}}, '"profile.givenName"'),
        ({"profile": {"email": "no-at-sign"}}, '"profile.email"'),
        ({"profile": {"avatarUrl": "nope"}}, '"profile.avatarUrl"'),
        ({"signedUpAt": "yesterday"}, '"signedUpAt"'),
        ({"metadata": {"big": "x" * 5000}}, '"metadata"'),
    ],
)
def test_malformed_users(v2: V2, body: dict[str, Any], field: str) -> None:
    resp = v2.request("POST", "/users", json=body)
    assert resp.status_code == 400
    assert field in resp.json()["errors"][0]["title"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"participants": [{"userExternalId": DEMO_ALICE_ID}]}, '"type"'),
        ({"type": "sdkGroup"}, "sandbox"),
        ({"type": "personal"}, '"participants"'),
        ({"type": "personal", "participants": [{}]}, '"participants[0]"'),
        (
            {"type": "personal", "participants": [{"userId": "a", "userExternalId": "b"}]},
            '"participants[0]"',
        ),
        (
            {
                "type": "personal",
                "participants": [{"userExternalId": DEMO_ALICE_ID}],
                "displayName": "",
            },
            '"displayName"',
        ),
    ],
)
def test_malformed_conversations(v2: V2, body: dict[str, Any], field: str) -> None:
    resp = v2.request("POST", "/conversations", json=body)
    assert resp.status_code == 400
    assert field in resp.json()["errors"][0]["title"]


def test_a_full_conversation_is_423_locked(
    srv: SandboxServer, v2: V2, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    held = len(v2.messages(conversation).json()["messages"])
    monkeypatch.setattr(store_module, "MAX_CONVERSATION_MESSAGES", held + 1)
    assert v2.post(conversation, business_text("the last one")).status_code == 201
    resp = v2.post(conversation, business_text("one too many"))
    assert resp.status_code == 423
    assert resp.json()["errors"] == [
        {"code": "locked", "title": f"Message limit of {held + 1} per conversation reached."}
    ]
    assert srv.store.messages(srv.app_id, DEMO_ALICE_ID)[-1]["text"] == "the last one"
