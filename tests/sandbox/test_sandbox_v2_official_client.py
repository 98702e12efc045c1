"""A client written for the public v2 API works against the sandbox unchanged.

The vendor's own Python client (``sunshine-conversations-client`` 17.x, a test dependency)
is pointed at the sandbox by its ``host`` alone, with the demo key as its Basic-auth
username and password, and does what a reply tool does: create a user, find and create
their conversations, post messages, page through the history and send typing. (Its
models are given their fields by the wire names, ``displayName=…``, which they accept
as well as the snake-case ones and which the type checker knows.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sunshine_conversations_client.api.activities_api import ActivitiesApi
from sunshine_conversations_client.api.conversations_api import ConversationsApi
from sunshine_conversations_client.api.messages_api import MessagesApi
from sunshine_conversations_client.api.users_api import UsersApi
from sunshine_conversations_client.api_client import ApiClient
from sunshine_conversations_client.configuration import Configuration
from sunshine_conversations_client.exceptions import BadRequestException, NotFoundException
from sunshine_conversations_client.model.activity_post import ActivityPost
from sunshine_conversations_client.model.author import Author
from sunshine_conversations_client.model.content import Content
from sunshine_conversations_client.model.conversation import Conversation
from sunshine_conversations_client.model.conversation_create_body import ConversationCreateBody
from sunshine_conversations_client.model.conversation_list_filter import ConversationListFilter
from sunshine_conversations_client.model.conversation_type import ConversationType
from sunshine_conversations_client.model.message_post import MessagePost
from sunshine_conversations_client.model.page import Page
from sunshine_conversations_client.model.participant_sub_schema import ParticipantSubSchema
from sunshine_conversations_client.model.participant_with_user_external_id import (
    ParticipantWithUserExternalId,
)
from sunshine_conversations_client.model.profile import Profile
from sunshine_conversations_client.model.text_message import TextMessage
from sunshine_conversations_client.model.user_create_body import UserCreateBody

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_PAGING_MESSAGE_COUNT,
    DEMO_PAGING_USER_ID,
    SandboxServer,
)


@pytest.fixture(params=["", "/sc"], ids=["api-host", "zendesk-host"])
def client(srv: SandboxServer, request: pytest.FixtureRequest) -> Iterator[ApiClient]:
    config = Configuration(
        host=srv.base_url + request.param, username=srv.key_id, password=srv.secret
    )
    with ApiClient(config) as api_client:
        yield api_client


def default_conversation(client: ApiClient, app_id: str, user_id: str) -> Conversation:
    listed = ConversationsApi(client).list_conversations(
        app_id, filter=ConversationListFilter(userId=user_id)
    )
    assert listed.conversations is not None
    return next(c for c in listed.conversations if c.is_default)


def test_user_conversation_message_and_typing(srv: SandboxServer, client: ApiClient) -> None:
    app = srv.app_id
    created = UsersApi(client).create_user(
        app,
        UserCreateBody(
            externalId="client-user", profile=Profile(givenName="Cli", email="c@example.com")
        ),
    )
    assert created.user is not None and created.user.id is not None
    assert created.user.external_id == "client-user"
    fetched = UsersApi(client).get_user(app, "client-user")
    assert fetched.user is not None and fetched.user.id == created.user.id

    conversations = ConversationsApi(client)
    none_yet = conversations.list_conversations(
        app, filter=ConversationListFilter(userExternalId="client-user")
    )
    assert none_yet.conversations == []
    made = conversations.create_conversation(
        app,
        ConversationCreateBody(
            type=ConversationType.PERSONAL,
            participants=[
                ParticipantSubSchema(ParticipantWithUserExternalId(userExternalId="client-user"))
            ],
        ),
    )
    assert made.conversation is not None and made.conversation.is_default is True
    conversation_id = made.conversation.id
    assert conversation_id is not None
    assert default_conversation(client, app, created.user.id).id == conversation_id

    posted = MessagesApi(client).post_message(
        app,
        conversation_id,
        MessagePost(
            author=Author(type="business", displayName="Sam", avatarUrl="https://e.com/s.png"),
            content=Content(TextMessage(type="text", text="Hello from the official client")),
            metadata={"smoochDesktopClientId": "official-1"},
        ),
    )
    assert posted.messages is not None
    (message,) = posted.messages
    assert message.author is not None and message.author.display_name == "Sam"
    assert message.metadata == {"smoochDesktopClientId": "official-1"}
    assert message.content is not None
    text = message.content.actual_instance
    assert isinstance(text, TextMessage) and text.text == "Hello from the official client"
    stored = srv.store.messages(app, "client-user")[-1]
    assert (stored["role"], stored["text"], stored["name"]) == (
        "appMaker",
        "Hello from the official client",
        "Sam",
    )

    activities = ActivitiesApi(client)
    activities.post_activity(
        app,
        conversation_id,
        ActivityPost(author=Author(type="business", displayName="Sam"), type="typing:start"),
    )
    assert srv.store.typing(app, "client-user") == {
        "typing": True,
        "name": "Sam",
        "avatarUrl": None,
    }
    activities.post_activity(
        app, conversation_id, ActivityPost(author=Author(type="business"), type="typing:stop")
    )
    assert srv.store.typing(app, "client-user")["typing"] is False


def test_list_messages_with_paging(srv: SandboxServer, client: ApiClient) -> None:
    user = UsersApi(client).get_user(srv.app_id, DEMO_PAGING_USER_ID).user
    assert user is not None and user.id is not None
    conversation_id = default_conversation(client, srv.app_id, user.id).id
    assert conversation_id is not None
    messages_api = MessagesApi(client)
    page = messages_api.list_messages(srv.app_id, conversation_id)
    seen: list[str] = []
    while True:
        assert page.messages is not None and page.meta is not None
        seen = [m.id for m in page.messages if m.id is not None] + seen
        if not page.meta.has_more:
            break
        page = messages_api.list_messages(
            srv.app_id, conversation_id, page=Page(before=page.meta.before_cursor)
        )
    assert len(seen) == len(set(seen)) == DEMO_PAGING_MESSAGE_COUNT
    v1_ids = [m["_id"] for m in srv.store.messages(srv.app_id, DEMO_PAGING_USER_ID)]
    assert seen == v1_ids


def test_errors_come_back_as_the_clients_typed_exceptions(
    srv: SandboxServer, client: ApiClient
) -> None:
    with pytest.raises(NotFoundException) as missing:
        UsersApi(client).get_user(srv.app_id, "nobody-at-all")
    assert missing.value.status == 404
    assert missing.value.body is not None and "user_not_found" in missing.value.body
    alice = UsersApi(client).get_user(srv.app_id, DEMO_ALICE_ID).user
    assert alice is not None and alice.id is not None
    conversation_id = default_conversation(client, srv.app_id, alice.id).id
    assert conversation_id is not None
    with pytest.raises(BadRequestException) as refused:  # a rule the client cannot check
        ActivitiesApi(client).post_activity(
            srv.app_id,
            conversation_id,
            ActivityPost(author=Author(type="user", userId=alice.id), type="typing:start"),
        )
    assert refused.value.status == 400
    assert refused.value.body is not None and "conversation:read" in refused.value.body
