"""The real client against the real sandbox over HTTP on a loopback port 0.

Nothing here mocks ``requests``: every test is a real request to a real socket, with the
sandbox's fault injection producing the failures the client must classify.

What the window relies on runs through the adapter of each API version (``on``: v1.1,
v2 at ``/v2/…``, and v2 at a Zendesk-style ``…/sc/v2/…`` base URL), against the one
sandbox store behind both: sending with a name, email and avatar, typing, history
paging, uploads, refusals mapped onto the same typed errors, and faults classified with
the same "may have reached the server" rule. Only the v1.1 client's own wire details
(``SmoochClient``, the ``/v1`` and short-form paths) stay v1.1-only; the v2 adapter's own
(conversation lookups, parity with v1.1) are in ``test_v2_client_sandbox.py``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from api_versions import avatar_for, connect_api, sandbox_api

from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.client import SmoochClient
from smooch_desktop.api.errors import (
    ApiError,
    BadResponse,
    ConfigError,
    ConnectFailed,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
)
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY as CLIENT_ID
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Action, classify
from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_NO_CLIENTS_USER_ID,
    DEMO_PAGING_MESSAGE_COUNT,
    DEMO_PAGING_USER_ID,
    FaultConfig,
    SandboxServer,
)


def client_for(sandbox: Any, **kw: Any) -> SmoochClient:
    method = kw.pop("method", AuthMethod.BASIC)
    secret = kw.pop("secret", sandbox.secret)
    return SmoochClient(
        sandbox.base_url,
        kw.pop("app_id", sandbox.app_id),
        Credentials(sandbox.key_id, secret, method),
        **kw,
    )


@pytest.mark.parametrize("method", [AuthMethod.BASIC, AuthMethod.JWT])
def test_post_message_as_the_seed_does(sandbox: Any, method: AuthMethod) -> None:
    client = client_for(sandbox, method=method)
    body = client.post_message(
        DEMO_ALICE_ID,
        {
            "type": "text",
            "text": "Hello, world!",
            "role": "appMaker",
            "name": "Business Man",
            "email": "boss@business.com",
        },
    )
    msg = body["message"]
    assert msg["role"] == "appMaker" and msg["name"] == "Business Man"
    assert len(msg["_id"]) == 24 and isinstance(msg["received"], float)
    assert "/avatar/" in msg["avatarUrl"]
    assert body["conversation"]["_id"]
    client.conversation_activity(DEMO_ALICE_ID, "typing:start")
    client.conversation_activity(DEMO_ALICE_ID, "typing:stop")
    kinds = [a["type"] for a in sandbox.store.activities(sandbox.app_id, DEMO_ALICE_ID)]
    assert kinds[-2:] == ["typing:start", "typing:stop"]
    entries = [e for e in sandbox.log() if e["path"].endswith(("/messages", "/activity"))]
    assert [e["status"] for e in entries[-3:]] == [201, 200, 200]
    client.close()


@pytest.mark.parametrize(("version", "short"), [("v1", False), ("v1.1", True), ("v1", True)])
def test_path_families(sandbox: Any, version: str, short: bool) -> None:
    client = client_for(sandbox, version=version, short_form=short)
    user = client.get_app_user(DEMO_ALICE_ID)["appUser"]
    assert user["_id"]
    logged = sandbox.log()[-1]["path"]
    assert logged.startswith(f"/{version}/")
    assert ("/apps/" in logged) is not short
    client.close()


class On:
    """One API flavour on the test's sandbox: its version and base URL; builds adapters."""

    def __init__(self, sandbox: SandboxServer, version: str, base_path: str) -> None:
        self.sandbox = sandbox
        self.version = version
        self.base_url = sandbox.base_url + base_path
        self._made: list[V1Api | V2Api] = []

    @property
    def v2(self) -> bool:
        return self.version == "v2"

    def api(self, **options: Any) -> V1Api | V2Api:
        api = sandbox_api(self.sandbox, self.version, base_url=self.base_url, **options)
        self._made.append(api)
        return api

    def close(self) -> None:
        for api in self._made:
            api.close()


@pytest.fixture(
    params=[("v1.1", ""), ("v2", ""), ("v2", "/sc")], ids=["v1.1", "v2", "v2-zendesk-sc"]
)
def on(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Iterator[On]:
    version, base_path = request.param
    flavour = On(sandbox, version, base_path)
    yield flavour
    flavour.close()


def stored_last(sandbox: SandboxServer, user: str = DEMO_ALICE_ID) -> dict[str, Any]:
    message: dict[str, Any] = sandbox.store.messages(sandbox.app_id, user)[-1]
    return message


def logged(sandbox: SandboxServer, suffix: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.log() if e["path"].endswith(suffix)]


@pytest.mark.parametrize("method", [AuthMethod.BASIC, AuthMethod.JWT])
def test_send_with_name_and_email_then_typing_and_read(on: On, method: AuthMethod) -> None:
    sandbox = on.sandbox
    api = on.api(method=method)
    sender = Sender("Business Man", "Boss@Business.com ")
    sent = api.send_message(
        DEMO_ALICE_ID, OutgoingMessage("Hello, world!", sender, metadata={CLIENT_ID: "c-1"})
    )
    assert sent.is_business and sent.client_id == "c-1" and sent.text == "Hello, world!"
    assert sent.author_name == "Business Man" and len(sent.id) == 24 and sent.received > 0
    # The end user sees the avatar Smooch derives from the email, whichever version sent it.
    gravatar = avatar_for(sandbox.base_url, "boss@business.com")
    assert sent.avatar_url == gravatar
    stored = stored_last(sandbox)
    assert (stored["_id"], stored["role"], stored["name"]) == (sent.id, "appMaker", "Business Man")
    assert stored["avatarUrl"] == gravatar
    (post,) = logged(sandbox, "/messages")
    if on.v2:  # v2 has no author email: the avatar travels instead
        assert post["body"]["author"] == {
            "type": "business",
            "displayName": "Business Man",
            "avatarUrl": gravatar,
        }
        assert "email" not in stored or not stored["email"]
    else:
        assert post["body"]["email"] == "Boss@Business.com " and post["body"]["name"]
    assert post["status"] == 201 and post["auth"] == method.value

    api.send_activity(DEMO_ALICE_ID, "typing:start", sender)
    shown = sandbox.store.typing(sandbox.app_id, DEMO_ALICE_ID)
    assert shown["typing"] and shown["name"] == "Business Man"
    # v1.1 activities take no email; v2's author carries the derived avatar.
    assert shown["avatarUrl"] == (gravatar if on.v2 else None)
    api.send_activity(DEMO_ALICE_ID, "typing:stop", sender)
    assert not sandbox.store.typing(sandbox.app_id, DEMO_ALICE_ID)["typing"]
    api.send_activity(DEMO_ALICE_ID, "conversation:read")
    kinds = [a["type"] for a in sandbox.store.activities(sandbox.app_id, DEMO_ALICE_ID)]
    assert kinds[-3:] == ["typing:start", "typing:stop", "conversation:read"]
    assert [e["status"] for e in logged(sandbox, "/activity")] == [200, 200, 200]
    with pytest.raises(ValueError):
        api.send_activity(DEMO_ALICE_ID, "typing:maybe")


def test_an_avatar_override_wins_over_the_email(on: On) -> None:
    api = on.api()
    mine = "https://images.example.com/me.png"
    sender = Sender("Ann", "ann@example.com", avatar_url=mine)
    sent = api.send_message(DEMO_ALICE_ID, OutgoingMessage("with my picture", sender))
    assert sent.avatar_url == mine == stored_last(on.sandbox)["avatarUrl"]
    api.send_activity(DEMO_ALICE_ID, "typing:start", sender)
    assert on.sandbox.store.typing(on.sandbox.app_id, DEMO_ALICE_ID)["avatarUrl"] == mine
    api.send_activity(DEMO_ALICE_ID, "typing:stop", sender, avatar_url="https://x.example/a.png")
    (_, stop) = logged(on.sandbox, "/activity")
    author = stop["body"]["author"] if on.v2 else stop["body"]
    assert author["avatarUrl"] == "https://x.example/a.png"


def test_path_like_user_ids_are_one_segment(on: On) -> None:
    api = on.api()
    user = api.get_user(DEMO_ENCODED_USER_ID)
    assert user.user_id == DEMO_ENCODED_USER_ID
    for weird in ("a/../b", "with space", "ünï/cödé", "q?x#y"):
        created = api.create_user(weird)
        assert created.user_id == weird
        assert api.get_user(weird).id == created.id
    with pytest.raises(ConfigError):
        api.get_user("..")


def test_send_history_and_paging(on: On) -> None:
    api = on.api()
    sent = api.send_message(
        DEMO_ALICE_ID,
        OutgoingMessage("hi", Sender("Ann", "ann@example.com"), metadata={CLIENT_ID: "c-1"}),
    )
    assert sent.is_business and sent.client_id == "c-1"
    page = api.history(DEMO_ALICE_ID)
    assert page.messages[-1] == sent
    # Walk the 250-message user back to the start: no gaps, no duplicates, oldest first.
    page = api.history(DEMO_PAGING_USER_ID)
    pages = 1
    seen = list(page.messages)
    while page.has_older:
        assert page.older_cursor
        page = api.history(DEMO_PAGING_USER_ID, page.older_cursor)
        seen = list(page.messages) + seen
        pages += 1
    ids = [m.id for m in seen]
    stored = on.sandbox.store.messages(on.sandbox.app_id, DEMO_PAGING_USER_ID)
    assert len(ids) == len(set(ids)) == len(stored) == DEMO_PAGING_MESSAGE_COUNT
    assert ids == [m["_id"] for m in stored]
    assert [m.received for m in seen] == sorted(m.received for m in seen)
    assert pages == 3


def test_history_of_user_without_conversation_is_empty(on: On) -> None:
    api = on.api()
    api.create_user("fresh-user")
    assert api.history("fresh-user").messages == ()
    # Created elsewhere (the v1.1 way: no conversation until the first message).
    client = client_for(on.sandbox)
    client.create_app_user("precreated-user")
    client.close()
    assert api.history("precreated-user").messages == ()
    api.send_message("precreated-user", OutgoingMessage("Welcome", Sender("Ann")))
    assert [m.text for m in api.history("precreated-user").messages] == ["Welcome"]
    assert api.get_user(DEMO_NO_CLIENTS_USER_ID).reachable_clients == ()
    with pytest.raises(HttpError) as info:
        api.history("nobody-here")
    assert info.value.status == 404


def test_create_user_conflict_and_upload(on: On) -> None:
    sandbox = on.sandbox
    api = on.api()
    created = api.create_user("new-user-1", given_name="New", email="new@example.com")
    assert (created.user_id, created.display_name, created.email) == (
        "new-user-1",
        "New",
        "new@example.com",
    )
    with pytest.raises(HttpError) as info:
        api.create_user("new-user-1")
    assert (info.value.status, info.value.code) == (409, "conflict")
    url, kind = api.upload("a.txt", b"hello", "text/plain", user_ref="new-user-1")
    assert kind == "text/plain" and url.endswith("/a.txt")
    upload = logged(sandbox, "/attachments")[-1]
    assert upload["status"] == 201
    if on.v2:  # tied to the user's conversation (deleted with it)
        conversation = api.get_user("new-user-1").conversation_id
        assert upload["query"] == f"access=public&for=message&conversationId={conversation}"
    else:
        assert upload["query"] == "access=public&for=message&userId=new-user-1"
    with requests.get(url, timeout=5) as resp:
        assert resp.content == b"hello"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    url, kind = api.upload("photo.png", png, "image/png", user_ref=DEMO_ALICE_ID)
    assert url.endswith("/photo.png")
    sent = api.send_message(
        DEMO_ALICE_ID,
        OutgoingMessage("", Sender("Ann"), type="image", media_url=url, media_type="image/png"),
    )
    assert (sent.type, sent.media_url, kind) == ("image", url, "image/png")
    before = len(sandbox.log())
    if on.v2:  # v2 takes 50 MB: a larger file is refused before anything is sent
        with pytest.raises(ConfigError) as local:
            api.upload("big.bin", b"x" * (50 * 1024 * 1024 + 1), "application/octet-stream")
        assert local.value.field == "file" and "50 MB" in local.value.message
        assert len(sandbox.log()) == before
    else:
        with pytest.raises(HttpError) as big:
            api.upload("big.bin", b"x" * (10 * 1024 * 1024 + 1), "application/octet-stream")
        assert big.value.status == 413


def test_check_connection_tells_what_is_wrong(on: On) -> None:
    on.api().check_connection()
    with pytest.raises(HttpError) as bad_secret:
        on.api(secret="wrong-secret-" + "x" * 40).check_connection()
    assert bad_secret.value.status == 401 and bad_secret.value.code == "unauthorized"
    assert bad_secret.value.envelope == ("v2" if on.v2 else "v1")
    assert "wrong-secret" not in str(bad_secret.value)
    with pytest.raises(HttpError) as bad_jwt:
        on.api(method=AuthMethod.JWT, secret="y" * 40).check_connection()
    assert bad_jwt.value.status == 401 and bad_jwt.value.code == "invalid_auth"
    with pytest.raises(HttpError) as bad_app:
        on.api(app_id="000000000000000000000000").check_connection()
    assert bad_app.value.status == 404
    assert bad_app.value.code == ("app_not_found" if on.v2 else "not_found")


def test_refusals_carry_the_servers_code_and_description(on: On) -> None:
    api = on.api()
    with pytest.raises(HttpError) as unknown:
        api.get_user("no-such-user")
    assert unknown.value.status == 404
    assert unknown.value.code == ("user_not_found" if on.v2 else "not_found")
    assert classify(unknown.value).action is Action.FAIL
    with pytest.raises(HttpError) as empty:
        api.send_message(DEMO_ALICE_ID, OutgoingMessage("", Sender("Ann")))
    err = empty.value
    assert err.status == 400 and err.code == "bad_request"
    assert err.server_description and "is required" in err.server_description
    assert err.server_description in err.user_message
    assert err.envelope == ("v2" if on.v2 else "v1")
    assert not err.may_have_reached_server and not err.is_retryable
    assert classify(err).action is Action.FAIL
    if on.v2:  # v2's own limit: text of 4,096 characters at most
        with pytest.raises(HttpError) as too_long:
            api.send_message(DEMO_ALICE_ID, OutgoingMessage("x" * 4097, Sender("Ann")))
        assert too_long.value.status == 400 and too_long.value.envelope == "v2"
        assert too_long.value.server_description
        assert classify(too_long.value).action is Action.FAIL
        assert not too_long.value.may_have_reached_server


def test_v1_client_refusals_carry_server_description(sandbox: SandboxServer) -> None:
    client = client_for(sandbox)
    with pytest.raises(HttpError) as info:
        client.post_message(DEMO_ALICE_ID, {"role": "appMaker", "type": "text"})
    err = info.value
    assert err.status == 400 and err.code == "bad_request"
    assert err.server_description and err.server_description in err.user_message
    with pytest.raises(HttpError) as mix:
        client.post_message(
            DEMO_ALICE_ID,
            {
                "text": "x",
                "actions": [
                    {"type": "reply", "text": "a", "payload": "A"},
                    {"type": "link", "text": "b", "uri": "https://example.com"},
                ],
            },
        )
    assert mix.value.status == 400
    client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_never_reached(api_version: str) -> None:
    api = connect_api(api_version, f"http://127.0.0.1:{_free_port()}", "app", Credentials("k", "s"))
    with pytest.raises(ConnectFailed) as info:
        api.send_message("u", OutgoingMessage("x"))
    assert not info.value.may_have_reached_server and info.value.is_retryable
    assert "refused" in info.value.user_message
    assert classify(info.value).action is Action.RETRY
    api.close()


def test_unknown_host_is_a_connect_failure(api_version: str) -> None:
    api = connect_api(
        api_version, "https://no-such-host.invalid", "app", Credentials("k", "s"), connect_timeout=3
    )
    with pytest.raises(ConnectFailed):
        api.get_user("u")
    api.close()


@pytest.mark.parametrize(
    ("faults", "kind", "status"),
    [
        (FaultConfig(error_rate=1.0, seed=1), HttpError, None),
        (FaultConfig(rate_limit_rate=1.0, retry_after=7), HttpError, 429),
        (FaultConfig(rate_limit_rate=1.0), HttpError, 429),
        (FaultConfig(drop_before_rate=1.0), ConnectionDropped, None),
        (FaultConfig(drop_after_rate=1.0), ConnectionDropped, None),
        (FaultConfig(error_after_store_rate=1.0, seed=1), HttpError, None),
        (FaultConfig(hang_rate=1.0), ReadTimedOut, None),
    ],
)
def test_faults_are_classified(
    on: On, faults: FaultConfig, kind: type[ApiError], status: int | None
) -> None:
    sandbox = on.sandbox
    api = on.api(read_timeout=0.5)
    api.get_user(DEMO_ALICE_ID)  # v2: the conversation is known before the fault hits
    sandbox.set_faults(faults)
    try:
        with pytest.raises(kind) as info:
            api.send_message(DEMO_ALICE_ID, OutgoingMessage("fault"))
    finally:
        sandbox.set_faults(FaultConfig())
    err = info.value
    if status is not None:
        assert err.status == status
    if isinstance(err, HttpError) and err.status == 429:
        assert err.is_rate_limited and "Rate limited" in err.user_message
        assert err.retry_after == (7.0 if faults.retry_after else None)
        assert not err.may_have_reached_server
    if isinstance(err, HttpError) and status is None:
        assert err.status in (500, 502, 503, 504)
        if faults.error_rate:  # the API's own error, in the version's envelope
            assert err.code and err.envelope == ("v2" if on.v2 else "v1")
    stored_after = bool(faults.drop_after_rate or faults.error_after_store_rate)
    if kind in (ConnectionDropped, ReadTimedOut) or stored_after:
        # It may have arrived: checked against the history before any resend.
        assert err.may_have_reached_server
        assert classify(err).action is Action.VERIFY
    stored = [
        m for m in sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID) if m.get("text") == "fault"
    ]
    assert len(stored) == (1 if stored_after else 0)


def test_latency_is_felt_and_read_timeout_applies(on: On) -> None:
    on.sandbox.set_faults(FaultConfig(latency_ms=300))
    api = on.api()
    start = time.monotonic()
    api.get_user(DEMO_ALICE_ID)
    assert time.monotonic() - start >= 0.3
    api.close()
    slow = on.api(read_timeout=0.1)
    with pytest.raises(ReadTimedOut) as info:
        slow.history(DEMO_ALICE_ID)
    assert info.value.may_have_reached_server
    on.sandbox.set_faults(FaultConfig())


def test_non_json_answer_is_a_bad_response(sandbox: SandboxServer, api_version: str) -> None:
    # The end-user HTML page stands in for a server that is not a Smooch API.
    api = connect_api(api_version, sandbox.base_url + "/users", "app", Credentials("k", "s"))
    with pytest.raises((BadResponse, HttpError)):
        api.get_user(DEMO_ALICE_ID)
    api.close()
