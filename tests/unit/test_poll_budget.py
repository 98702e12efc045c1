"""The polling scheduler (core/poll_budget.py) on a fake clock.

Property-like checks run many seeded random scenarios (successes, errors, 429s, slow
answers, idle spells, follows and removals) through the scheduler exactly as a poller
would, and check every schedule: the budget is never exceeded over any 60 s window, one
request at most in flight per lane, back-off and Retry-After honoured, nobody starved.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter

import pytest

from smooch_desktop.api.errors import ConnectFailed, HttpError
from smooch_desktop.core.poll_budget import (
    CONVERSATION_BACKOFF_S,
    DEFAULT_REQUESTS_PER_MINUTE,
    HOT_HALF_LIFE_S,
    HOT_WEIGHT,
    IDLE_AFTER_S,
    IDLE_SLOWDOWN,
    MAX_BACKOFF_S,
    OPEN_ACTIVE_S,
    OPEN_BACKGROUND_S,
    Lane,
    PollScheduler,
    Ticket,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scheduler(n: int = 10, rpm: float = 30.0) -> tuple[PollScheduler[str], Clock]:
    clock = Clock()
    sched: PollScheduler[str] = PollScheduler(requests_per_minute=rpm, clock=clock)
    for i in range(n):
        sched.follow(f"c{i}")
    return sched, clock


def take(sched: PollScheduler[str], clock: Clock) -> Ticket[str]:
    """Advance the clock to the next due time and take the ticket (the agent is at work:
    long back-offs must not make the app idle)."""
    due = sched.due_at()
    assert math.isfinite(due)
    clock.now = max(clock.now, due)
    sched.note_input()
    ticket = sched.next_request()
    assert ticket is not None
    return ticket


def http_error(status: int, retry_after: float | None = None) -> HttpError:
    return HttpError(status, code=None, description=None, retry_after=retry_after)


def max_in_window(starts: list[float], window: float = 60.0) -> int:
    """The most starts in any half-open window [t, t + window)."""
    starts = sorted(starts)
    return max(
        (bisect.bisect_left(starts, s + window) - i for i, s in enumerate(starts)), default=0
    )


def test_default_budget_is_30_a_minute_and_bounds_are_checked() -> None:
    assert DEFAULT_REQUESTS_PER_MINUTE == 30.0
    sched, _ = scheduler()
    assert sched.list_interval() == 2.0
    for bad in (0.0, -1.0, 601.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            sched.set_budget(bad)
    sched.set_budget(60)
    assert sched.list_interval() == 1.0


def test_round_robin_when_nobody_is_active() -> None:
    sched, clock = scheduler(5)
    order = []
    for _ in range(15):
        ticket = take(sched, clock)
        order.append(ticket.key)
        clock.now += 0.05
        sched.succeeded(ticket)
    assert order == [f"c{i}" for i in range(5)] * 3


def test_one_in_flight_for_the_list_even_when_the_answer_is_slow() -> None:
    sched, clock = scheduler(5)
    ticket = take(sched, clock)
    clock.now += 600.0  # ten minutes without an answer
    assert sched.next_request() is None and sched.due_at() == math.inf
    sched.succeeded(ticket)
    assert sched.next_request() is not None  # the interval passed long ago


def test_stale_report_is_ignored() -> None:
    sched, clock = scheduler(2)
    ticket = take(sched, clock)
    sched.succeeded(ticket)
    sched.failed(ticket)  # reported twice: no back-off from the second report
    assert sched.due_at() == clock.now + 2.0


def test_open_conversation_at_its_own_rate_outside_the_budget() -> None:
    sched, clock = scheduler(3)
    sched.set_open("c1")
    opens: list[Ticket[str]] = []
    lists: list[Ticket[str]] = []
    while clock.now < 60.0:
        ticket = take(sched, clock)
        (opens if ticket.lane is Lane.OPEN else lists).append(ticket)
        assert ticket.lane is Lane.OPEN or ticket.key != "c1"  # the list skips it
        sched.succeeded(ticket)
    assert [t.started for t in opens] == [OPEN_ACTIVE_S * i for i in range(1, 13)]
    assert len(lists) == 30
    sched.set_window_active(False)
    assert sched.open_interval() == OPEN_BACKGROUND_S


def test_idle_slows_the_list_and_the_open_conversation() -> None:
    sched, clock = scheduler(3)
    sched.set_open("c0")
    clock.now = IDLE_AFTER_S
    assert sched.is_idle()
    assert sched.list_interval() == 2.0 * IDLE_SLOWDOWN
    assert sched.open_interval() == OPEN_BACKGROUND_S
    sched.note_input()
    assert not sched.is_idle() and sched.list_interval() == 2.0


def test_retry_after_is_honoured_by_both_lanes() -> None:
    sched, clock = scheduler(3)
    sched.set_open("c0")
    ticket = take(sched, clock)
    while ticket.lane is not Lane.LIST:
        sched.succeeded(ticket)
        ticket = take(sched, clock)
    asked = ticket.key
    sched.finish_with_error(ticket, http_error(429, 42.0))
    assert sched.due_at() == pytest.approx(ticket.started + 42.0)
    clock.now = ticket.started + 41.9
    assert sched.next_request() is None
    clock.now = ticket.started + 42.0
    first = sched.next_request()
    assert first is not None and first.lane is Lane.OPEN
    after = sched.next_request()
    assert after is not None and after.key == asked  # it kept its turn


def test_429_without_retry_after_doubles_up_to_the_maximum() -> None:
    sched, clock = scheduler(3)
    waits = []
    for _ in range(10):
        ticket = take(sched, clock)
        sched.rate_limited(ticket, None)
        waits.append(sched.due_at() - clock.now)
    assert waits[:4] == [4.0, 8.0, 16.0, 32.0] and waits[-1] == MAX_BACKOFF_S
    ticket = take(sched, clock)
    sched.succeeded(ticket)
    ticket = take(sched, clock)
    sched.rate_limited(ticket, None)
    assert sched.due_at() - clock.now == 4.0  # a success resets it


def test_server_errors_back_the_list_off_and_a_success_resets() -> None:
    sched, clock = scheduler(3)
    waits = []
    for _ in range(9):
        ticket = take(sched, clock)
        sched.finish_with_error(ticket, ConnectFailed("refused"))
        waits.append(sched.due_at() - clock.now)
    assert waits[:3] == [4.0, 8.0, 16.0] and waits[-1] == MAX_BACKOFF_S
    ticket = take(sched, clock)
    sched.finish_with_error(ticket, http_error(503))
    assert sched.due_at() - clock.now == MAX_BACKOFF_S
    ticket = take(sched, clock)
    sched.succeeded(ticket)
    assert sched.due_at() - clock.now == 2.0


def test_a_refused_conversation_waits_alone_and_the_list_goes_on() -> None:
    sched, clock = scheduler(3)
    ticket = take(sched, clock)
    assert ticket.key == "c0"
    sched.finish_with_error(ticket, http_error(404))
    seen = []
    while clock.now < CONVERSATION_BACKOFF_S - 10:
        t = take(sched, clock)
        seen.append(t.key)
        sched.succeeded(t)
    assert "c0" not in seen and seen[:2] == ["c1", "c2"]
    while "c0" not in seen:
        t = take(sched, clock)
        seen.append(t.key)
        sched.succeeded(t)
    assert clock.now >= CONVERSATION_BACKOFF_S


def test_401_backs_off_the_whole_list() -> None:
    sched, clock = scheduler(3)
    ticket = take(sched, clock)
    sched.finish_with_error(ticket, http_error(401))
    assert sched.due_at() - clock.now == 4.0


def test_activity_raises_the_weight_and_moves_to_the_front() -> None:
    sched, clock = scheduler(20)
    for _ in range(5):
        t = take(sched, clock)
        sched.succeeded(t)
    sched.note_activity("c15")
    t = take(sched, clock)
    assert t.key == "c15"
    sched.succeeded(t, new_activity=True)
    counts: Counter[str] = Counter()
    for _ in range(200):
        t = take(sched, clock)
        counts[t.key] += 1
        sched.succeeded(t)
    quiet = [counts[f"c{i}"] for i in range(20) if i != 15]
    assert counts["c15"] > 2 * max(quiet)
    assert min(quiet) >= 1  # nobody starves


def test_activity_cools_down() -> None:
    sched, clock = scheduler(2)
    sched.note_activity("c0")
    assert sched.weight("c0") == pytest.approx(HOT_WEIGHT)
    clock.now += HOT_HALF_LIFE_S
    assert sched.weight("c0") == pytest.approx(1 + (HOT_WEIGHT - 1) / 2)
    clock.now += 6000.0
    assert sched.weight("c0") < 1.01 and sched.weight("c1") == 1.0


def test_set_followed_keeps_turns_and_new_ones_join_fairly() -> None:
    sched, clock = scheduler(3)
    for _ in range(3):
        t = take(sched, clock)
        sched.succeeded(t)
    sched.set_followed([("c1", None), ("c2", None), ("new", None)])
    assert sorted(sched.followed()) == ["c1", "c2", "new"]
    keys = []
    for _ in range(3):
        t = take(sched, clock)
        keys.append(t.key)
        sched.succeeded(t)
    assert sorted(keys) == ["c1", "c2", "new"]


def test_nothing_followed_means_nothing_due() -> None:
    sched, _clock = scheduler(0)
    assert sched.due_at() == math.inf and sched.next_request() is None
    sched.set_open("x")
    assert math.isfinite(sched.due_at())


@pytest.mark.parametrize("seed", range(40))
def test_random_runs_keep_every_rule(seed: int) -> None:
    rng = random.Random(seed)
    rpm = rng.choice([6.0, 30.0, 30.0, 60.0, 120.0])
    sched, clock = scheduler(rng.randint(1, 60), rpm)
    if rng.random() < 0.5:
        sched.set_open("c0")
    starts: dict[Lane, list[float]] = {Lane.LIST: [], Lane.OPEN: []}
    in_flight: list[Ticket[str]] = []
    earliest_after_limit = -math.inf
    earliest_list = -math.inf
    for _step in range(3000):
        # the poller: start what is due, or let time pass to the next event
        ticket = sched.next_request()
        if ticket is not None:
            assert clock.now >= earliest_after_limit - 1e-9, "started inside Retry-After"
            if ticket.lane is Lane.LIST:
                assert clock.now >= earliest_list - 1e-9, "started inside a back-off"
            assert all(t.lane is not ticket.lane for t in in_flight), "two in flight"
            starts[ticket.lane].append(clock.now)
            in_flight.append(ticket)
            continue
        if in_flight and rng.random() < 0.7:
            done = in_flight.pop(rng.randrange(len(in_flight)))
            clock.now += rng.expovariate(1 / 0.3)
            roll = rng.random()
            if roll < 0.05:
                wait = rng.choice([None, 1.0, 30.0])
                sched.rate_limited(done, wait)
                if wait is not None:
                    earliest_after_limit = max(earliest_after_limit, clock.now + wait)
            elif roll < 0.12:
                sched.failed(done, lane_wide=True)
                if done.lane is Lane.LIST:
                    earliest_list = clock.now + 2 * sched.list_interval()
            elif roll < 0.15:
                sched.failed(done, lane_wide=False)
            else:
                sched.succeeded(done, new_activity=rng.random() < 0.1)
        else:
            due = sched.due_at()
            clock.now = max(clock.now, due if math.isfinite(due) else clock.now) + rng.choice(
                [0.0, 0.0, 0.01, 1.0]
            )
        if rng.random() < 0.01:
            sched.note_input()
        if rng.random() < 0.002:
            clock.now += IDLE_AFTER_S  # a long idle spell
        if rng.random() < 0.005:
            sched.follow(f"late{rng.randint(0, 5)}", active_ago=rng.choice([None, 10.0]))
        if rng.random() < 0.005:
            sched.unfollow(f"c{rng.randint(0, 60)}")
    budget = math.ceil(rpm)
    assert max_in_window(starts[Lane.LIST]) <= budget
    assert max_in_window(starts[Lane.OPEN]) <= math.ceil(60 / OPEN_ACTIVE_S)
    assert starts[Lane.LIST], "the list was never polled"
