"""Nothing a client sends may crash the sandbox; every refusal is a JSON envelope."""

from __future__ import annotations

import itertools
import socket

import pytest
import requests
from sandbox_helpers import Api

from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_APP_ID


def still_alive(api: Api) -> None:
    resp = api.request("GET", api.user_url(DEMO_ALICE_ID))
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("data", "content_type", "needle"),
    [
        (b'{"role": "appMaker", "text": ', "application/json", "not valid JSON"),
        (b"\xff\xfe{}", "application/json", "UTF-8"),
        (b'{"role":"appMaker","text":"\xc3\x28"}', "application/json", "UTF-8"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'"text"', "application/json", "JSON object"),
        (b"", "application/json", "JSON object"),
        (b'{"role":"appMaker","text":NaN}', "application/json", "not valid JSON"),
        (b"[" * 40_000 + b"]" * 40_000, "application/json", "not valid JSON"),
        (b'{"role":"appMaker","text":"x"}', "text/plain", "application/json"),
        (
            b'{"role":"appMaker","text":"x"}',
            "application/x-www-form-urlencoded",
            "application/json",
        ),
        (b'{"role":"appMaker","text":"x"}', None, "application/json"),
    ],
    ids=[
        "truncated",
        "bom-utf16",
        "bad-utf8",
        "array",
        "string",
        "empty",
        "nan",
        "deep-nesting",
        "text-plain",
        "form",
        "no-content-type",
    ],
)
def test_bad_bodies_are_400(api: Api, data: bytes, content_type: str | None, needle: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = api.request("POST", api.user_url(DEMO_ALICE_ID, "/messages"), data=data, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "bad_request"
    assert needle in resp.json()["error"]["description"]
    still_alive(api)


def test_json_over_100_kb_is_413(api: Api) -> None:
    body = {"role": "appMaker", "text": "x" * (101 * 1024)}
    resp = api.post_message(DEMO_ALICE_ID, body)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"
    ok = api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "x" * (90 * 1024)})
    assert ok.status_code == 201
    still_alive(api)


def test_chunked_oversized_body_is_413(api: Api) -> None:
    def chunks() -> object:
        yield b'{"role":"appMaker","text":"'
        for _ in range(200):
            yield b"y" * 1024
        yield b'"}'

    resp = api.request(
        "POST",
        api.user_url(DEMO_ALICE_ID, "/messages"),
        data=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    still_alive(api)


@pytest.mark.parametrize(
    "path",
    [
        "/v1.1/nope",
        "/v1.1/apps",
        "/v1.1/apps/x/appusers/y/messages/extra",
        "/%ff%fe",
        "/v1.1/appusers/%ff/messages",
        "/../../etc/passwd",
        "//double//slashes",
        "/users/only-app",
        "/_sandbox/nope",
    ],
)
def test_unknown_paths_are_404_envelopes(api: Api, path: str) -> None:
    resp = api.request("GET", api.srv.base_url + path)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    still_alive(api)


def test_wrong_method_is_405_envelope(api: Api) -> None:
    resp = api.request("DELETE", api.user_url(DEMO_ALICE_ID, "/messages"))
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]
    resp = api.request("GET", api.user_url(DEMO_ALICE_ID, "/conversation/activity"))
    assert resp.status_code == 405


def test_garbage_on_the_socket_does_not_kill_the_server(api: Api) -> None:
    host, port = api.srv.base_url.removeprefix("http://").rsplit(":", 1)
    for payload in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/1.1\r\n", b""):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
    still_alive(api)


def test_client_disconnect_mid_body_does_not_kill_the_server(api: Api) -> None:
    host, port = api.srv.base_url.removeprefix("http://").rsplit(":", 1)
    head = (
        f"POST /v1.1/apps/{DEMO_APP_ID}/appusers/{DEMO_ALICE_ID}/messages HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head + b'{"role":')
    still_alive(api)


def test_many_concurrent_requests(api: Api) -> None:
    import concurrent.futures

    def send(i: int) -> int:
        with requests.Session() as s:
            resp = s.post(
                api.user_url(DEMO_ALICE_ID, "/messages"),
                json={"role": "appMaker", "text": f"concurrent {i}"},
                auth=api.auth,
                timeout=10,
            )
            return resp.status_code

    before = len(api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(40)))
    assert codes == [201] * 40
    after = api.srv.store.messages(DEMO_APP_ID, DEMO_ALICE_ID)
    assert len(after) == before + 40
    received = [m["received"] for m in after]
    assert all(a < b for a, b in itertools.pairwise(received))
