"""Live updates in the app, attacked: turned on and off 20 times in a row, quit while the
registration is still on the wire, and the dialog given hostile input (a 2,100-character
URL, an invisible right-to-left override, port 0 with a loopback URL). The real app
controller against the sandbox (real HTTP both ways), v1.1 and v2.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from webhook_support import free_port, targets

from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.inbox.live_updates import LiveConfig, LiveUpdates, loopback_url

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")


def receiver_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("webhook-")]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def live_of(controller: AppController) -> LiveUpdates:
    assert controller.live_updates is not None
    return controller.live_updates


def test_turning_on_and_off_20_times_leaves_no_webhook_thread_or_socket(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    port = free_port()
    url = loopback_url(port)
    for n in range(20):
        assert live.apply(LiveConfig(n % 2 == 0, url, port))
        qtbot.wait(5)
    # The last one was off: every registration made meanwhile is taken back.
    qtbot.waitUntil(lambda: not controller.api_tasks.is_busy(), timeout=20_000)
    qtbot.waitUntil(lambda: targets(sandbox) == [], timeout=5_000)
    assert live.receiver is None and live.state == "off"
    assert not listening(port)
    qtbot.waitUntil(lambda: receiver_threads() == [], timeout=3_000)

    # And on once more, after all that: exactly one registration, serving.
    assert live.apply(LiveConfig(True, url, port))
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    assert targets(sandbox) == [url]


def test_quitting_while_the_registration_is_on_the_wire_leaves_no_webhook(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    port = free_port()
    sandbox.set_faults(FaultConfig(latency_ms=700))  # each API call takes 0.7 s
    assert live.apply(LiveConfig(True, loopback_url(port), port))
    assert live.state == "starting"
    # Inside the create call (after the leftovers' listing) when the app quits.
    time.sleep(1.0)
    started = time.monotonic()
    controller.shutdown()  # as app.run_gui does at quit
    assert time.monotonic() - started < 6.0
    sandbox.set_faults(FaultConfig())
    assert targets(sandbox) == []
    assert not listening(port)


@pytest.mark.parametrize(
    ("url", "port", "says"),
    [
        ("https://example.com/" + "a" * 2100, 8742, "longer than"),
        ("https://exa\u202emple.com/hook", 8742, "invisible"),
        ("http://127.0.0.1:8742/hook", 0, "Choose a port"),
    ],
    ids=["2100-chars", "rtl-override", "port-0-loopback"],
)
def test_hostile_urls_are_refused_in_the_dialog_and_nothing_is_saved(
    controller: AppController, qtbot: QtBot, url: str, port: int, says: str
) -> None:
    assert controller.window is not None
    controller.window.live_updates_action.trigger()
    live = live_of(controller)
    dialog = live._dialog
    assert dialog is not None
    dialog.on_radio.setChecked(True)
    dialog.port_spin.setValue(port)
    dialog.url_edit.setText(url)  # as pasted
    dialog.apply_button.click()
    assert says in dialog.url_error.text()
    assert live.state == "off" and live.receiver is None
    assert not live.config().enabled


def test_a_hostile_name_is_shown_literally_and_bounded_in_the_list(qapp: Any) -> None:
    from PySide6.QtGui import QFont, QFontMetrics

    from smooch_desktop.ui.inbox.model import _shown

    metrics = QFontMetrics(QFont())
    shown = _shown("\u202eevil<b>bold</b>\x07\nnext" * 50, metrics, 200)
    assert "\u202e" not in shown and "\n" not in shown
    assert shown.startswith("[RLO]evil<b>bold</b>[BEL]")
    assert metrics.horizontalAdvance(shown) <= 200 and shown.endswith("…")
    assert _shown("مرحبا Ann", metrics, 400) == "مرحبا Ann"  # natural RTL text untouched


def test_a_webhook_the_server_would_not_remove_is_said_not_hidden(
    controller: AppController, sandbox: Any, qtbot: QtBot
) -> None:
    live = live_of(controller)
    window = controller.window
    assert window is not None
    port = free_port()
    url = loopback_url(port)
    assert live.apply(LiveConfig(True, url, port))
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    assert "live updates on" in window.status_call.text()
    sandbox.set_faults(FaultConfig(error_rate=1.0))  # the server is failing
    assert live.apply(LiveConfig(False, url, port))
    qtbot.waitUntil(lambda: "could not be removed" in live.state_text, timeout=20_000)
    assert live.state == "off" and live.receiver is None
    assert "webhook not removed" in window.status_call.text()
    sandbox.set_faults(FaultConfig())
    assert targets(sandbox) == [url]  # still there, as the dialog now says
    # On again for that URL replaces it: one registration, never two.
    assert live.apply(LiveConfig(True, url, port))
    qtbot.waitUntil(lambda: live.state == "on", timeout=10_000)
    assert targets(sandbox) == [url]
