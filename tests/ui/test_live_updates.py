"""Live updates by webhook in the app: the dialog, the receiver, the list, v1.1 and v2.

The real app controller against the sandbox (real HTTP both ways: the app registers
through the API, the sandbox's webhook lane posts to the app's receiver on a loopback
port). An end user writes through the sandbox's store (what its end-user page does);
the message must be in the list with an unread mark within a second. Turning webhooks
off, and quitting, delete the registration on the sandbox; bad input in the dialog is
shown next to its field and nothing is saved.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller
from webhook_support import free_port, targets

from smooch_desktop.api.webhooks import webhooks_for
from smooch_desktop.core.poll_budget import DEFAULT_REQUESTS_PER_MINUTE
from smooch_desktop.sandbox.demo import DEMO_ALICE_ID, DEMO_PAGING_USER_ID
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.inbox.live_updates import (
    WEBHOOK_POLL_SHARE,
    LiveConfig,
    LiveUpdates,
    LiveUpdatesDialog,
    load_config,
    loopback_url,
)
from smooch_desktop.ui.inbox.pane import title_for

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


def open_dialog(controller: AppController, qtbot: QtBot) -> LiveUpdatesDialog:
    assert controller.window is not None
    controller.window.live_updates_action.trigger()
    live = controller.live_updates
    assert live is not None
    dialog = live._dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def turn_on(dialog: LiveUpdatesDialog, port: int) -> None:
    dialog.on_radio.setChecked(True)
    dialog.port_spin.setValue(port)
    dialog.apply_button.click()


def profile_of(controller: AppController) -> str:
    assert controller.session is not None
    return controller.session.profile_id


def live_of(controller: AppController) -> LiveUpdates:
    assert controller.live_updates is not None
    return controller.live_updates


def test_webhooks_bring_a_message_to_the_list_within_a_second_and_off_removes_them(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    dialog = open_dialog(controller, qtbot)
    assert dialog.off_radio.isChecked()  # polling is the default
    assert dialog.url_edit.text().startswith("http://127.0.0.1:")  # sandbox: prefilled
    port = free_port()
    turn_on(dialog, port)
    live = live_of(controller)
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    assert targets(sandbox) == [loopback_url(port)]
    assert str(port) in dialog.status.text()
    pane = controller.inbox_pane
    assert pane is not None and pane.poller is not None
    # Polling slows down but goes on (a webhook call can be lost).
    slowed = DEFAULT_REQUESTS_PER_MINUTE * WEBHOOK_POLL_SHARE
    assert pane.poller.scheduler.requests_per_minute == pytest.approx(slowed)
    assert pane.poller.running

    # The settings keep the choice, never the secret.
    settings = controller.settings
    saved = load_config(settings, profile_of(controller))
    assert saved == LiveConfig(True, loopback_url(port), port)
    registration = live.registration
    assert registration is not None
    settings.sync()
    with open(settings.file_name, encoding="utf-8") as f:
        assert registration.secret not in f.read()

    started = time.monotonic()
    sandbox.store.add_user_message(sandbox.app_id, DEMO_PAGING_USER_ID, "Pushed to you")
    window = controller.window
    assert window is not None

    def bob_unread() -> bool:
        row = next((r for r in pane.model.rows() if r.key.user_ref == DEMO_PAGING_USER_ID), None)
        return row is not None and row.unread >= 1 and row.preview.text == "Pushed to you"

    qtbot.waitUntil(bob_unread, timeout=1000)
    assert time.monotonic() - started < 1.0
    assert live.receiver is not None and live.receiver.stats().events == 1  # not a poll
    assert window.windowTitle() == title_for(pane.unread_total)

    # Off: the registration goes, the receiver stops, polling is back to its budget.
    dialog.off_radio.setChecked(True)
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: targets(sandbox) == [], timeout=5_000)
    assert live.receiver is None and live.state == "off"
    assert pane.poller.scheduler.requests_per_minute == pytest.approx(DEFAULT_REQUESTS_PER_MINUTE)
    assert not load_config(settings, profile_of(controller)).enabled
    dialog.close()


def test_a_message_for_the_open_conversation_makes_the_window_poll_at_once(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    window = controller.window
    assert window is not None
    window.select_user(DEMO_ALICE_ID)
    qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=10_000)
    live = live_of(controller)
    assert live.apply(LiveConfig(True, loopback_url(port := free_port()), port))
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    window._poll_timer.stop()  # only the live update may bring it now
    sandbox.store.add_user_message(sandbox.app_id, DEMO_ALICE_ID, "Look at this")

    def shown() -> bool:
        rows = [window.model.item(r) for r in range(window.model.rowCount())]
        return any(getattr(i, "text", "") == "Look at this" for i in rows)

    qtbot.waitUntil(shown, timeout=2_000)
    pane = controller.inbox_pane
    assert pane is not None
    alice = next(r for r in pane.model.rows() if r.key.user_ref == DEMO_ALICE_ID)
    assert alice.unread == 0 and pane.unread_total == 0  # the open one stays read


def test_quitting_deletes_this_runs_webhook_and_the_next_start_registers_again(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    from smooch_desktop.app import build_parser

    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    first = AppController(args, sandbox=sandbox)
    first.start()
    qtbot.waitUntil(lambda: first.session is not None, timeout=10_000)
    port = free_port()
    assert live_of(first).apply(LiveConfig(True, loopback_url(port), port))
    qtbot.waitUntil(lambda: live_of(first).state == "on", timeout=10_000)
    assert targets(sandbox) == [loopback_url(port)]
    dispose_controller(first)
    assert targets(sandbox) == []  # removed before the API queue stopped

    # A crash's leftover (registered, never removed) is replaced, not doubled.
    session_api = None
    second = AppController(args, sandbox=sandbox)
    try:
        second.start()
        qtbot.waitUntil(lambda: second.session is not None, timeout=10_000)
        assert second.session is not None
        session_api = second.session.api
        admin = webhooks_for(session_api)
        assert admin is not None
        live = live_of(second)
        qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)  # saved choice: on
        leftover = admin.register(loopback_url(port))  # as a crashed run leaves it
        live.apply(LiveConfig(True, loopback_url(port), port))  # e.g. the next start
        qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
        assert targets(sandbox) == [loopback_url(port)]
        assert live.registration is not None and live.registration.id != leftover.id
    finally:
        dispose_controller(second)
    assert targets(sandbox) == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "Enter the public URL"),
        ("ftp://example.com/hook", "https://"),
        ("https://user:pw@example.com/hook", "user name and password"),
        ("https:///nohost", "no host"),
        ("https://example.com/hook#x", "fragment"),
        ("https://example.com:99999/", "port"),
        ("http://127.0.0.1:1/hook", "port 1, but the receiver uses"),
        ("https://exa mple.com/", "spaces"),
    ],
)
def test_bad_input_in_the_dialog_is_shown_next_to_the_url_and_nothing_is_saved(
    controller: AppController, qtbot: QtBot, url: str, says: str
) -> None:
    dialog = open_dialog(controller, qtbot)
    dialog.on_radio.setChecked(True)
    dialog.port_spin.setValue(free_port())
    dialog.url_edit.setText(url)
    port_at = dialog.port_spin.mapTo(dialog, dialog.port_spin.rect().topLeft())
    dialog.apply_button.click()
    assert says in dialog.url_error.text()
    assert dialog.url_error.isVisible()
    live = live_of(controller)
    assert live.receiver is None and live.state == "off"
    assert not load_config(controller.settings, profile_of(controller)).enabled
    # The field below did not move when it appeared; typing again clears it.
    assert dialog.port_spin.mapTo(dialog, dialog.port_spin.rect().topLeft()) == port_at
    QTest.keyClicks(dialog.url_edit, "x")
    assert not dialog.url_error.isVisible()
    dialog.close()


def test_a_port_in_use_and_a_refusal_by_the_server_are_shown_next_to_their_fields(
    controller: AppController, qtbot: QtBot, sandbox: Any
) -> None:
    dialog = open_dialog(controller, qtbot)
    live = live_of(controller)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        turn_on(dialog, port)
        assert dialog.url_edit.text() == loopback_url(port)  # follows the port
        assert f"Port {port}" in dialog.port_error.text()
        assert live.state == "failed" and live.receiver is None

    # The sandbox posts to loopback targets only: its refusal, in its words.
    dialog.port_spin.setValue(free_port())
    dialog.url_edit.setText("https://example.com/hook")
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: live.state == "failed", timeout=10_000)
    assert "this machine" in dialog.url_error.text()
    assert live.receiver is None
    assert targets(sandbox) == []
    dialog.close()


@pytest.mark.parametrize(
    "saved",
    [
        {"enabled": "yes", "port": 99999, "url": 5},
        {"enabled": 1, "port": True, "url": None},
        {"enabled": None, "port": -1},
    ],
)
def test_odd_saved_live_update_settings_fall_back_to_off(saved: dict[str, Any]) -> None:
    from smooch_desktop.ui.inbox.live_updates import DEFAULT_PORT
    from smooch_desktop.ui.settings import AppSettings

    settings = AppSettings()
    settings.set_live_updates("p1", saved)
    assert load_config(settings, "p1") == LiveConfig(False, "", DEFAULT_PORT)
    settings._s.setValue("liveUpdates/p2", "[not json")
    assert load_config(settings, "p2") == LiveConfig()


def test_turned_off_while_registering_the_late_registration_is_taken_back(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    import threading

    live = live_of(controller)
    gate = threading.Event()
    controller.api_tasks.submit(lambda: gate.wait(10), kind="test-hold")
    port = free_port()
    assert live.apply(LiveConfig(True, loopback_url(port), port))
    assert live.state == "starting"
    assert live.apply(LiveConfig(False, loopback_url(port), port))  # before it answered
    assert live.state == "off" and live.receiver is None
    gate.set()
    # Registered once the queue moved on, then deleted through the same API.
    assert controller.session is not None
    path = "/webhooks" if controller.session.protocol == "v1.1" else "/integrations"

    def calls(method: str) -> int:
        return sum(1 for e in sandbox.log() if e["method"] == method and path in e["path"])

    qtbot.waitUntil(lambda: calls("POST") == 1 and calls("DELETE") == 1, timeout=5_000)
    assert targets(sandbox) == []
    assert live.registration is None and live.state == "off"


def test_switching_the_sandbox_version_moves_the_webhook_to_the_new_api(
    sandbox: Any, qtbot: QtBot, leak_guard: None
) -> None:
    from smooch_desktop.app import build_parser

    args = build_parser().parse_args(["--sandbox", "--api-version", "v1.1"])
    made = AppController(args, sandbox=sandbox)
    try:
        made.start()
        qtbot.waitUntil(lambda: made.session is not None, timeout=10_000)
        live = live_of(made)
        port = free_port()
        assert live.apply(LiveConfig(True, loopback_url(port), port))
        qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
        assert [h["target"] for h in sandbox.webhooks.list_v1(sandbox.app_id)] == [
            loopback_url(port)
        ]
        assert made.window is not None
        made.window.live_updates_action.trigger()  # a dialog over the old window
        made.switch_sandbox_version("v2")
        qtbot.waitUntil(
            lambda: live.registration is not None and live.registration.version == "v2",
            timeout=10_000,
        )
        assert sandbox.webhooks.list_v1(sandbox.app_id) == []  # the v1.1 one went
        assert targets(sandbox) == [loopback_url(port)]
        sandbox.store.add_user_message(sandbox.app_id, DEMO_PAGING_USER_ID, "after the switch")
        pane = made.inbox_pane
        assert pane is not None
        qtbot.waitUntil(
            lambda: any(r.preview.text == "after the switch" for r in pane.model.rows()),
            timeout=2_000,
        )
        assert made.window is not None
        made.window.live_updates_action.trigger()  # the old window's dialog went with it
        dialog = live._dialog
        assert dialog is not None and dialog.parentWidget() is made.window
        assert dialog.on_radio.isChecked() and live.state == "on"
        dialog.close()
    finally:
        dispose_controller(made)
    assert targets(sandbox) == []
