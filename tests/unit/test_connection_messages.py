"""describe_connection_error: every failure of a connection test gets a precise sentence.

An HTTP error gets the same sentence whichever version's envelope carried it (v1
``error``, v2 ``errors[]``): the tests of HTTP errors run with both (``envelope``).
"""

from __future__ import annotations

import pytest

from smooch_desktop.api.errors import (
    BadResponse,
    ConfigError,
    ConnectFailed,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
    TlsFailed,
)
from smooch_desktop.core.secrets import KeychainUnavailable
from smooch_desktop.core.validation import ValidationError
from smooch_desktop.ui.connection.messages import describe_connection_error

SECRET = "s3cr3t-value-never-shown-0123456789abcdef"


@pytest.fixture
def envelope(api_version: str) -> str:
    """The error envelope ``api_version`` answers in (``HttpError.envelope``)."""
    return "v1" if api_version == "v1.1" else "v2"


def test_401_unauthorized_names_key_and_secret_and_quotes_the_server(envelope: str) -> None:
    exc = HttpError(
        401, code="unauthorized", description="Invalid key id or secret", envelope=envelope
    )
    assert describe_connection_error(exc) == (
        "The key ID or secret was not accepted (401 unauthorized: Invalid key id or secret)."
    )


def test_401_without_envelope_still_blames_the_key() -> None:
    text = describe_connection_error(HttpError(401, code=None, description=None))
    assert text == "The key ID or secret was not accepted (401)."


@pytest.mark.parametrize(
    "description",
    [
        "Invalid JWT header. Missing key id (kid)",
        "Invalid JWT body. Cannot use account scope with app secret key",
        "Invalid JWT signature",
    ],
)
def test_401_invalid_auth_is_a_jwt_problem_with_the_servers_words(
    description: str, envelope: str
) -> None:
    text = describe_connection_error(
        HttpError(401, code="invalid_auth", description=description, envelope=envelope)
    )
    assert text.startswith("The JWT was not accepted (401 invalid_auth: ")
    assert description in text


def test_404_app_not_found_points_at_app_id_and_region(envelope: str) -> None:
    text = describe_connection_error(
        HttpError(404, code="not_found", description="App not found", envelope=envelope)
    )
    assert text.startswith("App not found (404 not_found: App not found).")
    assert "App ID" in text
    assert "region" in text


def test_404_with_v2s_app_not_found_code_points_at_app_id_and_region(envelope: str) -> None:
    # v2 names the missing app in its code (the spec's app_not_found), whatever the title.
    exc = HttpError(404, code="app_not_found", description="Not Found", envelope=envelope)
    text = describe_connection_error(exc)
    assert text.startswith("App not found (404 app_not_found: Not Found).")
    assert "App ID" in text and "region" in text


def test_404_without_an_app_is_not_reported_as_unknown_app(envelope: str) -> None:
    text = describe_connection_error(HttpError(404, code=None, description=None, envelope=envelope))
    assert not text.startswith("App not found")
    assert "base URL" in text


def test_403_says_the_key_has_no_access(envelope: str) -> None:
    text = describe_connection_error(
        HttpError(
            403, code="forbidden", description="The key can't access this app", envelope=envelope
        )
    )
    assert text.startswith("The key was accepted but has no access to this app (403 forbidden:")


@pytest.mark.parametrize(
    ("status", "start"),
    [
        (402, "The app's plan does not allow this (402"),
        (429, "The server is limiting requests (429"),
        (302, "The server redirected the request (302"),
        (500, "The server had a problem (500"),
        (503, "The server had a problem (503"),
        (400, "The server refused the request (400"),
    ],
)
def test_other_statuses(status: int, start: str, envelope: str) -> None:
    text = describe_connection_error(
        HttpError(status, code=None, description=None, envelope=envelope)
    )
    assert text.startswith(start)


def test_refused_and_dns_say_which() -> None:
    refused = ConnectFailed("Could not connect to 127.0.0.1:9: the connection was refused.")
    dns = ConnectFailed("Could not find the host api.nowhere.invalid (DNS lookup failed).")
    assert "the connection was refused" in describe_connection_error(refused)
    assert "DNS lookup failed" in describe_connection_error(dns)
    assert describe_connection_error(refused).startswith("The server can't be reached:")


def test_tls_timeout_drop_and_bad_response() -> None:
    tls = describe_connection_error(
        TlsFailed("Secure connection to x failed: its TLS certificate was not accepted.")
    )
    assert "TLS certificate" in tls
    assert "self-signed" in tls
    timeout = describe_connection_error(ReadTimedOut("x did not answer within 10 s."))
    assert timeout.startswith("Timed out: x did not answer within 10 s.")
    dropped = describe_connection_error(ConnectionDropped("The connection to x closed."))
    assert dropped.startswith("The connection to x closed.")
    bad = describe_connection_error(BadResponse("The answer from x (HTTP 200) is not JSON."))
    assert bad.startswith("This does not look like a Smooch API:")


def test_config_validation_and_keychain_errors_use_their_own_sentences() -> None:
    assert describe_connection_error(ConfigError("base_url", "Bad URL.")) == "Bad URL."
    assert describe_connection_error(ValidationError("secret", "Enter it.")) == "Enter it."
    text = describe_connection_error(KeychainUnavailable("The keychain is locked."))
    assert text == "The saved secret could not be read: The keychain is locked."


def test_unexpected_errors_name_only_the_type_never_the_message() -> None:
    text = describe_connection_error(RuntimeError(f"boom {SECRET}"))
    assert SECRET not in text
    assert "RuntimeError" in text
