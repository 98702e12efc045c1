"""What time it is on the server, from the server's own answers, never from the local clock.

The delivery engine must decide "this message is provably not on the server" by comparing
server timestamps (a message's ``received``) with the moment of its first send. The local
wall clock can be minutes or hours off, or be changed while the app runs, so that moment
is taken in *server* time instead:

* every HTTP answer's ``Date`` header (RFC 9110: when the origin generated the answer,
  whole seconds, GMT) is recorded with the local *monotonic* instant at which the answer
  had arrived (:meth:`ServerClock.observe_date`, called by the HTTP client);
* a timestamp the server stamped during a request whose answer we hold (the ``received``
  of a message just stored) is recorded the same way (:meth:`ServerClock.observe_stamp`);
* :meth:`ServerClock.lower_bound` projects those observations to any monotonic instant.

Only a *lower* bound is computed, because that is what a safe search floor needs: the
server generated ``Date: D`` at a server time in ``[D, D + 1)`` and at a local instant
before the answer arrived at ``m``, so at a local instant ``t`` the server's clock reads at
least ``D + (t - m)``. The request's duration and the header's 1 s resolution only make
the bound lower (a longer search), never later. The monotonic clock does not jump when
the wall clock is set, so the projection is immune to local clock changes.

The bound is the *minimum* over the most recent observations of each kind, so one answer
with a wrong ``Date`` ahead of the others (a proxy with a bad clock) cannot move it
later; an outlier behind only makes searches longer until it ages out. ``Date`` values
that are absent, not exactly one of the three HTTP-date forms in GMT (a second header
joined by a comma, trailing junk, an offset), absurdly long, or outside 2000-2100 are
ignored.
Qt-free and thread-safe.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

#: Longer than any valid HTTP-date (IMF-fixdate is 29 characters, RFC 850 at most 41).
_MAX_DATE_LENGTH: Final = 64
#: Plausible server years; anything else is garbage (or a dead RTC), not a clock.
_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
#: The three forms of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850, asctime), exactly; the
#: email parser alone forgives trailing junk such as a second, comma-joined header.
_HTTP_DATE: Final = re.compile(
    r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"
    r"|[A-Z][a-z]{5,8}, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT"
    r"|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}"
)
#: Observations of each kind kept for the minimum.
DEFAULT_KEEP: Final = 8


def parse_http_date(value: object) -> float | None:
    """Unix seconds from an HTTP ``Date`` value, or None for anything that isn't one.

    Accepts the three forms RFC 9110 tells recipients to accept (IMF-fixdate, RFC 850,
    asctime), in GMT only. Never raises.
    """
    if not isinstance(value, str) or not value or len(value) > _MAX_DATE_LENGTH:
        return None
    value = value.strip(" \t")
    if not value.isascii() or _HTTP_DATE.fullmatch(value) is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # asctime form and "-0000": GMT by definition
    elif when.utcoffset() != UTC.utcoffset(None):
        return None  # an HTTP-date is always GMT; an offset means a non-conforming sender
    try:
        seconds = when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    if not math.isfinite(seconds) or not _EARLIEST <= seconds < _LATEST:
        return None
    return seconds


class ServerClock:
    """Lower bounds of the server's clock, projected along the local monotonic clock."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        keep: int = DEFAULT_KEEP,
    ) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._dates: deque[tuple[float, float]] = deque(maxlen=keep)
        self._stamps: deque[tuple[float, float]] = deque(maxlen=keep)

    def monotonic(self) -> float:
        """The local monotonic instant now (the time base of :meth:`lower_bound`)."""
        return self._monotonic()

    def observe_date(self, header: object) -> bool:
        """Record an answer's ``Date`` header, just after the answer arrived.

        Returns whether it was usable. Absent, garbage and hostile values are ignored.
        """
        seconds = parse_http_date(header)
        if seconds is None:
            return False
        with self._lock:
            self._dates.append((seconds, self._monotonic()))
        return True

    def observe_stamp(self, server_time: object) -> bool:
        """Record a time the server stamped while handling a request whose answer is here.

        E.g. the ``received`` of the message a successful send just stored: the server's
        clock read at least that much when the answer left it.
        """
        if isinstance(server_time, bool) or not isinstance(server_time, int | float):
            return False
        seconds = float(server_time)
        if not math.isfinite(seconds) or not _EARLIEST <= seconds < _LATEST:
            return False
        with self._lock:
            self._stamps.append((seconds, self._monotonic()))
        return True

    @property
    def known(self) -> bool:
        """Whether any usable observation was made."""
        with self._lock:
            return bool(self._dates or self._stamps)

    def lower_bound(self, at: float | None = None) -> float | None:
        """A time the server's clock had certainly reached at monotonic instant ``at``.

        ``at`` defaults to now and may lie before the observations (projected back along
        the monotonic clock). None when the server never told its time.
        """
        instant = self._monotonic() if at is None else at
        with self._lock:
            observed = [*self._dates, *self._stamps]
        if not observed:
            return None
        return min(value + (instant - seen) for value, seen in observed)
