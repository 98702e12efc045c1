"""Why a connection test failed, as one or two sentences the agent can act on.

Holds only the mapping from an exception (API, validation or keychain) to text. Qt-free:
no PySide6 import, directly or through another module, so it is tested without a display.
The text is built from the exception's type, status, error code and the server's own
description, never from a request, so it can't contain the secret.
"""

from __future__ import annotations

from smooch_desktop.api.errors import (
    ApiError,
    BadResponse,
    ConfigError,
    ConnectFailed,
    ConnectionDropped,
    HttpError,
    ReadTimedOut,
    TlsFailed,
)
from smooch_desktop.api.factory import available_versions
from smooch_desktop.core.secrets import KeychainUnavailable
from smooch_desktop.core.validation import ValidationError
from smooch_desktop.ui.connection.probe import VersionMismatch


def _http_detail(exc: HttpError) -> str:
    """``401 unauthorized: Invalid key id or secret`` — status, code and server text."""
    status = exc.status if exc.status is not None else 0
    text = f"{status} {exc.code}" if exc.code else f"{status}"
    if exc.server_description:
        text += f": {exc.server_description}"
    return text


def _describe_http_error(exc: HttpError) -> str:
    status = exc.status or 0
    detail = _http_detail(exc)
    description = (exc.server_description or "").lower()
    if status == 401:
        if exc.code == "invalid_auth" or "jwt" in description:
            return (
                f"The JWT was not accepted ({detail}). Check the key ID and secret, and that "
                "the key belongs to this app."
            )
        return f"The key ID or secret was not accepted ({detail})."
    if status == 403:
        return (
            f"The key was accepted but has no access to this app ({detail}). "
            "Use a key of this app, or an account key."
        )
    if status == 404:
        if exc.code == "app_not_found" or "app not found" in description:
            return (
                f"App not found ({detail}). Check the App ID, and the region: "
                "an app exists in one region only."
            )
        return f"Nothing found at this address ({detail}). Check the base URL."
    if status == 402:
        return f"The app's plan does not allow this ({detail})."
    if status == 429:
        return f"The server is limiting requests ({detail}). Wait a moment and test again."
    if 300 <= status < 400:
        return f"The server redirected the request ({detail}). Enter the final https:// address."
    if status >= 500:
        return f"The server had a problem ({detail}). Try again later."
    return f"The server refused the request ({detail})."


def _describe_mismatch(exc: VersionMismatch) -> str:
    text = (
        f"This host speaks API {exc.answered}, not {exc.tested}: it answered in "
        f"{exc.answered}'s format ({_http_detail(exc.error)})."
    )
    if exc.answered not in available_versions():
        return (
            f"{text} Smooch Desktop speaks API {exc.answered} from a later version on; "
            "this host can't be used until then."
        )
    return f"{text} Choose API version {exc.answered} and test again."


def describe_connection_error(exc: BaseException) -> str:
    """One or two sentences saying exactly why a connection test failed.

    Built only from the exception's type, status, error code and the server's own
    description — never from request headers — so the text can't contain the secret.
    """
    if isinstance(exc, VersionMismatch):
        return _describe_mismatch(exc)
    if isinstance(exc, HttpError):
        return _describe_http_error(exc)
    if isinstance(exc, ConnectFailed):
        return (
            f"The server can't be reached: {exc.description} "
            "Check the region or base URL and your network."
        )
    if isinstance(exc, TlsFailed):
        return (
            f"{exc.description} The certificate may be self-signed, expired or for another "
            "host; nothing was sent."
        )
    if isinstance(exc, ReadTimedOut):
        return f"Timed out: {exc.description} The server may be overloaded; test again."
    if isinstance(exc, ConnectionDropped):
        return (
            f"{exc.description} A proxy or firewall may be cutting the connection; "
            "check the base URL."
        )
    if isinstance(exc, BadResponse):
        return f"This does not look like a Smooch API: {exc.description} Check the base URL."
    if isinstance(exc, ApiError):
        return exc.user_message
    if isinstance(exc, ConfigError | ValidationError):
        return exc.message
    if isinstance(exc, KeychainUnavailable):
        return f"The saved secret could not be read: {exc.reason}"
    return f"The connection could not be tested (unexpected {type(exc).__name__})."
