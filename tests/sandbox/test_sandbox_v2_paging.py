"""v2 cursor paging over real HTTP: messages (100 per page, newest page first, page[before]
and page[after] by message id, meta.hasMore, cursors, links) and conversations
(page[size] default 25, max 100)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sandbox_helpers import V2

from smooch_desktop.sandbox import DEMO_PAGING_MESSAGE_COUNT, DEMO_PAGING_USER_ID


def page(v2: V2, conversation: str, **params: str) -> dict[str, Any]:
    resp = v2.messages(conversation, **params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_first_page_is_the_newest_100_with_a_cursor_back(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    body = page(v2, conversation)
    messages = body["messages"]
    assert len(messages) == 100
    assert body["meta"] == {"hasMore": True, "beforeCursor": messages[0]["id"]}
    assert body["links"]["prev"].endswith(f"/messages?page[before]={messages[0]['id']}")
    assert "next" not in body["links"]
    received = [m["received"] for m in messages]
    assert received == sorted(received)


def test_walking_back_visits_every_message_once(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    seen: list[str] = []
    body = page(v2, conversation)
    sizes = []
    while True:
        sizes.append(len(body["messages"]))
        seen = [m["id"] for m in body["messages"]] + seen
        if not body["meta"]["hasMore"]:
            assert "beforeCursor" not in body["meta"] and "prev" not in body["links"]
            break
        body = page(v2, conversation, **{"page[before]": body["meta"]["beforeCursor"]})
    assert sizes == [100, 100, DEMO_PAGING_MESSAGE_COUNT - 200]
    assert len(seen) == len(set(seen)) == DEMO_PAGING_MESSAGE_COUNT


def test_following_the_prev_link_works_as_given(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    first = page(v2, conversation)
    resp = v2.session.get(first["links"]["prev"], auth=(v2.srv.key_id, v2.srv.secret), timeout=10)
    older = resp.json()["messages"]
    assert len(older) == 100
    assert older[-1]["received"] < first["messages"][0]["received"]


def test_page_after_goes_forward_with_has_more_in_that_direction(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    oldest_page = page(v2, conversation)
    while oldest_page["meta"]["hasMore"]:
        oldest_page = page(
            v2, conversation, **{"page[before]": oldest_page["meta"]["beforeCursor"]}
        )
    oldest = oldest_page["messages"][0]["id"]
    forward = page(v2, conversation, **{"page[after]": oldest})
    assert len(forward["messages"]) == 100
    assert forward["messages"][0]["id"] == oldest_page["messages"][1]["id"]
    assert forward["meta"]["hasMore"] is True
    assert forward["meta"]["afterCursor"] == forward["messages"][-1]["id"]
    assert forward["meta"]["beforeCursor"] == forward["messages"][0]["id"]
    newest = page(v2, conversation)["messages"][-1]["id"]
    end = page(v2, conversation, **{"page[after]": newest})
    assert end["messages"] == []
    assert end["meta"] == {"hasMore": False}


def test_page_size_does_not_apply_to_messages(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    assert len(page(v2, conversation, **{"page[size]": "10"})["messages"]) == 100


@pytest.mark.parametrize(
    "params",
    [
        {"page[before]": "5e1f00000000000000000001", "page[after]": "5e1f00000000000000000002"},
        {"page[before]": "short"},
        {"page[before]": "5e1f0000000000000000ffff"},  # well-formed, but no message here
        {"page[size]": "0"},
        {"page[size]": "101"},
        {"page[size]": "ten"},
        {"page[limit]": "5"},
        {"page": "not json"},
    ],
)
def test_bad_page_parameters_are_400(v2: V2, params: dict[str, str]) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    resp = v2.messages(conversation, **params)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "bad_request"


def test_page_as_one_json_object_is_read_too(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_PAGING_USER_ID)
    first = page(v2, conversation)
    cursor = first["meta"]["beforeCursor"]
    by_brackets = page(v2, conversation, **{"page[before]": cursor})
    by_json = page(v2, conversation, page=f'{{"before": "{cursor}", "size": 25}}')
    assert by_json == by_brackets


def make_conversations(v2: V2, external_id: str, count: int) -> list[str]:
    v2.request("POST", "/users", json={"externalId": external_id})
    body = {"type": "personal", "participants": [{"userExternalId": external_id}]}
    ids = []
    for _ in range(count):
        resp = v2.request("POST", "/conversations", json=body)
        assert resp.status_code == 201
        ids.append(resp.json()["conversation"]["id"])
    return ids


def list_conversations(v2: V2, **params: str) -> requests.Response:
    return v2.request("GET", "/conversations", params=params)


def test_conversations_page_25_by_default_and_follow_next(v2: V2) -> None:
    ids = make_conversations(v2, "many-convs", 30)
    first = list_conversations(v2, **{"filter[userExternalId]": "many-convs"}).json()
    assert [c["id"] for c in first["conversations"]] == ids[:25]
    assert first["meta"] == {"hasMore": True, "afterCursor": ids[24]}
    next_url = first["links"]["next"]
    assert "filter[userExternalId]=many-convs" in next_url
    rest = v2.session.get(next_url, auth=(v2.srv.key_id, v2.srv.secret), timeout=10).json()
    assert [c["id"] for c in rest["conversations"]] == ids[25:]
    assert rest["meta"] == {"hasMore": False, "beforeCursor": ids[25]}
    back = list_conversations(
        v2, **{"filter[userExternalId]": "many-convs", "page[before]": ids[25], "page[size]": "5"}
    ).json()
    assert [c["id"] for c in back["conversations"]] == ids[20:25]
    assert back["meta"]["hasMore"] is True


def test_conversations_page_size_up_to_100(v2: V2) -> None:
    ids = make_conversations(v2, "sized", 3)
    two = list_conversations(v2, **{"filter[userExternalId]": "sized", "page[size]": "2"}).json()
    assert [c["id"] for c in two["conversations"]] == ids[:2]
    too_big = list_conversations(v2, **{"filter[userExternalId]": "sized", "page[size]": "101"})
    assert too_big.status_code == 400
