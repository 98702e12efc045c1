"""Attachment upload: multipart ``source``, ``access=public``, 10 MB limit, serving back."""

from __future__ import annotations

import pytest
from sandbox_helpers import Api

from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_APP_ID, SandboxServer

PDF = b"%PDF-1.4\n% fake but fine\n" + bytes(range(256)) * 8


def upload_url(api: Api, query: str = "access=public", short: bool = False) -> str:
    if short:
        return f"{api.srv.base_url}/v1.1/attachments?{query}"
    return f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/attachments?{query}"


@pytest.mark.parametrize("short", [False, True])
def test_upload_fetch_and_send(api: Api, short: bool) -> None:
    resp = api.request(
        "POST",
        upload_url(api, short=short),
        files={"source": ("report 2024.pdf", PDF, "application/pdf")},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {"mediaUrl", "mediaType"}
    assert body["mediaType"] == "application/pdf"
    assert body["mediaUrl"].startswith(f"{api.srv.base_url}/_sandbox/media/")
    assert body["mediaUrl"].endswith("/report%202024.pdf")
    fetched = api.session.get(body["mediaUrl"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"
    msg = api.post_message(
        DEMO_ALICE_ID, {"role": "appMaker", "type": "file", "mediaUrl": body["mediaUrl"]}
    ).json()["message"]
    assert msg["mediaUrl"] == body["mediaUrl"]
    assert msg["mediaType"] == "application/pdf"


def test_upload_for_message_links_a_user(api: Api) -> None:
    ok = api.request(
        "POST",
        upload_url(api, f"access=public&for=message&userId={DEMO_ALICE_ID}"),
        files={"source": ("a.png", b"\x89PNG\r\n\x1a\nxx", "image/png")},
    )
    assert ok.status_code == 201
    unknown = api.request(
        "POST",
        upload_url(api, "access=public&for=message&appUserId=ghost"),
        files={"source": ("a.png", b"x", "image/png")},
    )
    assert unknown.status_code == 404
    missing = api.request(
        "POST", upload_url(api, "access=public&for=message"), files={"source": ("a", b"x")}
    )
    assert missing.status_code == 400


@pytest.mark.parametrize(
    ("query", "kwargs", "needle"),
    [
        ("", {"files": {"source": ("a.txt", b"x")}}, '"access"'),
        ("access=private", {"files": {"source": ("a.txt", b"x")}}, '"access"'),
        ("access=public", {"files": {"file": ("a.txt", b"x")}}, '"source"'),
        ("access=public", {"json": {"source": "x"}}, "multipart/form-data"),
        ("access=public&for=later", {"files": {"source": ("a.txt", b"x")}}, '"for"'),
    ],
)
def test_upload_errors(api: Api, query: str, kwargs: dict[str, object], needle: str) -> None:
    resp = api.request("POST", upload_url(api, query), **kwargs)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "bad_request"
    assert needle in resp.json()["error"]["description"]


@pytest.mark.parametrize(
    "size", [10 * 1024 * 1024 + 1, 11 * 1024 * 1024], ids=["just-over", "early"]
)
def test_upload_over_10_mb_is_413_and_server_survives(api: Api, size: int) -> None:
    big = b"\0" * size
    resp = api.request("POST", upload_url(api), files={"source": ("big.bin", big)})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"
    small = api.request("POST", upload_url(api), files={"source": ("ok.txt", b"fine")})
    assert small.status_code == 201
    assert small.json()["mediaType"] == "text/plain"


def test_unknown_media_is_404(srv: SandboxServer, api: Api) -> None:
    assert (
        api.session.get(f"{srv.base_url}/_sandbox/media/nope/x.pdf", timeout=10).status_code == 404
    )
    resp = api.request("POST", upload_url(api), files={"source": ("x.pdf", PDF)})
    wrong_name = resp.json()["mediaUrl"].rsplit("/", 1)[0] + "/other.pdf"
    assert api.session.get(wrong_name, timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("query", "auth", "status"),
    [("access=public", ("app_nope", "x" * 40), 401), ("", None, 400)],
    ids=["unauthorized", "no-access"],
)
def test_early_refusals_of_big_uploads_are_answered(
    api: Api, query: str, auth: tuple[str, str] | None, status: int
) -> None:
    kwargs = {"auth": auth} if auth else {}
    resp = api.request(
        "POST",
        upload_url(api, query),
        files={"source": ("big.bin", b"\2" * (8 * 1024 * 1024))},
        **kwargs,
    )
    assert resp.status_code == status
    assert "error" in resp.json()
