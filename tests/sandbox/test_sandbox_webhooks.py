"""The sandbox sends webhooks like Smooch, tested over real HTTP.

A real receiving server on a loopback port 0 records every call the sandbox makes (path,
headers, JSON body, time) and answers from a script (e.g. 500 then 200). Registration
goes through the real API (v1.1 ``/webhooks``; v2 custom integrations and their
``/webhooks``); events come from the API and from the end-user page's form and buttons.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
import requests
from sandbox_helpers import Api

from smooch_desktop.sandbox import DEMO_ALICE_ID, SandboxServer
from smooch_desktop.sandbox.demo import DEMO_ENCODED_USER_ID, DEMO_SECOND_CONVERSATION_ID
from smooch_desktop.sandbox.webhooks import MAX_ATTEMPTS

DELAYS = (0.05, 0.1, 0.15, 0.2)
VERSIONS = ("v1.1", "v2")


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    """A real HTTP server recording the webhook calls it gets; answers from ``script``."""

    script: list[int] = field(default_factory=list)
    hold: float = 0.0  # seconds to wait before answering the first call
    calls: list[Delivery] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.calls) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.calls)} of {count} webhook calls arrived"
                self.cond.wait(left)
            return list(self.calls)

    def quiet(self, seconds: float = 0.5) -> list[Delivery]:
        """The calls after ``seconds`` more (to show that nothing else arrives)."""
        time.sleep(seconds)
        with self.cond:
            return list(self.calls)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            with receiver.cond:
                first = not receiver.calls
                status = receiver.script.pop(0) if receiver.script else 200
            if first and receiver.hold:
                time.sleep(receiver.hold)
            with receiver.cond:
                receiver.calls.append(
                    Delivery(self.path, dict(self.headers.items()), body, time.monotonic())
                )
                receiver.cond.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def hsrv() -> Iterator[SandboxServer]:
    """A demo sandbox with a quick retry policy (the real waits are seconds)."""
    with SandboxServer(port=0, webhook_retry_delays=DELAYS, webhook_timeout=3.0) as server:
        yield server


@pytest.fixture
def hapi(hsrv: SandboxServer) -> Iterator[Api]:
    with requests.Session() as session:
        yield Api(hsrv, session)


def v1_url(api: Api, suffix: str = "") -> str:
    return f"{api.srv.base_url}/v1.1/apps/{api.srv.app_id}/webhooks{suffix}"


def v2_url(api: Api, suffix: str = "") -> str:
    return f"{api.srv.base_url}/v2/apps/{api.srv.app_id}/integrations{suffix}"


def register(
    api: Api, version: str, target: str, triggers: list[str] | None = None
) -> dict[str, Any]:
    """Register a webhook through the API; returns it (with ``id`` for both versions)."""
    if version == "v2":
        hook: dict[str, Any] = {"target": target}
        hook["triggers"] = triggers or [
            "conversation:message",
            "conversation:postback",
            "conversation:read",
            "conversation:typing",
        ]
        resp = api.request("POST", v2_url(api), json={"type": "custom", "webhooks": [hook]})
        assert resp.status_code == 201, resp.text
        integration = resp.json()["integration"]
        (made,) = integration["webhooks"]
        return {**made, "integrationId": integration["id"]}
    body: dict[str, Any] = {"target": target}
    if triggers is not None:
        body["triggers"] = triggers
    resp = api.request("POST", v1_url(api), json=body)
    assert resp.status_code == 201, resp.text
    made = resp.json()["webhook"]
    return {**made, "id": made["_id"]}


def delete(api: Api, version: str, hook: dict[str, Any]) -> None:
    if version == "v2":
        url = v2_url(api, f"/{hook['integrationId']}/webhooks/{hook['id']}")
    else:
        url = v1_url(api, f"/{hook['id']}")
    assert api.request("DELETE", url).status_code == 200


def user_writes(api: Api, text: str, user: str = DEMO_ALICE_ID) -> None:
    """The end user writes on their page (the page's form posts here)."""
    app = api.srv.app_id
    url = f"{api.srv.base_url}/_sandbox/apps/{app}/appusers/{quote(user, safe='')}/messages"
    resp = api.session.post(url, json={"text": text}, timeout=10)
    assert resp.status_code == 201, resp.text


def agent_writes(api: Api, text: str, **extra: Any) -> dict[str, Any]:
    resp = api.post_message(
        DEMO_ALICE_ID, {"role": "appMaker", "type": "text", "text": text, **extra}
    )
    assert resp.status_code == 201, resp.text
    message: dict[str, Any] = resp.json()["message"]
    return message


def press(api: Api, action_id: str) -> requests.Response:
    app = api.srv.app_id
    url = f"{api.srv.base_url}/users/{app}/{quote(DEMO_ALICE_ID, safe='')}/actions/{action_id}"
    return api.session.post(url, timeout=10)


def user_activity(api: Api, kind: str) -> None:
    app = api.srv.app_id
    url = (
        f"{api.srv.base_url}/_sandbox/apps/{app}/appusers/{quote(DEMO_ALICE_ID, safe='')}/activity"
    )
    resp = api.session.post(url, json={"type": kind}, timeout=10)
    assert resp.status_code == 200, resp.text


def texts(calls: list[Delivery]) -> list[str]:
    out = []
    for call in calls:
        if "events" in call.body:
            out.append(call.body["events"][0]["payload"]["message"]["content"]["text"])
        else:
            out.append(call.body["messages"][0]["text"])
    return out


# ---------------------------------------------------------------------- registration


def test_v1_webhook_lifecycle_and_request_log(hapi: Api, receiver: Receiver) -> None:
    resp = hapi.request("POST", v1_url(hapi), json={"target": receiver.url})
    assert resp.status_code == 201
    hook = resp.json()["webhook"]
    assert set(hook) == {
        "_id",
        "triggers",
        "secret",
        "target",
        "version",
        "includeClient",
        "includeFullAppUser",
    }
    assert hook["triggers"] == ["message"]  # the documented default
    assert hook["target"] == receiver.url
    assert hook["version"] == "v1.1"
    assert len(hook["secret"]) >= 32
    hook_url = v1_url(hapi, f"/{hook['_id']}")

    listed = hapi.request("GET", v1_url(hapi)).json()["webhooks"]
    assert listed == [hook]
    assert hapi.request("GET", hook_url).json() == {"webhook": hook}
    resp = hapi.request(
        "PUT", hook_url, json={"triggers": ["message:appUser"], "includeClient": True}
    )
    assert resp.status_code == 200
    updated = resp.json()["webhook"]
    assert updated["triggers"] == ["message:appUser"]
    assert updated["includeClient"] is True
    assert updated["secret"] == hook["secret"]
    assert hapi.request("DELETE", hook_url).status_code == 200
    gone = hapi.request("GET", hook_url)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert hapi.request("GET", v1_url(hapi)).json() == {"webhooks": []}

    logged = [(e["method"], e["path"], e["status"]) for e in hapi.srv.log()]
    path = f"/v1.1/apps/{hapi.srv.app_id}/webhooks"
    assert logged == [
        ("POST", path, 201),
        ("GET", path, 200),
        ("GET", f"{path}/{hook['_id']}", 200),
        ("PUT", f"{path}/{hook['_id']}", 200),
        ("DELETE", f"{path}/{hook['_id']}", 200),
        ("GET", f"{path}/{hook['_id']}", 404),
        ("GET", path, 200),
    ]
    assert hapi.srv.log()[0]["body"] == {"target": receiver.url}


def test_v2_custom_integration_and_webhook_lifecycle(hapi: Api, receiver: Receiver) -> None:
    body = {
        "type": "custom",
        "displayName": "My bot",
        "webhooks": [{"target": receiver.url, "triggers": ["conversation:message"]}],
    }
    resp = hapi.request("POST", v2_url(hapi), json=body)
    assert resp.status_code == 201
    integration = resp.json()["integration"]
    assert integration["type"] == "custom"
    assert integration["status"] == "active"
    assert integration["displayName"] == "My bot"
    (hook,) = integration["webhooks"]
    assert set(hook) == {
        "id",
        "version",
        "target",
        "triggers",
        "secret",
        "includeFullUser",
        "includeFullSource",
    }
    assert hook["version"] == "v2"
    assert hook["includeFullUser"] is False
    base = f"/{integration['id']}"

    listing = hapi.request("GET", v2_url(hapi), params={"filter[types]": "custom"}).json()
    assert [i["id"] for i in listing["integrations"]] == [integration["id"]]
    assert listing["meta"]["hasMore"] is False
    none = hapi.request("GET", v2_url(hapi), params={"filter[types]": "web"}).json()
    assert none["integrations"] == []
    assert hapi.request("GET", v2_url(hapi, base)).json() == {"integration": integration}
    renamed = hapi.request("PATCH", v2_url(hapi, base), json={"displayName": "Bot 2"})
    assert renamed.json()["integration"]["displayName"] == "Bot 2"

    second = hapi.request(
        "POST",
        v2_url(hapi, f"{base}/webhooks"),
        json={"target": receiver.url, "triggers": ["conversation:read"], "includeFullUser": True},
    )
    assert second.status_code == 201
    added = second.json()["webhook"]
    assert added["includeFullUser"] is True
    assert added["secret"] != hook["secret"]
    hooks = hapi.request("GET", v2_url(hapi, f"{base}/webhooks")).json()["webhooks"]
    assert [h["id"] for h in hooks] == [hook["id"], added["id"]]
    one = v2_url(hapi, f"{base}/webhooks/{added['id']}")
    assert hapi.request("GET", one).json() == {"webhook": added}
    patched = hapi.request("PATCH", one, json={"triggers": ["conversation:typing"]}).json()
    assert patched["webhook"]["triggers"] == ["conversation:typing"]
    assert hapi.request("DELETE", one).json() == {}
    gone = hapi.request("GET", one)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "not_found"

    assert hapi.request("DELETE", v2_url(hapi, base)).status_code == 200
    missing = hapi.request("GET", v2_url(hapi, base))
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "integration_not_found"
    paths = [e["path"] for e in hapi.srv.log()]
    assert paths[0] == f"/v2/apps/{hapi.srv.app_id}/integrations"
    assert hapi.srv.log()[0]["status"] == 201


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (None, "required"),
        ("", "required"),
        ("not a url", "http or https"),
        ("ftp://127.0.0.1/hook", "http or https"),
        ("http://127.0.0.1:99999/hook", "http or https"),
        ("https://example.com/hook", "this machine"),
        ("http://10.0.0.1/hook", "this machine"),
        ("http://localhost.example.com/hook", "this machine"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_a_bad_or_remote_target_is_refused(hapi: Api, version: str, target: Any, why: str) -> None:
    hook = (
        {"target": target, "triggers": ["conversation:message"]}
        if version == "v2"
        else {"target": target}
    )
    if version == "v2":
        resp = hapi.request("POST", v2_url(hapi), json={"type": "custom", "webhooks": [hook]})
        assert resp.status_code == 400
        assert resp.json()["errors"][0]["code"] == "bad_request"
        assert why in resp.json()["errors"][0]["title"]
    else:
        resp = hapi.request("POST", v1_url(hapi), json=hook)
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "bad_request"
        assert why in resp.json()["error"]["description"]
    assert hapi.srv.webhooks.list_v1(hapi.srv.app_id) == []
    assert hapi.srv.webhooks.integrations(hapi.srv.app_id) == []


def test_remote_targets_are_accepted_when_the_server_allows_them() -> None:
    with SandboxServer(port=0, allow_remote_webhooks=True) as srv, requests.Session() as s:
        api = Api(srv, s)
        resp = api.request("POST", v1_url(api), json={"target": "https://example.com/hook"})
        assert resp.status_code == 201


@pytest.mark.parametrize(
    ("version", "triggers"),
    [
        ("v1.1", ["message:appUser", "message:nobody"]),
        ("v1.1", ["conversation:message"]),  # a v2 name
        ("v1.1", []),
        ("v1.1", "message"),
        ("v2", ["conversation:nothing"]),
        ("v2", ["message:appUser"]),  # a v1.1 name
        ("v2", None),  # required in v2
    ],
)
def test_unknown_or_malformed_triggers_are_refused(
    hapi: Api, receiver: Receiver, version: str, triggers: Any
) -> None:
    if version == "v2":
        hook = {"target": receiver.url, "triggers": triggers}
        resp = hapi.request("POST", v2_url(hapi), json={"type": "custom", "webhooks": [hook]})
        assert resp.status_code == 400
        assert "triggers" in resp.json()["errors"][0]["title"]
    else:
        body = {"target": receiver.url, "triggers": triggers}
        resp = hapi.request("POST", v1_url(hapi), json=body)
        assert resp.status_code == 400
        assert "triggers" in resp.json()["error"]["description"]


def test_v2_registration_errors(hapi: Api, receiver: Receiver) -> None:
    hook = {"target": receiver.url, "triggers": ["conversation:message"]}
    web = hapi.request("POST", v2_url(hapi), json={"type": "web", "webhooks": [hook]})
    assert web.status_code == 400
    assert web.json()["errors"][0]["title"] == "Invalid integration type"
    two = hapi.request("POST", v2_url(hapi), json={"type": "custom", "webhooks": [hook, hook]})
    assert two.status_code == 400
    flag = {**hook, "includeFullUser": "yes"}
    bad = hapi.request("POST", v2_url(hapi), json={"type": "custom", "webhooks": [flag]})
    assert bad.status_code == 400
    unknown = hapi.request("POST", v2_url(hapi, "/5e4af71a81966cfff3ef6550/webhooks"), json=hook)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "integration_not_found"


def test_an_app_holds_at_most_ten_webhooks(hapi: Api, receiver: Receiver) -> None:
    for _ in range(5):
        register(hapi, "v1.1", receiver.url)
        register(hapi, "v2", receiver.url)
    resp = hapi.request("POST", v1_url(hapi), json={"target": receiver.url})
    assert resp.status_code == 400
    assert "10 webhooks" in resp.json()["error"]["description"]


# ---------------------------------------------------------------------- payloads


def test_v1_message_payloads_and_secret_header(hapi: Api, receiver: Receiver) -> None:
    hook = register(hapi, "v1.1", receiver.url)
    user_writes(hapi, "Hello from the page")
    agent_writes(hapi, "Hi Alice")
    first, second = receiver.wait_for(2)

    for call in (first, second):
        assert call.headers["X-API-Key"] == hook["secret"]
        assert call.headers["Content-Type"] == "application/json"
        assert call.path == "/hook"
    body = first.body
    assert body["trigger"] == "message:appUser"
    assert body["app"] == {"_id": hapi.srv.app_id}
    assert body["version"] == "v1.1"
    (message,) = body["messages"]
    assert message["text"] == "Hello from the page"
    assert message["role"] == "appUser"
    user = hapi.request("GET", hapi.user_url(DEMO_ALICE_ID)).json()["appUser"]
    assert message["authorId"] == user["_id"]
    assert isinstance(message["received"], float)
    assert body["appUser"] == {
        "_id": user["_id"],
        "userId": DEMO_ALICE_ID,
        "conversationStarted": True,
    }
    history = hapi.get_messages(DEMO_ALICE_ID).json()
    assert body["conversation"] == {"_id": history["conversation"]["_id"]}
    assert message == history["messages"][-2]  # exactly what the API shows
    assert second.body["trigger"] == "message:appMaker"
    assert second.body["messages"][0]["text"] == "Hi Alice"
    assert second.body["messages"][0] == history["messages"][-1]


def test_v1_full_app_user_and_client_when_asked(hapi: Api, receiver: Receiver) -> None:
    body = {"target": receiver.url, "includeFullAppUser": True, "includeClient": True}
    assert hapi.request("POST", v1_url(hapi), json=body).status_code == 201
    user_writes(hapi, "hi")
    (call,) = receiver.wait_for(1)
    user = hapi.request("GET", hapi.user_url(DEMO_ALICE_ID)).json()["appUser"]
    assert call.body["appUser"] == user
    assert call.body["client"]["platform"] == user["clients"][0]["platform"]


def test_v2_message_payloads(hapi: Api, receiver: Receiver) -> None:
    hook = register(hapi, "v2", receiver.url)
    user_writes(hapi, "Hello from the page")
    agent_writes(hapi, "Hi Alice")
    first, second = receiver.wait_for(2)
    assert first.headers["X-API-Key"] == hook["secret"]
    body = first.body
    assert set(body) == {"app", "webhook", "events"}
    assert body["app"] == {"id": hapi.srv.app_id}
    assert body["webhook"] == {"id": hook["id"], "version": "v2"}
    (event,) = body["events"]
    assert event["type"] == "conversation:message"
    assert len(event["id"]) == 24
    assert event["createdAt"].endswith("Z")
    payload = event["payload"]
    user = hapi.request(
        "GET", f"{hapi.srv.base_url}/v2/apps/{hapi.srv.app_id}/users/{quote(DEMO_ALICE_ID)}"
    )
    user_id = user.json()["user"]["id"]
    conversation = hapi.get_messages(DEMO_ALICE_ID).json()["conversation"]["_id"]
    assert payload["conversation"] == {"id": conversation, "type": "personal"}
    message = payload["message"]
    assert message["content"] == {"type": "text", "text": "Hello from the page"}
    assert message["author"]["type"] == "user"
    assert message["author"]["userId"] == user_id
    assert message["author"]["user"] == {"id": user_id, "externalId": DEMO_ALICE_ID}
    assert message["received"].endswith("Z")
    api_copy = hapi.request(
        "GET",
        f"{hapi.srv.base_url}/v2/apps/{hapi.srv.app_id}/conversations/{conversation}/messages",
    ).json()["messages"]
    assert message["id"] == api_copy[-2]["id"]
    business = second.body["events"][0]["payload"]["message"]
    assert business["author"]["type"] == "business"  # a bot must skip these (no echo loop)
    assert business["content"]["text"] == "Hi Alice"
    assert second.body["events"][0]["id"] != event["id"]


def test_v2_full_user_and_source_when_asked(hapi: Api, receiver: Receiver) -> None:
    hook = {
        "target": receiver.url,
        "triggers": ["conversation:message"],
        "includeFullUser": True,
        "includeFullSource": True,
    }
    resp = hapi.request("POST", v2_url(hapi), json={"type": "custom", "webhooks": [hook]})
    assert resp.status_code == 201
    user_writes(hapi, "hi")
    (call,) = receiver.wait_for(1)
    message = call.body["events"][0]["payload"]["message"]
    assert message["author"]["user"]["externalId"] == DEMO_ALICE_ID
    assert "profile" in message["author"]["user"]
    assert "type" in message["source"]["client"]


@pytest.mark.parametrize("version", VERSIONS)
def test_button_presses_on_the_user_page_send_webhooks(
    hapi: Api, receiver: Receiver, version: str
) -> None:
    postback_action = {"type": "postback", "text": "Talk to sales", "payload": "SALES"}
    sent = agent_writes(hapi, "Pick one", actions=[postback_action])
    reply_action = {"type": "reply", "text": "Yes", "payload": "YES"}
    quick = agent_writes(hapi, "Or answer", actions=[reply_action])
    register(hapi, version, receiver.url, None if version == "v2" else ["*"])
    postback_id = sent["actions"][0]["_id"]
    reply_id = quick["actions"][0]["_id"]
    assert press(hapi, postback_id).status_code == 201
    assert press(hapi, reply_id).status_code == 201
    postback, reply = receiver.wait_for(2)
    if version == "v2":
        (event,) = postback.body["events"]
        assert event["type"] == "conversation:postback"
        assert event["payload"]["postback"] == {"payload": "SALES"}
        assert event["payload"]["user"]["externalId"] == DEMO_ALICE_ID
        assert event["payload"]["source"]["type"]
        message = reply.body["events"][0]["payload"]["message"]
        assert message["content"]["text"] == "Yes"
        assert message["content"]["payload"] == "YES"
    else:
        assert postback.body["trigger"] == "postback"
        (entry,) = postback.body["postbacks"]
        assert entry["action"] == {
            "_id": postback_id,
            "type": "postback",
            "text": "Talk to sales",
            "payload": "SALES",
        }
        assert entry["message"]["_id"] == sent["_id"]
        assert entry["message"]["text"] == "Pick one"
        assert postback.body["appUser"]["userId"] == DEMO_ALICE_ID
        assert isinstance(postback.body["timestamp"], float)
        assert reply.body["trigger"] == "message:appUser"
        assert reply.body["messages"][0]["payload"] == "YES"
    recorded = hapi.srv.store.postbacks(hapi.srv.app_id, DEMO_ALICE_ID)
    assert [p["action"]["payload"] for p in recorded] == ["SALES"]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_users_typing_and_reading_send_webhooks(
    hapi: Api, receiver: Receiver, version: str
) -> None:
    triggers = None if version == "v2" else ["typing:appUser", "conversation:read"]
    register(hapi, version, receiver.url, triggers)
    # the business's own typing and reads fire nothing
    assert hapi.activity(DEMO_ALICE_ID, {"role": "appMaker", "type": "typing:start"}).ok
    assert hapi.activity(DEMO_ALICE_ID, {"role": "appMaker", "type": "conversation:read"}).ok
    user_activity(hapi, "typing:start")
    user_activity(hapi, "typing:stop")
    user_activity(hapi, "conversation:read")
    calls = receiver.wait_for(3)
    assert len(receiver.quiet(0.3)) == 3
    user_id = hapi.request("GET", hapi.user_url(DEMO_ALICE_ID)).json()["appUser"]["_id"]
    if version == "v2":
        events = [c.body["events"][0] for c in calls]
        assert [e["type"] for e in events] == [
            "conversation:typing",
            "conversation:typing",
            "conversation:read",
        ]
        assert [e["payload"]["activity"]["type"] for e in events] == [
            "typing:start",
            "typing:stop",
            "conversation:read",
        ]
        author = events[2]["payload"]["activity"]["author"]
        assert author["type"] == "user"
        assert author["userId"] == user_id
    else:
        assert [c.body["trigger"] for c in calls] == [
            "typing:appUser",
            "typing:appUser",
            "conversation:read",
        ]
        assert calls[0].body["activity"] == {"type": "typing:start"}
        assert calls[2].body["appUser"] == {"_id": user_id}
        assert calls[2].body["source"]["type"]
        assert isinstance(calls[2].body["timestamp"], float)
    # the user's typing is not the business's indicator
    typing = hapi.session.get(
        f"{hapi.srv.base_url}/_sandbox/typing/{hapi.srv.app_id}/{quote(DEMO_ALICE_ID, safe='')}",
        timeout=10,
    ).json()
    assert typing["typing"] is True  # still the business's typing:start from above


def test_a_v2_user_read_through_the_api_sends_conversation_read(
    hapi: Api, receiver: Receiver
) -> None:
    register(hapi, "v2", receiver.url, ["conversation:read"])
    conversation = hapi.get_messages(DEMO_ALICE_ID).json()["conversation"]["_id"]
    user_id = hapi.request("GET", hapi.user_url(DEMO_ALICE_ID)).json()["appUser"]["_id"]
    url = f"{hapi.srv.base_url}/v2/apps/{hapi.srv.app_id}/conversations/{conversation}/activity"
    body = {"author": {"type": "user", "userId": user_id}, "type": "conversation:read"}
    assert hapi.request("POST", url, json=body).status_code == 200
    (call,) = receiver.wait_for(1)
    assert call.body["events"][0]["type"] == "conversation:read"


def test_triggers_filter_what_is_sent(hapi: Api, receiver: Receiver) -> None:
    register(hapi, "v1.1", receiver.url, ["message:appMaker"])
    user_writes(hapi, "not for this webhook")
    agent_writes(hapi, "for this webhook")
    (call,) = receiver.wait_for(1)
    assert texts(receiver.quiet(0.3)) == ["for this webhook"]
    assert call.body["trigger"] == "message:appMaker"


def test_webhooks_of_other_apps_hear_nothing(hapi: Api, receiver: Receiver) -> None:
    app_id, key_id, secret = hapi.srv.store.create_app()
    url = f"{hapi.srv.base_url}/v1.1/apps/{app_id}/webhooks"
    resp = hapi.session.post(url, json={"target": receiver.url}, auth=(key_id, secret), timeout=10)
    assert resp.status_code == 201
    user_writes(hapi, "for the demo app only")
    assert receiver.quiet(0.4) == []


# ---------------------------------------------------------------------- retry policy


@pytest.mark.parametrize("version", VERSIONS)
def test_a_failed_call_is_retried_with_back_off(
    hapi: Api, receiver: Receiver, version: str
) -> None:
    receiver.script = [500, 503, 200]
    register(hapi, version, receiver.url)
    user_writes(hapi, "retry me")
    calls = receiver.wait_for(3)
    assert len(receiver.quiet(0.4)) == 3  # delivered on the third: no fourth
    assert calls[0].body == calls[1].body == calls[2].body  # same event id on every attempt
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= DELAYS[0] * 0.9
    assert gaps[1] >= DELAYS[1] * 0.9
    outcomes = [(e["attempt"], e["status"], e["outcome"]) for e in hapi.srv.webhook_log()]
    assert outcomes == [(1, 500, "retry"), (2, 503, "retry"), (3, 200, "delivered")]


def test_a_call_is_tried_at_most_five_times(hapi: Api, receiver: Receiver) -> None:
    receiver.script = [500] * MAX_ATTEMPTS
    register(hapi, "v1.1", receiver.url)
    user_writes(hapi, "never accepted")
    user_writes(hapi, "the next one")
    calls = receiver.wait_for(MAX_ATTEMPTS + 1)
    assert texts(receiver.quiet(0.5)) == ["never accepted"] * MAX_ATTEMPTS + ["the next one"]
    log = hapi.srv.webhook_log()
    assert log[MAX_ATTEMPTS - 1]["outcome"] == "gave up"
    assert log[-1]["outcome"] == "delivered"
    assert len(calls) == MAX_ATTEMPTS + 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406])
@pytest.mark.parametrize("version", VERSIONS)
def test_no_retry_on_non_recoverable_answers(
    hapi: Api, receiver: Receiver, version: str, status: int
) -> None:
    receiver.script = [status]
    register(hapi, version, receiver.url)
    user_writes(hapi, "refused")
    user_writes(hapi, "accepted")
    receiver.wait_for(2)
    assert texts(receiver.quiet(0.4)) == ["refused", "accepted"]
    outcomes = [(e["status"], e["outcome"]) for e in hapi.srv.webhook_log()]
    assert outcomes == [(status, "refused"), (200, "delivered")]


def test_no_answer_in_time_counts_as_a_failure(receiver: Receiver) -> None:
    receiver.hold = 1.0
    with (
        SandboxServer(port=0, webhook_retry_delays=DELAYS, webhook_timeout=0.3) as srv,
        requests.Session() as session,
    ):
        api = Api(srv, session)
        register(api, "v1.1", receiver.url)
        user_writes(api, "slow target")
        calls = receiver.wait_for(2)
        assert texts(calls) == ["slow target", "slow target"]
        first = srv.webhook_log()[0]
        assert (first["status"], first["error"], first["outcome"]) == (None, "timeout", "retry")


def test_a_target_that_refuses_connections_is_retried(hapi: Api) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        dead = f"http://127.0.0.1:{closed.server_address[1]}/hook"
    register(hapi, "v1.1", dead)
    user_writes(hapi, "nobody listens")
    deadline = time.monotonic() + 10
    while len(hapi.srv.webhook_log()) < MAX_ATTEMPTS and time.monotonic() < deadline:
        time.sleep(0.05)
    log = hapi.srv.webhook_log()
    assert [e["outcome"] for e in log] == ["retry"] * (MAX_ATTEMPTS - 1) + ["gave up"]
    assert all(e["status"] is None and e["error"] for e in log)
    assert all("secret" not in json.dumps(e) for e in log)


# ---------------------------------------------------------------------- order, threads, deletion


@pytest.mark.parametrize("version", VERSIONS)
def test_events_arrive_in_order_even_across_retries(
    hapi: Api, receiver: Receiver, version: str
) -> None:
    receiver.script = [500]
    register(hapi, version, receiver.url)
    sent = [f"message {n}" for n in range(20)]
    for n, text in enumerate(sent):
        if n % 2:
            agent_writes(hapi, text)
        else:
            user_writes(hapi, text)
    calls = receiver.wait_for(21)
    assert texts(calls) == [sent[0], *sent]  # the first retried before any later one


def test_a_slow_target_never_holds_up_the_api(hapi: Api, receiver: Receiver) -> None:
    receiver.hold = 1.5
    register(hapi, "v1.1", receiver.url)
    started = time.monotonic()
    for n in range(3):
        agent_writes(hapi, f"quick {n}")
    assert time.monotonic() - started < 1.0
    assert texts(receiver.wait_for(3)) == ["quick 0", "quick 1", "quick 2"]


@pytest.mark.parametrize("version", VERSIONS)
def test_deleting_a_webhook_stops_its_deliveries(
    hapi: Api, receiver: Receiver, version: str
) -> None:
    hook = register(hapi, version, receiver.url)
    user_writes(hapi, "before")
    receiver.wait_for(1)
    delete(hapi, version, hook)
    user_writes(hapi, "after")
    assert texts(receiver.quiet(0.4)) == ["before"]


def test_deleting_a_webhook_ends_its_pending_retries() -> None:
    slow = (0.3, 0.3, 0.3, 0.3)
    rec = Receiver(script=[500] * MAX_ATTEMPTS)
    rec.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    threading.Thread(target=rec.server.serve_forever, daemon=True).start()
    try:
        with (
            SandboxServer(port=0, webhook_retry_delays=slow) as srv,
            requests.Session() as session,
        ):
            api = Api(srv, session)
            hook = register(api, "v1.1", rec.url)
            user_writes(api, "failing")
            rec.wait_for(1)
            delete(api, "v1.1", hook)
            assert len(rec.quiet(1.0)) == 1
    finally:
        rec.server.shutdown()
        rec.server.server_close()


def test_deleting_an_integration_stops_its_webhooks(hapi: Api, receiver: Receiver) -> None:
    hook = register(hapi, "v2", receiver.url)
    resp = hapi.request("DELETE", v2_url(hapi, f"/{hook['integrationId']}"))
    assert resp.status_code == 200
    user_writes(hapi, "nobody hears this")
    assert receiver.quiet(0.4) == []


def test_the_delivery_log_is_served(hapi: Api, receiver: Receiver) -> None:
    hook = register(hapi, "v1.1", receiver.url)
    user_writes(hapi, "logged")
    receiver.wait_for(1)
    deadline = time.monotonic() + 5
    while not hapi.srv.webhook_log() and time.monotonic() < deadline:
        time.sleep(0.02)
    entries = hapi.session.get(f"{hapi.srv.base_url}/_sandbox/webhooks/log", timeout=10).json()
    (entry,) = entries["entries"]
    assert entry["webhookId"] == hook["id"]
    assert entry["trigger"] == "message:appUser"
    assert entry["outcome"] == "delivered"
    assert hook["secret"] not in json.dumps(entries)
    later = hapi.session.get(
        f"{hapi.srv.base_url}/_sandbox/webhooks/log", params={"since": entry["seq"]}, timeout=10
    )
    assert later.json() == {"entries": []}


def test_the_end_user_activity_endpoint_checks_its_input(hapi: Api) -> None:
    app = hapi.srv.app_id
    url = (
        f"{hapi.srv.base_url}/_sandbox/apps/{app}/appusers/{quote(DEMO_ALICE_ID, safe='')}/activity"
    )
    assert hapi.session.post(url, json={"type": "typing:maybe"}, timeout=10).status_code == 400
    unknown = url.replace(quote(DEMO_ALICE_ID, safe=""), "nobody")
    assert hapi.session.post(unknown, json={"type": "typing:start"}, timeout=10).status_code == 404


def test_the_end_user_writes_into_another_of_their_conversations(
    hapi: Api, receiver: Receiver
) -> None:
    """``conversationId`` on the end-user route: the message is in that conversation (v2
    history by id), not the default one, and the v2 webhook names that conversation.
    Someone else's conversation is 404, a malformed id 400."""
    hook = register(hapi, "v2", receiver.url)
    app = hapi.srv.app_id
    chloe = quote(DEMO_ENCODED_USER_ID, safe="")
    url = f"{hapi.srv.base_url}/_sandbox/apps/{app}/appusers/{chloe}/messages"
    body = {"text": "About my return", "conversationId": DEMO_SECOND_CONVERSATION_ID}
    resp = hapi.session.post(url, json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    (call,) = receiver.wait_for(1)
    assert call.headers["X-API-Key"] == hook["secret"]
    payload = call.body["events"][0]["payload"]
    assert payload["conversation"] == {"id": DEMO_SECOND_CONVERSATION_ID, "type": "personal"}
    assert payload["message"]["content"]["text"] == "About my return"
    conversations = f"{hapi.srv.base_url}/v2/apps/{app}/conversations"
    second = hapi.request("GET", f"{conversations}/{DEMO_SECOND_CONVERSATION_ID}/messages")
    assert second.json()["messages"][-1]["content"]["text"] == "About my return"
    main = hapi.get_messages(DEMO_ENCODED_USER_ID).json()["messages"]
    assert all(m.get("text") != "About my return" for m in main)

    alice = url.replace(chloe, quote(DEMO_ALICE_ID, safe=""))
    assert hapi.session.post(alice, json=body, timeout=10).status_code == 404  # not hers
    for bad in ("", 42):
        wrong = {"text": "x", "conversationId": bad}
        assert hapi.session.post(url, json=wrong, timeout=10).status_code == 400
    missing = {"text": "x", "conversationId": "5e1f00000000000000000000"}
    assert hapi.session.post(url, json=missing, timeout=10).status_code == 404
