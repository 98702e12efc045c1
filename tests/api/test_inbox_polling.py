"""The inbox and the poll scheduler over real HTTP: a loopback sandbox, v1.1 and v2.

A poller loop like the app's (scheduler → ``ConversationApi.history`` → ``InboxStore``)
follows a few sandbox users; end users write through the sandbox's end-user path and the
agent's own replies go through the API. Checks: only new end-user messages count, the
same page twice changes nothing, the unread total, a 429 with ``Retry-After`` from the
server is honoured, and a user the server doesn't know waits alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from smooch_desktop.api.errors import ApiError
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.core.poll_budget import PollScheduler
from smooch_desktop.sandbox import FaultConfig, SandboxServer

PROFILE = "sandbox-profile"
USERS = ("ann", "ben", "cai")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(host="127.0.0.1", port=0, demo=False) as running:
        for user in USERS:
            running.store.create_user(running.app_id, {"userId": user, "givenName": user.title()})
            running.store.add_user_message(running.app_id, user, f"first from {user}")
        yield running


def key(user: str) -> ConversationKey:
    return ConversationKey(PROFILE, user)


def end_user_writes(server: SandboxServer, user: str, text: str) -> str:
    url = f"{server.base_url}/_sandbox/apps/{server.app_id}/appusers/{user}/messages"
    response = requests.post(url, json={"text": text}, timeout=5)
    response.raise_for_status()
    return str(response.json()["message"]["_id"])


def run_polls(
    sched: PollScheduler[ConversationKey],
    api: ConversationApi,
    inbox: InboxStore,
    count: int,
    timeout: float = 10.0,
) -> list[tuple[ConversationKey, str]]:
    """Run ``count`` polls as the app's worker would; returns (key, outcome) per poll."""
    done: list[tuple[ConversationKey, str]] = []
    deadline = time.monotonic() + timeout
    while len(done) < count:
        assert time.monotonic() < deadline, f"only {len(done)} polls in {timeout} s"
        ticket = sched.next_request()
        if ticket is None:
            time.sleep(max(0.0, min(sched.due_at() - time.monotonic(), 0.05)))
            continue
        try:
            page = api.history(ticket.key.user_ref, conversation_id=ticket.key.conversation_id)
        except ApiError as exc:
            sched.finish_with_error(ticket, exc)
            done.append((ticket.key, f"error {exc.status}"))
            continue
        update = inbox.apply_history(ticket.key, page)
        sched.succeeded(ticket, new_activity=update.new_messages > 0)
        done.append((ticket.key, "ok"))
    return done


def follow_all(inbox: InboxStore, api: ConversationApi) -> PollScheduler[ConversationKey]:
    sched: PollScheduler[ConversationKey] = PollScheduler(requests_per_minute=600)
    for user in USERS:
        inbox.follow(key(user), FollowReason.OPENED, display_name=user.title())
        sched.follow(key(user))
    run_polls(sched, api, inbox, len(USERS))  # the first pages: the baseline
    return sched


def test_new_end_user_messages_become_unread_and_the_agents_replies_do_not(
    server: SandboxServer, api: ConversationApi, inbox: InboxStore
) -> None:
    sched = follow_all(inbox, api)
    assert inbox.unread_total(PROFILE) == 0
    end_user_writes(server, "ben", "where is my parcel?")
    end_user_writes(server, "ben", "hello??")
    api.send_message("cai", OutgoingMessage("We are on it", sender=Sender(name="Agent")))
    run_polls(sched, api, inbox, len(USERS))
    rows = {r.key.user_ref: r for r in inbox.conversations(PROFILE)}
    assert rows["ben"].unread == 2 and rows["ben"].preview.text == "hello??"
    assert rows["cai"].unread == 0 and rows["cai"].preview.text == "We are on it"
    assert rows["ann"].unread == 0
    assert inbox.unread_total(PROFILE) == 2
    assert [r.key.user_ref for r in inbox.conversations(PROFILE)][:2] == ["cai", "ben"]

    # the same newest page again changes nothing; marking read clears it
    page = api.history("ben")
    assert not inbox.apply_history(key("ben"), page).changed
    assert inbox.mark_read(key("ben")) and inbox.unread_total(PROFILE) == 0
    assert not inbox.apply_history(key("ben"), page).changed
    assert inbox.unread_total(PROFILE) == 0


def test_a_removed_conversation_returns_when_its_user_writes(
    server: SandboxServer, api: ConversationApi, inbox: InboxStore
) -> None:
    follow_all(inbox, api)
    inbox.remove(key("ann"))
    assert "ann" not in [r.key.user_ref for r in inbox.conversations(PROFILE)]
    end_user_writes(server, "ann", "back again")
    # a live update (or opening her) applies her newest page
    inbox.apply_history(key("ann"), api.history("ann"))
    row = inbox.get(key("ann"))
    assert row is not None and not row.removed and row.unread == 1


def test_retry_after_from_the_server_holds_the_list(
    server: SandboxServer, api: ConversationApi, inbox: InboxStore
) -> None:
    sched = follow_all(inbox, api)
    server.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after=2))
    started = time.monotonic()
    [(_, outcome)] = run_polls(sched, api, inbox, 1)
    assert outcome == "error 429"
    server.set_faults(FaultConfig())
    assert sched.due_at() - started >= 2.0 - 0.05
    assert sched.next_request() is None  # nothing inside the server's Retry-After
    run_polls(sched, api, inbox, 1)
    assert time.monotonic() - started >= 2.0


def test_a_user_the_server_does_not_know_waits_alone(
    server: SandboxServer, api: ConversationApi, inbox: InboxStore
) -> None:
    sched = follow_all(inbox, api)
    inbox.follow(key("ghost"), FollowReason.OPENED)
    sched.follow(key("ghost"))
    sched.note_activity(key("ghost"))  # first in line
    polls = run_polls(sched, api, inbox, 1 + 2 * len(USERS))
    assert polls[0] == (key("ghost"), "error 404")
    assert all(k != key("ghost") for k, _ in polls[1:])
    assert {k.user_ref for k, _ in polls[1:]} == set(USERS)
