"""The request log: a bounded, thread-safe list of API request summaries.

Holds the log itself and how a request body is shown in it (parsed JSON, truncated text, or
a multipart summary). It never holds credentials (only the kind of auth used) and knows
nothing about routing or handlers; dispatch decides what gets logged.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, Final

LOG_LIMIT: Final = 20_000
LOG_TEXT_LIMIT: Final = 2048
#: JSON bodies larger than this are logged as truncated text, keeping the log's memory bounded.
LOG_JSON_LIMIT: Final = 16 * 1024


class RequestLog:
    """Bounded, thread-safe list of API request summaries with increasing ``seq``."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append (assigning ``seq``); returns the stored entry."""
        with self._lock:
            self._seq += 1
            stored = {"seq": self._seq, **entry}
            self._entries.append(stored)
            return stored

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        """Entries with ``seq > since``, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > since]

    def clear(self) -> None:
        """Forget all entries (``seq`` keeps counting so ``since`` stays meaningful)."""
        with self._lock:
            self._entries.clear()


def logged_body(raw_body: bytes | None, multipart: dict[str, Any] | None) -> Any:
    """What the log shows of a body: the multipart summary, parsed JSON, or bounded text."""
    if multipart is not None:
        return multipart
    if not raw_body:
        return None
    if len(raw_body) <= LOG_JSON_LIMIT:
        try:
            return json.loads(raw_body.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            pass
    text = raw_body[: LOG_TEXT_LIMIT * 4].decode("utf-8", "replace")
    return text[:LOG_TEXT_LIMIT]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
