"""One store, two views: what is written through v1.1 reads back through v2 and the other way
round, and the end user's page shows v2 messages and typing as it shows v1.1 ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from sandbox_helpers import V2, Api, business_text

from smooch_desktop.sandbox import (
    DEMO_AGENT_EMAIL,
    DEMO_ALICE_ID,
    DEMO_ANONYMOUS_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_NO_CLIENTS_USER_ID,
    DEMO_PAGING_USER_ID,
    SandboxServer,
)
from smooch_desktop.sandbox.store import email_hash


def unix(moment: str) -> float:
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).timestamp()


DEMO_USERS = (
    DEMO_ALICE_ID,
    DEMO_PAGING_USER_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_ANONYMOUS_ID,
    DEMO_NO_CLIENTS_USER_ID,
)


@pytest.mark.parametrize("ref", DEMO_USERS)
def test_demo_users_are_the_same_under_both_versions(api: Api, v2: V2, ref: str) -> None:
    app_user = api.request("GET", api.user_url(ref)).json()["appUser"]
    user = v2.user(ref).json()["user"]
    assert user["id"] == app_user["_id"]
    assert user.get("externalId") == app_user.get("userId")
    assert user["signedUpAt"] == app_user["signedUpAt"]
    assert user["metadata"] == app_user["properties"]
    for key in ("givenName", "surname", "email"):
        assert user["profile"].get(key) == app_user.get(key)
    v1_conversation = api.get_messages(ref).json()["conversation"]["_id"]
    assert v2.default_conversation(ref) == v1_conversation


def test_v1_history_reads_the_same_through_v2(api: Api, v2: V2) -> None:
    v1_messages = api.get_messages(DEMO_ALICE_ID).json()["messages"]
    v2_messages = v2.messages(v2.default_conversation(DEMO_ALICE_ID)).json()["messages"]
    assert [m["id"] for m in v2_messages] == [m["_id"] for m in v1_messages]
    for old, new in zip(v1_messages, v2_messages, strict=True):
        assert new["author"]["type"] == {"appMaker": "business", "appUser": "user"}[old["role"]]
        assert new["content"]["text"] == old["text"]
        assert new["author"].get("displayName") == old.get("name")
        assert new["author"].get("avatarUrl") == old.get("avatarUrl")
        assert unix(new["received"]) == pytest.approx(old["received"], abs=0.0005)
        if old["role"] == "appUser":
            assert new["author"]["userId"] == old["authorId"]


def test_sent_through_v1_read_through_v2(api: Api, v2: V2) -> None:
    body = {
        "role": "appMaker",
        "type": "text",
        "text": "From v1.1",
        "name": "Sam",
        "email": DEMO_AGENT_EMAIL,
        "metadata": {"smoochDesktopClientId": "v1-1"},
    }
    sent = api.post_message(DEMO_ALICE_ID, body).json()["message"]
    latest = v2.messages(v2.default_conversation(DEMO_ALICE_ID)).json()["messages"][-1]
    assert latest["id"] == sent["_id"]
    assert latest["author"]["type"] == "business"
    assert latest["author"]["displayName"] == "Sam"
    assert email_hash(DEMO_AGENT_EMAIL) in latest["author"]["avatarUrl"]
    assert latest["content"] == {"type": "text", "text": "From v1.1"}
    assert latest["metadata"] == {"smoochDesktopClientId": "v1-1"}
    assert unix(latest["received"]) == pytest.approx(sent["received"], abs=0.0005)


def test_sent_through_v2_read_through_v1(api: Api, v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    body = business_text("From v2", displayName="Sam", avatarUrl="https://example.com/sam.png")
    body["metadata"] = {"smoochDesktopClientId": "v2-1"}
    sent = v2.post(conversation, body).json()["messages"][0]
    latest = api.get_messages(DEMO_ALICE_ID).json()["messages"][-1]
    assert latest["_id"] == sent["id"]
    assert latest["role"] == "appMaker"
    assert latest["type"] == "text"
    assert latest["text"] == "From v2"
    assert latest["name"] == "Sam"
    assert latest["avatarUrl"] == "https://example.com/sam.png"
    assert latest["metadata"] == {"smoochDesktopClientId": "v2-1"}
    assert isinstance(latest["received"], float)
    assert latest["received"] == pytest.approx(unix(sent["received"]), abs=0.0005)


def test_user_reply_through_v1_control_shows_as_user_author_in_v2(
    srv: SandboxServer, v2: V2
) -> None:
    srv.store.add_user_message(srv.app_id, DEMO_ALICE_ID, "Any news?")
    alice_id = v2.user(DEMO_ALICE_ID).json()["user"]["id"]
    latest = v2.messages(v2.default_conversation(DEMO_ALICE_ID)).json()["messages"][-1]
    assert latest["author"]["type"] == "user"
    assert latest["author"]["userId"] == alice_id
    assert latest["content"]["text"] == "Any news?"
    assert latest["source"]["type"] == "web"


def test_a_v2_created_user_and_conversation_are_a_v1_appuser_and_conversation(
    api: Api, v2: V2
) -> None:
    v2.request("POST", "/users", json={"externalId": "both-ways", "profile": {"givenName": "Bo"}})
    body = {"type": "personal", "participants": [{"userExternalId": "both-ways"}]}
    conversation = v2.request("POST", "/conversations", json=body).json()["conversation"]
    v2.post(conversation["id"], business_text("Welcome"))
    v1 = api.get_messages("both-ways").json()
    assert v1["conversation"]["_id"] == conversation["id"]
    assert [m["text"] for m in v1["messages"]] == ["Welcome"]
    assert api.request("GET", api.user_url("both-ways")).json()["appUser"]["givenName"] == "Bo"


def test_a_v1_message_to_a_pre_created_user_makes_their_default_v2_conversation(
    api: Api, v2: V2
) -> None:
    api.request("POST", api.user_url("")[:-1], json={"userId": "v1-first"})
    assert (
        v2.request("GET", "/conversations", params={"filter[userExternalId]": "v1-first"}).json()[
            "conversations"
        ]
        == []
    )
    api.post_message("v1-first", {"role": "appMaker", "type": "text", "text": "Hello"})
    (conversation,) = v2.request(
        "GET", "/conversations", params={"filter[userExternalId]": "v1-first"}
    ).json()["conversations"]
    assert conversation["isDefault"] is True
    assert v2.messages(conversation["id"]).json()["messages"][0]["content"]["text"] == "Hello"


def test_v2_typing_shows_on_the_end_user_page_like_v1(srv: SandboxServer, v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    author = {"type": "business", "displayName": "Sam (v2)", "avatarUrl": "https://e.com/s.png"}
    v2.activity(conversation, {"author": author, "type": "typing:start"})
    state = requests.get(
        f"{srv.base_url}/_sandbox/typing/{srv.app_id}/{DEMO_ALICE_ID}", timeout=10
    ).json()
    assert state == {"typing": True, "name": "Sam (v2)", "avatarUrl": "https://e.com/s.png"}
    v2.post(conversation, business_text("Here you go"))  # a business message ends typing
    assert srv.store.typing(srv.app_id, DEMO_ALICE_ID)["typing"] is False


def test_v2_typing_in_another_conversation_is_not_the_default_ones(
    srv: SandboxServer, v2: V2
) -> None:
    body = {"type": "personal", "participants": [{"userExternalId": DEMO_ALICE_ID}]}
    other = v2.request("POST", "/conversations", json=body).json()["conversation"]["id"]
    v2.activity(other, {"author": {"type": "business"}, "type": "typing:start"})
    assert srv.store.typing(srv.app_id, DEMO_ALICE_ID)["typing"] is False


def test_v1_typing_is_stopped_by_a_v2_message(srv: SandboxServer, api: Api, v2: V2) -> None:
    api.activity(DEMO_ALICE_ID, {"role": "appMaker", "type": "typing:start", "name": "Sam"})
    assert srv.store.typing(srv.app_id, DEMO_ALICE_ID)["typing"] is True
    v2.post(v2.default_conversation(DEMO_ALICE_ID), business_text("Done"))
    assert srv.store.typing(srv.app_id, DEMO_ALICE_ID)["typing"] is False


def test_the_user_page_shows_a_v2_message_like_a_v1_one(
    srv: SandboxServer, api: Api, v2: V2
) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    v2.post(conversation, business_text("Sent with v2", displayName="Vee"))
    api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "Sent with v1", "name": "Vee"})
    page = requests.get(f"{srv.base_url}/users/{srv.app_id}/{DEMO_ALICE_ID}", timeout=10).text
    assert "Sent with v2" in page and "Sent with v1" in page
    view = requests.get(
        f"{srv.base_url}/_sandbox/apps/{srv.app_id}/appusers/{DEMO_ALICE_ID}/messages", timeout=10
    ).json()["messages"]
    by_v2, by_v1 = view[-2], view[-1]
    same_shape = {"role", "type", "name", "text"}
    assert {k: by_v2[k] for k in same_shape} == {
        **{k: by_v1[k] for k in same_shape},
        "text": "Sent with v2",
    }


def test_v2_attachment_is_served_to_v1_readers(srv: SandboxServer, api: Api, v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    attachment = v2.request(
        "POST",
        "/attachments",
        params={"access": "public", "conversationId": conversation},
        files={"source": ("pic.png", b"\x89PNG fake", "image/png")},
    ).json()["attachment"]
    v2.post(
        conversation, {"author": {"type": "business"}, "content": {"type": "image", **attachment}}
    )
    latest = api.get_messages(DEMO_ALICE_ID).json()["messages"][-1]
    assert latest["type"] == "image"
    assert latest["mediaUrl"] == attachment["mediaUrl"]
    assert latest["mediaType"] == "image/png"
