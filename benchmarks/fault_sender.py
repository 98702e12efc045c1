"""The sending side of the fault run: one app process, as far as delivery goes.

Runs the real :class:`~smooch_desktop.core.delivery.DeliveryEngine` with a real
:class:`~smooch_desktop.core.outbox.Outbox` on disk and a real ``V1Api`` (or, with
``--api-version v2``, a real ``V2Api``) against a (loopback) sandbox.
:mod:`benchmarks.fault_run` and ``tests/api/test_restart_safety.py`` start it as a child
process and SIGKILL it at arbitrary moments; every start is an app start: ``recover()``,
then carry on.

The messages to send come from a plan file (JSON list of ``{"index", "user", "text"}``),
enqueued progressively in bursts as if an agent were typing while earlier replies go out.
Each message carries ``planIndex`` in its metadata, so a restarted sender enqueues only
the plan items whose enqueue had not returned before the kill.

Exit status: 0 when every message is enqueued and terminal (sent or failed), 2 when the
time limit passed first. The API secret comes from ``SMOOCH_KEY_SECRET``, never argv.

``--clock-skew-s`` runs the whole process on a wrong wall clock (the outbox's and the
engine's clock are ``time.time() + skew``), as on a machine whose clock is off; the
fault run gives every restart a different skew, as if the clock were set between runs.

Test hooks (to hit exact moments instead of random ones): ``--die-before-request N`` /
``--die-after-answer N`` make the process SIGKILL itself right before the N-th POST (after
``mark_sending`` was committed) or right after the N-th POST's answer arrived (before
``mark_sent``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.models import AppUser, HistoryPage, Message, OutgoingMessage, Sender
from smooch_desktop.api.multipart import Progress
from smooch_desktop.api.server_clock import ServerClock
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.delivery import Backoff, DeliveryEngine
from smooch_desktop.core.gravatar import smooch_avatar_url
from smooch_desktop.core.outbox import Outbox

PROFILE = "fault-run"
SENDER = Sender(name="Fault Run", email="agent@example.com")
API_VERSIONS = ("v1.1", "v2")


class DyingApi:
    """An API (v1.1 or v2) that kills its own process at an exact point of the N-th send."""

    def __init__(
        self, api: V1Api | V2Api, *, before_request: int | None, after_answer: int | None
    ) -> None:
        self.api = api
        self.host = api.host
        self._before_request = before_request
        self._after_answer = after_answer
        self._sends = 0

    @property
    def server_clock(self) -> ServerClock | None:
        return self.api.server_clock

    def send_message(
        self, user_ref: str, message: OutgoingMessage, *, conversation_id: str = ""
    ) -> Message:
        self._sends += 1
        if self._sends == self._before_request:
            os.kill(os.getpid(), signal.SIGKILL)
        sent = self.api.send_message(user_ref, message, conversation_id=conversation_id)
        if self._sends == self._after_answer:
            os.kill(os.getpid(), signal.SIGKILL)
        return sent

    def history(
        self, user_ref: str, older_cursor: str | None = None, *, conversation_id: str = ""
    ) -> HistoryPage:
        return self.api.history(user_ref, older_cursor, conversation_id=conversation_id)

    def check_connection(self) -> None:
        self.api.check_connection()

    def get_user(self, user_ref: str) -> AppUser:
        return self.api.get_user(user_ref)

    def create_user(
        self, user_id: str, *, given_name: str = "", surname: str = "", email: str = ""
    ) -> AppUser:
        return self.api.create_user(user_id, given_name=given_name, surname=surname, email=email)

    def send_activity(
        self,
        user_ref: str,
        activity: str,
        sender: Sender | None = None,
        *,
        avatar_url: str = "",
        conversation_id: str = "",
    ) -> None:
        self.api.send_activity(
            user_ref, activity, sender, avatar_url=avatar_url, conversation_id=conversation_id
        )

    def upload(
        self,
        filename: str,
        data: bytes | BinaryIO,
        media_type: str,
        *,
        user_ref: str | None = None,
        conversation_id: str = "",
        progress: Progress | None = None,
    ) -> tuple[str, str]:
        return self.api.upload(
            filename,
            data,
            media_type,
            user_ref=user_ref,
            conversation_id=conversation_id,
            progress=progress,
        )

    def close(self) -> None:
        self.api.close()


def connect(
    api_version: str, base_url: str, app_id: str, credentials: Credentials, **options: Any
) -> V1Api | V2Api:
    """The adapter for ``api_version``; v2 gets the avatar Smooch derives from an email
    (the sandbox serves Gravatar's images itself under ``/avatar``)."""
    if api_version == "v2":
        base = base_url.rstrip("/") + "/avatar"
        return V2Api.connect(
            base_url,
            app_id,
            credentials,
            avatar_for_email=lambda email: smooch_avatar_url(email, base),
            **options,
        )
    return V1Api.connect(base_url, app_id, credentials, version=api_version, **options)


def _event(path: Path | None, **fields: Any) -> None:
    if path is None:
        return
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps({"t": time.time(), "pid": os.getpid(), **fields}) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--api-version", choices=API_VERSIONS, default="v1.1")
    parser.add_argument("--profile", default=PROFILE)
    parser.add_argument("--events", type=Path, default=None, help="JSON-lines event log")
    parser.add_argument("--read-timeout", type=float, default=0.5)
    parser.add_argument("--grace", type=float, default=0.5, help="verify_grace_s")
    parser.add_argument("--backoff-base", type=float, default=0.05)
    parser.add_argument("--backoff-cap", type=float, default=1.0)
    parser.add_argument("--burst", type=int, default=8, help="max messages enqueued at once")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument(
        "--clock-skew-s", type=float, default=0.0, help="this process's wall clock is off by"
    )
    parser.add_argument("--die-before-request", type=int, default=None)
    parser.add_argument("--die-after-answer", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = time.time() + args.time_limit
    rng = random.Random(args.seed)
    plan: list[dict[str, Any]] = json.loads(args.plan.read_text(encoding="utf-8"))
    secret = os.environ.get("SMOOCH_KEY_SECRET", "")
    api = DyingApi(
        connect(
            args.api_version,
            args.base_url,
            args.app_id,
            Credentials(args.key_id, secret),
            connect_timeout=2.0,
            read_timeout=args.read_timeout,
        ),
        before_request=args.die_before_request,
        after_answer=args.die_after_answer,
    )
    skew: float = args.clock_skew_s

    def clock() -> float:
        return time.time() + skew

    outbox = Outbox(args.outbox, clock=clock)
    engine = DeliveryEngine(
        outbox,
        api,
        args.profile,
        clock=clock,
        rng=rng,
        backoff=Backoff(base_s=args.backoff_base, factor=2.0, cap_s=args.backoff_cap),
        verify_grace_s=args.grace,
    )
    recovered = engine.recover()
    enqueued = {e.message.metadata.get("planIndex") for e in outbox.all_entries(args.profile)}
    todo = [item for item in plan if item["index"] not in enqueued]
    _event(
        args.events,
        event="start",
        recovered=[e.client_id for e in recovered],
        already_enqueued=len(enqueued),
        clock_skew_s=skew,
    )
    try:
        while time.time() < deadline:
            if todo:
                for item in todo[: rng.randint(1, max(1, args.burst))]:
                    engine.enqueue(
                        item["user"],
                        OutgoingMessage(
                            item["text"], sender=SENDER, metadata={"planIndex": item["index"]}
                        ),
                    )
                    todo.pop(0)
            if engine.step():
                continue
            if not todo and not engine.has_pending():
                _event(args.events, event="done")
                return 0
            due = engine.next_due()
            pause = 0.05 if due is None else min(max(due - clock(), 0.0), 0.05)
            time.sleep(0.002 if todo else pause)
        _event(args.events, event="time-limit")
        return 2
    finally:
        outbox.close()
        api.close()


if __name__ == "__main__":
    sys.exit(main())
