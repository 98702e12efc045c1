"""Pure tests of the v2 adapter's request builders and body conversion (no socket).

What goes over the wire is checked here field by field against the v2 OpenAPI spec
(paths, query names, ``author``/``content``/``metadata``); what comes back is checked to
land in the same version-neutral models the v1.1 adapter fills, so the window can't tell.
"""

from __future__ import annotations

from typing import Any

import pytest

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import BadResponse, ConfigError, HttpError, error_envelope_kind
from smooch_desktop.api.models import (
    CLIENT_ID_METADATA_KEY,
    ROLE_BUSINESS,
    ROLE_USER,
    AppUser,
    Client,
    Conversation,
    Message,
    OutgoingMessage,
    Sender,
)
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import (
    MAX_UPLOAD_BYTES,
    V2Api,
    V2Paths,
    business_author,
    history_page_from_v2,
    outgoing_to_v2,
    pick_conversation,
    prepare_activity,
    prepare_create_conversation,
    prepare_create_user,
    prepare_get_user,
    prepare_list_clients,
    prepare_list_conversations,
    prepare_list_messages,
    prepare_post_message,
    prepare_upload,
)

PATHS = V2Paths("app_1")
CREDS = Credentials("app_key", "secret-value-0123456789")


def fake_avatar(email: str) -> str:
    return f"https://avatars.example/{email.strip().lower()}.png?s=200&d=mm"


# --- paths and request builders --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("abc", "abc"), ("a/../b", "a%2F..%2Fb"), ("user@example.com", "user%40example.com")],
)
def test_user_paths_are_v2_and_one_encoded_segment(raw: str, encoded: str) -> None:
    request = prepare_get_user(PATHS, raw)
    assert (request.method, request.path) == ("GET", f"/v2/apps/app_1/users/{encoded}")
    assert request.idempotent


def test_dot_only_ids_are_refused_before_any_request() -> None:
    with pytest.raises(ConfigError):
        prepare_get_user(PATHS, "..")


def test_conversation_listing_filters_by_user_id_with_the_largest_page() -> None:
    request = prepare_list_conversations(PATHS, "u1")
    assert (request.method, request.path) == ("GET", "/v2/apps/app_1/conversations")
    assert request.params == {"filter[userId]": "u1", "page[size]": "100"}
    later = prepare_list_conversations(PATHS, "u1", after="c" * 24)
    assert later.params is not None and later.params["page[after]"] == "c" * 24


def test_clients_listing() -> None:
    request = prepare_list_clients(PATHS, "u1")
    assert request.path == "/v2/apps/app_1/users/u1/clients"
    assert request.params == {"page[size]": "100"}


def test_create_user_maps_the_business_id_to_external_id() -> None:
    request = prepare_create_user(PATHS, "ext-1", given_name="Ann", email="ann@example.com")
    assert (request.method, request.path) == ("POST", "/v2/apps/app_1/users")
    assert request.json_body == {
        "externalId": "ext-1",
        "profile": {"givenName": "Ann", "email": "ann@example.com"},
    }
    assert not request.idempotent  # a resend could hit 409; never silently repeated
    assert prepare_create_user(PATHS, "ext-2").json_body == {"externalId": "ext-2"}


def test_create_conversation_is_personal_with_the_one_user() -> None:
    request = prepare_create_conversation(PATHS, "u1")
    assert (request.method, request.path) == ("POST", "/v2/apps/app_1/conversations")
    assert request.json_body == {"type": "personal", "participants": [{"userId": "u1"}]}


def test_post_message_and_activity_go_to_the_conversation() -> None:
    post = prepare_post_message(PATHS, "c/1", {"author": {"type": "business"}})
    assert (post.method, post.path) == ("POST", "/v2/apps/app_1/conversations/c%2F1/messages")
    assert not post.idempotent
    activity = prepare_activity(PATHS, "c1", "typing:start", {"type": "business"})
    assert activity.path == "/v2/apps/app_1/conversations/c1/activity"
    assert activity.json_body == {"author": {"type": "business"}, "type": "typing:start"}
    assert activity.idempotent
    with pytest.raises(ValueError, match="unknown activity"):
        prepare_activity(PATHS, "c1", "typing", {"type": "business"})


def test_list_messages_pages_with_page_before() -> None:
    newest = prepare_list_messages(PATHS, "c1")
    assert newest.path == "/v2/apps/app_1/conversations/c1/messages"
    assert newest.params is None
    older = prepare_list_messages(PATHS, "c1", before="5f32b88acf6bf25073b2be56")
    assert older.params == {"page[before]": "5f32b88acf6bf25073b2be56"}


def test_upload_is_public_and_tied_to_the_conversation() -> None:
    request = prepare_upload(PATHS, "a.png", b"\x89PNG", "image/png", conversation_id="c1")
    assert (request.method, request.path) == ("POST", "/v2/apps/app_1/attachments")
    assert request.params == {"access": "public", "for": "message", "conversationId": "c1"}
    assert request.upload is not None
    body = request.upload.read()
    assert b'name="source"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n' in body
    assert prepare_upload(PATHS, "a.png", b"x", "image/png").params == {"access": "public"}


# --- outgoing bodies ---------------------------------------------------------------------------


def test_text_message_body_has_business_author_content_and_client_id() -> None:
    message = OutgoingMessage(
        "Hi there",
        Sender("Alice (Support)", "Alice@Example.com "),
        metadata={CLIENT_ID_METADATA_KEY: "cid-1"},
    )
    body = outgoing_to_v2(message, avatar_for_email=fake_avatar)
    assert body == {
        "author": {
            "type": "business",
            "displayName": "Alice (Support)",
            "avatarUrl": "https://avatars.example/alice@example.com.png?s=200&d=mm",
        },
        "content": {"type": "text", "text": "Hi there"},
        "metadata": {CLIENT_ID_METADATA_KEY: "cid-1"},
    }
    assert "email" not in body["author"]  # v2 has no email field


def test_the_senders_avatar_override_wins_over_the_email() -> None:
    sender = Sender("A", "a@example.com", "https://cdn.example/me.png")
    body = outgoing_to_v2(OutgoingMessage("x", sender), avatar_for_email=fake_avatar)
    assert body["author"]["avatarUrl"] == "https://cdn.example/me.png"


def test_without_email_or_resolver_no_avatar_is_sent() -> None:
    assert "avatarUrl" not in outgoing_to_v2(OutgoingMessage("x", Sender("A")))["author"]
    no_resolver = outgoing_to_v2(OutgoingMessage("x", Sender("A", "a@example.com")))
    assert no_resolver["author"] == {"type": "business", "displayName": "A"}
    nameless = outgoing_to_v2(OutgoingMessage("x"), avatar_for_email=fake_avatar)
    assert nameless["author"] == {"type": "business"}


@pytest.mark.parametrize(
    ("media_type", "kind"), [("image/png", "image"), ("application/pdf", "file")]
)
def test_media_becomes_image_or_file_content(media_type: str, kind: str) -> None:
    message = OutgoingMessage("caption", media_url="https://media.example/f", media_type=media_type)
    assert outgoing_to_v2(message)["content"] == {
        "type": kind,
        "text": "caption",
        "mediaUrl": "https://media.example/f",
    }


def test_actions_travel_inside_content() -> None:
    actions = ({"type": "reply", "text": "Yes", "payload": "YES"},)
    body = outgoing_to_v2(OutgoingMessage("Ok?", actions=actions))
    assert body["content"]["actions"] == [{"type": "reply", "text": "Yes", "payload": "YES"}]


def test_activity_author_uses_the_given_avatar_then_the_senders() -> None:
    sender = Sender("Bob", "bob@example.com")
    assert business_author(sender, avatar_for_email=fake_avatar)["avatarUrl"].startswith(
        "https://avatars.example/bob@"
    )
    given = business_author(sender, avatar_url="https://x/y.png", avatar_for_email=fake_avatar)
    assert given == {"type": "business", "displayName": "Bob", "avatarUrl": "https://x/y.png"}
    assert business_author(None) == {"type": "business"}


# --- answers into the shared models ------------------------------------------------------------

V2_MESSAGE: dict[str, Any] = {
    "id": "5e552ef595e5206375bb835d",
    "received": "2019-03-21T18:48:52.760Z",
    "author": {
        "type": "business",
        "displayName": "Alice",
        "avatarUrl": "https://www.gravatar.com/avatar/00000000000000000000000000000000.png?s=200&d=mm",
    },
    "content": {"type": "text", "text": "Hello!", "actions": [{"type": "link", "text": "Go"}, 3]},
    "source": {"type": "api:conversations"},
    "metadata": {CLIENT_ID_METADATA_KEY: "cid-9"},
}

V1_SAME_MESSAGE: dict[str, Any] = {
    "_id": "5e552ef595e5206375bb835d",
    "received": 1553194132.76,
    "role": "appMaker",
    "type": "text",
    "name": "Alice",
    "avatarUrl": V2_MESSAGE["author"]["avatarUrl"],
    "text": "Hello!",
    "actions": [{"type": "link", "text": "Go"}],
    "metadata": {CLIENT_ID_METADATA_KEY: "cid-9"},
}


def test_a_v2_message_is_the_same_model_as_its_v1_twin() -> None:
    v2 = Message.from_v2(V2_MESSAGE)
    v1 = Message.from_v1(V1_SAME_MESSAGE)
    assert v2.received == pytest.approx(1553194132.76)
    assert v2 == Message(**{**v1.__dict__, "received": v2.received})
    assert v2.role == ROLE_BUSINESS and v2.is_business and v2.client_id == "cid-9"


def test_user_message_media_and_odd_fields() -> None:
    message = Message.from_v2(
        {
            "id": "m2",
            "received": "2020-09-30T13:46:02.733+02:00",
            "author": {"type": "user", "userId": "u1", "displayName": "Sue"},
            "content": {"type": "image", "mediaUrl": "https://m/x.png", "mediaType": "image/png"},
            "metadata": None,
        }
    )
    assert message.role == ROLE_USER and message.author_id == "u1"
    assert (message.type, message.media_url, message.media_type) == (
        "image",
        "https://m/x.png",
        "image/png",
    )
    assert message.received == pytest.approx(1601466362.733)
    assert message.metadata == {}
    assert Message.from_v2("garbage").id == ""
    assert Message.from_v2({"received": "not a time"}).received == 0.0
    naive = Message.from_v2({"received": "2020-01-01T00:00:00"}).received
    assert naive == 1577836800.0  # a timestamp without a zone is taken as UTC


def test_history_page_pages_back_by_record_id() -> None:
    def msg(i: int) -> dict[str, Any]:
        return {"id": f"{i:024d}", "received": f"2024-01-01T00:00:{i:02d}.000Z"}

    page = history_page_from_v2(
        {
            "messages": [msg(2), msg(1), "junk", msg(3)],
            "meta": {"hasMore": True, "beforeCursor": "b" * 24},
        }
    )
    assert [m.id for m in page.messages] == [f"{i:024d}" for i in (1, 2, 3)]
    assert page.older_cursor == "b" * 24 and page.has_older

    last = history_page_from_v2({"messages": [msg(1)], "meta": {"hasMore": False}})
    assert last.older_cursor is None and not last.has_older

    no_cursor = history_page_from_v2({"messages": [msg(5), msg(4)], "meta": {"hasMore": True}})
    assert no_cursor.older_cursor == f"{4:024d}"  # the oldest message's id
    # The oldest message has no id: page on from the oldest one that has.
    nameless = {"received": "2024-01-01T00:00:00.000Z", "content": {"type": "text"}}
    skipped = history_page_from_v2({"messages": [msg(5), nameless], "meta": {"hasMore": True}})
    assert skipped.older_cursor == f"{5:024d}" and len(skipped.messages) == 2
    # No id at all: "more" can't be asked for, and the page must not pass for the start.
    with pytest.raises(BadResponse) as stuck:
        history_page_from_v2({"messages": [nameless], "meta": {"hasMore": True}}, host="h.test")
    assert stuck.value.description.startswith("The history from h.test says there are older")

    # Without a readable flag a full page may have older ones: never claim "the start".
    full = history_page_from_v2({"messages": [msg(i % 60) for i in range(100)]})
    assert full.has_older
    short = history_page_from_v2({"messages": [msg(1)], "meta": {"hasMore": "yes"}})
    assert not short.has_older
    assert history_page_from_v2({}).messages == ()


def test_user_clients_and_conversations() -> None:
    user = AppUser.from_v2(
        {
            "id": "u1",
            "externalId": "ext-1",
            "signedUpAt": "2020-05-21T15:53:30.197Z",
            "profile": {"givenName": "Jane", "surname": "Doe", "email": "jane@example.com"},
            "metadata": {"plan": "gold"},
        }
    )
    assert (user.id, user.user_id, user.display_name, user.email) == (
        "u1",
        "ext-1",
        "Jane Doe",
        "jane@example.com",
    )
    assert user.properties == {"plan": "gold"} and user.conversations == ()
    assert AppUser.from_v2(None).id == ""

    client = Client.from_v2(
        {"id": "c1", "type": "messenger", "status": "blocked", "lastSeen": "2020-08-20T16:13:07Z"}
    )
    assert (client.platform, client.status, client.can_receive) == ("messenger", "blocked", False)
    assert client.last_seen == pytest.approx(1597939987.0)

    default = Conversation.from_v2({"id": "d", "type": "personal", "isDefault": True})
    other = Conversation.from_v2(
        {"id": "o", "type": "personal", "lastUpdatedAt": "2030-01-01T00:00:00Z"}
    )
    group = Conversation.from_v2({"id": "g", "type": "sdkGroup", "lastUpdatedAt": "2031-01-01Z"})
    assert pick_conversation((other, default, group)) is default
    assert pick_conversation((group, other)) is other  # no default: the latest personal one
    assert pick_conversation((group,)) is None
    assert pick_conversation(()) is None
    assert Conversation.from_v2({"id": "x", "isDefault": "true"}).is_default is False


# --- errors and the adapter's surface ----------------------------------------------------------


def test_v2_error_envelope_is_recognised() -> None:
    body = {"errors": [{"code": "bad_request", "title": "a"}, {"code": "x", "title": "b"}]}
    assert error_envelope_kind(body) == "v2"
    assert error_envelope_kind({"error": {"code": "not_found"}}) == "v1"
    assert error_envelope_kind({"errors": []}) is None
    assert error_envelope_kind("<html>") is None


def test_connect_checks_version_and_app_and_the_upload_limit() -> None:
    with pytest.raises(ConfigError, match="version"):
        V2Api.connect("https://api.smooch.io", "app_1", CREDS, version="v1.1")
    with pytest.raises(ConfigError) as missing:
        V2Api.connect("https://api.smooch.io", "", CREDS)
    assert missing.value.field == "app_id"
    with pytest.raises(ConfigError) as bad_url:
        V2Api.connect("http://example.com", "app_1", CREDS)
    assert bad_url.value.field == "base_url"
    api = V2Api.connect("https://sub.zendesk.com/sc/", "app_1", CREDS)
    try:
        assert api.host == "sub.zendesk.com"
        assert (
            api.http.base_url + api.paths.app("users")
            == "https://sub.zendesk.com/sc/v2/apps/app_1/users"
        )
        assert "secret-value" not in repr(api)
        with pytest.raises(ConfigError, match="50 MB"):
            api.upload("big.bin", b"\0" * (MAX_UPLOAD_BYTES + 1), "application/octet-stream")
    finally:
        api.close()


def test_both_adapters_are_conversation_apis() -> None:
    # Checked by mypy --strict on this file: both satisfy the one protocol.
    apis: list[ConversationApi] = [
        V2Api.connect("https://api.eu-1.smooch.io", "app_1", CREDS),
        V1Api.connect("https://api.eu-1.smooch.io", "app_1", CREDS),
    ]
    for api in apis:
        assert api.server_clock is not None
        api.close()


def test_http_error_keeps_which_envelope_it_had() -> None:
    error = HttpError(404, code="user_not_found", description="User not found", envelope="v2")
    assert error.envelope == "v2" and not error.may_have_reached_server
    assert HttpError(404, code=None, description=None).envelope is None
