"""The typing state machine, driven by a fake clock: bursts, heartbeats, stops, 429s."""

from __future__ import annotations

import random

import pytest

from smooch_desktop.core.typing_policy import TypingCommand, TypingPolicy

START = TypingCommand.START
STOP = TypingCommand.STOP


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy(clock: FakeClock) -> TypingPolicy:
    return TypingPolicy(clock)


def type_for(
    policy: TypingPolicy, clock: FakeClock, seconds: float, keys_per_s: float = 5.0
) -> list[TypingCommand]:
    """Simulate steady typing, with timer ticks between keystrokes, like the UI."""
    commands: list[TypingCommand] = []
    text = ""
    steps = round(seconds * keys_per_s)
    for _ in range(steps):
        text += "x"
        commands += policy.text_edited(text)
        clock.advance(1 / keys_per_s)
        commands += policy.tick()
    return commands


def test_command_values_are_the_api_activity_types() -> None:
    assert START == "typing:start"
    assert STOP.value == "typing:stop"


def test_rejects_nonpositive_timings(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        TypingPolicy(clock, idle_stop_s=0)
    with pytest.raises(ValueError):
        TypingPolicy(clock, heartbeat_s=-1)


def test_first_keystroke_starts_the_others_do_not(policy: TypingPolicy, clock: FakeClock) -> None:
    assert policy.text_edited("H") == [START]
    assert policy.is_typing
    for text in ["Hi", "Hi ", "Hi t", "Hi th"]:
        clock.advance(0.2)
        assert policy.text_edited(text) == []
    assert policy.starts_sent == 1
    assert policy.stops_sent == 0


def test_whitespace_only_text_does_not_start(policy: TypingPolicy) -> None:
    assert policy.text_edited(" ") == []
    assert policy.text_edited("\n\t ") == []
    assert not policy.is_typing


def test_sixty_seconds_at_five_keys_per_second(policy: TypingPolicy, clock: FakeClock) -> None:
    commands = type_for(policy, clock, 60.0, keys_per_s=5.0)
    assert commands.count(STOP) == 0
    assert 8 <= commands.count(START) <= 10  # 0, 7, 14, ... 56 s: 9
    assert policy.starts_sent == commands.count(START)


def test_fast_typing_is_never_one_request_per_keystroke(
    policy: TypingPolicy, clock: FakeClock
) -> None:
    commands = type_for(policy, clock, 60.0, keys_per_s=20.0)
    assert len(commands) <= 10


def test_heartbeat_only_while_typing_continues(policy: TypingPolicy, clock: FakeClock) -> None:
    assert policy.text_edited("a") == [START]
    clock.advance(3.0)
    assert policy.text_edited("ab") == []
    clock.advance(3.0)
    assert policy.text_edited("abc") == []
    clock.advance(1.0)  # 7 s since the START
    assert policy.text_edited("abcd") == [START]
    clock.advance(6.9)
    assert policy.tick() == [STOP]  # idle for 6.9 s: stop, no heartbeat from the timer


def test_idle_stop_after_idle_stop_s(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.text_edited("a")
    clock.advance(3.9)
    assert policy.tick() == []
    clock.advance(0.1)
    assert policy.tick() == [STOP]
    assert policy.tick() == []
    assert not policy.is_typing


def test_new_burst_after_idle_stop(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.text_edited("a")
    clock.advance(5)
    assert policy.tick() == [STOP]
    clock.advance(1)
    assert policy.text_edited("ab") == [START]


def test_emptying_the_box_stops(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.text_edited("abc")
    clock.advance(0.5)
    assert policy.text_edited("") == [STOP]
    assert policy.text_edited("") == []
    assert policy.text_edited("   ") == []


def test_emptying_the_box_when_not_typing_is_silent(policy: TypingPolicy) -> None:
    assert policy.text_edited("") == []


def test_no_stop_after_message_sent(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.text_edited("Hello")
    assert policy.message_sent() == []
    assert not policy.is_typing
    assert policy.text_edited("") == []  # the composer clears after the send
    clock.advance(30)
    assert policy.tick() == []
    assert policy.shutdown() == []
    assert policy.stops_sent == 0


def test_typing_after_a_send_starts_a_new_burst(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.text_edited("Hello")
    policy.message_sent()
    clock.advance(0.5)
    assert policy.text_edited("A") == [START]


def test_target_change_stops_only_if_typing(policy: TypingPolicy) -> None:
    assert policy.target_changed() == []
    policy.text_edited("x")
    assert policy.target_changed() == [STOP]
    assert policy.target_changed() == []


def test_shutdown_stops_only_if_typing(policy: TypingPolicy) -> None:
    assert policy.shutdown() == []
    policy.text_edited("x")
    assert policy.shutdown() == [STOP]
    assert policy.shutdown() == []


def test_next_deadline(policy: TypingPolicy, clock: FakeClock) -> None:
    assert policy.next_deadline() is None
    policy.text_edited("x")
    assert policy.next_deadline() == pytest.approx(clock.now + 4.0)
    clock.advance(2)
    policy.text_edited("xy")
    deadline = policy.next_deadline()
    assert deadline == pytest.approx(clock.now + 4.0)
    assert deadline is not None
    clock.now = deadline
    assert policy.tick() == [STOP]
    assert policy.next_deadline() is None


def test_custom_timings(clock: FakeClock) -> None:
    policy = TypingPolicy(clock, idle_stop_s=1.0, heartbeat_s=2.0)
    assert policy.text_edited("a") == [START]
    clock.advance(1.0)
    assert policy.text_edited("ab") == []
    clock.advance(1.0)
    assert policy.text_edited("abc") == [START]
    clock.advance(1.0)
    assert policy.tick() == [STOP]


# --- 429 pause ---------------------------------------------------------------------


def test_rate_limit_pauses_starts(policy: TypingPolicy, clock: FakeClock) -> None:
    assert policy.rate_limited(10.0) == []
    assert policy.paused_until == pytest.approx(clock.now + 10.0)
    assert policy.text_edited("a") == []
    assert not policy.is_typing
    clock.advance(5)
    assert policy.text_edited("ab") == []
    clock.advance(3)
    assert policy.tick() == []  # nothing was started, so nothing to stop
    assert policy.text_edited("") == []
    clock.advance(2.0)
    assert policy.paused_until is None
    assert policy.text_edited("abc") == [START]


def test_rate_limit_default_pause_is_30_s(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.rate_limited(None)
    clock.advance(29.9)
    assert policy.text_edited("a") == []
    clock.advance(0.1)
    assert policy.text_edited("ab") == [START]


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), float("inf"), float("-inf")])
def test_rate_limit_unusable_retry_after_means_30_s(
    policy: TypingPolicy, clock: FakeClock, bad: float
) -> None:
    policy.rate_limited(bad)
    assert policy.paused_until == pytest.approx(clock.now + 30.0)


def test_rate_limit_pause_is_capped(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.rate_limited(86_400.0)
    assert policy.paused_until == pytest.approx(clock.now + 900.0)


def test_rate_limit_never_shortens_a_pause(policy: TypingPolicy, clock: FakeClock) -> None:
    policy.rate_limited(60)
    policy.rate_limited(5)
    assert policy.paused_until == pytest.approx(clock.now + 60)


def test_rate_limit_after_a_start_still_stops(policy: TypingPolicy, clock: FakeClock) -> None:
    assert policy.text_edited("a") == [START]
    policy.rate_limited(30)
    clock.advance(8)
    assert policy.text_edited("ab") == []  # no heartbeat while paused
    clock.advance(4)
    assert policy.tick() == [STOP]  # the START sent before the pause is ended


def test_rate_limit_pause_survives_send_and_user_switch(
    policy: TypingPolicy, clock: FakeClock
) -> None:
    policy.rate_limited(20)
    policy.message_sent()
    policy.target_changed()
    assert policy.text_edited("a") == []


# --- randomized property test ------------------------------------------------------

EVENTS = [
    "type",
    "type",
    "type",
    "type",
    "erase_all",
    "tick",
    "tick",
    "send",
    "switch",
    "rate_limited",
    "shutdown",
    "wait",
]


@pytest.mark.parametrize("seed", range(40))
def test_random_event_sequences_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    idle, heartbeat = 4.0, 7.0
    policy = TypingPolicy(clock, idle_stop_s=idle, heartbeat_s=heartbeat)

    text = ""
    typing = False  # what the end user sees, reconstructed from the command stream
    last_start_at: float | None = None
    last_edit_at = -1e9
    paused_until = -1e9
    last_command: TypingCommand | None = None
    sent_since_command = False
    starts = stops = 0

    for _ in range(600):
        event = rng.choice(EVENTS)
        clock.advance(rng.choice([0.0, 0.05, 0.2, 0.5, 1.0, 3.0, 4.5, 8.0]))
        now = clock.now
        if event == "type":
            if text and rng.random() < 0.2:
                text = text[:-1]
            else:
                text += rng.choice("ab 🙂\n")
            if text.strip():
                last_edit_at = now
            commands = policy.text_edited(text)
        elif event == "erase_all":
            text = ""
            commands = policy.text_edited(text)
        elif event == "tick":
            commands = policy.tick()
        elif event == "send":
            commands = policy.message_sent()
            text = ""
            commands += policy.text_edited(text)  # the composer clears after the send
        elif event == "switch":
            commands = policy.target_changed()
            text = ""
        elif event == "rate_limited":
            retry = rng.choice([None, 1.0, 10.0, 45.0])
            commands = policy.rate_limited(retry)
            paused_until = max(paused_until, now + (30.0 if retry is None else retry))
        elif event == "shutdown":
            commands = policy.shutdown()
        else:
            commands = []

        assert len(commands) <= 1, (event, commands)
        if event in {"send", "rate_limited", "wait"}:
            assert commands == [], event

        for command in commands:
            if command is START:
                starts += 1
                assert now >= paused_until, "START during a 429 pause"
                assert event == "type" and text.strip(), "START without text being typed"
                if typing:
                    assert last_start_at is not None
                    assert now - last_start_at >= heartbeat, "heartbeat too early"
                typing = True
                last_start_at = now
            else:
                stops += 1
                assert typing, "STOP without a preceding START"
                assert last_command is not STOP, "two STOPs in a row"
                assert not sent_since_command, "STOP after message_sent"
                typing = False
            last_command = command
            sent_since_command = False

        if event == "send" and typing:
            typing = False
            sent_since_command = True
        if event in {"switch", "shutdown", "erase_all"} or (event == "type" and not text.strip()):
            assert not typing or commands == [STOP]
            assert not policy.is_typing
        if event == "tick" and policy.is_typing:
            assert now - last_edit_at < idle, "idle too long without a STOP"

        assert policy.is_typing == typing
        assert policy.starts_sent == starts
        assert policy.stops_sent == stops
        deadline = policy.next_deadline()
        assert (deadline is not None) == typing
        if deadline is not None:
            assert deadline == pytest.approx(last_edit_at + idle)

    # Whatever happened, the indicator can always be ended.
    final = policy.shutdown()
    assert final == ([STOP] if typing else [])
