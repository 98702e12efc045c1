"""Benchmark: following 200 conversations within a polling budget, on the real sandbox.

Run: ``.venv/bin/python benchmarks/bench_poll_budget.py [--api-version v2]``
(``--quick`` for a smoke-sized run)

A sandbox on a loopback port holds 200 end users, each with a conversation. A thread
plays the end users: sessions start at random (Poisson), each a random user writing 1 to 4
messages some 1 to 10 minutes apart (``--sessions-gaps long``, the default: an end user
answering in an ongoing chat) or 15 to 90 s apart (``short``: a burst, over before a round
of the list comes by, where round-robin is the best any schedule can do), posted through
the sandbox's end-user path (``POST /_sandbox/apps/…/appusers/…/messages``, as the
end-user page does). Two pollers follow all 200 conversations at the same time, each on
its own worker thread with its own ``ConversationApi`` (``api/factory.py`` ``connect``,
the version asked) and its own ``InboxStore`` (``core/inbox.py``), which says which
end-user messages are new:

* BASELINE: naive round-robin at the same budget (one conversation every ``60/budget``
  seconds, in a fixed order, one request in flight);
* OURS: ``core/poll_budget.py`` ``PollScheduler`` (same budget, stride rotation weighted
  by recent activity, one request in flight).

Both stores are primed with every conversation's history first (the list the app keeps
from its last run), so every message posted later counts as new. Measured per poller:
history requests per minute (overall, and the most in any 60 s window), and for each
posted message the time from its post to the poll that saw it (median, p95); messages
not seen when the run ends are reported. Time runs ``--speed`` times faster than real
(a scaled clock drives both schedulers and the arrivals; the HTTP calls take their real
few milliseconds, which scaled up only makes both look slower).

Target: OURS stays within the budget in every 60 s window, sees every message, and its
median time-to-seen is no worse than the baseline's. (With ``short`` sessions no weighting
can beat round-robin; that run shows what the weighting costs there.)
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests
from _common import API_VERSIONS, median, percentile, ratio, verdict

from smooch_desktop.api import factory
from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.errors import ApiError
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxStore
from smooch_desktop.core.poll_budget import PollScheduler
from smooch_desktop.sandbox import SandboxServer

PROFILE = "bench"
#: Seconds between two messages of one end user's session.
GAPS = {"short": (15.0, 90.0), "long": (60.0, 600.0)}


class ScaledClock:
    """Simulated seconds since start, running ``speed`` times faster than real time."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep_until(self, sim: float, stop: threading.Event) -> None:
        wait = (sim - self()) / self.speed
        if wait > 0:
            stop.wait(min(wait, 0.05))


class RoundRobin:
    """The baseline: a fixed order, one request every ``60 / budget`` seconds."""

    def __init__(self, keys: list[ConversationKey], rpm: float, clock: ScaledClock) -> None:
        self._keys = keys
        self._interval = 60.0 / rpm
        self._clock = clock
        self._next = 0
        self._last = -math.inf

    def next_key(self) -> ConversationKey | None:
        now = self._clock()
        if now < self._last + self._interval:
            return None
        self._last = now
        key = self._keys[self._next % len(self._keys)]
        self._next += 1
        return key

    def due_at(self) -> float:
        return self._last + self._interval


class Poller:
    """One poller on its own thread: asks its schedule, calls history, records what it saw."""

    def __init__(
        self,
        name: str,
        api: ConversationApi,
        inbox: InboxStore,
        clock: ScaledClock,
        seen: Callable[[str, str, float], None],
    ) -> None:
        self.name = name
        self.api = api
        self.inbox = inbox
        self.clock = clock
        self._seen = seen
        self.starts: list[float] = []
        self.errors = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"poll-{name}", daemon=True)

    def poll(self, key: ConversationKey) -> int:
        """One history request for ``key``; returns how many new messages it brought."""
        self.starts.append(self.clock())
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            page = self.api.history(key.user_ref, conversation_id=key.conversation_id)
        finally:
            self._in_flight -= 1
        update = self.inbox.apply_history(key, page)
        now = self.clock()
        for message_id in update.new_user_ids:
            self._seen(self.name, message_id, now)
        return update.new_messages

    def _run(self) -> None:
        raise NotImplementedError


class BaselinePoller(Poller):
    def __init__(self, *args: Any, keys: list[ConversationKey], rpm: float) -> None:
        super().__init__(*args)
        self.schedule = RoundRobin(keys, rpm, self.clock)

    def _run(self) -> None:
        while not self.stop.is_set():
            key = self.schedule.next_key()
            if key is None:
                self.clock.sleep_until(self.schedule.due_at(), self.stop)
                continue
            try:
                self.poll(key)
            except ApiError:
                self.errors += 1


class OurPoller(Poller):
    def __init__(self, *args: Any, keys: list[ConversationKey], rpm: float) -> None:
        super().__init__(*args)
        self.schedule: PollScheduler[ConversationKey] = PollScheduler(
            requests_per_minute=rpm, clock=self.clock
        )
        for key in keys:
            self.schedule.follow(key)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.schedule.note_input()  # the agent is at work during the run
            ticket = self.schedule.next_request()
            if ticket is None:
                self.clock.sleep_until(self.schedule.due_at(), self.stop)
                continue
            try:
                new = self.poll(ticket.key)
            except ApiError as exc:
                self.errors += 1
                self.schedule.finish_with_error(ticket, exc)
            else:
                self.schedule.succeeded(ticket, new_activity=new > 0)


def max_in_window(starts: list[float], window: float = 60.0) -> int:
    import bisect

    ordered = sorted(starts)
    return max(
        (bisect.bisect_left(ordered, s + window) - i for i, s in enumerate(ordered)), default=0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("--api-version", choices=API_VERSIONS, default="v1.1")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--budget", type=float, default=30.0, help="requests per minute")
    parser.add_argument("--minutes", type=float, help="simulated minutes of arrivals")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second")
    parser.add_argument("--sessions", type=float, default=2.0, help="sessions per minute")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--sessions-gaps",
        choices=sorted(GAPS),
        default="long",
        help="seconds between an end user's messages: short 15-90, long 60-600",
    )
    args = parser.parse_args(argv)
    minutes = args.minutes or (4.0 if args.quick else 60.0)
    speed = args.speed or (60.0 if args.quick else 30.0)
    n = args.conversations
    rng = random.Random(args.seed)

    tmp = Path(tempfile.mkdtemp(prefix="smooch-bench-poll-"))
    with SandboxServer(host="127.0.0.1", port=0, demo=False) as sandbox:
        app = sandbox.app_id
        keys = []
        for i in range(n):
            user_ref = f"user-{i:03d}"
            sandbox.store.create_user(app, {"userId": user_ref, "givenName": f"User {i}"})
            sandbox.store.add_user_message(app, user_ref, f"Hello, I am user {i}")
            keys.append(ConversationKey(PROFILE, user_ref))

        def connect() -> ConversationApi:
            return factory.connect(
                args.api_version,
                sandbox.base_url,
                app,
                Credentials(sandbox.key_id, sandbox.secret),
                **({"avatar_for_email": lambda _email: ""} if args.api_version == "v2" else {}),
            )

        posted: dict[str, float] = {}
        seen: dict[str, dict[str, float]] = {"baseline": {}, "ours": {}}
        lock = threading.Lock()

        def on_seen(who: str, message_id: str, at: float) -> None:
            with lock:
                seen[who].setdefault(message_id, at)

        primed = []
        for name in ("baseline", "ours"):
            inbox = InboxStore(tmp / f"{name}.sqlite3")
            api = connect()
            for key in keys:  # the list as kept from the last run
                inbox.follow(key, FollowReason.OPENED)
                inbox.apply_history(key, api.history(key.user_ref))
            primed.append((name, api, inbox))

        # Arrivals: sessions at random, each 1-4 messages (simulated time).
        plan: list[tuple[float, str]] = []
        t = 0.0
        while True:
            t += rng.expovariate(args.sessions / 60.0)
            if t >= minutes * 60.0:
                break
            user = rng.choice(keys).user_ref
            at = t
            for _ in range(rng.randint(1, 4)):
                plan.append((at, user))
                at += rng.uniform(*GAPS[args.sessions_gaps])
        plan = sorted(p for p in plan if p[0] < minutes * 60.0)
        stop = threading.Event()
        session = requests.Session()

        def arrive() -> None:
            for at, user in plan:
                clock.sleep_until(at, stop)
                while clock() < at and not stop.is_set():
                    clock.sleep_until(at, stop)
                if stop.is_set():
                    return
                url = f"{sandbox.base_url}/_sandbox/apps/{app}/appusers/{user}/messages"
                response = session.post(url, json={"text": f"news at {at:.0f}"}, timeout=10)
                response.raise_for_status()
                with lock:
                    posted[response.json()["message"]["_id"]] = clock()

        clock = ScaledClock(speed)
        pollers: list[Poller] = [
            cls(name, api, inbox, clock, on_seen, keys=keys, rpm=args.budget)
            for (name, api, inbox), cls in zip(primed, (BaselinePoller, OurPoller), strict=True)
        ]
        arrivals = threading.Thread(target=arrive, name="end-users", daemon=True)
        print(
            f"{n} conversations, budget {args.budget:g}/min, {args.api_version}, "
            f"{minutes:g} simulated minutes at {speed:g}x, {len(plan)} messages planned "
            f"({args.sessions_gaps} sessions: {GAPS[args.sessions_gaps][0]:g}-"
            f"{GAPS[args.sessions_gaps][1]:g} s between messages)",
            flush=True,
        )
        arrivals.start()
        for poller in pollers:
            poller.thread.start()
        arrivals.join()
        # Drain: long enough for a round of the whole list, then stop.
        drain_until = clock() + 1.5 * 60.0 * n / args.budget
        while clock() < drain_until:
            with lock:
                if all(len(s) >= len(posted) for s in seen.values()):
                    break
            time.sleep(0.05)
        run_minutes = clock() / 60.0
        for poller in pollers:
            poller.stop.set()
        for poller in pollers:
            poller.thread.join(10)
            poller.inbox.close()
            poller.api.close()
        session.close()

    results: dict[str, dict[str, float]] = {}
    for poller in pollers:
        with lock:
            latencies = [
                seen[poller.name][m] - at for m, at in posted.items() if m in seen[poller.name]
            ]
        missed = len(posted) - len(latencies)
        results[poller.name] = {
            "rpm": len(poller.starts) / run_minutes,
            "window": float(max_in_window(poller.starts)),
            "median": median(latencies) if latencies else math.nan,
            "p95": percentile(latencies, 95),
            "missed": float(missed),
            "in_flight": float(poller.max_in_flight),
            "errors": float(poller.errors),
        }
    print(f"{len(posted)} messages posted; run {run_minutes:.1f} simulated minutes")
    print(f"{'':10} {'req/min':>8} {'max/60s':>8} {'median s':>9} {'p95 s':>8} {'missed':>7}")
    for name, r in results.items():
        print(
            f"{name:10} {r['rpm']:8.1f} {r['window']:8.0f} {r['median']:9.1f} {r['p95']:8.1f}"
            f" {r['missed']:7.0f}   (max in flight {r['in_flight']:.0f}, errors {r['errors']:.0f})"
        )
    ours, base = results["ours"], results["baseline"]
    print(
        f"ratio ours/baseline: median {ratio(ours['median'], base['median'])}, "
        f"p95 {ratio(ours['p95'], base['p95'])}, requests/min {ratio(ours['rpm'], base['rpm'])}"
    )
    ok = (
        ours["window"] <= math.ceil(args.budget)
        and ours["missed"] == 0
        and ours["in_flight"] <= 1
        and ours["median"] <= base["median"]
    )
    return verdict(
        ok,
        f"median time to see a new message {ours['median']:.1f} s vs round-robin "
        f"{base['median']:.1f} s ({ratio(ours['median'], base['median'])}), p95 "
        f"{ours['p95']:.1f} s vs {base['p95']:.1f} s, at most {ours['window']:.0f} requests "
        f"in any minute (target: budget {args.budget:g}, nothing missed, median <= baseline)",
    )


if __name__ == "__main__":
    sys.exit(main())
