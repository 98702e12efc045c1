"""The fault run: N messages through injected faults and repeated kill -9, exactly once.

Quality bar (docs/architecture.md#quality-bars): every message through injected faults,
skewed clocks and kills is delivered exactly once, or failed-and-kept with the reason shown.

What it does:

1. Starts a sandbox in this process (a thread, on 127.0.0.1, port 0) and creates
   ``--users`` fresh users.
2. Writes a plan of ``--messages`` replies spread over the users at random; about
   ``--invalid-rate`` of them are whitespace-only, which the server rejects with 400 —
   those must end failed-and-kept, text intact.
3. Switches on every fault at ``--fault-rate`` each (500/503, 429, connection dropped
   before and after processing, hang, and a proxy's 502/503/504 *after* the message was
   stored) plus ``--latency-ms``, for every API request, history checks included.
4. Runs ``fault_sender.py`` (the real outbox + delivery engine + ``V1Api``, or ``V2Api``
   with ``--api-version v2``) as a child process
   with its outbox in a temp dir, SIGKILLs it ``--kills`` times at random moments (at
   random points of progress, plus jitter, so kills land inside requests, between an
   answer and its ``mark_sent``, inside enqueues…) and restarts it, until it reports
   everything terminal or ``--time-limit`` passes. Each start runs on a wall clock
   skewed by a random amount in ``[-clock-skew-s, +clock-skew-s]`` (so the clock is
   also "set" between a kill and the restart).
5. Meanwhile the end users are chatty: ``--chatter-rate`` messages a second, to random
   users, plus a burst of ``--chatter-burst`` messages to one user every
   ``--chatter-burst-every`` seconds, so the history grows between a send and its check.
6. Compares the sandbox's store with the outbox and prints the counts. Exit status 1 if
   anything was duplicated, lost, out of order or misreported, a failure has no reason,
   or the run did not finish.

Counts:
  sent             entries marked sent and present in the store
  duplicated       extra copies of a message in the store (must be 0)
  lost             plan messages neither delivered nor failed-and-kept (must be 0)
  out_of_order     adjacent pairs of a user's delivered messages in the wrong order (0)
  misreported      failed entries that are in fact in the store, or sent entries whose
                   text differs from the plan (must be 0)
  failed_and_kept  failed entries whose text and error text are kept
  unexplained      failed entries without a reason (must be 0)
  failures         failed entries by reason: "HTTP 400 bad_request", "delivery_unconfirmed"…
  attempts / verifications   POSTs and history checks over all entries
  chatter          messages the end users wrote during the run

Usage: ``python benchmarks/fault_run.py --messages 1000 --users 5 --kills 2 [--seed N]
[--clock-skew-s 7200] [--chatter-rate 5] [--api-version v2]``
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.models import CLIENT_ID_METADATA_KEY
from smooch_desktop.core.outbox import EntryState, Outbox
from smooch_desktop.sandbox import FaultConfig, SandboxServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fault_sender import API_VERSIONS, connect

SENDER_SCRIPT = Path(__file__).with_name("fault_sender.py")
PROFILE = "fault-run"


@dataclass
class Report:
    messages: int
    users: int
    kills_requested: int
    seed: int
    kills: int = 0
    starts: int = 0
    finished: bool = False
    sent: int = 0
    duplicated: int = 0
    lost: int = 0
    out_of_order: int = 0
    misreported: int = 0
    failed_and_kept: int = 0
    unexplained: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    expected_failures: int = 0
    not_enqueued: int = 0
    still_active: int = 0
    unexpected_in_store: int = 0
    attempts: int = 0
    verifications: int = 0
    recovered_in_flight: int = 0
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    chatter: int = 0
    clock_skews_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.finished
            and not (self.duplicated or self.lost or self.out_of_order or self.misreported)
            and not self.unexplained
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Send messages through injected faults and kill -9; check exactly once."
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--api-version", choices=API_VERSIONS, default="v1.1")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds, whole run")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="rate of each fault")
    parser.add_argument("--latency-ms", type=int, default=5)
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After on 429/503")
    parser.add_argument("--invalid-rate", type=float, default=0.01)
    parser.add_argument("--read-timeout", type=float, default=0.5)
    parser.add_argument("--grace", type=float, default=0.5, help="verify grace (s)")
    parser.add_argument(
        "--clock-skew-s",
        type=float,
        default=7200.0,
        help="each sender start runs on a wall clock off by a random amount in ±this",
    )
    parser.add_argument(
        "--chatter-rate", type=float, default=5.0, help="end-user messages per second"
    )
    parser.add_argument("--chatter-burst", type=int, default=150, help="messages per burst")
    parser.add_argument(
        "--chatter-burst-every", type=float, default=10.0, help="seconds between bursts (0: none)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (outbox, logs)")
    return parser.parse_args(argv)


def make_plan(
    rng: random.Random, messages: int, users: list[str], invalid_rate: float
) -> list[dict[str, Any]]:
    plan = []
    for index in range(messages):
        user = rng.choice(users)
        text = f"Fault-run reply {index} to {user} ✓"
        if rng.random() < invalid_rate:
            text = "   "  # the server requires text: 400, must stay failed-and-kept
        plan.append({"index": index, "user": user, "text": text})
    return plan


def count_states(outbox_path: Path, states: tuple[str, ...]) -> int:
    """Entries in ``states``, read without disturbing the child's writes (0 if unreadable)."""
    if not outbox_path.exists():
        return 0
    marks = ", ".join("?" for _ in states)
    try:
        conn = sqlite3.connect(f"file:{outbox_path}?mode=ro", uri=True, timeout=1.0)
        try:
            row = conn.execute(
                f"SELECT COUNT(*) FROM outbox WHERE state IN ({marks})", states
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return int(row[0])


def wait_for_kill_moment(
    child: subprocess.Popen[bytes],
    outbox_path: Path,
    goal: float,
    rng: random.Random,
    deadline: float,
) -> None:
    """Wait until ``goal`` entries are terminal, then for a request in flight, then a bit.

    Kills at random wall-clock moments mostly land while the sender sleeps (backoff,
    grace); aiming at an entry in ``sending`` plus a random few milliseconds hits the
    moments that matter: inside a request, between its answer and ``mark_sent``, inside
    the next ``mark_sending``.
    """
    while child.poll() is None and time.time() < deadline:
        if count_states(outbox_path, ("sent", "failed")) >= goal:
            break
        time.sleep(0.01)
    aim_until = min(deadline, time.time() + 2.0)
    while child.poll() is None and time.time() < aim_until:
        if count_states(outbox_path, ("sending",)):
            break
        time.sleep(0.001)
    time.sleep(rng.uniform(0.0, 0.015))


def drive_children(
    args: argparse.Namespace,
    rng: random.Random,
    server: SandboxServer,
    workdir: Path,
    report: Report,
    deadline: float,
) -> None:
    """Start, kill and restart the sender until it finishes (or the deadline)."""
    outbox_path = workdir / "outbox.sqlite3"
    events = workdir / "events.jsonl"
    targets = sorted(rng.uniform(0.1, 0.85) for _ in range(args.kills))
    env = {**os.environ, "SMOOCH_KEY_SECRET": server.secret}
    while time.time() < deadline:
        skew = rng.uniform(-args.clock_skew_s, args.clock_skew_s) if args.clock_skew_s else 0.0
        report.clock_skews_s.append(round(skew, 1))
        command = [
            sys.executable,
            str(SENDER_SCRIPT),
            "--outbox", str(outbox_path),
            "--plan", str(workdir / "plan.json"),
            "--base-url", server.base_url,
            "--app-id", server.app_id,
            "--key-id", server.key_id,
            "--api-version", args.api_version,
            "--profile", PROFILE,
            "--events", str(events),
            "--read-timeout", str(args.read_timeout),
            "--grace", str(args.grace),
            "--seed", str(rng.randrange(2**31)),
            "--time-limit", str(max(1.0, deadline - time.time())),
            "--clock-skew-s", repr(skew),
        ]  # fmt: skip
        with (workdir / "sender.log").open("ab") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        report.starts += 1
        try:
            if report.kills < len(targets):
                goal = targets[report.kills] * args.messages
                wait_for_kill_moment(child, outbox_path, goal, rng, deadline)
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    report.kills += 1
                    continue
            code = child.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if code == 0:
            report.finished = True
            return
        if code is None:
            return
    return


def compare(
    server: SandboxServer, outbox_path: Path, plan: list[dict[str, Any]], report: Report
) -> None:
    """Fill the report's counts from the sandbox store and the outbox."""
    with Outbox(outbox_path) as outbox:
        entries = outbox.all_entries(PROFILE)
    by_index = {e.message.metadata.get("planIndex"): e for e in entries}
    by_wire = {e.wire_id: e for e in entries}
    users = sorted({item["user"] for item in plan})
    stored_count: collections.Counter[str] = collections.Counter()
    for user in users:
        order: list[int] = []
        for message in server.store.messages(server.app_id, user):
            wire = (message.get("metadata") or {}).get(CLIENT_ID_METADATA_KEY)
            if not isinstance(wire, str):
                continue
            stored_count[wire] += 1
            entry = by_wire.get(wire)
            if entry is None:
                report.unexpected_in_store += 1
                continue
            if stored_count[wire] == 1:
                order.append(entry.seq)
        report.out_of_order += sum(1 for a, b in itertools.pairwise(order) if a > b)
    report.duplicated = sum(n - 1 for n in stored_count.values() if n > 1)
    for item in plan:
        entry = by_index.get(item["index"])
        if item["text"].strip() == "":
            report.expected_failures += 1
        if entry is None:
            report.not_enqueued += 1
            report.lost += 1
            continue
        report.attempts += entry.attempts
        report.verifications += entry.verifications
        in_store = stored_count[entry.wire_id] > 0
        if entry.state is EntryState.SENT:
            if in_store:
                report.sent += 1
                if entry.message.text != item["text"]:
                    report.misreported += 1
            else:
                report.lost += 1
        elif entry.state is EntryState.FAILED:
            why = entry.error_code or "no code"
            if entry.error_status is not None:
                why = f"HTTP {entry.error_status} {why}"
            report.failures[why] = report.failures.get(why, 0) + 1
            if not entry.error_text:
                report.unexplained += 1
            if in_store:
                report.misreported += 1
            elif entry.message.text == item["text"] and entry.error_text:
                report.failed_and_kept += 1
            else:
                report.lost += 1
        else:
            report.still_active += 1
            report.lost += 1


def summarise_events(workdir: Path, report: Report) -> None:
    path = workdir / "events.jsonl"
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            report.recovered_in_flight += len(event.get("recovered", []))


class Chatter(threading.Thread):
    """The end users writing in while the agent's replies go out (straight into the store,
    as the sandbox's end-user side does)."""

    def __init__(
        self,
        server: SandboxServer,
        users: list[str],
        args: argparse.Namespace,
        rng: random.Random,
    ) -> None:
        super().__init__(name="chatter", daemon=True)
        self.server, self.users, self.args = server, users, args
        self.rng = random.Random(rng.randrange(2**31))
        self.stop = threading.Event()
        self.count = 0

    def say(self, user: str) -> None:
        self.server.store.add_user_message(self.server.app_id, user, f"user says {self.count}")
        self.count += 1

    def run(self) -> None:
        rate, every = self.args.chatter_rate, self.args.chatter_burst_every
        next_burst = time.time() + every if every > 0 else float("inf")
        while not self.stop.wait(0.05):
            for _ in range(int(rate * 0.05) + (self.rng.random() < (rate * 0.05) % 1)):
                self.say(self.rng.choice(self.users))
            if time.time() >= next_burst:
                user = self.rng.choice(self.users)
                for _ in range(self.args.chatter_burst):
                    self.say(user)
                next_burst = time.time() + every


def run(args: argparse.Namespace) -> Report:
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    report = Report(args.messages, args.users, args.kills, seed)
    started = time.time()
    deadline = started + args.time_limit
    server = SandboxServer(host="127.0.0.1", port=0, demo=False, hang_seconds=5.0).start()
    workdir = Path(tempfile.mkdtemp(prefix="smooch-fault-run-"))
    try:
        api = connect(
            args.api_version,
            server.base_url,
            server.app_id,
            Credentials(server.key_id, server.secret),
        )
        users = [f"fault-run-user-{n}" for n in range(args.users)]
        for user in users:
            api.create_user(user)
        api.close()
        plan = make_plan(rng, args.messages, users, args.invalid_rate)
        (workdir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        rate = args.fault_rate
        server.set_faults(
            FaultConfig(
                latency_ms=args.latency_ms,
                error_rate=rate,
                rate_limit_rate=rate,
                retry_after=args.retry_after,
                drop_before_rate=rate,
                drop_after_rate=rate,
                hang_rate=rate,
                error_after_store_rate=rate,
                seed=rng.randrange(2**31),
            )
        )
        chatter = Chatter(server, users, args, rng)
        chatter.start()
        try:
            drive_children(args, rng, server, workdir, report, deadline)
        finally:
            chatter.stop.set()
            chatter.join()
        report.chatter = chatter.count
        server.set_faults(FaultConfig())
        report.elapsed_s = round(time.time() - started, 1)
        compare(server, workdir / "outbox.sqlite3", plan, report)
        summarise_events(workdir, report)
        log = server.log()
        report.requests = len(log)
        report.faults = dict(
            sorted(collections.Counter(e["fault"] for e in log if e.get("fault")).items())
        )
    finally:
        server.stop()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}))
    else:
        for key, value in asdict(report).items():
            print(f"{key:>20}: {value}")
        print(f"{'ok':>20}: {report.ok}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
