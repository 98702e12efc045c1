"""Typed API errors.

Every failure of an API call is one of these, so callers can decide what to do without
parsing strings:

* :class:`ConnectFailed` / :class:`TlsFailed`: the request never reached the server —
  resending is always safe.
* :class:`ReadTimedOut` / :class:`ConnectionDropped`: the request may have reached the
  server — resending blindly could deliver twice.
* :class:`HttpError`: the server answered with a 4xx/5xx; carries the status, the Smooch
  error ``code`` and ``description`` and ``Retry-After`` when present.
* :class:`BadResponse`: the server answered 2xx with a body that is not the JSON object
  the API promises (truncated, not JSON, invalid UTF-8).

Messages never contain credentials: they are built from the status, the server's error
envelope and the host, never from request headers.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Base class of every API failure.

    ``may_have_reached_server`` says whether the server might have processed the request
    (and so whether a resend could create a duplicate).
    """

    may_have_reached_server: bool = False
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    @property
    def user_message(self) -> str:
        """One sentence for the user, shown next to the message or field concerned."""
        return self.description

    @property
    def is_rate_limited(self) -> bool:
        return self.status == 429

    @property
    def is_retryable(self) -> bool:
        """True when an automatic retry may succeed (network trouble, 429, 5xx)."""
        return False


class UploadCancelled(Exception):
    """The user cancelled an upload while it was being sent (raised from its progress).

    Not an :class:`ApiError`: nothing failed, and a half-sent upload stored nothing.
    """


class ConfigError(ValueError):
    """A connection setting is unusable (bad base URL, missing app id, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConnectFailed(ApiError):
    """DNS failure or connection refused: the request was never sent."""

    @property
    def is_retryable(self) -> bool:
        return True


class TlsFailed(ApiError):
    """The TLS handshake failed (certificate problem): nothing was sent."""


class ReadTimedOut(ApiError):
    """The server accepted the request but did not answer in time."""

    may_have_reached_server = True

    @property
    def is_retryable(self) -> bool:
        return True


class ConnectionDropped(ApiError):
    """The connection closed after the request was sent, without an answer."""

    may_have_reached_server = True

    @property
    def is_retryable(self) -> bool:
        return True


class BadResponse(ApiError):
    """A 2xx answer whose body is not the JSON object the API promises."""

    may_have_reached_server = True

    def __init__(self, description: str, *, status: int | None = None) -> None:
        super().__init__(description)
        self.status = status


#: Longest server error description shown to the user (the full text is kept).
MAX_SHOWN_DESCRIPTION = 300

_STATUS_WORDS = {
    400: "The server rejected the request as malformed",
    401: "The API key was not accepted",
    402: "This feature is not on the app's plan",
    403: "The API key has no access to this app or user",
    404: "Not found",
    409: "Conflict with the current state on the server",
    413: "Too large for the server",
    423: "The conversation is locked",
    429: "Rate limited by the server",
    500: "The server had an internal error",
    502: "Bad gateway between you and the server",
    503: "The server is temporarily unavailable",
    504: "The server's gateway timed out",
}


class HttpError(ApiError):
    """The server answered with an error status and (usually) a Smooch error envelope."""

    def __init__(
        self,
        status: int,
        *,
        code: str | None,
        description: str | None,
        retry_after: float | None = None,
        host: str = "",
        envelope: str | None = None,
    ) -> None:
        words = _STATUS_WORDS.get(status, f"HTTP error {status}")
        text = f"{words} ({status}"
        if code:
            text += f" {code}"
        if host:
            text += f" from {host}"
        text += ")"
        if description:
            # The full text stays in server_description; what is shown is kept readable.
            shown = " ".join(description.split())
            if len(shown) > MAX_SHOWN_DESCRIPTION:
                shown = shown[: MAX_SHOWN_DESCRIPTION - 1].rstrip() + "…"
            text += f": {shown}"
        super().__init__(text)
        self.status = status
        self.code = code
        self.server_description = description
        self.retry_after = retry_after
        #: Which error envelope the answer carried: "v1" (``error``), "v2" (``errors[]``)
        #: or None (none: a proxy, a web server that isn't Smooch, an empty body).
        self.envelope = envelope
        # Any 5xx, 503 included, may come from a gateway after the API processed the request.
        self.may_have_reached_server = status >= 500

    @property
    def is_retryable(self) -> bool:
        return self.status in (429, 500, 502, 503, 504)

    @property
    def is_auth_error(self) -> bool:
        return self.status == 401


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, 24 * 3600.0))


def error_envelope_kind(body: Any) -> str | None:
    """ "v1" for ``{"error":{...}}``, "v2" for ``{"errors":[{...}, ...]}``, else None."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        return "v1"
    errs = body.get("errors")
    if isinstance(errs, list) and errs and isinstance(errs[0], dict):
        return "v2"
    return None


def parse_error_envelope(body: Any) -> tuple[str | None, str | None]:
    """(code, description) from a v1 ``{"error":{...}}`` or v2 ``{"errors":[...]}`` body."""
    if not isinstance(body, dict):
        return None, None
    err = body.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        desc = err.get("description")
        return (
            code if isinstance(code, str) else None,
            desc if isinstance(desc, str) else None,
        )
    errs = body.get("errors")
    if isinstance(errs, list) and errs and isinstance(errs[0], dict):
        first = errs[0]
        code = first.get("code")
        titles = [e.get("title") for e in errs if isinstance(e, dict)]
        desc = "; ".join(t for t in titles if isinstance(t, str)) or None
        return (code if isinstance(code, str) else None, desc)
    return None, None
