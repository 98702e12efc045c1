"""The v1/v1.1 error envelope, shared by every part of the sandbox.

Every failure the sandbox reports — validation, auth, routing, faults, even a bug in the
sandbox itself — goes out as ``{"error": {"code": …, "description": …}}`` with the right
status, because that is the only error shape a v1.1 client is written to parse.
"""

from __future__ import annotations

import json
from typing import Any


class ErrorReply(Exception):
    """An error the sandbox answers with: HTTP ``status``, the envelope's ``code`` and
    ``description``, and extra headers. Raised anywhere below a handler; dispatch turns it
    into the response. (The client's own ``smooch_desktop.api.errors.ApiError`` is unrelated.)
    """

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        """The JSON body for this error."""
        return error_envelope(self.code, self.description)


def error_envelope(code: str, description: str) -> dict[str, Any]:
    """``{"error": {"code", "description"}}`` — the documented v1/v1.1 shape."""
    return {"error": {"code": code, "description": description}}


def bad_request(description: str) -> ErrorReply:
    """400 ``bad_request``: the client sent something the API does not accept."""
    return ErrorReply(400, "bad_request", description)


def not_found(description: str) -> ErrorReply:
    """404 ``not_found``."""
    return ErrorReply(404, "not_found", description)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept readable, like the real API)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
