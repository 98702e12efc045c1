"""Path families (v1, v1.1, full and short form), userRef encoding, and the auth rules."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote

import jwt
import pytest
import requests
from sandbox_helpers import Api

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_ANONYMOUS_ID,
    DEMO_APP_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_KEY_ID,
    DEMO_SECRET,
    SandboxServer,
)

TEXT = {"role": "appMaker", "type": "text", "text": "Hello from the tests"}


def _envelope(resp: requests.Response) -> tuple[str, str]:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "description"}
    return body["error"]["code"], body["error"]["description"]


def app_jwt(
    secret: str = DEMO_SECRET, headers: dict[str, object] | None = None, **claims: object
) -> str:
    """Exactly the smooch-api.md §2.3 recipe, with optional changes for negative tests."""
    return jwt.encode(
        {"scope": "app", **claims},
        secret,
        algorithm="HS256",
        headers={"kid": DEMO_KEY_ID, **(headers or {})},
    )


def test_demo_credentials_are_the_published_constants(srv: SandboxServer) -> None:
    assert (srv.app_id, srv.key_id, srv.secret) == (DEMO_APP_ID, DEMO_KEY_ID, DEMO_SECRET)
    assert srv.app_id == "5e1f0000000000000000a001"
    assert srv.base_url.startswith("http://127.0.0.1:")
    assert not srv.base_url.endswith("/")


@pytest.mark.parametrize(
    "prefix",
    [
        "/v1.1/apps/{app}",
        "/v1/apps/{app}",
        "/v1.1",
        "/v1",
    ],
)
def test_every_path_family_posts_and_reads(api: Api, prefix: str) -> None:
    root = api.srv.base_url + prefix.format(app=DEMO_APP_ID)
    url = f"{root}/appusers/{quote(DEMO_ALICE_ID, safe='')}"
    resp = api.request("POST", f"{url}/messages", json=TEXT)
    assert resp.status_code == 201, resp.text
    sent = resp.json()["message"]
    assert api.request("GET", url).json()["appUser"]["userId"] == DEMO_ALICE_ID
    history = api.request("GET", f"{url}/messages").json()["messages"]
    assert history[-1]["_id"] == sent["_id"]
    assert (
        api.request(
            "POST", f"{url}/conversation/activity", json={"role": "appMaker", "type": "typing:stop"}
        ).status_code
        == 200
    )
    assert api.request("POST", f"{url}/conversation/read").status_code == 200


def test_user_ref_accepts_id_and_user_id(api: Api) -> None:
    by_user_id = api.request("GET", api.user_url(DEMO_ALICE_ID)).json()["appUser"]
    by_id = api.request("GET", api.user_url(by_user_id["_id"])).json()["appUser"]
    assert by_id == by_user_id
    anonymous = api.request("GET", api.user_url(DEMO_ANONYMOUS_ID)).json()["appUser"]
    assert "userId" not in anonymous


@pytest.mark.parametrize(
    "user_id",
    ["a/b", "a/../b", "../x", "with space", "ünï©ødé/✓", "50%", "q?x=1#f", "a%2Fb"],
)
def test_user_ids_are_single_literal_segments(api: Api, user_id: str) -> None:
    created = api.request(
        "POST",
        f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/appusers",
        json={"userId": user_id, "givenName": "Odd"},
    )
    assert created.status_code == 201, created.text
    resp = api.post_message(user_id, TEXT)
    assert resp.status_code == 201, resp.text
    fetched = api.request("GET", api.user_url(user_id)).json()["appUser"]
    assert fetched["userId"] == user_id
    assert api.srv.store.messages(DEMO_APP_ID, user_id)[-1]["text"] == TEXT["text"]
    # the short form resolves the same single segment
    short = f"{api.srv.base_url}/v1/appusers/{quote(user_id, safe='')}"
    assert api.request("GET", short).json()["appUser"]["_id"] == fetched["_id"]


def test_demo_user_with_slash_and_unicode(api: Api) -> None:
    resp = api.get_messages(DEMO_ENCODED_USER_ID)
    assert resp.status_code == 200
    # sent unencoded, the slash splits the path and there is no such route
    raw = f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/appusers/{DEMO_ENCODED_USER_ID}/messages"
    assert api.request("GET", raw).status_code == 404


def test_basic_auth_ok_and_errors(api: Api) -> None:
    url = api.user_url(DEMO_ALICE_ID)
    assert api.request("GET", url).status_code == 200
    for auth in [(DEMO_KEY_ID, "wrong-secret"), ("app_unknown", DEMO_SECRET)]:
        resp = api.request("GET", url, auth=auth)
        assert resp.status_code == 401
        assert _envelope(resp)[0] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    [None, "", "Token abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode()],
)
def test_missing_or_unusable_authorization(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    resp = api.session.get(api.user_url(DEMO_ALICE_ID), headers=headers, timeout=10)
    assert resp.status_code == 401
    assert _envelope(resp) == ("unauthorized", "Authorization is required")


def test_jwt_as_documented_is_accepted(api: Api) -> None:
    token = jwt.encode(
        {"scope": "app"}, DEMO_SECRET, algorithm="HS256", headers={"kid": DEMO_KEY_ID}
    )
    resp = api.session.post(
        api.user_url(DEMO_ALICE_ID, "/messages"),
        json=TEXT,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 201


@pytest.mark.parametrize(
    ("token", "description"),
    [
        (
            jwt.encode({"scope": "app"}, DEMO_SECRET, algorithm="HS256"),
            "Invalid JWT header. Missing key id (kid)",
        ),
        (app_jwt(secret="x" * 40), "Invalid JWT signature"),
        (
            app_jwt(scope="account"),
            "Invalid JWT body. Cannot use account scope with app secret key",
        ),
        (
            jwt.encode({}, DEMO_SECRET, algorithm="HS256", headers={"kid": DEMO_KEY_ID}),
            "Invalid JWT body. Missing scope",
        ),
        (
            jwt.encode({"scope": "app"}, "", algorithm="none", headers={"kid": DEMO_KEY_ID}),
            "Invalid JWT header. Unsigned tokens are not accepted",
        ),
        (
            jwt.encode(
                {"scope": "app"}, DEMO_SECRET * 2, algorithm="HS512", headers={"kid": DEMO_KEY_ID}
            ),
            "Invalid JWT header. Unsupported algorithm HS512, must be HS256",
        ),
        (app_jwt(headers={"kid": "app_nope"}), "Invalid JWT header. Unknown key id (kid)"),
        (app_jwt(exp=1), "Invalid JWT body. The token has expired"),
        ("not.a.jwt", "Invalid JWT. The token could not be decoded"),
    ],
    ids=[
        "no-kid",
        "bad-signature",
        "account-scope",
        "no-scope",
        "alg-none",
        "hs512",
        "unknown-kid",
        "expired",
        "garbage",
    ],
)
def test_jwt_errors(api: Api, token: str, description: str) -> None:
    resp = api.session.get(
        api.user_url(DEMO_ALICE_ID), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert resp.status_code == 401
    assert _envelope(resp) == ("invalid_auth", description)


def test_foreign_and_unknown_app_ids(api: Api) -> None:
    other_app, other_key, other_secret = api.srv.store.create_app(name="Other")
    # demo key on the other (existing) app -> 403; on a non-existent app -> 404
    resp = api.request("GET", f"{api.srv.base_url}/v1.1/apps/{other_app}/appusers/x")
    assert resp.status_code == 403
    assert _envelope(resp)[0] == "forbidden"
    resp = api.request("GET", f"{api.srv.base_url}/v1.1/apps/{'f' * 24}/appusers/x")
    assert resp.status_code == 404
    assert _envelope(resp) == ("not_found", "App not found")
    # the other key's short form is scoped to its own (empty) app
    resp = api.request(
        "GET", f"{api.srv.base_url}/v1.1/appusers/{DEMO_ALICE_ID}", auth=(other_key, other_secret)
    )
    assert resp.status_code == 404
    assert _envelope(resp)[0] == "not_found"


def test_short_secrets_are_refused_by_create_app(srv: SandboxServer) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        srv.store.create_app(secret="short")
    assert len(srv.store.create_app(secret=secrets.token_hex(16))[2]) == 32


def test_unknown_user_is_404(api: Api) -> None:
    resp = api.post_message("nobody-here", TEXT)
    assert resp.status_code == 404
    assert _envelope(resp) == ("not_found", "App user not found")


def test_non_loopback_host_needs_allow_remote() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        SandboxServer(host="0.0.0.0")
