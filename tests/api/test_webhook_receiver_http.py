"""The app's webhook receiver over real HTTP, with the sandbox as Smooch, v1.1 and v2.

The app's own code registers the receiver (``api/webhooks.py`` through the adapter a
session uses) with a sandbox on a loopback port 0; an end user writes through the
sandbox's end-user path; the sandbox's webhook lane POSTs the event to the receiver
(``core/webhook_receiver.py``), which hands it to the same code the window uses to put
it in the :class:`InboxStore`. Also: the secret is checked on every call (401), the body
is bounded (413), non-JSON is refused (400), a redelivery (the sandbox retrying after an
answer that got lost) is counted once, and turning off deletes the registration.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.api.webhooks import INTEGRATION_NAME, Registration, webhooks_for
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.core.webhook_receiver import (
    MAX_BODY_BYTES,
    SECRET_HEADER,
    Applied,
    WebhookEvent,
    WebhookReceiver,
    apply_to_inbox,
)
from smooch_desktop.sandbox import SandboxServer

PROFILE = "sandbox-profile"
DELAYS = (0.05, 0.1, 0.15, 0.2)


class Sink:
    """What the receiver handed over, applied to the inbox as the app does."""

    def __init__(self, store: InboxStore) -> None:
        self.store = store
        self.applied: list[Applied] = []
        self.events: list[WebhookEvent] = []
        self.cond = threading.Condition()

    def __call__(self, events: list[WebhookEvent]) -> None:
        applied = apply_to_inbox(self.store, PROFILE, events)
        with self.cond:
            self.events.extend(events)
            self.applied.extend(applied)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(
        host="127.0.0.1", port=0, demo=False, webhook_retry_delays=DELAYS, webhook_timeout=3.0
    ) as running:
        running.store.create_user(running.app_id, {"userId": "ann", "givenName": "Ann"})
        running.store.add_user_message(running.app_id, "ann", "first from ann")
        yield running


@pytest.fixture
def sink(inbox: InboxStore) -> Sink:
    return Sink(inbox)


@pytest.fixture
def receiver(sink: Sink) -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver(sink, port=0).start()
    yield rec
    rec.stop()


def target(rec: WebhookReceiver) -> str:
    return f"http://127.0.0.1:{rec.port}/smooch-desktop"


def register(api: ConversationApi, rec: WebhookReceiver) -> Registration:
    admin = webhooks_for(api)
    assert admin is not None
    registration = admin.register(target(rec))
    rec.set_secret(registration.secret)
    return registration


def end_user_writes(server: SandboxServer, user: str, text: str) -> str:
    url = f"{server.base_url}/_sandbox/apps/{server.app_id}/appusers/{user}/messages"
    response = requests.post(url, json={"text": text}, timeout=5)
    response.raise_for_status()
    return str(response.json()["message"]["_id"])


def registered_targets(server: SandboxServer) -> list[str]:
    """Every webhook target the sandbox holds for the app (v1.1 and v2 alike)."""
    hooks = server.webhooks.list_v1(server.app_id)
    for integration in server.webhooks.integrations(server.app_id):
        hooks.extend(integration["webhooks"])
    return [h["target"] for h in hooks]


def test_a_message_from_an_end_user_reaches_the_list_within_a_second(
    server: SandboxServer, api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    registration = register(api, receiver)
    assert registration.secret and registration.secret not in repr(registration)
    assert registered_targets(server) == [target(receiver)]

    started = time.monotonic()
    message_id = end_user_writes(server, "ann", "Is anyone there?")
    assert sink.wait(lambda: bool(sink.applied), 1.0), "no event within 1 s"
    elapsed = time.monotonic() - started
    assert elapsed < 1.0

    applied = sink.applied[0]
    assert applied.key == ConversationKey(PROFILE, "ann")
    assert applied.event.message is not None and applied.event.message.id == message_id
    row = sink.store.get(applied.key)
    assert row is not None
    assert row.unread == 1
    assert row.preview.text == "Is anyone there?"
    assert row.reasons & FollowReason.LIVE_UPDATE
    assert row.display_name == "Ann"
    assert sink.store.unread_total(PROFILE) == 1


def test_a_user_already_listed_under_their_smooch_id_keeps_one_row(
    server: SandboxServer, api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    smooch_id = server.store.get_user(server.app_id, "ann")["_id"]
    sink.store.follow(ConversationKey(PROFILE, smooch_id), FollowReason.OPENED)
    register(api, receiver)
    end_user_writes(server, "ann", "again")
    assert sink.wait(lambda: bool(sink.applied), 2.0)
    assert [r.key.user_ref for r in sink.store.conversations(PROFILE)] == [smooch_id]
    assert sink.store.unread_total(PROFILE) == 1


def test_a_wrong_or_missing_secret_is_refused_with_401_and_nothing_applied(
    api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    registration = register(api, receiver)
    body = {"trigger": "message:appUser", "app": {"_id": "x"}, "messages": []}
    url = target(receiver)
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: registration.secret + "x"}):
        response = requests.post(url, json=body, headers=headers, timeout=5)
        assert response.status_code == 401
        assert "wrong" not in response.text and registration.secret not in response.text
    ok = requests.post(url, json=body, headers={SECRET_HEADER: registration.secret}, timeout=5)
    assert ok.status_code == 200
    assert receiver.stats().rejected == 3


def test_calls_before_the_secret_is_known_are_refused(receiver: WebhookReceiver) -> None:
    response = requests.post(target(receiver), json={}, headers={SECRET_HEADER: ""}, timeout=5)
    assert response.status_code == 401


def test_an_oversize_body_is_refused_with_413_without_reading_it(
    api: ConversationApi, receiver: WebhookReceiver
) -> None:
    registration = register(api, receiver)
    headers = {SECRET_HEADER: registration.secret, "Content-Type": "application/json"}
    big = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = requests.post(target(receiver), data=big, headers=headers, timeout=5)
    assert response.status_code == 413

    # Without a Content-Length (chunked), no more than the limit is read either.
    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = requests.post(target(receiver), data=chunks(), headers=headers, timeout=5)
    assert response.status_code in (413, 400)  # never 200: the body was cut at the limit


def test_a_body_that_is_not_a_json_object_is_refused_with_400(
    api: ConversationApi, receiver: WebhookReceiver
) -> None:
    registration = register(api, receiver)
    headers = {SECRET_HEADER: registration.secret}
    for data in (b"not json", b"[1, 2]", b"\xff\xfe"):
        response = requests.post(target(receiver), data=data, headers=headers, timeout=5)
        assert response.status_code == 400
        assert data.decode("latin-1") not in response.text


def test_other_methods_are_refused_and_a_probe_gets_an_empty_200(
    receiver: WebhookReceiver,
) -> None:
    assert requests.get(target(receiver), timeout=5).status_code == 405
    head = requests.head(target(receiver), timeout=5)
    assert head.status_code == 200 and not head.content


def test_a_delivery_the_sandbox_retries_is_counted_once(
    server: SandboxServer, api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    """The first answer is lost on the way back (a proxy's 502): the sandbox retries the
    same event, which the receiver has already taken."""
    inner = receiver.wsgi_app
    answers: list[int] = []

    def lose_first_answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        statuses: list[str] = []
        body = inner(environ, lambda status, headers, *a: statuses.append(status))
        answers.append(int(statuses[0].split()[0]))
        if len(answers) == 1:
            start_response("502 Bad Gateway", [("Content-Length", "0")])
            return [b""]
        start_response(statuses[0], [("Content-Type", "application/json")])
        return body

    receiver.wsgi_app = lose_first_answer
    register(api, receiver)
    end_user_writes(server, "ann", "once only")
    deadline = time.monotonic() + 5
    while len(answers) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert answers[:2] == [200, 200], answers  # the event came twice, both taken
    assert sink.wait(lambda: receiver.stats().duplicates >= 1, 2.0)
    assert len(sink.applied) == 1
    row = sink.store.get(ConversationKey(PROFILE, "ann"))
    assert row is not None and row.unread == 1
    attempts = [d for d in server.webhook_log() if d.get("status") is not None]
    assert len(attempts) >= 2


def test_the_same_event_twice_changes_nothing_even_past_the_receiver(
    server: SandboxServer, api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    """Even a redelivery the id set had forgotten cannot count twice: the store's
    newest-seen id holds."""
    register(api, receiver)
    end_user_writes(server, "ann", "hello")
    assert sink.wait(lambda: bool(sink.applied), 2.0)
    event = sink.applied[0].event
    again = apply_to_inbox(sink.store, PROFILE, [event])
    assert again and not again[0].update.changed
    row = sink.store.get(ConversationKey(PROFILE, "ann"))
    assert row is not None and row.unread == 1


def test_turning_off_deletes_the_registration_and_no_more_calls_come(
    server: SandboxServer, api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    registration = register(api, receiver)
    admin = webhooks_for(api)
    assert admin is not None
    admin.unregister(registration.id)
    assert registered_targets(server) == []
    admin.unregister(registration.id)  # already gone: fine
    end_user_writes(server, "ann", "nobody listens")
    time.sleep(0.3)  # a window in which nothing may arrive
    assert sink.applied == []


def test_a_leftover_registration_after_a_crash_is_replaced_not_doubled(
    server: SandboxServer, api: ConversationApi, receiver: WebhookReceiver, api_version: str
) -> None:
    first = register(api, receiver)  # the crashed run's, never removed
    other = "http://127.0.0.1:9/someone-else"
    hear = ["conversation:message"]
    if api_version == "v2":
        server.webhooks.create_integration(
            server.app_id, "Another integration", [{"target": target(receiver), "triggers": hear}]
        )
        server.webhooks.create_integration(
            server.app_id, INTEGRATION_NAME, [{"target": other, "triggers": hear}]
        )
    else:
        server.webhooks.create_v1(server.app_id, "v1.1", {"target": other})
    second = register(api, receiver)
    assert second.id != first.id and second.secret != first.secret
    admin = webhooks_for(api)
    assert admin is not None
    assert admin.registered(target(receiver)) == [second.id]
    # Another integration with the same target (not this app's) and other targets stay.
    assert other in registered_targets(server)
    if api_version == "v2":
        assert registered_targets(server).count(target(receiver)) == 2


def test_a_registration_refused_by_the_server_says_why(
    server: SandboxServer, api: ConversationApi
) -> None:
    from smooch_desktop.api.errors import HttpError

    admin = webhooks_for(api)
    assert admin is not None
    with pytest.raises(HttpError) as caught:
        admin.register("https://example.com/hook")  # the sandbox only posts to loopback
    assert "loopback" in caught.value.user_message or "this machine" in caught.value.user_message


def test_the_port_in_use_is_an_os_error(sink: Sink) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            WebhookReceiver(sink, port=taken.getsockname()[1]).start()


def test_v2_batches_are_split_and_unknown_bodies_ignored(
    api: ConversationApi, receiver: WebhookReceiver, sink: Sink
) -> None:
    registration = register(api, receiver)
    message = {
        "id": "m1",
        "received": "2024-01-01T00:00:00Z",
        "author": {"type": "user", "userId": "u1", "displayName": "Una"},
        "content": {"type": "text", "text": "hi"},
    }
    batch = {
        "app": {"id": "a"},
        "webhook": {"id": "w", "version": "v2"},
        "events": [
            {"id": "e1", "type": "conversation:message", "payload": {"message": message}},
            {"id": "e1", "type": "conversation:message", "payload": {"message": message}},
            {"id": "e2", "type": "conversation:read", "payload": {}},
        ],
    }
    headers = {SECRET_HEADER: registration.secret}
    for body in (batch, {"unknown": True}):
        response = requests.post(target(receiver), data=json.dumps(body), headers=headers)
        assert response.status_code == 200
    assert sink.wait(lambda: len(sink.events) >= 2, 2.0)
    assert [e.event_id for e in sink.events] == ["event:e1", "event:e2"]
    assert receiver.stats().duplicates == 1
    assert sink.store.get(ConversationKey(PROFILE, "u1")) is not None


def test_the_answer_never_waits_for_the_callback_and_a_full_queue_gets_503() -> None:
    """A consumer stuck for seconds: calls are still answered at once (Smooch's 20 s
    timeout would count a slow answer as a failure), and past the queue limit with 503,
    which Smooch retries."""
    release = threading.Event()
    seen: list[WebhookEvent] = []

    def stuck(events: list[WebhookEvent]) -> None:
        seen.extend(events)
        release.wait(10)

    rec = WebhookReceiver(stuck, port=0, queue_limit=2).start()
    try:
        rec.set_secret("s")
        url = target(rec)
        statuses, slowest = [], 0.0
        for n in range(5):
            message = {"_id": f"m{n}", "role": "appUser"}
            body = {"trigger": "message:appUser", "appUser": {"_id": "u"}, "messages": [message]}
            started = time.monotonic()
            response = requests.post(url, json=body, headers={SECRET_HEADER: "s"}, timeout=5)
            slowest = max(slowest, time.monotonic() - started)
            statuses.append(response.status_code)
            if n == 0:  # the consumer has it, and is stuck
                deadline = time.monotonic() + 5
                while not seen and time.monotonic() < deadline:
                    time.sleep(0.01)
        assert slowest < 0.5, slowest
        # One body with the stuck consumer, two queued, the rest refused for now.
        assert statuses == [200, 200, 200, 503, 503]
    finally:
        release.set()
        rec.stop()
    assert len(seen) >= 1
