"""The error envelopes (v1/v1.1 and v2), shared by every part of the sandbox.

Every failure the sandbox reports — validation, auth, routing, faults, even a bug in the
sandbox itself — goes out in the envelope of the API version the request used, with the
right status, because that is the only error shape a client of that version is written to
parse: ``{"error": {"code": …, "description": …}}`` on ``/v1/…`` and ``/v1.1/…``,
``{"errors": [{"code": …, "title": …}]}`` on ``/v2/…`` and ``/sc/v2/…``. Where v2 names
an error more precisely (``user_not_found`` where v1 says ``not_found``), the reply carries
that code too (``v2_code``).
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
        *,
        v2_code: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.headers = dict(headers or {})
        self.v2_code = v2_code or code

    def envelope(self, v2: bool = False) -> dict[str, Any]:
        """The JSON body for this error, in the v1 or the v2 envelope."""
        if v2:
            return v2_error_envelope(self.v2_code, self.description)
        return error_envelope(self.code, self.description)


def error_envelope(code: str, description: str) -> dict[str, Any]:
    """``{"error": {"code", "description"}}`` — the documented v1/v1.1 shape."""
    return {"error": {"code": code, "description": description}}


def v2_error_envelope(code: str, title: str) -> dict[str, Any]:
    """``{"errors": [{"code", "title"}]}`` — the v2 shape (one entry; the spec allows
    several only on a 400)."""
    return {"errors": [{"code": code, "title": title}]}


def bad_request(description: str) -> ErrorReply:
    """400 ``bad_request``: the client sent something the API does not accept."""
    return ErrorReply(400, "bad_request", description)


def not_found(description: str, v2_code: str | None = None) -> ErrorReply:
    """404 ``not_found`` (``v2_code`` for v2's more precise name, e.g. ``user_not_found``)."""
    return ErrorReply(404, "not_found", description, v2_code=v2_code)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept readable, like the real API)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
