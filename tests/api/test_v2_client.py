"""The v2 adapter over real HTTP against a small scripted v2 peer on a loopback port 0.

The peer (written here, ``http.server``) keeps users, conversations and messages in
memory and answers in the v2 shapes of the OpenAPI spec; a test can queue answers of its
own for a route (an error with the ``errors[]`` envelope, a ``Retry-After``, a 502 after
storing). It checks what only a scripted peer can show exactly: the request sequence
(user → clients → conversations, then the cached conversation), every status mapped onto
the same typed error as with v1.1's envelope, the same delivery decision for both, and
the exactly-once path through a gateway error after the message was stored. The full
look-alike is the sandbox (``tests/api/test_v2_client_sandbox.py``).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import HttpError
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Action, DeliveryEngine, classify
from smooch_desktop.core.outbox import EntryState, Outbox

APP = "app_v2test"
CREDS = Credentials("app_key_1", "s3cr3t-for-the-v2-peer-0123456789")


def avatar_for(email: str) -> str:
    return f"https://avatars.example/{email.strip().lower()}?s=200&d=mm"


# --- the scripted v2 peer -----------------------------------------------------------------


@dataclass
class Peer:
    """In-memory v2 state, the requests seen, and answers queued per (method, route)."""

    server: ThreadingHTTPServer | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (method, path, query, JSON body) of every request.
    seen: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)
    #: (method, route) → answers to give before the normal handling; route is the path
    #: after /v2/apps/{app} with ids replaced by ``*`` (e.g. ``/conversations/*/messages``).
    queued: dict[tuple[str, str], list[tuple[int, Any, dict[str, str], bool]]] = field(
        default_factory=dict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def next_id(self) -> str:
        self.counter += 1
        return f"{self.counter:024x}"

    def add_user(self, external_id: str, *, conversations: int = 1) -> str:
        user_id = self.next_id()
        self.users[user_id] = {
            "id": user_id,
            "externalId": external_id,
            "signedUpAt": "2024-01-01T00:00:00.000Z",
            "profile": {"givenName": "Sue", "email": "sue@example.com"},
            "metadata": {},
        }
        for n in range(conversations):
            self.add_conversation(user_id, default=n == 0)
        return user_id

    def add_conversation(self, user_id: str, *, default: bool) -> str:
        conversation_id = self.next_id()
        self.conversations[conversation_id] = {
            "id": conversation_id,
            "type": "personal",
            "isDefault": default,
            "createdAt": "2024-01-01T00:00:00.000Z",
            "lastUpdatedAt": "2024-01-01T00:00:00.000Z",
            "__user": user_id,
        }
        self.messages[conversation_id] = []
        return conversation_id

    def queue(
        self,
        method: str,
        route: str,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        then_handle: bool = False,
    ) -> None:
        """Answer the next such request with ``status``/``body``; ``then_handle``: after
        doing what the request asks (a gateway error after the API stored it)."""
        self.queued.setdefault((method, route), []).append(
            (status, body, headers or {}, then_handle)
        )

    def requests(self, method: str | None = None) -> list[str]:
        return [f"{m} {p}" for m, p, _, _ in self.seen if method is None or m == method]

    def find_user(self, ref: str) -> dict[str, Any] | None:
        for user in self.users.values():
            if ref in (user["id"], user["externalId"]):
                return user
        return None

    def conversation_of(self, user_id: str) -> list[dict[str, Any]]:
        return [c for c in self.conversations.values() if c["__user"] == user_id]


def _errors(code: str, title: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "title": title}]}


def _public(conversation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conversation.items() if not k.startswith("__")}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body go out as two writes
    peer: Peer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if self.headers.get("Content-Type", "").startswith("application/json") and raw:
            body = json.loads(raw)
        query = parse_qs(parts.query)
        peer = self.peer
        with peer.lock:
            peer.seen.append((method, parts.path, query, body))
            prefix = f"/v2/apps/{APP}"
            if not parts.path.startswith(prefix):
                self._reply(404, _errors("app_not_found", "App not found"))
                return
            segments = parts.path[len(prefix) :].split("/")[1:]
            route = "/" + "/".join("*" if i % 2 else s for i, s in enumerate(segments))
            queued = peer.queued.get((method, route))
            if queued:
                status, answer, headers, then_handle = queued.pop(0)
                if then_handle:
                    self._route(method, segments, query, body, reply=False)
                self._reply(status, answer, headers)
                return
            self._route(method, segments, query, body)

    def _route(
        self,
        method: str,
        segments: list[str],
        query: dict[str, list[str]],
        body: Any,
        *,
        reply: bool = True,
    ) -> None:
        peer = self.peer
        answer: tuple[int, Any] = (404, _errors("not_found", "Resource not found"))
        if segments[0] == "users" and len(segments) >= 2:
            user = peer.find_user(segments[1])
            if user is None:
                answer = (404, _errors("user_not_found", "User not found"))
            elif len(segments) == 2:
                answer = (200, {"user": user})
            elif segments[2:] == ["clients"]:
                client = {"id": "cl1", "type": "sdk", "status": "active"}
                answer = (200, {"clients": [client], "meta": {"hasMore": False}})
        elif segments == ["users"] and method == "POST":
            user_id = peer.add_user(body["externalId"], conversations=0)
            answer = (201, {"user": peer.users[user_id]})
        elif segments == ["conversations"] and method == "GET":
            user_id = query["filter[userId]"][0]
            found = [_public(c) for c in peer.conversation_of(user_id)]
            answer = (200, {"conversations": found, "meta": {"hasMore": False}})
        elif segments == ["conversations"] and method == "POST":
            user_id = body["participants"][0]["userId"]
            first = not peer.conversation_of(user_id)
            conversation_id = peer.add_conversation(user_id, default=first)
            answer = (201, {"conversation": _public(peer.conversations[conversation_id])})
        elif segments[0] == "conversations" and segments[1] in peer.conversations:
            stored = peer.messages[segments[1]]
            if segments[2:] == ["messages"] and method == "POST":
                minute, second = divmod(len(stored), 60)
                message = {
                    "id": peer.next_id(),
                    "received": f"2024-06-01T12:{minute:02d}:{second:02d}.000Z",
                    "author": body["author"],
                    "content": body["content"],
                    "metadata": body.get("metadata"),
                    "source": {"type": "api:conversations"},
                }
                stored.append(message)
                answer = (201, {"messages": [message]})
            elif segments[2:] == ["messages"]:
                end = len(stored)
                if "page[before]" in query:
                    ids = [m["id"] for m in stored]
                    end = ids.index(query["page[before]"][0])
                page = stored[max(0, end - 100) : end]
                meta: dict[str, Any] = {"hasMore": end > 100}
                if end > 100:
                    meta["beforeCursor"] = page[0]["id"]
                answer = (200, {"messages": page, "meta": meta})
            elif segments[2:] == ["activity"]:
                answer = (200, {})
        elif segments[0] == "conversations":
            answer = (404, _errors("conversation_not_found", "Conversation not found"))
        elif segments == ["attachments"]:
            media = {"mediaUrl": "https://media.example/a.png", "mediaType": "image/png"}
            answer = (201, {"attachment": media})
        if reply:
            self._reply(*answer)


@pytest.fixture
def peer() -> Iterator[Peer]:
    state = Peer()
    handler = type("Handler", (_Handler,), {"peer": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def api_for(peer: Peer, **options: Any) -> V2Api:
    return V2Api.connect(peer.base_url, APP, CREDS, avatar_for_email=avatar_for, **options)


# --- users and conversations -------------------------------------------------------------


def test_user_by_external_id_then_sends_reuse_its_default_conversation(peer: Peer) -> None:
    user_id = peer.add_user("ext-1", conversations=2)
    api = api_for(peer)
    user = api.get_user("ext-1")
    default = next(c for c in peer.conversation_of(user_id) if c["isDefault"])
    assert (user.id, user.user_id, user.display_name) == (user_id, "ext-1", "Sue")
    assert user.conversation_id == default["id"]
    assert {c.id for c in user.conversations} == {c["id"] for c in peer.conversation_of(user_id)}
    assert [c.platform for c in user.reachable_clients] == ["sdk"]
    assert peer.requests() == [
        f"GET /v2/apps/{APP}/users/ext-1",
        f"GET /v2/apps/{APP}/users/{user_id}/clients",
        # An "sdk" client: which platform (this peer lists no devices: it stays "sdk").
        f"GET /v2/apps/{APP}/users/{user_id}/devices",
        f"GET /v2/apps/{APP}/conversations",
        # Which client is primary (this peer lists no participants: none is marked).
        f"GET /v2/apps/{APP}/conversations/{default['id']}/participants",
    ]
    assert peer.seen[3][2] == {"filter[userId]": [user_id], "page[size]": ["100"]}
    assert not any(c.primary for c in user.clients)

    message = OutgoingMessage(
        "Hello", Sender("Alice", "Alice@Example.com"), metadata={CLIENT_ID_METADATA_KEY: "c1"}
    )
    sent = api.send_message("ext-1", message)
    api.send_activity("ext-1", "typing:stop", Sender("Alice", "alice@example.com"))
    assert peer.requests()[5:] == [
        f"POST /v2/apps/{APP}/conversations/{default['id']}/messages",
        f"POST /v2/apps/{APP}/conversations/{default['id']}/activity",
    ]
    wire = peer.seen[5][3]
    assert wire == {
        "author": {
            "type": "business",
            "displayName": "Alice",
            "avatarUrl": "https://avatars.example/alice@example.com?s=200&d=mm",
        },
        "content": {"type": "text", "text": "Hello"},
        "metadata": {CLIENT_ID_METADATA_KEY: "c1"},
    }
    assert peer.seen[6][3] == {"author": wire["author"], "type": "typing:stop"}
    assert sent.id and sent.client_id == "c1" and sent.is_business and sent.received > 0
    api.close()


def test_create_user_gives_them_their_personal_conversation_at_once(peer: Peer) -> None:
    api = api_for(peer)
    created = api.create_user("new-1", given_name="Nia", email="nia@example.com")
    assert created.user_id == "new-1" and created.id
    assert [(m, p, b) for m, p, _, b in peer.seen] == [
        (
            "POST",
            f"/v2/apps/{APP}/users",
            {"externalId": "new-1", "profile": {"givenName": "Nia", "email": "nia@example.com"}},
        ),
        (
            "POST",
            f"/v2/apps/{APP}/conversations",
            {"type": "personal", "participants": [{"userId": created.id}]},
        ),
    ]
    (conversation,) = peer.conversation_of(created.id)
    assert created.conversation_id == conversation["id"] and created.conversations[0].is_default
    api.send_message("new-1", OutgoingMessage("Welcome"))  # one request: it is known
    assert peer.requests()[2:] == [
        f"POST /v2/apps/{APP}/conversations/{conversation['id']}/messages"
    ]
    api.close()


def test_a_user_pre_created_elsewhere_gets_one_on_the_first_send(peer: Peer) -> None:
    user_id = peer.add_user("pre-1", conversations=0)
    api = api_for(peer)
    user = api.get_user("pre-1")
    assert user.conversations == () and user.conversation_id == ""
    assert api.history("pre-1").messages == ()  # no conversation: an empty history
    api.send_activity("pre-1", "typing:start")  # nowhere to show it: nothing sent
    assert not any("/activity" in r for r in peer.requests())

    api.send_message("pre-1", OutgoingMessage("Welcome"))
    (conversation,) = peer.conversation_of(user_id)
    assert conversation["isDefault"] and conversation["type"] == "personal"
    assert [m["content"]["text"] for m in peer.messages[conversation["id"]]] == ["Welcome"]
    assert [m.text for m in api.history("pre-1").messages] == ["Welcome"]
    api.close()


def test_an_unknown_user_is_a_404_user_not_found(peer: Peer) -> None:
    api = api_for(peer)
    with pytest.raises(HttpError) as caught:
        api.get_user("nobody")
    assert (caught.value.status, caught.value.code, caught.value.envelope) == (
        404,
        "user_not_found",
        "v2",
    )
    assert "User not found" in caught.value.description
    with pytest.raises(HttpError):
        api.send_message("nobody", OutgoingMessage("x"))
    assert classify(caught.value).action is Action.FAIL
    api.close()


def test_a_deleted_conversation_is_looked_up_again_once(peer: Peer) -> None:
    user_id = peer.add_user("ext-2")
    api = api_for(peer)
    api.get_user("ext-2")
    (old,) = peer.conversation_of(user_id)
    del peer.conversations[old["id"]]  # deleted on the server since it was looked up
    new = peer.add_conversation(user_id, default=True)
    api.send_message("ext-2", OutgoingMessage("after the move"))
    posts = peer.requests("POST")
    assert posts == [
        f"POST /v2/apps/{APP}/conversations/{old['id']}/messages",  # 404: refused
        f"POST /v2/apps/{APP}/conversations/{new}/messages",
    ]
    assert [m["content"]["text"] for m in peer.messages[new]] == ["after the move"]
    api.close()


def test_history_pages_back_with_page_before_until_has_more_is_false(peer: Peer) -> None:
    user_id = peer.add_user("ext-3")
    api = api_for(peer)
    for n in range(250):
        api.send_message("ext-3", OutgoingMessage(f"m{n}"))
    texts: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = api.history("ext-3", cursor)
        texts = [m.text for m in page.messages] + texts
        pages += 1
        if not page.has_older:
            break
        cursor = page.older_cursor
    assert pages == 3 and texts == [f"m{n}" for n in range(250)]
    befores = [q.get("page[before]") for m, p, q, _ in peer.seen if m == "GET" and "/messages" in p]
    (conversation,) = peer.conversation_of(user_id)
    stored = peer.messages[conversation["id"]]
    assert befores == [None, [stored[150]["id"]], [stored[50]["id"]]]
    api.close()


def test_upload_returns_the_attachment(peer: Peer) -> None:
    user_id = peer.add_user("ext-4")
    api = api_for(peer)
    url, kind = api.upload("a.png", b"\x89PNG....", "image/png", user_ref="ext-4")
    assert (url, kind) == ("https://media.example/a.png", "image/png")
    _, path, query, _ = peer.seen[-1]
    (conversation,) = peer.conversation_of(user_id)
    assert path == f"/v2/apps/{APP}/attachments"
    assert query == {
        "access": ["public"],
        "for": ["message"],
        "conversationId": [conversation["id"]],
    }
    api.close()


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (401, "unauthorized"),
        (402, "payment_required"),
        (403, "forbidden"),
        (404, "conversation_not_found"),
        (409, "conflict"),
        (413, "bad_request"),
        (423, "locked"),
        (429, "too_many_requests"),
        (500, "uncategorized_error"),
        (502, "bad_gateway"),
        (503, "service_unavailable"),
        (504, "gateway_timeout"),
    ],
)
def test_every_status_maps_as_v1_1_does_with_the_same_delivery_decision(
    peer: Peer, status: int, code: str
) -> None:
    peer.add_user("ext-5")
    api = api_for(peer)
    api.get_user("ext-5")
    route = ("POST", "/conversations/*/messages")
    headers = {"Retry-After": "7"} if status == 429 else {}
    title = f"Something {status}"
    peer.queue(*route, status, {"errors": [{"code": code, "title": title}]}, headers)
    if status == 404:
        peer.queue(*route, status, {"errors": [{"code": code, "title": title}]}, headers)
    with pytest.raises(HttpError) as v2:
        api.send_message("ext-5", OutgoingMessage("x"))
    # The same answer with v1.1's envelope, through the v1.1 adapter.
    v1_error = _v1_error_for(peer, status, code, title, headers)
    error = v2.value
    assert type(error) is type(v1_error)
    assert (error.status, error.code, error.server_description, error.retry_after) == (
        status,
        code,
        title,
        7.0 if status == 429 else None,
    )
    assert error.may_have_reached_server == v1_error.may_have_reached_server == (status >= 500)
    assert error.is_retryable == v1_error.is_retryable
    v2_decision, v1_decision = classify(error), classify(v1_error)
    assert v2_decision.reason.replace(api.host, "HOST") == v1_decision.reason.replace(
        v1_error.description.split(" from ")[1].split(")")[0], "HOST"
    )
    assert dataclasses.replace(v2_decision, reason="") == dataclasses.replace(
        v1_decision, reason=""
    )
    assert error.envelope == "v2" and v1_error.envelope == "v1"
    api.close()


def _v1_error_for(
    peer: Peer, status: int, code: str, title: str, headers: dict[str, str]
) -> HttpError:
    """The same status through V1Api against a one-shot v1.1 server."""
    body = json.dumps({"error": {"code": code, "description": title}}).encode()

    class OneShot(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneShot)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        v1 = V1Api.connect(f"http://127.0.0.1:{server.server_address[1]}", APP, CREDS)
        try:
            v1.send_message("someone", OutgoingMessage("x"))
        except HttpError as exc:
            return exc
        finally:
            v1.close()
        raise AssertionError("the v1.1 server was told to fail")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_check_connection_accepts_only_a_v2_user_not_found(peer: Peer) -> None:
    api = api_for(peer)
    api.check_connection()  # 404 user_not_found with the v2 envelope: host, app, key OK
    assert peer.requests() == [f"GET /v2/apps/{APP}/users/smooch-desktop-connection-check"]

    wrong_app = V2Api.connect(peer.base_url, "app_other", CREDS)
    with pytest.raises(HttpError) as caught:
        wrong_app.check_connection()
    assert caught.value.code == "app_not_found"

    route = ("GET", "/users/*")
    for status, body in (
        (401, {"errors": [{"code": "unauthorized", "title": "Authorization is required"}]}),
        (404, {"error": {"code": "user_not_found", "description": "v1 envelope"}}),
        (404, None),
    ):
        peer.queue(*route, status, body)
        with pytest.raises(HttpError) as refused:
            api.check_connection()
        assert refused.value.status == status
    api.close()
    wrong_app.close()


# --- exactly once --------------------------------------------------------------------------


def test_a_gateway_error_after_the_store_is_checked_and_not_resent(
    peer: Peer, tmp_path: Path
) -> None:
    peer.add_user("ext-6")
    api = api_for(peer)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    engine = DeliveryEngine(outbox, api, "profile", verify_grace_s=0.0)
    entry = engine.enqueue("ext-6", OutgoingMessage("Exactly once, please", Sender("Al")))
    peer.queue(
        "POST",
        "/conversations/*/messages",
        502,
        {"errors": [{"code": "bad_gateway", "title": "Bad gateway"}]},
        then_handle=True,
    )
    assert engine.step()  # the send: stored, but the client hears a 502
    checking = outbox.get(entry.client_id)
    assert checking is not None and checking.state is EntryState.UNKNOWN
    assert engine.run_until_idle(deadline=time.time() + 10)
    done = outbox.get(entry.client_id)
    assert done is not None
    stored = [m for ms in peer.messages.values() for m in ms]
    assert [m["content"]["text"] for m in stored] == ["Exactly once, please"]
    assert done.state is EntryState.SENT and done.server_id == stored[0]["id"]
    assert len(peer.requests("POST")) == 1
    outbox.close()
    api.close()


def test_channels_the_host_wont_list_leave_the_user_usable(peer: Peer) -> None:
    peer.add_user("ext-7")
    api = api_for(peer)
    peer.queue("GET", "/users/*/clients", 404, _errors("not_found", "Resource not found"))
    user = api.get_user("ext-7")
    assert user.clients == () and user.conversation_id
    peer.queue("GET", "/users/*/clients", 500, _errors("uncategorized_error", "Oops"))
    with pytest.raises(HttpError) as caught:
        api.get_user("ext-7")  # a server error is not "no channels"
    assert caught.value.status == 500
    api.close()
