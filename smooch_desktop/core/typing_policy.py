"""When to tell the end user "typing…": a pure state machine with an injected clock.

Typing is cheap and always ends (docs/architecture.md#typing). The composer feeds events in
(edits, timer ticks, send, user switch, quit, a 429) and gets back the activity
commands to post, best effort; this module never sends anything itself, so its every
decision is testable with a fake clock and no network.

Timing (smooch-api.md §4): the Web Messenger hides the indicator 10 s after the last
``typing:start`` unless another one arrives. So a burst of typing sends one START,
re-sent as a heartbeat every ``heartbeat_s`` (7 s, safely under 10 s) only while edits
keep coming, and a STOP once the composer has been idle for ``idle_stop_s`` (4 s). That
is at most ~9 requests a minute of continuous typing, never one per keystroke.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Final

#: Pause after a 429 when the server gave no usable Retry-After.
DEFAULT_RATE_LIMIT_PAUSE_S: Final = 30.0
#: A bogus huge Retry-After must not switch typing off for the rest of the day.
MAX_RATE_LIMIT_PAUSE_S: Final = 15 * 60.0


class TypingCommand(StrEnum):
    """An activity to post; the value is the v1.1 ``type`` of the activity body."""

    START = "typing:start"
    STOP = "typing:stop"


class TypingPolicy:
    """Turns composer events into ``typing:start`` / ``typing:stop`` commands.

    Every event method returns the commands to send now, in order (usually none).
    Guarantees, whatever the event order:

    * a STOP is only ever emitted after a START, and never twice in a row;
    * no STOP follows :meth:`message_sent` (the message itself ends the indicator);
    * STARTs are at least ``heartbeat_s`` apart within a burst;
    * no START is emitted while paused by :meth:`rate_limited`.

    ``clock`` should be monotonic (``time.monotonic``) so wall-clock jumps neither stop
    nor prolong the indicator.

    The composer losing keyboard focus is deliberately not an event: people glance at
    another window (an order page, a wiki) mid-sentence and come back, and stopping at
    once would make the indicator flicker. No edits arrive while the focus is away, so
    the idle timeout ends the indicator within ``idle_stop_s`` anyway.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        idle_stop_s: float = 4.0,
        heartbeat_s: float = 7.0,
    ) -> None:
        if not idle_stop_s > 0 or not heartbeat_s > 0:
            raise ValueError("idle_stop_s and heartbeat_s must be positive")
        self._clock = clock
        self._idle_stop_s = idle_stop_s
        self._heartbeat_s = heartbeat_s
        self._typing = False  # a START was emitted and not yet ended
        self._last_start_at = 0.0
        self._last_edit_at = 0.0
        self._paused_until = -math.inf
        self._starts_sent = 0
        self._stops_sent = 0

    @property
    def is_typing(self) -> bool:
        """True while the end user is (as far as we told them) seeing "typing…"."""
        return self._typing

    @property
    def starts_sent(self) -> int:
        """Number of START commands emitted so far (including heartbeats)."""
        return self._starts_sent

    @property
    def stops_sent(self) -> int:
        """Number of STOP commands emitted so far."""
        return self._stops_sent

    @property
    def paused_until(self) -> float | None:
        """Clock time until which no START is emitted after a 429, or None."""
        return self._paused_until if self._paused_until > self._clock() else None

    def text_edited(self, text: str) -> list[TypingCommand]:
        """The user changed the composer text; ``text`` is the new content.

        Call it for edits the user made, not when the app fills the box itself (loading
        a draft on a user switch would otherwise tell the new user someone is typing).
        """
        now = self._clock()
        if not text.strip():
            return self._stop_if_typing()
        self._last_edit_at = now
        if now < self._paused_until:
            return []
        if not self._typing:
            self._typing = True
            return self._start(now)
        if now - self._last_start_at >= self._heartbeat_s:
            return self._start(now)
        return []

    def tick(self) -> list[TypingCommand]:
        """Periodic or deadline timer: STOP once the composer has been idle long enough."""
        if self._typing and self._clock() - self._last_edit_at >= self._idle_stop_s:
            return self._stop_if_typing()
        return []

    def message_sent(self) -> list[TypingCommand]:
        """The composer's text was handed to the outbox.

        Returns nothing: the message ends the indicator on the user's side, and a STOP
        queued behind it would only cost a request. Call it *before* clearing the
        composer, so the emptied box is not mistaken for "the user deleted everything".
        """
        self._typing = False
        return []

    def target_changed(self) -> list[TypingCommand]:
        """The reply now goes to another user (or none): end the previous user's indicator."""
        return self._stop_if_typing()

    def shutdown(self) -> list[TypingCommand]:
        """The window is closing: end the indicator rather than leave it to time out."""
        return self._stop_if_typing()

    def rate_limited(self, retry_after_s: float | None = None) -> list[TypingCommand]:
        """An activity request got a 429: emit no START for ``retry_after_s`` seconds.

        ``None`` or an unusable value means 30 s; the pause is capped at 15 min. A STOP
        for a START sent before the pause is still emitted when due, so the indicator
        ends; if no START was sent, nothing needs ending.
        """
        pause = DEFAULT_RATE_LIMIT_PAUSE_S
        if retry_after_s is not None and math.isfinite(retry_after_s) and retry_after_s > 0:
            pause = min(retry_after_s, MAX_RATE_LIMIT_PAUSE_S)
        self._paused_until = max(self._paused_until, self._clock() + pause)
        return []

    def next_deadline(self) -> float | None:
        """Clock time at which :meth:`tick` may have something to do, or None.

        Lets the UI arm one single-shot timer instead of polling.
        """
        if not self._typing:
            return None
        return self._last_edit_at + self._idle_stop_s

    def _start(self, now: float) -> list[TypingCommand]:
        self._last_start_at = now
        self._starts_sent += 1
        return [TypingCommand.START]

    def _stop_if_typing(self) -> list[TypingCommand]:
        if not self._typing:
            return []
        self._typing = False
        self._stops_sent += 1
        return [TypingCommand.STOP]
