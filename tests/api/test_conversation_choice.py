"""A user with several conversations (v2): the one chosen travels with each message.

Real adapters, real delivery engine, real sandbox over HTTP on loopback. The demo user
Chloé has her default conversation and a second one, "Returns"; v1.1 sees only the
default one and must refuse the other without sending anything.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import ConfigError, HttpError
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Backoff, DeliveryEngine
from smooch_desktop.core.outbox import EntryState, Outbox
from smooch_desktop.sandbox import FaultConfig, SandboxServer
from smooch_desktop.sandbox.demo import (
    DEMO_ENCODED_USER_ID,
    DEMO_SECOND_CONVERSATION_ID,
    DEMO_SECOND_CONVERSATION_NAME,
)

CHLOE = DEMO_ENCODED_USER_ID
SECOND = DEMO_SECOND_CONVERSATION_ID
SENDER = Sender(name="Agent", email="agent@example.com")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(host="127.0.0.1", port=0) as running:
        yield running


def credentials(server: SandboxServer) -> Credentials:
    return Credentials(server.key_id, server.secret)


@pytest.fixture
def v2(server: SandboxServer) -> Iterator[V2Api]:
    api = V2Api.connect(
        server.base_url, server.app_id, credentials(server), connect_timeout=1.0, read_timeout=1.0
    )
    yield api
    api.close()


@pytest.fixture
def v1(server: SandboxServer) -> Iterator[V1Api]:
    api = V1Api.connect(server.base_url, server.app_id, credentials(server))
    yield api
    api.close()


def texts_in(server: SandboxServer, conversation_id: str) -> list[str]:
    messages, _older, _newer = server.store.page_by_cursor(server.app_id, conversation_id)
    return [str(m.get("text")) for m in messages]


def main_id(server: SandboxServer) -> str:
    [main] = [c for c in server.store.conversations(server.app_id, CHLOE) if c["isDefault"]]
    return str(main["id"])


def test_v2_lists_both_conversations_and_keeps_the_default_as_the_main_one(
    server: SandboxServer, v2: V2Api
) -> None:
    user = v2.get_user(CHLOE)
    assert {c.id for c in user.conversations} == {main_id(server), SECOND}
    assert user.conversation_id == main_id(server)
    [other] = [c for c in user.conversations if c.id == SECOND]
    assert other.display_name == DEMO_SECOND_CONVERSATION_NAME and not other.is_default


def test_v2_sends_reads_and_types_in_the_chosen_conversation_only(
    server: SandboxServer, v2: V2Api
) -> None:
    before_main = texts_in(server, main_id(server))
    sent = v2.send_message(
        CHLOE, OutgoingMessage("about the scarf", sender=SENDER), conversation_id=SECOND
    )
    assert texts_in(server, SECOND)[-1] == "about the scarf"
    assert texts_in(server, main_id(server)) == before_main
    page = v2.history(CHLOE, conversation_id=SECOND)
    assert [m.id for m in page.messages][-1] == sent.id
    assert "the wrong colour" in page.messages[0].text
    main_page = v2.history(CHLOE)
    assert sent.id not in {m.id for m in main_page.messages}
    # Typing goes to the chosen conversation as well.
    v2.send_activity(CHLOE, "typing:start", SENDER, conversation_id=SECOND)
    logged = [r for r in server.log() if r["path"].endswith("/activity")]
    assert logged and SECOND in logged[-1]["path"]


def test_v2_a_vanished_chosen_conversation_is_refused_never_redirected(
    server: SandboxServer, v2: V2Api
) -> None:
    before = texts_in(server, main_id(server))
    with pytest.raises(HttpError) as info:
        v2.send_message(CHLOE, OutgoingMessage("lost?"), conversation_id="5e1f000c0000000000009999")
    assert info.value.status == 404
    # Not quietly sent to the main conversation instead.
    assert texts_in(server, main_id(server)) == before


@pytest.mark.parametrize("call", ["send", "history", "typing", "upload"])
def test_v1_refuses_another_conversation_before_any_request(
    server: SandboxServer, v1: V1Api, call: str
) -> None:
    before = len(server.log())
    with pytest.raises(ConfigError) as info:
        if call == "send":
            v1.send_message(CHLOE, OutgoingMessage("x"), conversation_id=SECOND)
        elif call == "history":
            v1.history(CHLOE, conversation_id=SECOND)
        elif call == "typing":
            v1.send_activity(CHLOE, "typing:start", conversation_id=SECOND)
        else:
            v1.upload("a.txt", b"a", "text/plain", user_ref=CHLOE, conversation_id=SECOND)
    assert "v2" in info.value.message
    assert len(server.log()) == before


@pytest.mark.parametrize("fault", ["drop_after_rate", "error_after_store_rate"])
def test_a_maybe_delivered_message_is_checked_in_its_own_conversation(
    server: SandboxServer, v2: V2Api, tmp_path: Path, fault: str
) -> None:
    """The answer is lost after the server stored the message: the history check must look
    in the chosen conversation (in the main one it is absent, and a resend would put it
    in the chosen one twice)."""
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        engine = DeliveryEngine(
            outbox,
            v2,
            "p",
            rng=random.Random(3),
            backoff=Backoff(base_s=0.05, factor=2.0, cap_s=0.5, jitter=0.5),
            verify_grace_s=0.2,
        )
        v2.get_user(CHLOE)  # the main conversation is known: the fault hits the send
        settings: dict[str, Any] = {fault: 1.0}
        server.set_faults(FaultConfig(**settings))
        entry = engine.enqueue(
            CHLOE, OutgoingMessage("only once", sender=SENDER), conversation_id=SECOND
        )
        assert engine.step()  # the send: stored, answer lost
        server.set_faults(FaultConfig())
        assert engine.run_until_idle(time.time() + 20.0)
        done = outbox.get(entry.client_id)
        assert done is not None and done.state is EntryState.SENT
        assert done.attempts == 1 and done.verifications >= 1
    wires = [
        m["metadata"][CLIENT_ID_METADATA_KEY]
        for m in server.store.page_by_cursor(server.app_id, SECOND)[0]
        if CLIENT_ID_METADATA_KEY in (m.get("metadata") or {})
    ]
    assert wires == [entry.wire_id]
    assert "only once" not in texts_in(server, main_id(server))


def test_a_v2_entry_for_another_conversation_fails_kept_under_v1(
    server: SandboxServer, v1: V1Api, tmp_path: Path
) -> None:
    """A profile switched back to v1.1 with a message queued for another conversation:
    nothing is sent anywhere, the text is kept, and the reason names v2."""
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        engine = DeliveryEngine(outbox, v1, "p", verify_grace_s=0.2)
        entry = engine.enqueue(CHLOE, OutgoingMessage("kept"), conversation_id=SECOND)
        assert engine.run_until_idle(time.time() + 10.0)
        done = outbox.get(entry.client_id)
        assert done is not None and done.state is EntryState.FAILED
        assert done.message.text == "kept" and done.error_text and "v2" in done.error_text
    assert "kept" not in texts_in(server, SECOND) + texts_in(server, main_id(server))
