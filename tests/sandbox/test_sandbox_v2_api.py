"""The sandbox's v2 endpoints over real HTTP: users, conversations, messages, activity,
attachments, both path forms, auth, status codes, the errors[] envelope, faults and the log."""

from __future__ import annotations

import re
import time

import jwt
import pytest
import requests
from sandbox_helpers import V2, business_text

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_ANONYMOUS_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_NO_CLIENTS_USER_ID,
    FaultConfig,
    SandboxServer,
)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def v2_error(resp: requests.Response) -> tuple[str, str]:
    body = resp.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert set(error) == {"code", "title"}
    return error["code"], error["title"]


def test_get_user_by_external_id_and_by_id(v2: V2) -> None:
    by_external = v2.user(DEMO_ALICE_ID)
    assert by_external.status_code == 200
    user = by_external.json()["user"]
    assert user["externalId"] == DEMO_ALICE_ID
    assert user["profile"] == {"givenName": "Alice", "surname": "Martin", "email": DEMO_ALICE_ID}
    assert user["metadata"] == {"plan": "plus", "orders": 7}
    assert ISO.match(user["signedUpAt"])
    assert v2.user(user["id"]).json()["user"] == user


def test_users_with_odd_ids_and_without_external_id(v2: V2) -> None:
    assert v2.user(DEMO_ENCODED_USER_ID).json()["user"]["externalId"] == DEMO_ENCODED_USER_ID
    anonymous = v2.user(DEMO_ANONYMOUS_ID).json()["user"]
    assert anonymous["id"] == DEMO_ANONYMOUS_ID
    assert "externalId" not in anonymous


def test_unknown_user_is_404_user_not_found(v2: V2) -> None:
    resp = v2.user("nobody@example.com")
    assert resp.status_code == 404
    assert v2_error(resp) == ("user_not_found", "User not found")


def test_list_clients_shows_the_v1_clients_as_v2_clients(v2: V2) -> None:
    resp = v2.request("GET", "/users/" + DEMO_ALICE_ID + "/clients")
    assert resp.status_code == 200
    body = resp.json()
    assert body["meta"] == {"hasMore": False}
    # Web, iOS and Android clients are v2 clients of type "sdk" (the spec's clientType);
    # the platform is their device's (test_sandbox_v2_participants.py).
    assert [c["type"] for c in body["clients"]] == ["sdk", "messenger"]
    web = body["clients"][0]
    assert web["status"] == "active" and ISO.match(web["lastSeen"])
    assert set(web) >= {"id", "type", "status", "integrationId", "lastSeen", "displayName", "info"}
    by_id = v2.user(DEMO_ALICE_ID).json()["user"]["id"]
    assert v2.request("GET", f"/users/{by_id}/clients").json()["clients"] == body["clients"]


def test_list_clients_of_a_user_without_channels_and_of_nobody(v2: V2) -> None:
    none = v2.request("GET", "/users/" + DEMO_NO_CLIENTS_USER_ID + "/clients")
    assert none.status_code == 200 and none.json()["clients"] == []
    missing = v2.request("GET", "/users/nobody@example.com/clients")
    assert missing.status_code == 404
    assert v2_error(missing) == ("user_not_found", "User not found")


def test_create_user_then_conflict(v2: V2) -> None:
    body = {
        "externalId": "v2-user-1",
        "profile": {"givenName": "Vera", "email": "vera@example.com", "locale": "fr-CA"},
        "metadata": {"tier": "gold"},
    }
    resp = v2.request("POST", "/users", json=body)
    assert resp.status_code == 201
    user = resp.json()["user"]
    assert user["externalId"] == "v2-user-1"
    assert user["profile"] == {"givenName": "Vera", "email": "vera@example.com", "locale": "fr-CA"}
    assert user["metadata"] == {"tier": "gold"}
    assert v2.user("v2-user-1").json()["user"] == user
    again = v2.request("POST", "/users", json=body)
    assert again.status_code == 409
    assert v2_error(again) == ("conflict", "User already exists")


def test_create_user_without_external_id(v2: V2) -> None:
    resp = v2.request("POST", "/users", json={"profile": {"givenName": "Nobody"}})
    assert resp.status_code == 201
    user = resp.json()["user"]
    assert "externalId" not in user
    assert v2.user(user["id"]).status_code == 200


def test_list_conversations_by_user_id_or_external_id(v2: V2) -> None:
    user_id = v2.user(DEMO_ALICE_ID).json()["user"]["id"]
    by_id = v2.request("GET", "/conversations", params={"filter[userId]": user_id})
    by_external = v2.request(
        "GET", "/conversations", params={"filter[userExternalId]": DEMO_ALICE_ID}
    )
    assert by_id.status_code == by_external.status_code == 200
    assert by_id.json() == by_external.json()
    (conversation,) = by_id.json()["conversations"]
    assert conversation["type"] == "personal"
    assert conversation["isDefault"] is True
    assert ISO.match(conversation["createdAt"]) and ISO.match(conversation["lastUpdatedAt"])
    assert by_id.json()["meta"] == {"hasMore": False}


@pytest.mark.parametrize(
    "params",
    [{}, {"filter[userId]": "a", "filter[userExternalId]": "b"}, {"filter[other]": "x"}],
)
def test_list_conversations_needs_exactly_one_filter(v2: V2, params: dict[str, str]) -> None:
    resp = v2.request("GET", "/conversations", params=params)
    assert resp.status_code == 400
    assert v2_error(resp)[0] == "bad_request"


def test_filter_by_user_id_does_not_take_an_external_id(v2: V2) -> None:
    resp = v2.request("GET", "/conversations", params={"filter[userId]": DEMO_ALICE_ID})
    assert resp.status_code == 404
    assert v2_error(resp)[0] == "user_not_found"


def test_pre_created_user_has_no_conversation_until_one_is_created(v2: V2) -> None:
    user = v2.request("POST", "/users", json={"externalId": "fresh"}).json()["user"]
    listed = v2.request("GET", "/conversations", params={"filter[userExternalId]": "fresh"})
    assert listed.json()["conversations"] == []
    body = {"type": "personal", "participants": [{"userExternalId": "fresh"}]}
    created = v2.request("POST", "/conversations", json=body)
    assert created.status_code == 201
    conversation = created.json()["conversation"]
    assert conversation["isDefault"] is True
    assert v2.request("GET", f"/conversations/{conversation['id']}").json() == created.json()
    listed = v2.request("GET", "/conversations", params={"filter[userId]": user["id"]})
    assert [c["id"] for c in listed.json()["conversations"]] == [conversation["id"]]


def test_a_second_personal_conversation_is_not_the_default(v2: V2) -> None:
    default_id = v2.default_conversation(DEMO_ALICE_ID)
    body = {
        "type": "personal",
        "participants": [{"userExternalId": DEMO_ALICE_ID}],
        "displayName": "Returns",
        "metadata": {"topic": "returns"},
    }
    created = v2.request("POST", "/conversations", json=body).json()["conversation"]
    assert created["isDefault"] is False
    assert created["displayName"] == "Returns"
    assert created["metadata"] == {"topic": "returns"}
    listed = v2.request("GET", "/conversations", params={"filter[userExternalId]": DEMO_ALICE_ID})
    assert [c["id"] for c in listed.json()["conversations"]] == [default_id, created["id"]]
    assert v2.post(created["id"], business_text("About your return")).status_code == 201
    assert v2.messages(created["id"]).json()["messages"][0]["content"]["text"] == (
        "About your return"
    )
    default_texts = [m["content"].get("text") for m in v2.messages(default_id).json()["messages"]]
    assert "About your return" not in default_texts


def test_create_conversation_for_unknown_user_is_404(v2: V2) -> None:
    body = {"type": "personal", "participants": [{"userId": "5e1f00000000000000000000"}]}
    resp = v2.request("POST", "/conversations", json=body)
    assert resp.status_code == 404
    assert v2_error(resp)[0] == "user_not_found"


def test_unknown_conversation_is_404_conversation_not_found(v2: V2) -> None:
    for resp in (
        v2.request("GET", "/conversations/5e1f00000000000000000000"),
        v2.messages("5e1f00000000000000000000"),
        v2.post("5e1f00000000000000000000", business_text("hi")),
        v2.activity(
            "5e1f00000000000000000000", {"author": {"type": "business"}, "type": "typing:start"}
        ),
    ):
        assert resp.status_code == 404
        assert v2_error(resp) == ("conversation_not_found", "Conversation not found")


def test_post_text_message_with_author_and_metadata(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    body = business_text("Hi Alice", displayName="Sam", avatarUrl="https://example.com/sam.png")
    body["metadata"] = {"smoochDesktopClientId": "c-1", "n": 2, "ok": True}
    resp = v2.post(conversation, body)
    assert resp.status_code == 201
    (message,) = resp.json()["messages"]
    assert message["author"] == {
        "type": "business",
        "displayName": "Sam",
        "avatarUrl": "https://example.com/sam.png",
    }
    assert message["content"] == {"type": "text", "text": "Hi Alice"}
    assert message["metadata"] == body["metadata"]
    assert ISO.match(message["received"])
    assert len(message["id"]) == 24
    assert v2.messages(conversation).json()["messages"][-1] == message


def test_business_author_without_avatar_gets_the_default_gravatar(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    message = v2.post(conversation, business_text("hi")).json()["messages"][0]
    assert message["author"]["avatarUrl"].endswith(
        "/00000000000000000000000000000000.png?s=200&d=mm"
    )


@pytest.mark.parametrize(
    "content",
    [
        {"type": "image", "mediaUrl": "https://example.com/a.png", "text": "a picture"},
        {"type": "file", "mediaUrl": "https://example.com/faq.pdf", "altText": "FAQ"},
        {
            "type": "text",
            "text": "Pick one",
            "actions": [{"type": "reply", "text": "Yes", "payload": "YES"}],
        },
        {
            "type": "carousel",
            "items": [
                {"title": "A", "actions": [{"type": "postback", "text": "Buy", "payload": "A"}]}
            ],
        },
        {"type": "location", "coordinates": {"lat": 45.5, "long": -73.6}},
    ],
    ids=lambda c: c["type"],
)
def test_post_other_content_types(v2: V2, content: dict[str, object]) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    resp = v2.post(conversation, {"author": {"type": "business"}, "content": content})
    assert resp.status_code == 201, resp.text
    stored = resp.json()["messages"][0]["content"]
    for key, value in content.items():
        if key in ("actions", "items"):
            assert len(stored[key]) == len(value)  # type: ignore[arg-type]
            assert all("_id" not in entry for entry in stored[key])
        else:
            assert stored[key] == value
    if content["type"] == "file":
        assert stored["mediaType"] == "application/pdf"


def test_user_author_message_from_the_conversations_own_user(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    alice = v2.user(DEMO_ALICE_ID).json()["user"]
    body = {
        "author": {"type": "user", "userExternalId": DEMO_ALICE_ID},
        "content": {"type": "text", "text": "Me again"},
    }
    message = v2.post(conversation, body).json()["messages"][0]
    assert message["author"]["type"] == "user"
    assert message["author"]["userId"] == alice["id"]
    other = {**body, "author": {"type": "user", "userExternalId": DEMO_NO_CLIENTS_USER_ID}}
    resp = v2.post(conversation, other)
    assert resp.status_code == 400
    assert v2_error(resp)[0] == "bad_request"


def test_typing_and_read_activity(srv: SandboxServer, v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    author = {"type": "business", "displayName": "Sam", "avatarUrl": "https://example.com/s.png"}
    start = v2.activity(conversation, {"author": author, "type": "typing:start"})
    assert start.status_code == 200
    assert start.json() == {}
    assert srv.store.typing(srv.app_id, DEMO_ALICE_ID) == {
        "typing": True,
        "name": "Sam",
        "avatarUrl": "https://example.com/s.png",
    }
    assert v2.activity(conversation, {"author": author, "type": "typing:stop"}).json() == {}
    assert srv.store.typing(srv.app_id, DEMO_ALICE_ID)["typing"] is False
    read = v2.activity(conversation, {"author": {"type": "business"}, "type": "conversation:read"})
    assert read.status_code == 200
    last_read = v2.request("GET", f"/conversations/{conversation}").json()["conversation"]
    assert ISO.match(last_read["businessLastRead"])
    types = [a["type"] for a in srv.store.activities(srv.app_id, DEMO_ALICE_ID)]
    assert types == ["typing:start", "typing:stop", "conversation:read"]


def test_a_user_author_may_only_send_conversation_read(v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    user = {"type": "user", "userExternalId": DEMO_ALICE_ID}
    assert v2.activity(conversation, {"author": user, "type": "conversation:read"}).ok
    resp = v2.activity(conversation, {"author": user, "type": "typing:start"})
    assert resp.status_code == 400
    assert v2_error(resp)[0] == "bad_request"


def test_upload_attachment_and_send_it(srv: SandboxServer, v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    resp = v2.request(
        "POST",
        "/attachments",
        params={"access": "public", "for": "message", "conversationId": conversation},
        files={"source": ("report.pdf", b"%PDF-1.4 tiny", "application/pdf")},
    )
    assert resp.status_code == 201
    attachment = resp.json()["attachment"]
    assert attachment["mediaType"] == "application/pdf"
    assert requests.get(attachment["mediaUrl"], timeout=10).content == b"%PDF-1.4 tiny"
    body = {"author": {"type": "business"}, "content": {"type": "file", **attachment}}
    sent = v2.post(conversation, body).json()["messages"][0]
    assert sent["content"]["mediaUrl"] == attachment["mediaUrl"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "bad_request"),
        ({"access": "private"}, 400, "bad_request"),
        ({"access": "public", "for": "avatar"}, 400, "bad_request"),
        (
            {"access": "public", "conversationId": "5e1f00000000000000000000"},
            404,
            "conversation_not_found",
        ),
    ],
)
def test_upload_attachment_refusals(v2: V2, params: dict[str, str], status: int, code: str) -> None:
    resp = v2.request("POST", "/attachments", params=params, files={"source": ("a.txt", b"a")})
    assert resp.status_code == status
    assert v2_error(resp)[0] == code


def test_zendesk_path_form_is_the_same_api(srv: SandboxServer, session: requests.Session) -> None:
    plain, zendesk = V2(srv, session), V2(srv, session, prefix="/sc/v2")
    assert zendesk.user(DEMO_ALICE_ID).json() == plain.user(DEMO_ALICE_ID).json()
    conversation = zendesk.default_conversation(DEMO_ALICE_ID)
    sent = zendesk.post(conversation, business_text("via /sc")).json()["messages"][0]
    assert plain.messages(conversation).json()["messages"][-1] == sent
    assert v2_error(zendesk.user("nobody"))[0] == "user_not_found"


def test_jwt_with_app_scope_works_and_account_scope_does_not(srv: SandboxServer, v2: V2) -> None:
    token = jwt.encode({"scope": "app"}, srv.secret, algorithm="HS256", headers={"kid": srv.key_id})
    resp = v2.request(
        "GET", "/users/" + DEMO_ALICE_ID, auth=None, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200
    bad = jwt.encode(
        {"scope": "account"}, srv.secret, algorithm="HS256", headers={"kid": srv.key_id}
    )
    resp = v2.request(
        "GET", "/users/" + DEMO_ALICE_ID, auth=None, headers={"Authorization": f"Bearer {bad}"}
    )
    assert resp.status_code == 401
    assert v2_error(resp)[0] == "invalid_auth"


def test_missing_or_wrong_credentials_are_401_in_the_v2_envelope(v2: V2) -> None:
    resp = v2.request("GET", "/users/" + DEMO_ALICE_ID, auth=None)
    assert resp.status_code == 401
    assert v2_error(resp) == ("unauthorized", "Authorization is required")
    wrong = v2.request("GET", "/users/" + DEMO_ALICE_ID, auth=(v2.srv.key_id, "x" * 40))
    assert wrong.status_code == 401
    assert v2_error(wrong)[0] == "unauthorized"


def test_another_apps_id_is_403_or_app_not_found(
    srv: SandboxServer, session: requests.Session
) -> None:
    other_app, _key, _secret = srv.store.create_app()
    auth = (srv.key_id, srv.secret)
    forbidden = session.get(f"{srv.base_url}/v2/apps/{other_app}/users/x", auth=auth, timeout=10)
    assert forbidden.status_code == 403
    assert v2_error(forbidden)[0] == "forbidden"
    missing = session.get(f"{srv.base_url}/v2/apps/nope/users/x", auth=auth, timeout=10)
    assert missing.status_code == 404
    assert v2_error(missing) == ("app_not_found", "App not found")


@pytest.mark.parametrize("path", ["/v2/apps/x/nope", "/sc/v2/anything", "/v2"])
def test_unknown_v2_paths_are_404_in_the_v2_envelope(srv: SandboxServer, path: str) -> None:
    resp = requests.get(srv.base_url + path, auth=(srv.key_id, srv.secret), timeout=10)
    assert resp.status_code == 404
    assert v2_error(resp)[0] == "not_found"


def test_wrong_method_is_405_with_allow(v2: V2) -> None:
    resp = v2.request("DELETE", "/conversations")
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    assert v2_error(resp)[0] == "method_not_allowed"


def test_v2_calls_are_in_the_request_log(srv: SandboxServer, v2: V2) -> None:
    srv.clear_log()
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    v2.post(conversation, business_text("logged"))
    entries = srv.log()
    assert [(e["method"], e["status"]) for e in entries] == [
        ("GET", 200),
        ("GET", 200),
        ("POST", 201),
    ]
    assert entries[1]["query"].startswith("filter%5BuserId%5D=")
    assert entries[2]["path"] == f"/v2/apps/{srv.app_id}/conversations/{conversation}/messages"
    assert entries[2]["body"]["content"] == {"type": "text", "text": "logged"}
    assert entries[2]["auth"] == "basic"


def test_fault_errors_use_the_v2_envelope(srv: SandboxServer, v2: V2) -> None:
    srv.set_faults(FaultConfig(error_rate=1.0, seed=3))
    resp = v2.user(DEMO_ALICE_ID)
    assert resp.status_code in (500, 503)
    assert v2_error(resp)[0] in ("internal_error", "service_unavailable")
    srv.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=2))
    limited = v2.user(DEMO_ALICE_ID)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert v2_error(limited)[0] == "too_many_requests"
    assert [e["fault"] for e in srv.log()[-2:]] == ["error", "rate_limit"]


def test_error_after_store_keeps_the_v2_message(srv: SandboxServer, v2: V2) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    srv.set_faults(FaultConfig(error_after_store_rate=1.0, seed=1))
    resp = v2.post(conversation, business_text("stored anyway"))
    assert resp.status_code in (502, 503, 504)
    srv.set_faults(FaultConfig())
    texts = [m["content"].get("text") for m in v2.messages(conversation).json()["messages"]]
    assert texts[-1] == "stored anyway"


@pytest.mark.parametrize(
    ("rate", "stored"), [("drop_before_rate", False), ("drop_after_rate", True)]
)
def test_dropped_v2_connections(srv: SandboxServer, v2: V2, rate: str, stored: bool) -> None:
    conversation = v2.default_conversation(DEMO_ALICE_ID)
    srv.set_faults(FaultConfig.from_dict({rate: 1.0}))
    with pytest.raises(requests.ConnectionError):
        v2.post(conversation, business_text(f"dropped {rate}"))
    srv.set_faults(FaultConfig())
    texts = [m["content"].get("text") for m in v2.messages(conversation).json()["messages"]]
    assert (texts[-1] == f"dropped {rate}") is stored


def test_latency_applies_to_v2(srv: SandboxServer, v2: V2) -> None:
    srv.set_faults(FaultConfig(latency_ms=300))
    started = time.monotonic()
    assert v2.user(DEMO_ALICE_ID).status_code == 200
    assert time.monotonic() - started >= 0.3
