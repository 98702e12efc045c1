"""The server's time from its ``Date`` headers: parsing hostile values, and lower bounds."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from smooch_desktop.api.server_clock import ServerClock, parse_http_date

NOW = 1_717_171_717.0  # 2024-05-31


class Mono:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 2011 08:49:37 GMT", 1320569377.0),  # IMF-fixdate
        ("Sunday, 06-Nov-11 08:49:37 GMT", 1320569377.0),  # RFC 850
        ("Sun Nov  6 08:49:37 2011", 1320569377.0),  # asctime: GMT by definition
        ("  Sun, 06 Nov 2011 08:49:37 GMT ", 1320569377.0),
        (formatdate(NOW, usegmt=True), NOW),
    ],
)
def test_the_three_http_date_forms_parse(value: str, expected: float) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        " ",
        "garbage",
        "Sun, 32 Nov 2011 08:49:37 GMT",
        "Sun, 06 Nov 2011 25:49:37 GMT",
        "Sun, 06 Nov 2011 08:49:37 +0200",  # an HTTP-date is GMT, always
        "Tue, 15 Nov 1994 08:12:31 GMT",  # before 2000: a dead RTC, not a clock
        "Sun, 06 Nov 9999 08:49:37 GMT",
        "Sun, 06 Nov 2011 08:49:37 GMT" + " " * 100,
        "Sun, 06 Nov 2011 08:49:37 GMT, Mon, 07 Nov 2011 08:49:37 GMT",  # two headers
        "Sun, 06 Nov 2011 08:49:37 GMT\x00",
        "Sün, 06 Nov 2011 08:49:37 GMT",
        "1320569377",
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
        b"Sun, 06 Nov 2011 08:49:37 GMT",
        1320569377,
    ],
)
def test_garbage_and_hostile_dates_are_ignored(value: object) -> None:
    assert parse_http_date(value) is None
    clock = ServerClock()
    assert clock.observe_date(value) is False
    assert clock.lower_bound() is None and not clock.known


def test_lower_bound_projects_along_the_monotonic_clock() -> None:
    mono = Mono()
    clock = ServerClock(monotonic=mono)
    assert clock.lower_bound() is None
    assert clock.observe_date(formatdate(NOW, usegmt=True))  # arrived at mono 500
    mono.now = 530.0
    assert clock.lower_bound() == NOW + 30.0
    assert clock.lower_bound(at=490.0) == NOW - 10.0  # before the answer: projected back


def test_the_minimum_wins_so_one_clock_ahead_cannot_move_the_bound_later() -> None:
    mono = Mono()
    clock = ServerClock(monotonic=mono)
    clock.observe_date(formatdate(NOW, usegmt=True))
    mono.now += 1.0
    clock.observe_date(formatdate(NOW + 3600, usegmt=True))  # a proxy an hour ahead
    assert clock.lower_bound() == NOW + 1.0
    clock.observe_stamp(NOW - 5.0)  # a message the server stamped, behind the Date clock
    assert clock.lower_bound() == NOW - 5.0


def test_old_observations_age_out() -> None:
    mono = Mono()
    clock = ServerClock(monotonic=mono, keep=3)
    clock.observe_date(formatdate(NOW - 3600, usegmt=True))  # an outlier behind
    for _ in range(3):
        mono.now += 1.0
        clock.observe_date(formatdate(NOW + mono.now - 500.0, usegmt=True))
    assert clock.lower_bound() == NOW + 3.0


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), -1.0, 0.0, "1", None])
def test_odd_stamps_are_ignored(value: object) -> None:
    clock = ServerClock()
    assert clock.observe_stamp(value) is False
    assert clock.lower_bound() is None
