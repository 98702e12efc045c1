"""The delivery engine: takes messages out of the :class:`~smooch_desktop.core.outbox.Outbox`
and gets each to the server exactly once, or leaves it failed with the server's words.

Qt-free and thread-agnostic: :meth:`DeliveryEngine.step` does one unit of due work with
blocking API calls, so the app runs it on its single API worker thread (arming a timer
from :meth:`DeliveryEngine.next_due`) and tests run it in plain threads or processes.

Delivery rules (:func:`classify` decides, the engine applies):

* **Never reached the server** (:class:`~smooch_desktop.api.errors.ConnectFailed`:
  refused, DNS): retried automatically with exponential backoff and jitter. The entry is
  ``queued`` with ``next_attempt_at`` set, so the UI can show a countdown and "send now".
* **429**: the API's rate limiter refused the request: the server's ``Retry-After`` when
  it sent one, else backoff; the reason reads "Rate limited by the server".
* **May have arrived** (read timeout, connection dropped after sending, *every* 5xx —
  500, 502, 503, 504 alike —, a 2xx with an unreadable body): never resent blindly. The
  entry becomes ``unknown``; after a grace period (and not before the server's
  ``Retry-After``, when it sent one) the user's recent history is searched for the
  message's wire id (the client id in ``metadata``). Found → ``sent`` with the server's
  id. Provably absent → resent. The check itself failing → still ``unknown``, checked
  again with backoff.
* **Rejected** (400/401/403/404/413 and every other 4xx, 3xx, TLS failure): no automatic
  retry. ``failed``, keeping the text, the status (401 → the UI offers the connection
  settings) and the server's own description; Retry/Edit are the user's.

Which answers prove "refused before it was processed"? Only the ones whose meaning is a
refusal: a 4xx (the request was judged and rejected; 429 is the rate limiter turning it
away) and a 3xx (not followed, so the API never saw it), and of course no connection at
all. A 5xx proves nothing: it can be written by any proxy, load balancer or gateway
between the app and the API *after* the API stored the message (a 502/504 when the
upstream answer was lost or late, a 503 from a proxy in maintenance or overload, often
as an HTML page), and a 500 can come after the write. So a 503 is no longer "retry": it
is "check, then resend only if absent", like every other answer that does not prove the
refusal.
* **Order per user**: a user's message waits while an earlier one of theirs is queued
  (even in backoff), sending or unknown, so the user reads replies in the order they
  were written. A permanently *failed* message does not hold the later ones: a 400 on
  one message (too long, bad button) says nothing about the others, and holding them
  would silently stall a conversation behind a message the agent may never fix. Its
  Retry puts it at the end of the line (new ``seq``).
* **Users are independent**: only the head of each user's line is considered, so one
  user's backoff or pending check never delays another user's messages. (One worker
  does the requests, so a request that hangs until its read timeout does delay the next
  request; the client's timeouts bound that.)

* **Attachments** (an entry with a file, see :mod:`smooch_desktop.core.outbox.attachments`):
  the file is uploaded first, by :meth:`DeliveryEngine.upload_step`, which the app runs
  on its own worker thread so that a 50 MB upload never holds up typing indicators or
  other users' messages on the API thread. While its file is not uploaded the entry is
  ``queued``, heads its user's line (a text typed after the image waits for it) and is
  not due for :meth:`~DeliveryEngine.step`. Repeating an upload is harmless (at worst an
  unused file on the server, nothing the end user sees), so a failed or interrupted
  upload is simply tried again (:func:`classify_upload`), and a refusal (413, 400…)
  fails the entry with the server's words. The answer's ``mediaUrl`` is committed to the
  entry (:meth:`Outbox.set_media`) *before* the message is sent: from then on the entry
  is an ordinary image/file message under every rule above, and a crash never uploads
  the file again. Cancel (:meth:`DeliveryEngine.cancel_upload`) stops a running upload
  at its next block and discards the entry and its copy, as long as the message itself
  is not being sent.

Waits (backoff, grace, ``Retry-After``) are stored as wall-clock times; an entry last
changed "in the future" shows that the clock was set back (or the app restarted on a
clock behind the previous run's), and it then waits its scheduled delay on the monotonic
clock instead of the length of the step.

Crash safety: ``mark_sending`` is committed before each request and ``mark_sent`` after
it; whatever dies in between is left ``sending`` and :meth:`DeliveryEngine.recover`
turns it into ``unknown``, so the history check decides, as for a timeout.

The history check and its residual risk
---------------------------------------
The check pages back from the newest message. It may stop early ("provably not on the
server") only at a *floor*: a server time before which the message cannot have been
stored. The floor is never taken from the local clock, which can be minutes or hours off
(a clock ahead put the old floor — local send time minus 60 s — in the server's future,
so a chatty user's newer messages "proved" absence and the message went out twice; a
clock behind put it hours back, so the search gave up and a message the history could
have ruled out ended "unconfirmed"). Instead:

* at the first attempt of a wire id, the engine notes the local *monotonic* instant
  (in memory, for this process; the monotonic clock does not jump when the wall clock is
  set);
* at the check, after the first history page arrived, the API's
  :class:`~smooch_desktop.api.server_clock.ServerClock` turns that instant into server
  time: a lower bound computed from the ``Date`` headers of the server's answers — the
  history page's own among them — and the ``received`` stamps of messages just stored,
  projected along the monotonic clock. The floor is that bound minus
  ``server_time_margin_s`` (different hosts of one service disagree by a little; ``Date``
  has 1 s resolution, and the request's duration only makes the bound earlier);
* without an anchor — the first attempt was made by an earlier run of the app (crash,
  quit while unknown) or the server never sent a usable ``Date`` — there is no floor and
  no guess: the search pages back to the start of the conversation (proof of absence) or
  up to ``unanchored_pages`` pages, then says "unconfirmed". After such a search proved
  the message absent, the resend is anchored afresh.

A search that hits its page limit before the floor or the start proves nothing: the
entry is *failed* with code ``delivery_unconfirmed`` and a message saying why, instead of
being resent.

"Not in the history" only proves "not delivered" if the server is done with the request.
A request that timed out on our side may still be queued or processing on the server,
and a check that runs too early misses it, so the resend duplicates it. How the sandbox's
faults behave (``sandbox/dispatch.py``): latency is slept *before* the request is handled,
so a request whose latency exceeds the read timeout is stored after the client gave up —
but the same latency also delays the history check, which therefore cannot overtake it
while the latency stays constant; ``hang`` never processes the request, ``drop_before``
and 500/503/429 don't either, ``drop_after`` and ``error_after_store`` (a proxy's
502/503/504) store the message before the client hears of the failure. A real server
behind a load balancer can be slow for one request and fast for the next, which is the
dangerous case; ``tests/api/test_delivery_faults.py`` reproduces it by switching the
latency off between the send and the check. The engine narrows that window:

* the check waits ``verify_grace_s`` *and* at least as long as the failed attempt took
  (a request that went unanswered for 20 s may well finish 20 s later), and longer again
  (backoff) when the same message has failed before;
* after a crash the check waits the grace from start-up, and the dead process's request
  had all the time of the restart as well;
* the floor is the first attempt's time, so a message stored late is still above it.

What remains: a server that stores a request more than ``max(verify_grace_s, duration of
the attempt)`` after the client gave up — i.e. one that holds a request unanswered for
more than twice the read timeout (or a gateway's 504 timeout) and then still processes
it — and hosts of the service whose clocks (``Date`` vs ``received``) disagree by more
than ``server_time_margin_s``. Neither Smooch's documentation nor any idempotency key
(the v1 API has none) lets a client close that last gap; the metadata wire id at least
makes such a duplicate identifiable. The local clock plays no part: skew in either
direction, or the clock being set while the app runs or between runs, changes nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from smooch_desktop.api.errors import (
    ApiError,
    ConfigError,
    ConnectFailed,
    HttpError,
    TlsFailed,
    UploadCancelled,
)
from smooch_desktop.api.models import Message, OutgoingMessage
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.api.server_clock import ServerClock
from smooch_desktop.core.backoff import Backoff as Backoff  # re-exported: part of the engine's API
from smooch_desktop.core.outbox import (
    Attachment,
    EntryNotFound,
    EntryState,
    Outbox,
    OutboxEntry,
    OutboxStateError,
)

#: ``error_code`` of an entry whose delivery could be neither confirmed nor ruled out.
UNCONFIRMED_CODE: Final = "delivery_unconfirmed"
RATE_LIMITED_REASON: Final = "Rate limited by the server"


class Action(StrEnum):
    """What to do after a failed send."""

    #: It provably did not reach the API (or the rate limiter refused it): send again later.
    RETRY = "retry-after-delay"
    #: It may have reached the server: look in the history, resend only if absent.
    VERIFY = "verify-then-maybe-resend"
    #: No automatic retry; keep the text and show the error.
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one failed send."""

    action: Action
    #: In words, for the UI (the server's own description for failures when it gave one).
    reason: str
    #: The server's ``Retry-After`` in seconds: the delay before the retry (RETRY) or at
    #: least before the history check (VERIFY); None → backoff / the grace.
    delay_s: float | None = None
    status: int | None = None
    code: str | None = None


def classify(error: ApiError) -> Decision:
    """Decide what a failed ``send_message`` means for the message (pure; see module doc)."""
    status, code = error.status, error.code
    if isinstance(error, HttpError):
        if error.status == 429:
            return Decision(Action.RETRY, RATE_LIMITED_REASON, error.retry_after, status, code)
        if status is not None and status >= 500:
            # From a proxy or gateway this may well come after the API stored the message.
            return Decision(
                Action.VERIFY,
                f"{error.description.rstrip('.')}. It may have been stored; checking before "
                "resending.",
                error.retry_after,
                status,
                code,
            )
        return Decision(
            Action.FAIL, error.server_description or error.description, status=status, code=code
        )
    if isinstance(error, ConnectFailed):
        return Decision(Action.RETRY, error.description, status=status, code=code)
    if isinstance(error, TlsFailed):
        return Decision(Action.FAIL, error.description, status=status, code=code)
    if error.may_have_reached_server:
        return Decision(
            Action.VERIFY,
            f"{error.description.rstrip('.')}. Checking whether the message arrived before "
            "resending.",
            status=status,
            code=code,
        )
    if error.is_retryable:
        return Decision(Action.RETRY, error.description, status=status, code=code)
    return Decision(Action.FAIL, error.description, status=status, code=code)


def classify_upload(error: ApiError) -> Decision:
    """Decide what a failed upload means (pure). Only RETRY or FAIL: an upload that may
    have been stored is uploaded again, since a second copy of a file harms no one."""
    status, code = error.status, error.code
    if isinstance(error, HttpError) and error.status != 429:
        if status is not None and 400 <= status < 500:
            return Decision(
                Action.FAIL,
                f"The file was not accepted: {error.server_description or error.description}",
                status=status,
                code=code,
            )
        if status is not None and status < 400:  # a redirect: not followed
            return Decision(Action.FAIL, error.description, status=status, code=code)
    if isinstance(error, TlsFailed):
        return Decision(Action.FAIL, error.description, status=status, code=code)
    reason = RATE_LIMITED_REASON if error.is_rate_limited else error.description
    return Decision(
        Action.RETRY,
        f"Upload interrupted ({reason.rstrip('.')}); uploading again.",
        error.retry_after,
        status,
        code,
    )


#: ``progress(client_id, sent, total)`` of a running upload (on the upload thread).
UploadProgress = Callable[[str, int, int], None]


class DeliveryEngine:
    """Delivers one profile's outbox through a :class:`ConversationApi`.

    Call :meth:`recover` once at start-up, then :meth:`step` whenever :meth:`next_due`
    says work is due (or use :meth:`run_until_idle`). ``step``, ``recover`` and
    ``run_until_idle`` make network calls and belong on one worker thread; ``enqueue``,
    ``send_now``, ``retry``, ``edit``, ``discard`` and ``wake`` only touch the outbox and
    may be called from any thread (the GUI's).

    ``on_change(entry)`` is called after every change the engine makes, on the thread
    that made it; the UI forwards it through a queued signal. Discards are not reported
    (the caller knows).
    """

    def __init__(
        self,
        outbox: Outbox,
        api: ConversationApi,
        profile: str,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        verify_grace_s: float = 2.0,
        verify_pages: int = 3,
        unanchored_pages: int = 20,
        server_time_margin_s: float = 10.0,
        on_change: Callable[[OutboxEntry], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.api = api
        self.profile = profile
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng if rng is not None else random.Random()
        self.backoff = backoff if backoff is not None else Backoff()
        self.verify_grace_s = verify_grace_s
        self.verify_pages = verify_pages
        self.unanchored_pages = unanchored_pages
        self.server_time_margin_s = server_time_margin_s
        self._on_change = on_change
        self._wakeup = threading.Event()
        #: The server's time (None: an API that can't tell; every search is unanchored).
        self._server_clock: ServerClock | None = getattr(api, "server_clock", None)
        #: wire id → local monotonic instant of its first attempt in this process.
        self._anchors: dict[str, float] = {}
        #: wire ids proven absent without an anchor: their next attempt anchors afresh.
        self._reanchor: set[str] = set()
        #: wire id → (cursor, pages read) where a failed history check stopped.
        self._progress: dict[str, tuple[str, int]] = {}
        #: client id → ((client id, updated_at), monotonic due) after a clock step back.
        self._stepped: dict[str, tuple[tuple[str, float], float]] = {}
        #: client id → its cancel flag, while its file is being uploaded.
        self._uploading: dict[str, threading.Event] = {}
        #: client id → failed uploads in a row (the backoff exponent of the next one).
        self._upload_failures: dict[str, int] = {}
        self._upload_lock = threading.Lock()

    # Scheduling ---------------------------------------------------------------------------

    def due_at(self, entry: OutboxEntry) -> float | None:
        """When :meth:`step` will act on ``entry`` if it heads its user's line (None: never;
        an entry whose file is not uploaded yet is :meth:`upload_due_at`'s)."""
        if entry.needs_upload:
            return None
        if entry.state is EntryState.QUEUED:
            if entry.next_attempt_at is None:
                return 0.0
            return self._unstepped(entry, entry.next_attempt_at)
        if entry.state is EntryState.UNKNOWN:
            if entry.next_attempt_at is not None:
                return self._unstepped(entry, entry.next_attempt_at)
            # Recovered after a crash: give the dead process's request the grace too.
            return self._unstepped(entry, entry.updated_at + self.verify_grace_s)
        return None

    def _unstepped(self, entry: OutboxEntry, at: float) -> float:
        """``at``, unless the wall clock was set back since the entry was scheduled.

        A delay is written as a wall-clock time; set the clock back an hour (or restart on
        a clock an hour behind) and a 2 s backoff would last an hour. An entry changed
        "in the future" shows such a step: it then waits its scheduled delay
        (``at - updated_at``) measured from when the engine noticed, on the monotonic
        clock — never longer, never shorter.
        """
        now = self._clock()
        if entry.updated_at <= now:
            self._stepped.pop(entry.client_id, None)
            return at
        mono = self._monotonic()
        key = (entry.client_id, entry.updated_at)
        deadline = self._stepped.get(entry.client_id)
        if deadline is None or deadline[0] != key:
            deadline = (key, mono + max(0.0, at - entry.updated_at))
            self._stepped[entry.client_id] = deadline
        remaining = deadline[1] - mono
        return now + remaining if remaining > 0 else 0.0  # 0.0: due, like "send now"

    def _heads(self) -> list[OutboxEntry]:
        """The first active entry of each user: the only one that may be worked on."""
        return self.outbox.heads(self.profile)

    def next_due(self) -> float | None:
        """The earliest time (engine clock) at which :meth:`step` has work; None if none."""
        times = [t for t in map(self.due_at, self._heads()) if t is not None]
        return min(times, default=None)

    def upload_due_at(self, entry: OutboxEntry) -> float | None:
        """When :meth:`upload_step` will upload ``entry``'s file if it heads its user's line
        (None: it has no file to upload, or it is being uploaded)."""
        if not entry.needs_upload or entry.state is not EntryState.QUEUED:
            return None
        with self._upload_lock:
            if entry.client_id in self._uploading:
                return None
        if entry.next_attempt_at is None:
            return 0.0
        return self._unstepped(entry, entry.next_attempt_at)

    def next_upload_due(self) -> float | None:
        """The earliest time at which :meth:`upload_step` has work; None if none."""
        times = [t for t in map(self.upload_due_at, self._heads()) if t is not None]
        return min(times, default=None)

    def is_uploading(self, client_id: str) -> bool:
        with self._upload_lock:
            return client_id in self._uploading

    def abandon_uploads(self) -> None:
        """Stop every running upload at its next block; the entries stay queued (quit,
        or another engine takes over): they are uploaded again later."""
        with self._upload_lock:
            for flag in self._uploading.values():
                flag.set()

    def has_pending(self) -> bool:
        """True while any message of this profile is queued, sending or unknown."""
        return self.outbox.has_active(self.profile)

    # Work ---------------------------------------------------------------------------------

    def recover(self) -> list[OutboxEntry]:
        """Start-up: requests in flight when the app died become ``unknown`` (to be checked)."""
        entries = self.outbox.recover()
        for entry in entries:
            self._notify(entry)
        return entries

    def _earliest_due(self, due_at: Callable[[OutboxEntry], float | None]) -> OutboxEntry | None:
        """The head whose work (``due_at``) is due now, earliest first, then by ``seq``."""
        now = self._clock()
        due = [
            (at, entry.seq, entry)
            for entry in self._heads()
            if (at := due_at(entry)) is not None and at <= now
        ]
        return min(due, key=lambda item: (item[0], item[1]))[2] if due else None

    def step(self) -> bool:
        """Do one unit of due work (send one message or check one); return whether it did."""
        entry = self._earliest_due(self.due_at)
        if entry is None:
            return False
        try:
            if entry.state is EntryState.QUEUED:
                self._send(entry)
            else:
                self._verify(entry)
        except (EntryNotFound, OutboxStateError):
            # The user discarded or changed the entry meanwhile; their action stands.
            pass
        return True

    def run_until_idle(self, deadline: float, *, stop: threading.Event | None = None) -> bool:
        """Work until nothing of this profile is active (True) or ``deadline`` passes (False).

        Sends, checks and uploads alike, on the calling thread. Waits between due times;
        :meth:`wake` (e.g. from :meth:`enqueue`) ends a wait early. ``deadline`` is on
        the engine's clock.
        """
        while True:
            if stop is not None and stop.is_set():
                return False
            if self.step() or self.upload_step():
                continue
            if not self.has_pending():
                return True
            now = self._clock()
            if now >= deadline:
                return False
            dues = [t for t in (self.next_due(), self.next_upload_due()) if t is not None]
            due = min(dues, default=None)
            wait = deadline - now if due is None else min(max(due - now, 0.0), deadline - now)
            self._wakeup.wait(min(wait, 0.5))
            self._wakeup.clear()

    def wake(self) -> None:
        """End a :meth:`run_until_idle` wait early (new or changed work)."""
        self._wakeup.set()

    def upload_step(self, progress: UploadProgress | None = None) -> bool:
        """Upload one due file (blocking); return whether there was one.

        On success the ``mediaUrl`` is committed to the entry before anything else
        (:meth:`Outbox.set_media`), and the entry is due for :meth:`step`.
        """
        entry = self._earliest_due(self.upload_due_at)
        if entry is None:
            return False
        cid = entry.client_id
        cancel = threading.Event()
        with self._upload_lock:
            if cid in self._uploading:
                return False
            self._uploading[cid] = cancel
        try:
            self._upload(entry, cancel, progress)
        except (EntryNotFound, OutboxStateError):
            pass  # cancelled or discarded meanwhile: the user's action stands
        finally:
            with self._upload_lock:
                self._uploading.pop(cid, None)
        return True

    def _upload(
        self, entry: OutboxEntry, cancel: threading.Event, progress: UploadProgress | None
    ) -> None:
        attachment = entry.attachment
        assert attachment is not None
        cid = entry.client_id

        def report(sent: int, total: int) -> None:
            if cancel.is_set():
                raise UploadCancelled()
            if progress is not None:
                progress(cid, sent, total)

        try:
            with self.outbox.files.open(attachment) as source:
                if cancel.is_set():
                    raise UploadCancelled()
                media_url, media_type = self.api.upload(
                    attachment.filename,
                    source,
                    attachment.media_type,
                    user_ref=entry.user_ref,
                    conversation_id=entry.conversation_id,
                    progress=report,
                )
        except UploadCancelled:
            return
        except FileNotFoundError:
            if cancel.is_set() or self.outbox.get(cid) is None:
                return  # discarded (and its copy deleted) while starting
            decision = Decision(
                Action.FAIL,
                f"The copy of {attachment.filename} kept for sending is missing from "
                f"{self.outbox.files.folder}; discard this message and attach the file again.",
                code="attachment_missing",
            )
        except ApiError as exc:
            decision = classify_upload(exc)
        except ConfigError as exc:
            decision = Decision(Action.FAIL, exc.message, code="invalid_request")
        except OSError as exc:
            decision = Decision(
                Action.FAIL,
                f"The copy of {attachment.filename} kept for sending can't be read: "
                f"{exc.strerror or exc}.",
                code="attachment_unreadable",
            )
        else:
            with self._upload_lock:
                self._upload_failures.pop(cid, None)
            self._notify(self.outbox.set_media(cid, media_url, media_type))
            self.wake()
            return
        if cancel.is_set():
            return
        if decision.action is Action.RETRY:
            with self._upload_lock:
                failures = self._upload_failures.get(cid, 0) + 1
                self._upload_failures[cid] = failures
            delay = decision.delay_s
            if delay is None:
                delay = self.backoff.delay(failures, self._rng)
            self._notify(
                self.outbox.schedule(
                    cid,
                    self._clock() + delay,
                    decision.reason,
                    status=decision.status,
                    code=decision.code,
                )
            )
        else:
            with self._upload_lock:
                self._upload_failures.pop(cid, None)
            self._notify(
                self.outbox.fail_upload(
                    cid, status=decision.status, code=decision.code, text=decision.reason
                )
            )

    def _notify(self, entry: OutboxEntry) -> OutboxEntry:
        if self._on_change is not None:
            self._on_change(entry)
        return entry

    def _send(self, entry: OutboxEntry) -> None:
        wire_id = entry.wire_id
        first = entry.first_attempt_at is None or wire_id in self._reanchor
        entry = self._notify(self.outbox.mark_sending(entry.client_id))
        if first and self._server_clock is not None:
            # Before the request leaves: the server can't store it before this instant.
            self._anchors[wire_id] = self._server_clock.monotonic()
            self._reanchor.discard(wire_id)
        started = self._clock()
        try:
            sent = self.api.send_message(
                entry.user_ref, entry.message, conversation_id=entry.conversation_id
            )
        except ApiError as exc:
            decision = classify(exc)
        except ConfigError as exc:
            # Refused locally (e.g. a user id the URL can't carry): nothing was sent.
            decision = Decision(Action.FAIL, exc.message, code="invalid_request")
        except Exception as exc:
            # Not an API failure: a bug or an encoding problem, before or after the
            # request. Only the history can tell which, so treat it like a timeout.
            decision = Decision(
                Action.VERIFY,
                f"Unexpected {type(exc).__name__} while sending; checking whether it arrived.",
            )
        else:
            if self._server_clock is not None:
                self._server_clock.observe_stamp(sent.received)
            self._anchors.pop(wire_id, None)
            self._notify(
                self.outbox.mark_sent(entry.client_id, sent.id, sent.received or self._clock())
            )
            return
        self._apply(entry, decision, self._clock() - started)

    def _apply(self, entry: OutboxEntry, decision: Decision, elapsed: float) -> None:
        now = self._clock()
        cid = entry.client_id
        if decision.action is Action.RETRY:
            delay = decision.delay_s
            if delay is None:
                delay = self.backoff.delay(entry.attempts, self._rng)
            changed = self.outbox.schedule(
                cid, now + delay, decision.reason, status=decision.status, code=decision.code
            )
        elif decision.action is Action.VERIFY:
            wait = max(self.verify_grace_s, elapsed, decision.delay_s or 0.0)
            if entry.attempts > 1:
                # It failed before: give a struggling server more time, and space out the
                # resends of a message that keeps getting 500s.
                wait = max(wait, self.backoff.delay(entry.attempts - 1, self._rng))
            changed = self.outbox.mark_unknown(
                cid,
                decision.reason,
                verify_at=now + wait,
                status=decision.status,
                code=decision.code,
            )
        else:
            changed = self.outbox.mark_failed(
                cid,
                status=decision.status,
                code=decision.code,
                text=decision.reason,
                retryable=False,
            )
        self._notify(changed)

    def _verify(self, entry: OutboxEntry) -> None:
        cid = entry.client_id
        try:
            found, conclusive, why = self._search(entry)
        except Exception as exc:
            counted = self.outbox.count_verification(cid)
            text = exc.description if isinstance(exc, ApiError) else type(exc).__name__
            self._notify(
                self.outbox.mark_unknown(
                    cid,
                    f"Could not check whether the message arrived ({text}); will check again.",
                    verify_at=self._clock() + self.backoff.delay(counted.verifications, self._rng),
                    status=getattr(exc, "status", None),
                    code=getattr(exc, "code", None),
                )
            )
            return
        self.outbox.count_verification(cid)
        if found is not None:
            self._anchors.pop(entry.wire_id, None)
            self._notify(self.outbox.mark_sent(cid, found.id, found.received or self._clock()))
        elif conclusive:
            if entry.wire_id not in self._anchors:
                self._reanchor.add(entry.wire_id)
            # Proven absent: resend now. It stays the head of its user's line, so nothing
            # overtakes it between this check and the resend.
            self._notify(
                self.outbox.schedule(cid, self._clock(), "It did not arrive; sending it again.")
            )
        else:
            self._notify(
                self.outbox.mark_failed(
                    cid,
                    status=None,
                    code=UNCONFIRMED_CODE,
                    text=(
                        f"Could not confirm whether this message arrived: {why}. Check the "
                        "conversation; Retry sends it again."
                    ),
                    retryable=True,
                )
            )

    def _floor(self, wire_id: str) -> float | None:
        """The server time before which this wire id can't be stored; None if unknown.

        Call it after a history page arrived, so that page's ``Date`` counts.
        """
        anchor = self._anchors.get(wire_id)
        if anchor is None or self._server_clock is None:
            return None
        bound = self._server_clock.lower_bound(anchor)
        return None if bound is None else bound - self.server_time_margin_s

    def _search(self, entry: OutboxEntry) -> tuple[Message | None, bool, str]:
        """Look for the entry's wire id in the history, newest page first (see module doc).

        Returns ``(message, True, "")`` if found, ``(None, True, "")`` if the search reached
        messages older than the floor (or the start of the conversation) without finding
        it, ``(None, False, why)`` if it gave up first. A page that fails ends the check
        (the caller retries with backoff); the next check reads the newest page again and
        then resumes where the failed one stopped, so a long search on a flaky network
        still gets to its end.
        """
        wire_id = entry.wire_id
        conversation_id = entry.conversation_id
        page = self.api.history(entry.user_ref, None, conversation_id=conversation_id)
        floor = self._floor(wire_id)
        cursor, pages = self._progress.pop(wire_id, (None, 1))
        while True:
            for message in reversed(page.messages):
                if message.client_id == wire_id:
                    return message, True, ""
            if not page.messages or page.older_cursor is None:
                return None, True, ""
            if floor is not None and page.messages[0].received < floor:
                return None, True, ""
            if pages > (self.verify_pages if floor is not None else self.unanchored_pages):
                break
            cursor = cursor or page.older_cursor
            try:
                page = self.api.history(entry.user_ref, cursor, conversation_id=conversation_id)
            except Exception:
                self._progress[wire_id] = (cursor, pages)
                raise
            pages += 1
            cursor = None
        if floor is not None:
            return None, False, "the conversation has too many newer messages to search"
        if wire_id in self._anchors:
            reason = "the server does not say what time it is"
        else:
            reason = "it was first sent before the app was last started"
        return None, False, (f"{reason}, and the conversation is too long to search all of it")

    # User actions (any thread) ------------------------------------------------------------

    def enqueue(
        self,
        user_ref: str,
        message: OutgoingMessage,
        *,
        conversation_id: str = "",
        attachment: Attachment | None = None,
    ) -> OutboxEntry:
        """Store a message for ``user_ref``'s conversation ``conversation_id`` ("" = their
        main one; durable on return), with the file ``attachment`` if given (its copy
        already in :attr:`Outbox.files`), and wake the engine."""
        entry = self._notify(
            self.outbox.enqueue(
                self.profile,
                user_ref,
                message,
                conversation_id=conversation_id,
                attachment=attachment,
            )
        )
        self.wake()
        return entry

    def cancel_upload(self, client_id: str) -> OutboxEntry:
        """The user's Cancel of an attachment not sent yet: stop its upload if one is
        running (at its next block), then discard the entry and its copy.

        Raises :class:`OutboxStateError` while the message itself is being sent (too late
        to cancel); the upload is then left alone.
        """
        entry = self.outbox.get(client_id)
        if entry is None:
            raise EntryNotFound(client_id)
        if entry.state is EntryState.SENDING:
            raise OutboxStateError("The message is being sent; it can't be cancelled now.")
        with self._upload_lock:
            flag = self._uploading.get(client_id)
            if flag is not None:
                flag.set()
            self._upload_failures.pop(client_id, None)
        return self.outbox.discard(client_id)

    def send_now(self, client_id: str) -> OutboxEntry:
        """Skip the countdown: a queued entry is sent, an unknown one checked, at once."""
        entry = self._notify(self.outbox.due_now(client_id))
        self.wake()
        return entry

    def retry(self, client_id: str) -> OutboxEntry:
        """The user's Retry (see :meth:`Outbox.retry`: failed → queued; unknown → check now)."""
        entry = self._notify(self.outbox.retry(client_id))
        self.wake()
        return entry

    def edit(self, client_id: str, text: str) -> OutboxEntry:
        """Change a failed message's text and queue it again (see :meth:`Outbox.edit`)."""
        entry = self._notify(self.outbox.edit(client_id, text))
        self.wake()
        return entry

    def discard(self, client_id: str) -> OutboxEntry:
        """Forget an entry that is not in flight; returns it (see :meth:`Outbox.discard`)."""
        return self.outbox.discard(client_id)
