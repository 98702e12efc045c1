"""Benchmark: what one delivery step reads from the outbox with thousands of messages queued.

Run: ``.venv/bin/python benchmarks/bench_outbox.py`` (``--quick`` for a smoke-sized run)

A long outage leaves many replies queued (the case: 8,000 for 5 users, plus 2,000
delivered ones still kept). On every step the delivery engine needs only the first
active entry of each user (the head of their line) and whether anything is active.

* BASELINE — what the engine did before: read every active entry (``Outbox.active``,
  each row's message decoded from JSON) and keep the first per user in Python;
* OURS — ``Outbox.heads`` (one query returning just the heads' rows) and
  ``Outbox.has_active`` (an ``EXISTS``).

Both run in this process on the same file, alternating, and must return the same heads.
Target: one step's outbox reads take <= 5 ms with 8,000 queued (median of the runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, ratio, verdict

from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.outbox import Outbox, OutboxEntry

PROFILE = "bench"
USERS = 5
TARGET_MS = 5.0


def baseline(outbox: Outbox) -> tuple[list[OutboxEntry], bool]:
    heads: dict[str, OutboxEntry] = {}
    active = outbox.active(PROFILE)
    for entry in active:
        heads.setdefault(entry.user_ref, entry)
    return list(heads.values()), bool(outbox.active(PROFILE))


def ours(outbox: Outbox) -> tuple[list[OutboxEntry], bool]:
    return outbox.heads(PROFILE), outbox.has_active(PROFILE)


def fill(outbox: Outbox, queued: int, delivered: int) -> None:
    sender = Sender(name="Bench", email="bench@example.com")
    for n in range(delivered + queued):
        text = f"Reply number {n}: " + "the parcel left the warehouse this morning. " * 3
        entry = outbox.enqueue(PROFILE, f"user-{n % USERS}", OutgoingMessage(text, sender=sender))
        if n < delivered:
            outbox.mark_sending(entry.client_id)
            outbox.mark_sent(entry.client_id, f"srv-{n}", time.time())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="800 queued, 5 runs")
    args = parser.parse_args(argv)
    queued, delivered, runs = (800, 200, 5) if args.quick else (8_000, 2_000, 21)
    with (
        tempfile.TemporaryDirectory(prefix="smooch-bench-outbox-") as tmp,
        Outbox(Path(tmp) / "outbox.sqlite3") as outbox,
    ):
        started = time.perf_counter()
        fill(outbox, queued, delivered)
        print(
            f"outbox: {queued:,} queued + {delivered:,} delivered, {USERS} users "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        times: dict[str, list[float]] = {"baseline": [], "ours": []}
        for _ in range(runs):
            for name, read in (("baseline", baseline), ("ours", ours)):
                t0 = time.perf_counter()
                heads, pending = read(outbox)
                times[name].append((time.perf_counter() - t0) * 1000)
                assert pending and len(heads) == USERS
        base_heads, _ = baseline(outbox)
        our_heads, _ = ours(outbox)
        same = [e.client_id for e in base_heads] == [e.client_id for e in our_heads]
    base_ms, our_ms = median(times["baseline"]), median(times["ours"])
    print(f"BASELINE (active() + first per user): median {base_ms:.2f} ms per step")
    print(f"OURS     (heads() + has_active()):    median {our_ms:.2f} ms per step")
    speedup = base_ms / our_ms if our_ms > 0 else float("inf")
    print(
        f"ratio ours/baseline: {ratio(our_ms, base_ms)} ({speedup:.0f}x faster); same heads: {same}"
    )
    return verdict(
        same and our_ms <= TARGET_MS,
        f"outbox reads per delivery step {our_ms:.2f} ms with {queued:,} queued "
        f"(target <= {TARGET_MS:.0f} ms; baseline {base_ms:.2f} ms)",
    )


if __name__ == "__main__":
    sys.exit(main())
