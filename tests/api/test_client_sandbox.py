"""The real client against the real sandbox over HTTP on a loopback port 0.

Nothing here mocks ``requests``: every test is a real request to a real socket, with the
sandbox's fault injection producing the failures the client must classify.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

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
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY, OutgoingMessage, Sender
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_NO_CLIENTS_USER_ID,
    DEMO_PAGING_USER_ID,
    FaultConfig,
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


def test_path_like_user_ids_are_one_segment(sandbox: Any) -> None:
    api = V1Api(client_for(sandbox))
    user = api.get_user(DEMO_ENCODED_USER_ID)
    assert user.user_id == DEMO_ENCODED_USER_ID
    for weird in ("a/../b", "with space", "ünï/cödé", "q?x#y"):
        created = api.create_user(weird)
        assert created.user_id == weird
        assert api.get_user(weird).id == created.id
    with pytest.raises(ConfigError):
        api.get_user("..")
    api.close()


def test_v1_api_send_history_and_paging(sandbox: Any) -> None:
    api = V1Api(client_for(sandbox))
    sent = api.send_message(
        DEMO_ALICE_ID,
        OutgoingMessage(
            "hi", Sender("Ann", "ann@example.com"), metadata={CLIENT_ID_METADATA_KEY: "c-1"}
        ),
    )
    assert sent.is_business and sent.client_id == "c-1"
    page = api.history(DEMO_ALICE_ID)
    assert page.messages[-1].id == sent.id
    # Walk the 250-message user back to the start: no gaps, no duplicates.
    seen: list[str] = []
    page = api.history(DEMO_PAGING_USER_ID)
    pages = 1
    seen = [m.id for m in page.messages]
    while page.has_older:
        page = api.history(DEMO_PAGING_USER_ID, page.older_cursor)
        seen = [m.id for m in page.messages] + seen
        pages += 1
    assert (
        len(seen)
        == len(set(seen))
        == len(sandbox.store.messages(sandbox.app_id, DEMO_PAGING_USER_ID))
    )
    assert pages == 3
    api.close()


def test_history_of_user_without_conversation_is_empty(sandbox: Any) -> None:
    api = V1Api(client_for(sandbox))
    api.create_user("fresh-user")
    assert api.history("fresh-user").messages == ()
    assert api.get_user(DEMO_NO_CLIENTS_USER_ID).reachable_clients == ()
    with pytest.raises(HttpError) as info:
        api.history("nobody-here")
    assert info.value.status == 404
    api.close()


def test_create_user_conflict_and_upload(sandbox: Any) -> None:
    api = V1Api(client_for(sandbox))
    api.create_user("new-user-1", given_name="New", email="new@example.com")
    with pytest.raises(HttpError) as info:
        api.create_user("new-user-1")
    assert info.value.status == 409
    url, kind = api.upload("a.txt", b"hello", "text/plain", user_ref="new-user-1")
    assert kind == "text/plain"
    import requests

    with requests.get(url, timeout=5) as resp:
        assert resp.content == b"hello"
    with pytest.raises(HttpError) as big:
        api.upload("big.bin", b"x" * (10 * 1024 * 1024 + 1), "application/octet-stream")
    assert big.value.status == 413
    api.close()


def test_check_connection_tells_what_is_wrong(sandbox: Any) -> None:
    V1Api(client_for(sandbox)).check_connection()
    with pytest.raises(HttpError) as bad_secret:
        V1Api(client_for(sandbox, secret="wrong-secret-" + "x" * 40)).check_connection()
    assert bad_secret.value.status == 401 and bad_secret.value.code == "unauthorized"
    assert "wrong-secret" not in str(bad_secret.value)
    with pytest.raises(HttpError) as bad_jwt:
        V1Api(client_for(sandbox, method="jwt", secret="y" * 40)).check_connection()
    assert bad_jwt.value.status == 401 and bad_jwt.value.code == "invalid_auth"
    with pytest.raises(HttpError) as bad_app:
        V1Api(client_for(sandbox, app_id="000000000000000000000000")).check_connection()
    assert bad_app.value.status == 404


def test_bad_request_carries_server_description(sandbox: Any) -> None:
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


def test_connection_refused_never_reached() -> None:
    client = SmoochClient(f"http://127.0.0.1:{_free_port()}", "app", Credentials("k", "s"))
    with pytest.raises(ConnectFailed) as info:
        client.get_app_user("u")
    assert not info.value.may_have_reached_server and info.value.is_retryable
    assert "refused" in info.value.user_message


def test_unknown_host_is_a_connect_failure() -> None:
    client = SmoochClient(
        "https://no-such-host.invalid", "app", Credentials("k", "s"), connect_timeout=3
    )
    with pytest.raises(ConnectFailed):
        client.get_app_user("u")


@pytest.mark.parametrize(
    ("faults", "kind", "status"),
    [
        (FaultConfig(error_rate=1.0, seed=1), HttpError, None),
        (FaultConfig(rate_limit_rate=1.0, retry_after=7), HttpError, 429),
        (FaultConfig(rate_limit_rate=1.0), HttpError, 429),
        (FaultConfig(drop_before_rate=1.0), ConnectionDropped, None),
        (FaultConfig(drop_after_rate=1.0), ConnectionDropped, None),
        (FaultConfig(hang_rate=1.0), ReadTimedOut, None),
    ],
)
def test_faults_are_classified(
    sandbox: Any, faults: FaultConfig, kind: type[ApiError], status: int | None
) -> None:
    sandbox.set_faults(faults)
    client = client_for(sandbox, read_timeout=0.5)
    with pytest.raises(kind) as info:
        client.post_message(DEMO_ALICE_ID, {"text": "fault"})
    err = info.value
    if status is not None:
        assert err.status == status
    if isinstance(err, HttpError) and err.status == 429:
        assert err.is_rate_limited and "Rate limited" in err.user_message
        assert err.retry_after == (7.0 if faults.retry_after else None)
    if isinstance(err, HttpError) and status is None:
        assert err.status in (500, 503) and err.code
    if kind in (ConnectionDropped, ReadTimedOut):
        assert err.may_have_reached_server
    stored = [
        m for m in sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID) if m.get("text") == "fault"
    ]
    assert len(stored) == (1 if faults.drop_after_rate else 0)
    sandbox.set_faults(FaultConfig())
    client.close()


def test_latency_is_felt_and_read_timeout_applies(sandbox: Any) -> None:
    sandbox.set_faults(FaultConfig(latency_ms=300))
    client = client_for(sandbox)
    start = time.monotonic()
    client.get_app_user(DEMO_ALICE_ID)
    assert time.monotonic() - start >= 0.3
    client.close()


def test_non_json_answer_is_a_bad_response(sandbox: Any) -> None:
    # The end-user HTML page stands in for a server that is not a Smooch API.
    client = SmoochClient(sandbox.base_url + "/users", "app", Credentials("k", "s"))
    with pytest.raises((BadResponse, HttpError)):
        client.get_app_user(DEMO_ALICE_ID)
