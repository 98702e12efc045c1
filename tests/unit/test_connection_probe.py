"""probe_connection: which answers to the connection test's one request mean "connected".

The request asks for an app user that does not exist; a Smooch "user not found" 404
proves host, app and key. A loopback server on port 0 plays the API; the dialog's own
tests against the sandbox are in tests/ui/test_connection_dialog.py. Tests that send the
request run on v1.1 and v2 (``api_version``), each answered in its own version's error
envelope (v1 ``{"error": {code, description}}``, v2 ``{"errors": [{code, title}]}``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.errors import HttpError
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.core.secrets import SecretLocation, SecretStore, SessionSecrets
from smooch_desktop.ui.connection.messages import describe_connection_error
from smooch_desktop.ui.connection.probe import VersionMismatch, probe_connection, version_mismatch

SECRET = "s3cr3t-Value_that-must-never-leak-9f8e7d"


class NotFoundApi(ThreadingHTTPServer):
    """Answers every GET with 404 and ``body`` (JSON, or nothing when None)."""

    body: Any = None


class _Handler(BaseHTTPRequestHandler):
    server: NotFoundApi

    def do_GET(self) -> None:
        raw = b"" if self.server.body is None else json.dumps(self.server.body).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[NotFoundApi]:
    server = NotFoundApi(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def envelope(version: str, error: dict[str, str]) -> dict[str, Any]:
    """``error`` (``code`` and ``description``) in ``version``'s error envelope."""
    if version == "v1.1":
        return {"error": error}
    entry = {"title" if key == "description" else key: value for key, value in error.items()}
    return {"errors": [entry]}


def probe(api: NotFoundApi, version: str = "v1.1") -> str:
    base_url = f"http://127.0.0.1:{api.server_address[1]}"
    return probe_connection(
        base_url,
        "app_1",
        "app_key_1",
        AuthMethod.BASIC,
        ApiVersion(version),
        SECRET,
        "",
        SecretLocation.NOWHERE,
        SecretStore(),
        SessionSecrets(),
    )


@pytest.mark.parametrize(
    "error",
    [
        {"code": "user_not_found", "description": "App user not found"},
        {"code": "not_found", "description": "User not found."},
        # No code: V1Api.check_connection re-raises it; the probe still accepts it.
        {"description": "App user not found"},
    ],
    ids=["user_not_found", "other-code", "description-only"],
)
def test_an_unknown_app_user_means_connected(
    api: NotFoundApi, error: dict[str, str], api_version: str
) -> None:
    api.body = envelope(api_version, error)
    assert probe(api, api_version) == f"127.0.0.1:{api.server_address[1]}"


@pytest.mark.parametrize(
    "body",
    [
        {"code": "app_not_found", "description": "App not found"},
        {"description": "Not here"},
        None,
    ],
    ids=["app-not-found", "other-description", "no-envelope"],
)
def test_any_other_404_is_a_failure(
    api: NotFoundApi, body: dict[str, str] | None, api_version: str
) -> None:
    api.body = None if body is None else envelope(api_version, body)
    with pytest.raises(HttpError) as caught:
        probe(api, api_version)
    assert caught.value.status == 404


# --- a version/host mismatch ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        {"code": "not_found", "title": "Not Found"},
        {"code": "user_not_found", "title": "User not found"},  # not a v1.1 "user not found"
    ],
)
def test_a_404_in_v2s_envelope_is_a_version_mismatch_not_connected(
    api: NotFoundApi, error: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import v2_stand_in

    v2_stand_in.hide_v2(monkeypatch)
    api.body = {"errors": [error]}
    with pytest.raises(VersionMismatch) as caught:
        probe(api)
    mismatch = caught.value
    assert (mismatch.tested, mismatch.answered) == (ApiVersion.V1_1, ApiVersion.V2)
    text = describe_connection_error(mismatch)
    assert text == (
        f"This host speaks API v2, not v1.1: it answered in v2's format (404 {error['code']}: "
        f"{error['title']}). Smooch Desktop speaks API v2 from a later version on; this host "
        "can't be used until then."
    )
    assert "key" not in text.lower() and SECRET not in text

    v2_stand_in.offer_v2(monkeypatch)
    assert describe_connection_error(mismatch).endswith("Choose API version v2 and test again.")


@pytest.mark.parametrize(
    "error",
    [
        {"code": "not_found", "description": "Resource not found"},
        {"code": "user_not_found", "description": "App user not found"},  # not a v2 one
    ],
)
def test_a_404_in_v1s_envelope_to_a_v2_request_is_a_version_mismatch(
    api: NotFoundApi, error: dict[str, str]
) -> None:
    api.body = envelope("v1.1", error)
    with pytest.raises(VersionMismatch) as caught:
        probe(api, "v2")
    mismatch = caught.value
    assert (mismatch.tested, mismatch.answered) == (ApiVersion.V2, ApiVersion.V1_1)
    text = describe_connection_error(mismatch)
    assert text == (
        f"This host speaks API v1.1, not v2: it answered in v1.1's format (404 {error['code']}: "
        f"{error['description']}). Choose API version v1.1 and test again."
    )
    assert "key" not in text.lower() and SECRET not in text


def test_the_other_way_round_a_v1_404_to_a_v2_request_is_a_mismatch() -> None:
    # The answer alone, built directly (the test above sends the request).
    exc = HttpError(404, code="not_found", description="Not Found", envelope="v1")
    mismatch = version_mismatch(ApiVersion.V2, exc)
    assert mismatch is not None and mismatch.answered is ApiVersion.V1_1
    assert describe_connection_error(mismatch).startswith(
        "This host speaks API v1.1, not v2: it answered in v1.1's format (404 not_found: "
        "Not Found)."
    )


@pytest.mark.parametrize(
    ("tested", "status", "envelope"),
    [
        (ApiVersion.V1_1, 404, "v1"),  # its own envelope: a real answer of this version
        (ApiVersion.V1_1, 404, ""),  # no Smooch envelope: some other web server
        (ApiVersion.V1_1, 401, "v2"),  # not a missing path: says nothing about the version
        (ApiVersion.V2, 404, "v2"),
    ],
)
def test_only_a_404_in_the_other_versions_envelope_is_a_mismatch(
    tested: ApiVersion, status: int, envelope: str
) -> None:
    exc = HttpError(status, code="not_found", description="x", envelope=envelope)
    assert version_mismatch(tested, exc) is None
