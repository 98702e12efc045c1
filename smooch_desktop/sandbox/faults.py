"""Fault injection for the sandbox's API namespace.

Reliability code (outbox, retries, typing policy) is only worth something if it has
met slow answers, 5xx, 429 and dropped connections on real sockets. :class:`FaultConfig`
says how often each happens; :class:`FaultPlan` draws, per request and thread-safely, which
one (if any) hits that request. With a ``seed`` the sequence of draws is reproducible.

Outcomes are mutually exclusive and drawn from one uniform number against cumulative
thresholds in this order: ``drop_before``, ``hang``, ``error``, ``rate_limit``,
``drop_after``, ``error_after_store``. So each rate is the exact fraction of requests it
hits as long as the rates sum to at most 1 (a larger sum starves the later ones). Latency
is not an outcome: it is added to every API request, faulted or not.

Status codes chosen for the error outcome (the public docs list 500/502/503/504 without
codes, so these are sandbox choices): half of them 500 ``internal_error``, half 503
``service_unavailable``. Rate limiting answers 429 ``too_many_requests``. ``Retry-After``
is sent (rounded up to whole seconds) on 429 and 503 only when ``retry_after`` is set —
the real API documents no such header, so clients must cope with both.

``error_after_store`` plays a proxy or gateway in front of the API: the request is
processed (a message *is* stored) and then the client gets a 502, 503 or 504 instead of
the API's answer — the case where a 5xx does not mean "not processed". The status, the
body (an HTML error page, plain text, a foreign JSON object, or empty) and whether a
``Retry-After`` comes with it (``retry_after`` rounded up, else 1 s) are drawn per request.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from dataclasses import dataclass
from typing import Any, Final

#: Names used in the request log's ``fault`` field.
DROP_BEFORE: Final = "drop_before"
HANG: Final = "hang"
ERROR: Final = "error"
RATE_LIMIT: Final = "rate_limit"
DROP_AFTER: Final = "drop_after"
ERROR_AFTER_STORE: Final = "error_after_store"

#: Bodies a proxy sends with its 5xx, by kind: (content type, body template with {status}).
PROXY_BODIES: Final = {
    "html": (
        "text/html",
        "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} "
        "{reason}</h1></center><hr><center>nginx</center></body></html>",
    ),
    "text": ("text/plain", "upstream connect error or disconnect/reset before headers"),
    "json": ("application/json", '{{"message": "{reason}"}}'),
    "empty": ("text/plain", ""),
}

_RATE_FIELDS: Final = (
    "error_rate",
    "rate_limit_rate",
    "drop_before_rate",
    "drop_after_rate",
    "hang_rate",
    "error_after_store_rate",
)


@dataclass(frozen=True)
class FaultConfig:
    """How the sandbox misbehaves on API requests; all zero means a perfect server.

    Rates are fractions in ``[0, 1]`` of API requests. ``latency_ms`` is added before every
    API answer. ``retry_after`` (seconds) adds a ``Retry-After`` header to 429 and 503
    answers; ``None`` sends none. ``seed`` makes the fault sequence deterministic.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float | None = None
    drop_before_rate: float = 0.0
    drop_after_rate: float = 0.0
    hang_rate: float = 0.0
    error_after_store_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        """Reject nonsense early so a typo in a test or CLI flag cannot silently mean 0."""
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int):
            raise ValueError("latency_ms must be an integer number of milliseconds")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number between 0 and 1")
            if not (0.0 <= float(value) <= 1.0):
                raise ValueError(f"{name} must be between 0 and 1")
        if self.retry_after is not None:
            if isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int | float):
                raise ValueError("retry_after must be a number of seconds or None")
            if not math.isfinite(self.retry_after) or self.retry_after < 0:
                raise ValueError("retry_after must be >= 0")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError("seed must be an integer or None")

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by ``GET /_sandbox/faults``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: FaultConfig | None = None) -> FaultConfig:
        """Build a config from (a subset of) fields; missing fields keep ``base``'s values.

        Raises ``ValueError`` on unknown fields or invalid values, so a misspelt key in a
        ``PUT /_sandbox/faults`` body is an error, not a silent no-op.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        return dataclasses.replace(base or cls(), **data)

    @property
    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` value (whole seconds, rounded up), or None for no header."""
        if self.retry_after is None:
            return None
        return str(math.ceil(self.retry_after))


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request: ``outcome`` is a fault name or None; ``status`` for errors."""

    outcome: str | None
    latency_s: float
    status: int | None = None
    #: ``error_after_store`` only: a key of :data:`PROXY_BODIES`, and whether the answer
    #: carries ``Retry-After``.
    body: str | None = None
    retry_after: bool = False


class FaultPlan:
    """Thread-safe source of :class:`FaultDecision` s for a (switchable) :class:`FaultConfig`."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._rng = random.Random(self._config.seed)

    @property
    def config(self) -> FaultConfig:
        """The active configuration."""
        with self._lock:
            return self._config

    def set_config(self, config: FaultConfig) -> None:
        """Switch configuration; re-seeds so a seeded run starts its sequence afresh."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    def decide(self) -> FaultDecision:
        """Draw the fate of one API request."""
        with self._lock:
            cfg = self._config
            latency = cfg.latency_ms / 1000.0
            roll = self._rng.random()
            threshold = 0.0
            for outcome, rate in (
                (DROP_BEFORE, cfg.drop_before_rate),
                (HANG, cfg.hang_rate),
                (ERROR, cfg.error_rate),
                (RATE_LIMIT, cfg.rate_limit_rate),
                (DROP_AFTER, cfg.drop_after_rate),
                (ERROR_AFTER_STORE, cfg.error_after_store_rate),
            ):
                threshold += rate
                if rate > 0 and roll < threshold:
                    status: int | None = None
                    if outcome == ERROR:
                        status = 500 if self._rng.random() < 0.5 else 503
                    elif outcome == RATE_LIMIT:
                        status = 429
                    elif outcome == ERROR_AFTER_STORE:
                        status = self._rng.choice((502, 503, 504))
                        body = self._rng.choice(sorted(PROXY_BODIES))
                        with_retry_after = self._rng.random() < 0.5
                        return FaultDecision(outcome, latency, status, body, with_retry_after)
                    return FaultDecision(outcome, latency, status)
            return FaultDecision(None, latency)
