"""``V2Api`` against the real sandbox over HTTP on a loopback port 0, next to ``V1Api``.

The sandbox keeps one store and shows it through both versions, so the test that matters
most is parity: the same user, the same conversation and the same messages come back as
the same models whichever adapter asked — the window can't tell the versions apart.
Both v2 path forms are used: ``/v2/…`` (api.smooch.io style) and ``/sc/v2/…`` (a
Zendesk ``https://{subdomain}.zendesk.com/sc`` base URL).

What the window does the same way on both versions (sending with a name, email and
avatar, typing, uploads, check_connection, refusals, faults) is tested once for both in
``test_client_sandbox.py``; this file keeps what only v2 has: resolving the user's
conversation and parity between the two views of the one store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, Message, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.gravatar import gravatar_url
from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_PAGING_MESSAGE_COUNT,
    DEMO_PAGING_USER_ID,
    SandboxServer,
)

SENDER = Sender("Agent Smith", "Agent@Example.com ")


@pytest.fixture(params=["", "/sc"], ids=["v2", "zendesk-sc"])
def v2(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Iterator[V2Api]:
    base = sandbox.base_url.rstrip("/") + "/avatar"
    api = V2Api.connect(
        sandbox.base_url + str(request.param),
        sandbox.app_id,
        Credentials(sandbox.key_id, sandbox.secret),
        # What a session passes: the avatar Smooch would derive from the email.
        avatar_for_email=lambda email: gravatar_url(email, default="mm", base=base),
    )
    yield api
    api.close()


@pytest.fixture
def v1(sandbox: SandboxServer) -> Iterator[V1Api]:
    api = V1Api.connect(
        sandbox.base_url, sandbox.app_id, Credentials(sandbox.key_id, sandbox.secret)
    )
    yield api
    api.close()


def same_but_author_id(message: Message) -> Message:
    # v1.1 gives business messages an authorId; a v2 business author has no userId.
    return dataclasses.replace(message, author_id="" if message.is_business else message.author_id)


def test_the_same_user_and_conversation_through_both_versions(
    v2: V2Api, v1: V1Api, sandbox: SandboxServer
) -> None:
    through_v2 = v2.get_user(DEMO_ALICE_ID)
    through_v1 = v1.get_user(DEMO_ALICE_ID)
    for name in ("id", "user_id", "given_name", "surname", "email", "display_name", "properties"):
        assert getattr(through_v2, name) == getattr(through_v1, name), name
    assert through_v2.signed_up_at == pytest.approx(through_v1.signed_up_at, abs=0.001)
    (conversation,) = through_v2.conversations
    assert conversation.is_default and conversation.type == "personal"
    assert through_v2.conversation_id == conversation.id
    assert v2.get_user(through_v2.id).conversation_id == conversation.id  # by id, too
    # The last lookup was the conversation's participants (the primary client), after
    # the conversations of the user by id.
    assert sandbox.log()[-1]["path"].endswith(f"/conversations/{conversation.id}/participants")
    assert sandbox.log()[-2]["path"].endswith("/conversations")


def test_the_users_channels_through_both_versions(v2: V2Api, v1: V1Api) -> None:
    through_v2 = v2.get_user(DEMO_ALICE_ID)
    through_v1 = v1.get_user(DEMO_ALICE_ID)
    assert [c.id for c in through_v2.clients] == [c.id for c in through_v1.clients]
    assert [c.status for c in through_v2.clients] == [c.status for c in through_v1.clients]


def test_a_message_sent_through_v2_is_the_same_message_through_v1(
    v2: V2Api, v1: V1Api, sandbox: SandboxServer
) -> None:
    message = OutgoingMessage("Hello from v2 ✓", SENDER, metadata={CLIENT_ID_METADATA_KEY: "w-1"})
    sent = v2.send_message(DEMO_ALICE_ID, message)
    stored = sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID)[-1]
    assert stored["_id"] == sent.id and stored["name"] == "Agent Smith"
    assert stored["avatarUrl"] == gravatar_url(
        "agent@example.com", default="mm", base=sandbox.base_url + "/avatar"
    )
    assert "email" not in stored or not stored["email"]  # v2 sends no email
    newest_v1 = v1.history(DEMO_ALICE_ID).messages[-1]
    newest_v2 = v2.history(DEMO_ALICE_ID).messages[-1]
    assert newest_v2 == same_but_author_id(newest_v1)
    assert newest_v2 == sent and sent.client_id == "w-1"

    # And the other way round: a v1.1 message, read back through v2.
    v1.send_message(DEMO_ALICE_ID, OutgoingMessage("Hello from v1.1", SENDER))
    assert v2.history(DEMO_ALICE_ID).messages[-1] == same_but_author_id(
        v1.history(DEMO_ALICE_ID).messages[-1]
    )


def test_history_pages_hold_the_same_messages_as_v1(v2: V2Api, v1: V1Api) -> None:
    def all_pages(api: V1Api | V2Api) -> tuple[list[Message], int]:
        messages: list[Message] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = api.history(DEMO_PAGING_USER_ID, cursor)
            messages = list(page.messages) + messages
            pages += 1
            if not page.has_older:
                return messages, pages
            cursor = page.older_cursor

    through_v2, v2_pages = all_pages(v2)
    through_v1, _ = all_pages(v1)
    assert len(through_v2) == DEMO_PAGING_MESSAGE_COUNT
    assert v2_pages == -(-DEMO_PAGING_MESSAGE_COUNT // 100)  # 100 a page
    assert through_v2 == [same_but_author_id(m) for m in through_v1]
    assert [m.received for m in through_v2] == sorted(m.received for m in through_v2)


def test_a_user_created_through_v2_has_their_conversation_at_once(v2: V2Api, v1: V1Api) -> None:
    created = v2.create_user("created-v2", given_name="Pia", email="pia@example.com")
    assert created.user_id == "created-v2" and created.display_name == "Pia"
    assert created.conversation_id and created.conversations[0].is_default
    assert v2.get_user("created-v2").conversation_id == created.conversation_id
    v2.send_message("created-v2", OutgoingMessage("Welcome, Pia", SENDER))
    assert [m.text for m in v1.history("created-v2").messages] == ["Welcome, Pia"]


def test_a_user_pre_created_through_v1_gets_the_default_conversation_on_the_first_send(
    v2: V2Api, v1: V1Api, sandbox: SandboxServer
) -> None:
    v1.create_user("precreated-1", given_name="Pia")  # no conversation yet
    looked_up = v2.get_user("precreated-1")
    assert looked_up.conversations == () and looked_up.conversation_id == ""
    assert v2.history("precreated-1").messages == ()
    v2.send_activity("precreated-1", "typing:start", SENDER)
    # No conversation: it was looked for again (the user may have started one), but no
    # typing was sent.
    assert not [e for e in sandbox.log() if e["path"].endswith("/activity")]

    v2.send_message("precreated-1", OutgoingMessage("Welcome, Pia", SENDER))
    after = v2.get_user("precreated-1")
    (conversation,) = after.conversations
    assert conversation.is_default and after.conversation_id == conversation.id
    assert [m.text for m in v1.history("precreated-1").messages] == ["Welcome, Pia"]
