"""Exponential back-off with jitter, for whatever retries: the outbox's sends and checks
(:mod:`smooch_desktop.core.delivery`) and the window's user lookups.

A module of its own so that a widget needing a back-off doesn't import the delivery
engine (and with it the outbox, SQLite and the API models) before the first paint.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``base_s * factor**(n-1)``, capped, minus jitter.

    The delay after the n-th consecutive failure lies in
    ``[(1 - jitter) * ceiling(n), ceiling(n)]``: never above the cap (a countdown the user
    sees must stay sane) and spread out so many clients don't retry in lockstep.
    """

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 60.0
    jitter: float = 0.5

    def ceiling(self, failures: int) -> float:
        """The un-jittered delay after ``failures`` (>= 1) consecutive failures."""
        exponent = min(max(failures, 1) - 1, 256)  # no float overflow on absurd counts
        return float(min(self.cap_s, self.base_s * self.factor**exponent))

    def delay(self, failures: int, rng: random.Random) -> float:
        """A jittered delay after ``failures`` consecutive failures."""
        return self.ceiling(failures) * (1.0 - self.jitter * rng.random())
