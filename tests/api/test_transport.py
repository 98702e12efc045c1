"""Network edges of the API client, over real loopback sockets (no mocks).

* Proxies: with HTTP_PROXY/HTTPS_PROXY/ALL_PROXY pointing at a recording "proxy", a
  loopback base URL (the sandbox) is reached directly and the proxy receives nothing —
  the key and secret never travel in clear to it. A remote https host goes through the
  proxy with ``CONNECT`` only (no Authorization header reaches the proxy), and a refused
  tunnel is a "never sent" failure. NO_PROXY is honoured.
* The total deadline also covers the TLS handshake: a peer that trickles its handshake
  is given up on as a failed connect (nothing was sent).
* The transport's hooks really see a request go out (they decide "never sent").

The tests that go through an adapter run on v1.1 and on v2 (``api_version``): both
versions share one HTTP stack, and this proves the v2 adapter does not bypass it.
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from api_versions import connect_api
from loopback_servers import (
    TLS_START,
    RecordingProxy,
    point_proxies_at,
    recording_proxy,
    trickle_server,
)

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import ConnectFailed, ReadTimedOut
from smooch_desktop.api.models import OutgoingMessage
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api

KEY_ID = "app_5e1f00000000000000000001"
SECRET = "s3cr3t-ZmFrZS1zZWNyZXQtZm9yLXRlc3Rz"


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    with recording_proxy() as found:
        point_proxies_at(monkeypatch, found.url)
        yield found


def sandbox_api(sandbox: Any, host: str, api_version: str) -> V1Api | V2Api:
    return connect_api(
        api_version,
        f"http://{host}:{urlsplit(sandbox.base_url).port}",
        sandbox.app_id,
        Credentials(sandbox.key_id, sandbox.secret),
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_base_url_never_goes_through_the_environment_proxy(
    sandbox: Any, proxy: RecordingProxy, host: str, api_version: str
) -> None:
    api = sandbox_api(sandbox, host, api_version)
    try:
        api.check_connection()
        sent = api.send_message("alice@example.com", OutgoingMessage("direct, not proxied"))
        assert sent.id
        page = api.history("alice@example.com")
        assert page.messages[-1].text == "direct, not proxied"
    finally:
        api.close()
    assert proxy.seen == []  # not a byte of the key, the secret or the message
    assert [e["method"] for e in sandbox.log()][-3:] == ["GET", "POST", "GET"]


def test_remote_https_host_uses_the_proxy_with_connect_only(
    proxy: RecordingProxy, api_version: str
) -> None:
    api = connect_api(api_version, "https://api.smooch.io", "5e1f", Credentials(KEY_ID, SECRET))
    try:
        with pytest.raises(ConnectFailed) as info:
            api.get_user("user-1")
    finally:
        api.close()
    assert [(method, target) for method, target, _ in proxy.seen] == [
        ("CONNECT", "api.smooch.io:443")
    ]
    raw = b"".join(proxy.raw)
    for secret in (SECRET.encode(), base64.b64encode(f"{KEY_ID}:{SECRET}".encode())):
        assert secret not in raw
    assert b"authorization" not in raw.lower()
    # The tunnel was refused: the API never saw the request, so a resend is safe.
    assert not info.value.may_have_reached_server
    assert info.value.user_message == (
        f"Could not connect to api.smooch.io through the proxy {proxy.label}."
    )


def test_a_socks_proxy_is_a_clear_never_sent_failure(
    monkeypatch: pytest.MonkeyPatch, api_version: str
) -> None:
    point_proxies_at(monkeypatch, "")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("ALL_PROXY", "socks5://user:pw@127.0.0.1:9")
    monkeypatch.setenv("all_proxy", "socks5://user:pw@127.0.0.1:9")
    api = connect_api(api_version, "https://api.smooch.io", "5e1f", Credentials(KEY_ID, SECRET))
    try:
        with pytest.raises(ConnectFailed) as info:
            api.get_user("user-1")
    finally:
        api.close()
    assert info.value.user_message == (
        "Could not connect to api.smooch.io: the proxy set in the environment "
        "(127.0.0.1:9) is not an HTTP proxy; only HTTP proxies are supported."
    )
    assert not info.value.may_have_reached_server


def test_remote_https_host_in_no_proxy_goes_direct(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smooch_desktop.api import transport

    point_proxies_at(monkeypatch, proxy.url, no_proxy="example.com,10.0.0.0/8")
    assert transport.proxy_for("https://api.example.com/v1.1") is None
    assert transport.proxy_for("https://example.com") is None
    assert transport.proxy_for("https://10.1.2.3:8443") is None
    assert transport.proxy_for("https://api.smooch.io") == proxy.url
    point_proxies_at(monkeypatch, proxy.url, no_proxy="*")
    assert transport.proxy_for("https://api.smooch.io") is None


@pytest.mark.parametrize(
    ("url", "proxied"),
    [
        ("http://localhost:8080", False),
        ("http://127.0.0.1:8080", False),
        ("http://127.9.8.7", False),
        ("http://[::1]:8080", False),
        ("http://[::ffff:127.0.0.1]:8080", False),
        ("https://localhost", False),
        ("https://dev.localhost", True),
        ("https://api.eu-1.smooch.io", True),
        ("https://www.gravatar.com/avatar/x", True),
    ],
)
def test_which_hosts_may_use_a_proxy(proxy: RecordingProxy, url: str, proxied: bool) -> None:
    from smooch_desktop.api import transport

    assert (transport.proxy_for(url) == proxy.url) is proxied


def test_lower_case_proxy_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from smooch_desktop.api import transport

    point_proxies_at(monkeypatch, "http://upper.example:3128")
    monkeypatch.setenv("https_proxy", "http://lower.example:3128")
    assert transport.proxy_for("https://api.smooch.io") == "http://lower.example:3128"


def test_proxy_label_never_shows_proxy_credentials() -> None:
    from smooch_desktop.api import transport

    assert transport.proxy_label("http://bob:hunter2@proxy.corp:3128") == "proxy.corp:3128"
    assert transport.proxy_label("proxy.corp:8080") == "proxy.corp:8080"


def test_deadline_covers_the_tls_handshake(api_version: str) -> None:
    """A peer that trickles its TLS handshake keeps every single read short; before the
    deadline covered the connect, the call waited until the peer gave up."""
    with trickle_server(TLS_START) as peer:
        api = connect_api(
            api_version,
            f"https://{peer.host}",
            "5e1f",
            Credentials(KEY_ID, SECRET),
            connect_timeout=2.0,
            read_timeout=0.5,
        )
        try:
            with pytest.raises(ConnectFailed) as info:
                api.get_user("user-1")
        finally:
            api.close()
        assert peer.wait_for_outcome() == "client left"
    assert info.value.user_message == f"Could not connect to {peer.host}: connection timed out."
    assert not info.value.may_have_reached_server and info.value.is_retryable


def test_deadline_covers_sending_the_request() -> None:
    """A peer that never reads the body: the upload stalls with every buffer full. Given
    up on while sending, and reported as "may have reached the server" (part of it did)."""
    from smooch_desktop.api.client import ApiRequest, SmoochClient

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    release = threading.Event()

    def never_reads() -> None:
        conn, _ = listener.accept()
        with conn:
            release.wait(20.0)

    peer = threading.Thread(target=never_reads, daemon=True)
    peer.start()
    host = f"127.0.0.1:{listener.getsockname()[1]}"
    client = SmoochClient(f"http://{host}", "5e1f", Credentials(KEY_ID, SECRET))
    big = ApiRequest("POST", "/v1.1/upload", json_body={"text": "x" * (32 * 1024 * 1024)})
    try:
        with pytest.raises(ReadTimedOut) as info:
            # Each send may block up to 5 s; the whole call only 1.5 s.
            client.send(big, timeout=(5.0, 0.5))
        assert peer.is_alive()  # the peer was still there: the deadline ended it
    finally:
        release.set()
        client.close()
        peer.join(5)
        listener.close()
    assert info.value.user_message == (
        f"Sending the request to {host} took too long and was given up on; "
        "it may have reached the server."
    )
    assert info.value.may_have_reached_server


def test_transport_hooks_see_the_request_go_out(sandbox: Any) -> None:
    """ "Never sent" is decided by the hooks; prove they see a real request and answer."""
    from smooch_desktop.api import transport

    session = transport.new_session()
    try:
        with transport.deadline(10.0) as guard:
            assert (guard.sent, guard.answering) == (False, False)
            response = session.get(f"{sandbox.base_url}/avatar/x", timeout=(2, 2))
            assert (guard.sent, guard.answering, guard.expired) == (True, True, False)
        response.close()
        with transport.deadline(10.0) as guard:  # a reused keep-alive connection
            response = session.get(f"{sandbox.base_url}/avatar/y", timeout=(2, 2))
            assert (guard.sent, guard.answering) == (True, True)
        response.close()
    finally:
        session.close()
