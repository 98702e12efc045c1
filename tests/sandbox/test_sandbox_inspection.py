"""Request log, end-user writes, web pages (rendering + escaping) and the avatar endpoint."""

from __future__ import annotations

import json
import struct
import zlib
from urllib.parse import quote

import jwt
import pytest
from sandbox_helpers import Api

from smooch_desktop.sandbox import (
    DEMO_AGENT_EMAIL,
    DEMO_ALICE_ID,
    DEMO_APP_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_KEY_ID,
    DEMO_SECRET,
    FaultConfig,
)
from smooch_desktop.sandbox.store import email_hash


def test_log_records_every_api_request_without_secrets(api: Api) -> None:
    token = jwt.encode(
        {"scope": "app"}, DEMO_SECRET, algorithm="HS256", headers={"kid": DEMO_KEY_ID}
    )
    api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "logged"})
    api.session.get(
        api.user_url(DEMO_ALICE_ID), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    api.session.get(api.user_url(DEMO_ALICE_ID), timeout=10)  # 401
    api.request("GET", api.user_url("ghost"))  # 404
    api.request(
        "POST",
        api.user_url(DEMO_ALICE_ID, "/messages"),
        data=b"{bad",
        headers={"Content-Type": "application/json"},
    )
    api.request("GET", api.user_url(DEMO_ALICE_ID, "/messages"), params={"before": "1700000000.5"})
    api.session.get(f"{api.srv.base_url}/", timeout=10)  # not an API request: not logged

    resp = api.session.get(f"{api.srv.base_url}/_sandbox/log", timeout=10)
    assert resp.status_code == 200
    entries = resp.json()["entries"]
    assert entries == api.srv.log()
    assert [(e["method"], e["status"], e["auth"]) for e in entries] == [
        ("POST", 201, "basic"),
        ("GET", 200, "jwt"),
        ("GET", 401, "none"),
        ("GET", 404, "basic"),
        ("POST", 400, "basic"),
        ("GET", 200, "basic"),
    ]
    first = entries[0]
    assert set(first) == {
        "seq",
        "time",
        "method",
        "path",
        "query",
        "status",
        "body",
        "auth",
        "fault",
    }
    assert first["body"] == {"role": "appMaker", "text": "logged"}
    assert (
        first["path"]
        == f"/v1.1/apps/{DEMO_APP_ID}/appusers/{quote(DEMO_ALICE_ID, safe='')}/messages"
    )
    assert first["fault"] is None
    assert entries[4]["body"] == "{bad"
    assert entries[5]["query"] == "before=1700000000.5"
    dumped = json.dumps(entries)
    assert DEMO_SECRET not in dumped and token not in dumped

    since = entries[2]["seq"]
    later = api.session.get(f"{api.srv.base_url}/_sandbox/log", params={"since": since}, timeout=10)
    assert [e["seq"] for e in later.json()["entries"]] == [e["seq"] for e in entries[3:]]
    assert api.session.delete(f"{api.srv.base_url}/_sandbox/log", timeout=10).status_code == 200
    assert api.srv.log() == []
    assert (
        api.session.get(f"{api.srv.base_url}/_sandbox/log?since=x", timeout=10).status_code == 400
    )


def test_log_truncates_text_and_summarises_multipart(api: Api) -> None:
    api.request(
        "POST",
        api.user_url(DEMO_ALICE_ID, "/messages"),
        data=("z" * 5000).encode(),
        headers={"Content-Type": "text/plain"},
    )
    api.request(
        "POST",
        f"{api.srv.base_url}/v1.1/apps/{DEMO_APP_ID}/attachments?access=public",
        files={"source": ("a.pdf", b"%PDF-" + b"x" * 100, "application/pdf")},
        data={"note": "hi"},
    )
    text_entry, multipart_entry = api.srv.log()
    assert text_entry["body"] == "z" * 2048
    summary = multipart_entry["body"]["multipart"]
    assert summary["fields"] == {"note": "hi"}
    assert summary["files"] == [
        {"field": "source", "filename": "a.pdf", "contentType": "application/pdf", "size": 105}
    ]


def test_log_marks_faults(api: Api) -> None:
    api.srv.set_faults(FaultConfig(rate_limit_rate=1.0))
    api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "limited"})
    entry = api.srv.log()[-1]
    assert (entry["status"], entry["fault"]) == (429, "rate_limit")
    assert entry["body"] == {"role": "appMaker", "text": "limited"}


def test_end_user_writes_in_without_auth(api: Api) -> None:
    user = quote(DEMO_ALICE_ID, safe="")
    url = f"{api.srv.base_url}/_sandbox/apps/{DEMO_APP_ID}/appusers/{user}/messages"
    resp = api.session.post(url, json={"text": "typed in the messenger"}, timeout=10)
    assert resp.status_code == 201
    message = resp.json()["message"]
    assert message["role"] == "appUser" and message["source"] == {"type": "web"}
    assert api.get_messages(DEMO_ALICE_ID).json()["messages"][-1]["_id"] == message["_id"]
    feed = api.session.get(url, params={"after": message["received"] - 0.0005}, timeout=10).json()
    assert [m["_id"] for m in feed["messages"]] == [message["_id"]]
    assert feed["typing"]["typing"] is False
    assert api.session.post(url, json={"text": ""}, timeout=10).status_code == 400
    via_store = api.srv.store.add_user_message(
        DEMO_APP_ID, DEMO_ALICE_ID, "from python", name="Ally"
    )
    assert via_store["name"] == "Ally" and via_store["role"] == "appUser"
    # the sandbox namespace is not part of the API log: only the GET messages call is
    assert [e["path"].split("/")[1] for e in api.srv.log()] == ["v1.1"]


def test_index_page_lists_users(api: Api) -> None:
    resp = api.session.get(f"{api.srv.base_url}/", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    page = resp.text
    assert "Alice Martin" in page and "Bob Tremblay" in page
    assert f"/users/{DEMO_APP_ID}/{quote(DEMO_ENCODED_USER_ID, safe='')}" in page
    assert "<link" not in page and "<script src" not in page  # self-contained


def test_user_page_renders_and_escapes(api: Api) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    api.srv.store.create_user(DEMO_APP_ID, {"userId": "evil<b>", "givenName": evil})
    api.post_message("evil<b>", {"role": "appUser", "text": evil})
    api.post_message(
        "evil<b>",
        {
            "role": "appMaker",
            "text": "reply & more",
            "name": '"><b>Sam</b>',
            "avatarUrl": "javascript:alert(1)",
            "actions": [{"type": "link", "text": "<i>go</i>", "uri": "javascript:alert(2)"}],
        },
    )
    resp = api.session.get(
        f"{api.srv.base_url}/users/{DEMO_APP_ID}/{quote('evil<b>', safe='')}", timeout=10
    )
    assert resp.status_code == 200
    page = resp.text
    assert evil not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<b>Sam</b>" not in page and "&lt;b&gt;Sam&lt;/b&gt;" in page
    assert "<i>go</i>" not in page
    assert "javascript:alert" not in page
    assert "reply &amp; more" in page
    assert page.count("<script>") == 1  # only the page's own inline poller
    index = api.session.get(f"{api.srv.base_url}/", timeout=10).text
    assert evil not in index


def test_user_page_shows_business_name_avatar_and_typing(api: Api) -> None:
    api.activity(DEMO_ALICE_ID, {"type": "typing:start", "name": "Sam (Support)"})
    url = f"{api.srv.base_url}/users/{DEMO_APP_ID}/{quote(DEMO_ALICE_ID, safe='')}"
    page = api.session.get(url, timeout=10).text
    assert "Sam (Support) is typing…" in page
    assert f"/avatar/{email_hash(DEMO_AGENT_EMAIL)}.png" in page
    assert "Alice Martin" in page
    assert 'id="composer"' in page
    missing = api.session.get(f"{api.srv.base_url}/users/{DEMO_APP_ID}/ghost", timeout=10)
    assert missing.status_code == 404


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    # walk the chunks, checking CRCs, and inflate the image data
    pos, idat = 8, b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        chunk = data[pos + 4 : pos + 8 + size]
        (crc,) = struct.unpack(">I", data[pos + 8 + size : pos + 12 + size])
        assert zlib.crc32(chunk) == crc
        if chunk[:4] == b"IDAT":
            idat += chunk[4:]
        pos += 12 + size
    assert len(zlib.decompress(idat)) == height * (1 + width * 3)
    return width, height


@pytest.mark.parametrize("suffix", ["", ".png", ".jpg"])
def test_avatar_for_demo_emails(api: Api, suffix: str) -> None:
    url = f"{api.srv.base_url}/avatar/{email_hash(DEMO_AGENT_EMAIL)}{suffix}"
    resp = api.session.get(url, params={"s": "64", "d": "404"}, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "image/png"
    assert "max-age" in resp.headers["Cache-Control"]
    assert _png_size(resp.content) == (64, 64)


def test_avatar_unknown_hash_defaults(api: Api) -> None:
    url = f"{api.srv.base_url}/avatar/{email_hash('nobody@nowhere.test')}.png"
    assert api.session.get(url, params={"d": "404"}, timeout=10).status_code == 404
    for params in ({"d": "mm"}, {}, {"d": "identicon", "s": "1"}, {"s": "9999"}, {"s": "junk"}):
        resp = api.session.get(url, params=params, timeout=10)
        assert resp.status_code == 200
        width, _ = _png_size(resp.content)
        expected = {"1": 1, "9999": 512, "junk": 80}.get(str(params.get("s")), 80)
        assert width == expected
    redirect = api.session.get(
        url, params={"d": "https://example.org/d.png"}, timeout=10, allow_redirects=False
    )
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == "https://example.org/d.png"
    # the all-zero hash Smooch uses for "no email"
    assert api.session.get(f"{api.srv.base_url}/avatar/{'0' * 32}.png?s=200&d=mm", timeout=10).ok


def test_avatar_urls_in_messages_resolve(api: Api) -> None:
    msg = api.post_message(
        DEMO_ALICE_ID, {"role": "appMaker", "text": "x", "email": DEMO_AGENT_EMAIL}
    ).json()["message"]
    resp = api.session.get(msg["avatarUrl"], timeout=10)
    assert resp.status_code == 200
    assert _png_size(resp.content) == (200, 200)
