"""Live updates by webhook when the registration fails: retried with back-off, said as it is.

The real app controller against the sandbox (real HTTP, v1.1 and v2). The sandbox fails
every API request (5xx) while the agent turns webhooks on: the registration is tried again
after a back-off until the server recovers, never two at once; the dialog says "Not
registered: …, retrying in N s" beside the choice, then "On (since HH:MM)"; the list is
polled with its whole budget until the webhook is really registered. Turned off while
retrying, or while a retry is on the wire, nothing is left on the server.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from webhook_support import free_port, targets

from smooch_desktop.core.backoff import Backoff
from smooch_desktop.core.poll_budget import DEFAULT_REQUESTS_PER_MINUTE
from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.inbox.live_updates import (
    WEBHOOK_POLL_SHARE,
    LiveConfig,
    LiveUpdates,
    loopback_url,
)

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

#: Short waits between attempts, so a test sees several in well under a second.
FAST = Backoff(base_s=0.15, factor=2.0, cap_s=0.3, jitter=0.0)


def live_of(controller: AppController) -> LiveUpdates:
    assert controller.live_updates is not None
    return controller.live_updates


def hook_calls(controller: AppController, sandbox: Any, method: str) -> int:
    assert controller.session is not None
    path = "/webhooks" if controller.session.protocol == "v1.1" else "/integrations"
    return sum(1 for e in sandbox.log() if e["method"] == method and path in e["path"])


def budget(controller: AppController) -> float:
    pane = controller.inbox_pane
    assert pane is not None and pane.poller is not None
    return pane.poller.scheduler.requests_per_minute


def test_a_registration_that_fails_is_retried_until_the_server_recovers(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    live.backoff = FAST
    assert controller.window is not None
    controller.window.live_updates_action.trigger()
    dialog = live._dialog
    assert dialog is not None
    sandbox.set_faults(FaultConfig(error_rate=1.0))  # every API call: 500 or 503
    port = free_port()
    url = loopback_url(port)
    dialog.on_radio.setChecked(True)
    dialog.port_spin.setValue(port)
    dialog.url_edit.setText(url)
    url_at = dialog.url_edit.mapTo(dialog, dialog.url_edit.rect().topLeft())
    dialog.apply_button.click()
    assert dialog.state_label.text() == "Registering…"
    qtbot.waitUntil(lambda: live.state == "retrying", timeout=10_000)
    shown = dialog.state_label.text()
    assert re.fullmatch(r"Not registered: .+, retrying in \d+ s", shown), shown
    assert "On" not in dialog.state_label.text()
    # A few words beside the choice (the server's whole answer is in the status below),
    # and nothing under it moved when they came.
    assert len(shown) < 100 and "(" not in shown
    assert live.state_text.split(":", 1)[0] == "Not registered" and "(5" in live.state_text
    assert dialog.url_edit.mapTo(dialog, dialog.url_edit.rect().topLeft()) == url_at
    assert dialog.on_radio.isChecked()  # the choice stays; the state says it is not so yet
    # Not registered: the list keeps its whole budget.
    assert budget(controller) == pytest.approx(DEFAULT_REQUESTS_PER_MINUTE)
    assert live.receiver is not None  # the port is kept for when it works
    qtbot.waitUntil(lambda: live.attempts >= 3, timeout=10_000)  # tried again, and again
    sandbox.set_faults(FaultConfig())
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    assert re.fullmatch(r"On \(since \d\d:\d\d\)", dialog.state_label.text())
    assert targets(sandbox) == [url]  # one, whatever the attempts before
    assert budget(controller) == pytest.approx(DEFAULT_REQUESTS_PER_MINUTE * WEBHOOK_POLL_SHARE)
    made = live.attempts
    qtbot.wait(int(FAST.cap_s * 3000))
    assert live.attempts == made  # no retry once registered
    dialog.close()


def test_the_saved_choice_is_retried_when_the_server_is_down_at_start(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    from ui_stack import dispose_controller

    from smooch_desktop.app import build_parser
    from smooch_desktop.ui.inbox.live_updates import save_config

    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    first = AppController(args, sandbox=sandbox)
    first.start()
    qtbot.waitUntil(lambda: first.session is not None, timeout=10_000)
    assert first.session is not None
    port = free_port()
    save_config(
        first.settings, first.session.profile_id, LiveConfig(True, loopback_url(port), port)
    )
    live_of(first).detach()
    dispose_controller(first)

    sandbox.set_faults(FaultConfig(error_rate=1.0))
    second = AppController(args, sandbox=sandbox)
    try:
        second.start()
        qtbot.waitUntil(lambda: second.live_updates is not None, timeout=10_000)
        live = live_of(second)
        qtbot.waitUntil(lambda: live.state == "retrying", timeout=15_000)
        live.backoff = FAST
        live._retry_timer.start(10)  # the first wait was drawn from the real back-off
        sandbox.set_faults(FaultConfig())
        qtbot.waitUntil(lambda: live.state == "on", timeout=15_000)
        assert targets(sandbox) == [loopback_url(port)]
    finally:
        dispose_controller(second)
    assert targets(sandbox) == []


def test_turned_off_while_waiting_to_retry_nothing_more_is_sent(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    live.backoff = Backoff(base_s=0.5, factor=1.0, cap_s=0.5, jitter=0.0)
    sandbox.set_faults(FaultConfig(error_rate=1.0))
    port = free_port()
    assert live.apply(LiveConfig(True, loopback_url(port), port))
    qtbot.waitUntil(lambda: live.state == "retrying", timeout=10_000)
    assert live.apply(LiveConfig(False, loopback_url(port), port))
    sandbox.set_faults(FaultConfig())
    posts = hook_calls(controller, sandbox, "POST")
    attempts = live.attempts
    qtbot.wait(1500)  # three back-offs
    assert live.attempts == attempts and hook_calls(controller, sandbox, "POST") == posts
    assert live.state == "off" and live.receiver is None and live.summary() == "Off"
    assert targets(sandbox) == []


def test_a_retry_that_lands_after_off_is_taken_back_and_never_two_at_once(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    live.backoff = FAST
    sandbox.set_faults(FaultConfig(error_rate=1.0))
    port = free_port()
    url = loopback_url(port)
    assert live.apply(LiveConfig(True, url, port))
    qtbot.waitUntil(lambda: live.state == "retrying", timeout=10_000)
    # The next attempt is held on the api queue, then the server recovers.
    gate = threading.Event()
    controller.api_tasks.submit(lambda: gate.wait(10), kind="test-hold")
    sandbox.set_faults(FaultConfig())
    qtbot.waitUntil(lambda: live.state == "starting", timeout=5_000)  # the retry is queued
    attempts = live.attempts
    # Off and on again while it waits: the new one waits for the old one to end.
    assert live.apply(LiveConfig(False, url, port))
    assert live.apply(LiveConfig(True, url, port))
    assert live.attempts == attempts  # not a second registration in flight
    assert live.apply(LiveConfig(False, url, port))  # and off for good
    gate.set()
    qtbot.waitUntil(lambda: not controller.api_tasks.is_busy(), timeout=10_000)
    qtbot.wait(int(FAST.cap_s * 3000))
    assert not controller.api_tasks.is_busy()
    assert targets(sandbox) == []  # what the late retry made was deleted
    assert live.state == "off" and live.registration is None and live.attempts == attempts


def test_quitting_or_switching_the_profile_while_retrying_stops_the_retries(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    live.backoff = FAST
    sandbox.set_faults(FaultConfig(error_rate=1.0))
    port = free_port()
    assert live.apply(LiveConfig(True, loopback_url(port), port))
    qtbot.waitUntil(lambda: live.state == "retrying", timeout=10_000)
    live.detach()  # what a profile switch does first
    assert live.state == "off" and live.receiver is None
    sandbox.set_faults(FaultConfig())
    attempts = live.attempts
    qtbot.wait(int(FAST.cap_s * 3000))
    assert live.attempts == attempts and targets(sandbox) == []
    controller.shutdown()  # as app.run_gui does at quit
    assert targets(sandbox) == []
