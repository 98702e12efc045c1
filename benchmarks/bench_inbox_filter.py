"""Benchmark: filtering 1,000 followed conversations as the agent types.

Run: ``.venv/bin/python benchmarks/bench_inbox_filter.py`` (``--quick`` for a smoke-sized run)

An ``InboxStore`` (``core/inbox.py``) on a real file holds 1,000 conversations with
names (accented ones too), emails and ids. A query is typed one character at a time
("m", "ma", "mar", … and an email, and an id), and each keystroke asks for the filtered
list, sorted by last activity:

* BASELINE: the naive way: read every row of the profile, build the rows, compare the
  case-folded name, email and ids in Python, sort in Python;
* OURS: ``InboxStore.conversations(profile, query)``: one query on the case-folded
  search column (``instr``), sorted by the index.

Both run in this process on the same file, alternating, and must return the same list.
Target: one keystroke's list takes <= 16 ms (p95 over every keystroke of every run).
"""

from __future__ import annotations

import argparse
import atexit
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, percentile, ratio, verdict

from smooch_desktop.api.models import HistoryPage, Message
from smooch_desktop.core.inbox import ConversationKey, FollowReason, InboxRow, InboxStore, fold

PROFILE = "bench"
TARGET_MS = 16.0
FIRST = ["Marie", "Marc", "Zoë", "Åsa", "José", "Chloé", "Ahmed", "Li", "Olga", "Mårten"]
LAST = ["Martin", "Dubois", "Ångström", "Nguyen", "Smith", "García", "Müller", "Rossi"]
QUERIES = ["martin", "zoë", "example.org", "user-04"]


def baseline(store: InboxStore, query: str) -> list[InboxRow]:
    needle = fold(query)
    rows = store.conversations(PROFILE)  # every row
    hits = [
        r
        for r in rows
        if not needle
        or any(
            needle in fold(part)
            for part in (r.display_name, r.email, r.key.user_ref, r.key.conversation_id)
        )
    ]
    hits.sort(key=lambda r: (-r.last_activity, r.key.user_ref, r.key.conversation_id))
    return hits


def ours(store: InboxStore, query: str) -> list[InboxRow]:
    return store.conversations(PROFILE, query)


def fill(store: InboxStore, n: int, rng: random.Random) -> None:
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        key = ConversationKey(PROFILE, f"user-{i:04d}")
        store.follow(
            key,
            FollowReason.OPENED,
            display_name=f"{first} {last}",
            email=f"{first.lower()}.{i}@example.{'org' if i % 3 else 'com'}",
            at=1_700_000_000.0 + rng.random() * 1e6,
        )
        store.apply_history(
            key, HistoryPage((Message(id=f"m{i}", role="user", text="Hello", received=1.0),))
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("-n", "--conversations", type=int, default=1000)
    args = parser.parse_args(argv)
    runs = 2 if args.quick else 15
    rng = random.Random(12)
    tmp = tempfile.mkdtemp(prefix="smooch-bench-inbox-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    with InboxStore(Path(tmp) / "inbox.sqlite3") as store:
        fill(store, args.conversations, rng)
        times: dict[str, list[float]] = {"baseline": [], "ours": []}
        for _ in range(runs):
            for query in QUERIES:
                for end in range(len(query) + 1):
                    typed = query[:end]
                    for name, fn in (("baseline", baseline), ("ours", ours)):
                        start = time.perf_counter()
                        got = fn(store, typed)
                        times[name].append((time.perf_counter() - start) * 1000.0)
                        if name == "baseline":
                            expected = got
                    if got != expected:
                        print(f"different lists for {typed!r}")
                        return 2
    keys = sum(len(q) + 1 for q in QUERIES) * runs
    print(f"{args.conversations} conversations, {keys} keystrokes")
    print(f"{'':10} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, values in times.items():
        print(f"{name:10} {median(values):10.2f} {percentile(values, 95):8.2f} {max(values):8.2f}")
    p95, base = percentile(times["ours"], 95), percentile(times["baseline"], 95)
    print(
        f"ratio ours/baseline: p95 {ratio(p95, base)}, median "
        f"{ratio(median(times['ours']), median(times['baseline']))}"
    )
    return verdict(
        p95 <= TARGET_MS,
        f"filtering {args.conversations} conversations per keystroke p95 {p95:.2f} ms "
        f"(baseline {base:.2f} ms, {ratio(p95, base)}; target <= {TARGET_MS:g} ms)",
    )


if __name__ == "__main__":
    sys.exit(main())
