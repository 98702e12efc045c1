"""``V2Api`` against the real sandbox over HTTP on a loopback port 0, next to ``V1Api``.

The sandbox keeps one store and shows it through both versions, so the test that matters
most is parity: the same user, the same conversation and the same messages come back as
the same models whichever adapter asked — the window can't tell the versions apart.
Both v2 path forms are used: ``/v2/…`` (api.smooch.io style) and ``/sc/v2/…`` (a
Zendesk ``https://{subdomain}.zendesk.com/sc`` base URL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import ConnectionDropped, HttpError
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, Message, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Action, classify
from smooch_desktop.core.gravatar import gravatar_url
from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_PAGING_MESSAGE_COUNT,
    DEMO_PAGING_USER_ID,
    FaultConfig,
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
    assert sandbox.log()[-1]["path"].endswith("/conversations")


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


def test_typing_and_read_reach_the_users_conversation(v2: V2Api, sandbox: SandboxServer) -> None:
    v2.get_user(DEMO_ALICE_ID)
    v2.send_activity(DEMO_ALICE_ID, "typing:start", SENDER)
    shown = sandbox.store.typing(sandbox.app_id, DEMO_ALICE_ID)
    assert shown["typing"] and shown["name"] == "Agent Smith"
    assert shown["avatarUrl"] == gravatar_url(
        "agent@example.com", default="mm", base=sandbox.base_url + "/avatar"
    )
    v2.send_activity(DEMO_ALICE_ID, "typing:stop", SENDER)
    assert not sandbox.store.typing(sandbox.app_id, DEMO_ALICE_ID)["typing"]
    v2.send_activity(DEMO_ALICE_ID, "conversation:read")
    kinds = [a["type"] for a in sandbox.store.activities(sandbox.app_id, DEMO_ALICE_ID)]
    assert kinds[-3:] == ["typing:start", "typing:stop", "conversation:read"]


def test_an_attachment_for_the_users_conversation(v2: V2Api, sandbox: SandboxServer) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    url, kind = v2.upload("photo.png", png, "image/png", user_ref=DEMO_ALICE_ID)
    assert kind == "image/png" and url.endswith("/photo.png")
    upload = sandbox.log()[-1]
    conversation = v2.get_user(DEMO_ALICE_ID).conversation_id
    assert upload["path"].endswith("/attachments") and upload["status"] == 201
    assert upload["query"] == f"access=public&for=message&conversationId={conversation}"
    sent = v2.send_message(
        DEMO_ALICE_ID, OutgoingMessage("", SENDER, media_url=url, media_type="image/png")
    )
    assert (sent.type, sent.media_url) == ("image", url)


# --- errors --------------------------------------------------------------------------------


def test_check_connection_right_and_wrong(sandbox: SandboxServer, v2: V2Api) -> None:
    v2.check_connection()
    base = v2.http.base_url
    wrong_app = V2Api.connect(base, "app_nope", Credentials(sandbox.key_id, sandbox.secret))
    wrong_key = V2Api.connect(base, sandbox.app_id, Credentials(sandbox.key_id, "wrong"))
    try:
        with pytest.raises(HttpError) as app_error:
            wrong_app.check_connection()
        assert app_error.value.status in (401, 403, 404)
        assert app_error.value.code != "user_not_found"
        with pytest.raises(HttpError) as key_error:
            wrong_key.check_connection()
        assert key_error.value.status == 401 and key_error.value.envelope == "v2"
    finally:
        wrong_app.close()
        wrong_key.close()


def test_refusals_carry_the_v2_code_and_title(v2: V2Api) -> None:
    with pytest.raises(HttpError) as unknown:
        v2.get_user("no-such-user")
    assert (unknown.value.status, unknown.value.code) == (404, "user_not_found")
    with pytest.raises(HttpError) as too_long:
        v2.send_message(DEMO_ALICE_ID, OutgoingMessage("x" * 4097, SENDER))
    assert too_long.value.status == 400 and too_long.value.envelope == "v2"
    assert too_long.value.server_description
    assert classify(too_long.value).action is Action.FAIL
    assert not too_long.value.may_have_reached_server


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"drop_after_rate": 1.0}, ConnectionDropped),
        ({"error_after_store_rate": 1.0}, HttpError),
    ],
)
def test_a_stored_message_behind_a_failure_may_have_arrived(
    v2: V2Api, sandbox: SandboxServer, fault: dict[str, Any], expected: type[Exception]
) -> None:
    v2.get_user(DEMO_ALICE_ID)  # resolve before the fault, which hits every request
    sandbox.set_faults(FaultConfig(**fault, seed=1))
    try:
        with pytest.raises(expected) as caught:
            v2.send_message(DEMO_ALICE_ID, OutgoingMessage("maybe", SENDER))
    finally:
        sandbox.set_faults(FaultConfig())
    error = caught.value
    assert getattr(error, "may_have_reached_server", False)
    assert classify(error).action is Action.VERIFY  # type: ignore[arg-type]
    assert sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID)[-1]["text"] == "maybe"
