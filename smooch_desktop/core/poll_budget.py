"""When to poll which followed conversation, within a request budget.

Two lanes, each with at most one request in flight:

* **the open conversation** (:attr:`Lane.OPEN`), at its own rate as the window has always
  polled it: every :data:`OPEN_ACTIVE_S` while the window is active, every
  :data:`OPEN_BACKGROUND_S` in the background or when the agent has been idle; not
  counted in the list's budget;
* **the list** (:attr:`Lane.LIST`): every other followed conversation in turn, within a
  total budget for the whole list, :data:`DEFAULT_REQUESTS_PER_MINUTE` by default
  (settable, :data:`MIN_REQUESTS_PER_MINUTE` to :data:`MAX_REQUESTS_PER_MINUTE`). List
  requests start at least ``60 / budget`` seconds apart, so no 60-second window ever
  holds more than the budget (rounded up), and a new one starts only after the last
  one finished.

Which conversation next: stride scheduling weighted by recent activity. Each
conversation carries a *pass*; the lowest pass goes next and then moves on by
``1 / weight``. The weight is 1 for a quiet conversation and up to :data:`HOT_WEIGHT`
right after activity (a new message seen, a live update, a send), halving back every
:data:`HOT_HALF_LIFE_S`; a conversation just found active is also moved to the front.
So every conversation keeps its turn (a quiet one waits at most about
``sum of weights / budget`` minutes) while the ones that are talking are looked at
several times as often: an end user who wrote once usually writes again soon.

Slowing down and backing off:

* **Idle**: after :data:`IDLE_AFTER_S` without input from the agent (:meth:`note_input`)
  the list's interval is :data:`IDLE_SLOWDOWN` times longer and the open conversation
  is polled at the background rate.
* **429**: both lanes wait ``Retry-After`` when the server gives one (bounded by the API
  client's parser), else a doubling back-off from twice the interval up to
  :data:`MAX_BACKOFF_S`; the conversation asked keeps its turn.
* **Errors reaching the server** (network, 5xx, a bad answer, 401/403): that lane
  doubles its wait from twice its interval up to :data:`MAX_BACKOFF_S`, reset by the next
  success.
* **A conversation the server refuses** (404 gone, 400…): only that conversation waits,
  :data:`CONVERSATION_BACKOFF_S` doubling up to :data:`MAX_CONVERSATION_BACKOFF_S`; the
  list goes on.

Pure and single-threaded: no timers, no threads, no I/O; ``clock`` (monotonic seconds)
is injected. The caller asks :meth:`PollScheduler.next_request` for a :class:`Ticket`,
runs the request on a worker, reports how it ended (:meth:`succeeded`,
:meth:`rate_limited`, :meth:`failed` or :meth:`finish_with_error`), and sleeps until
:meth:`due_at`. This module must not hold the requests themselves, the stored list
(:mod:`smooch_desktop.core.inbox`), nor anything of Qt (docs/architecture.md#qt-free-core).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Final, Generic, TypeVar

from smooch_desktop.api.errors import ApiError

#: The whole list's budget, requests per minute, unless the agent sets another.
DEFAULT_REQUESTS_PER_MINUTE: Final = 30.0
MIN_REQUESTS_PER_MINUTE: Final = 1.0
MAX_REQUESTS_PER_MINUTE: Final = 600.0
#: The open conversation's interval (seconds), as the window polled it before the list.
OPEN_ACTIVE_S: Final = 5.0
OPEN_BACKGROUND_S: Final = 30.0
#: No input from the agent for this long: the app is idle and polls less.
IDLE_AFTER_S: Final = 15 * 60.0
IDLE_SLOWDOWN: Final = 4.0
#: A conversation right after activity counts this many times a quiet one…
HOT_WEIGHT: Final = 4.0
#: …and the extra weight halves every this many seconds.
HOT_HALF_LIFE_S: Final = 5 * 60.0
#: Longest wait after errors or a 429 without Retry-After.
MAX_BACKOFF_S: Final = 5 * 60.0
#: A conversation the server refuses waits this long, doubling up to the maximum.
CONVERSATION_BACKOFF_S: Final = 10 * 60.0
MAX_CONVERSATION_BACKOFF_S: Final = 60 * 60.0

K = TypeVar("K", bound=Hashable)


class Lane(enum.Enum):
    OPEN = "open"
    LIST = "list"


class Ticket(Generic[K]):
    """One request the caller may start now: which conversation, on which lane."""

    __slots__ = ("key", "lane", "started")

    def __init__(self, key: K, lane: Lane, started: float) -> None:
        self.key = key
        self.lane = lane
        self.started = started

    def __repr__(self) -> str:
        return f"Ticket({self.key!r}, {self.lane.value}, {self.started:.3f})"


class _Followed:
    __slots__ = ("active_at", "blocked_until", "failures", "pass_")

    def __init__(self, pass_: float, active_at: float) -> None:
        self.pass_: float = pass_
        self.active_at: float = active_at
        self.blocked_until: float = -math.inf
        self.failures: int = 0


class PollScheduler(Generic[K]):
    """Decides the next poll; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._rpm = _checked_budget(requests_per_minute)
        self._followed: dict[K, _Followed] = {}
        self._open: K | None = None
        self._window_active = True
        self._last_input = clock()
        self._vtime = 0.0
        self._list_ticket: Ticket[K] | None = None
        self._open_ticket: Ticket[K] | None = None
        self._last_list_start = -math.inf
        self._last_open_start = -math.inf
        self._list_failures = 0
        self._list_backoff_until = -math.inf
        self._open_failures = 0
        self._open_backoff_until = -math.inf
        self._rate_limits = 0
        self._rate_limited_until = -math.inf

    # Settings and state -------------------------------------------------------------------

    @property
    def requests_per_minute(self) -> float:
        return self._rpm

    def set_budget(self, requests_per_minute: float) -> None:
        """The list's budget from the next request on (ValueError outside the bounds)."""
        self._rpm = _checked_budget(requests_per_minute)

    def is_idle(self) -> bool:
        return self._clock() - self._last_input >= IDLE_AFTER_S

    def list_interval(self) -> float:
        """Seconds between two list requests now (longer while idle)."""
        return 60.0 / self._rpm * (IDLE_SLOWDOWN if self.is_idle() else 1.0)

    def open_interval(self) -> float:
        active = self._window_active and not self.is_idle()
        return OPEN_ACTIVE_S if active else OPEN_BACKGROUND_S

    def note_input(self) -> None:
        """The agent did something (a key, a click): the app is not idle."""
        self._last_input = self._clock()

    def set_window_active(self, active: bool) -> None:
        self._window_active = active

    def set_open(self, key: K | None) -> None:
        """The conversation now open (None: none). Its history was just loaded by opening
        it, so its next poll is one open interval away; the list skips it meanwhile."""
        if key != self._open:
            self._open = key
            self._open_failures = 0
            self._open_backoff_until = -math.inf
            self._last_open_start = self._clock()

    @property
    def open_key(self) -> K | None:
        return self._open

    def follow(self, key: K, *, active_ago: float | None = None) -> None:
        """Add ``key`` to the rotation (no change if there); ``active_ago``: seconds since
        its last activity, if known (recent activity raises its weight)."""
        if key in self._followed:
            return
        now = self._clock()
        active_at = -math.inf if active_ago is None else now - max(0.0, active_ago)
        self._followed[key] = _Followed(self._front(), active_at)

    def unfollow(self, key: K) -> None:
        """Take ``key`` out of the rotation (removed from the list)."""
        self._followed.pop(key, None)

    def set_followed(self, items: Iterable[tuple[K, float | None]]) -> None:
        """Make the rotation exactly ``(key, active_ago)`` of ``items``; the ones already
        in it keep their turn and their back-off."""
        wanted = dict(items)
        for key in [k for k in self._followed if k not in wanted]:
            del self._followed[key]
        for key, active_ago in wanted.items():
            self.follow(key, active_ago=active_ago)

    def followed(self) -> list[K]:
        return list(self._followed)

    def note_activity(self, key: K) -> None:
        """``key`` just had activity (a new message, a live update, a send): it weighs
        more for a while and is moved to the front of the rotation."""
        entry = self._followed.get(key)
        if entry is None:
            return
        entry.active_at = self._clock()
        others = self._front(besides=key)
        if others <= entry.pass_:
            entry.pass_ = math.nextafter(others, -math.inf)

    def _front(self, besides: K | None = None) -> float:
        """The lowest pass in the rotation (where a newcomer joins), ``besides`` aside."""
        return min(
            (e.pass_ for k, e in self._followed.items() if k != besides), default=self._vtime
        )

    def weight(self, key: K) -> float:
        entry = self._followed.get(key)
        return 1.0 if entry is None else self._weight(entry, self._clock())

    @staticmethod
    def _weight(entry: _Followed, now: float) -> float:
        if entry.active_at == -math.inf:
            return 1.0
        age = max(0.0, now - entry.active_at)
        decay: float = 0.5 ** (age / HOT_HALF_LIFE_S)
        return 1.0 + (HOT_WEIGHT - 1.0) * decay

    # Deciding -----------------------------------------------------------------------------

    def in_flight(self, lane: Lane) -> Ticket[K] | None:
        return self._open_ticket if lane is Lane.OPEN else self._list_ticket

    def due_at(self) -> float:
        """The clock time at which :meth:`next_request` will have a ticket (``inf``:
        none until something changes: nothing followed, or both lanes in flight); now if
        a request is due already."""
        return max(self._clock(), min(self._open_due(), self._list_due()))

    def _open_due(self) -> float:
        if self._open is None or self._open_ticket is not None:
            return math.inf
        return max(
            self._last_open_start + self.open_interval(),
            self._open_backoff_until,
            self._rate_limited_until,
        )

    def _list_due(self) -> float:
        if self._list_ticket is not None:
            return math.inf
        eligible = min(
            (e.blocked_until for k, e in self._followed.items() if k != self._open),
            default=math.inf,
        )
        return max(
            self._last_list_start + self.list_interval(),
            self._list_backoff_until,
            self._rate_limited_until,
            eligible,
        )

    def next_request(self) -> Ticket[K] | None:
        """A request to start now, or None (then wait until :meth:`due_at`). The open
        conversation's turn comes first; the ticket is in flight until reported."""
        now = self._clock()
        if self._open is not None and self._open_due() <= now:
            self._open_ticket = Ticket(self._open, Lane.OPEN, now)
            self._last_open_start = now
            return self._open_ticket
        if self._list_due() <= now:
            key = self._pick(now)
            if key is not None:
                self._list_ticket = Ticket(key, Lane.LIST, now)
                self._last_list_start = now
                return self._list_ticket
        return None

    def _pick(self, now: float) -> K | None:
        best: K | None = None
        best_pass = math.inf
        for key, entry in self._followed.items():  # ties: the one followed first
            if key == self._open or entry.blocked_until > now:
                continue
            if entry.pass_ < best_pass:
                best, best_pass = key, entry.pass_
        return best

    # Outcomes -----------------------------------------------------------------------------

    def _close(self, ticket: Ticket[K]) -> bool:
        """Take ``ticket`` out of flight; False if it is not the one in flight (stale)."""
        if ticket.lane is Lane.OPEN and self._open_ticket is ticket:
            self._open_ticket = None
            return True
        if ticket.lane is Lane.LIST and self._list_ticket is ticket:
            self._list_ticket = None
            return True
        return False

    def _advance(self, key: K) -> None:
        entry = self._followed.get(key)
        if entry is not None:
            self._vtime = max(self._vtime, entry.pass_)
            entry.pass_ += 1.0 / self._weight(entry, self._clock())

    def succeeded(self, ticket: Ticket[K], *, new_activity: bool = False) -> None:
        """The request answered; ``new_activity``: it brought new messages."""
        if not self._close(ticket):
            return
        self._rate_limits = 0
        if ticket.lane is Lane.OPEN:
            self._open_failures = 0
            self._open_backoff_until = -math.inf
        else:
            self._list_failures = 0
            self._list_backoff_until = -math.inf
            entry = self._followed.get(ticket.key)
            if entry is not None:
                entry.failures = 0
                entry.blocked_until = -math.inf
            self._advance(ticket.key)
        if new_activity:
            entry = self._followed.get(ticket.key)
            if entry is not None:
                entry.active_at = self._clock()

    def rate_limited(self, ticket: Ticket[K], retry_after: float | None = None) -> None:
        """429: both lanes wait (``Retry-After`` if given); the conversation keeps its turn."""
        if not self._close(ticket):
            return
        now = self._clock()
        self._rate_limits += 1
        if retry_after is not None and retry_after >= 0:
            wait = retry_after
        else:
            wait = min(2.0 * self.list_interval() * 2 ** (self._rate_limits - 1), MAX_BACKOFF_S)
        self._rate_limited_until = max(self._rate_limited_until, now + wait)

    def failed(self, ticket: Ticket[K], *, lane_wide: bool = True) -> None:
        """The request failed. ``lane_wide``: the server or the network is in trouble (the
        lane backs off); else the server refused this conversation (only it waits)."""
        if not self._close(ticket):
            return
        now = self._clock()
        if ticket.lane is Lane.OPEN:
            self._open_failures += 1
            wait = 2.0 * self.open_interval() * 2 ** (self._open_failures - 1)
            self._open_backoff_until = now + min(wait, MAX_BACKOFF_S)
            return
        entry = self._followed.get(ticket.key)
        if lane_wide:
            self._list_failures += 1
            wait = 2.0 * self.list_interval() * 2 ** (self._list_failures - 1)
            self._list_backoff_until = now + min(wait, MAX_BACKOFF_S)
        elif entry is not None:
            entry.failures += 1
            wait = CONVERSATION_BACKOFF_S * 2 ** (entry.failures - 1)
            entry.blocked_until = now + min(wait, MAX_CONVERSATION_BACKOFF_S)
        self._advance(ticket.key)

    def finish_with_error(self, ticket: Ticket[K], error: ApiError) -> None:
        """Report ``error`` by its kind: 429 → :meth:`rate_limited`; another 4xx but
        401/403 → this conversation only; anything else → the lane backs off."""
        status = error.status
        if error.is_rate_limited:
            self.rate_limited(ticket, error.retry_after)
        elif status is not None and 400 <= status < 500 and status not in (401, 403):
            self.failed(ticket, lane_wide=False)
        else:
            self.failed(ticket, lane_wide=True)


def _checked_budget(value: float) -> float:
    if not (MIN_REQUESTS_PER_MINUTE <= value <= MAX_REQUESTS_PER_MINUTE):
        raise ValueError(
            f"The polling budget must be {MIN_REQUESTS_PER_MINUTE:g} to "
            f"{MAX_REQUESTS_PER_MINUTE:g} requests a minute (got {value:g})."
        )
    return float(value)
