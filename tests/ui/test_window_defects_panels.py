"""Defects of the main window's panels as a new user found them (issue 12, item 4).

Each test failed on the code before its fix. Real parts only: the sandbox over loopback
HTTP (its fault injection for a failing server, a stopped server for one that is down),
the window stack of ``ui_stack.py`` with the real API thread, real key presses.

* a failed user lookup is retried with back-off and its error goes once it succeeds;
* the area under the User field keeps its height, so what is below it never moves;
* "seen N min ago" is redrawn as time passes, without a request, only while shown;
* the identity combo and the save-identity dialog title are not clipped; every Tab
  stop of the window shows that it has the focus.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QWidget
from pytestqt.qtbot import QtBot
from ui_stack import UiStack, build_stack

from smooch_desktop.core.delivery import Backoff
from smooch_desktop.sandbox import DEMO_ALICE_ID, FaultConfig, SandboxServer
from smooch_desktop.sandbox.demo import DEMO_ENCODED_USER_ID, DEMO_NO_CLIENTS_USER_ID
from smooch_desktop.ui import user_panel
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.settings import SenderIdentity
from smooch_desktop.ui.user_panel import describe_last_seen

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

#: Retries after 50 ms, 100 ms, 200 ms… so a test sees several in well under a second.
FAST_RETRIES = Backoff(base_s=0.05, factor=2.0, cap_s=0.2, jitter=0.0)
UNKNOWN_USER = "nobody-here-42"


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # raising=False: the test must run (and fail) on code without the constant too.
    monkeypatch.setattr(user_panel, "LOOKUP_BACKOFF", FAST_RETRIES, raising=False)


def lookups(sandbox: Any) -> int:
    """GETs of Alice herself (v1.1 …/appusers/{id}, v2 …/users/{id})."""
    ends = ("/appusers/" + DEMO_ALICE_ID, "/users/" + DEMO_ALICE_ID)
    return sum(1 for e in sandbox.log() if e["method"] == "GET" and e["path"].endswith(ends))


# (a) A failed lookup is retried and its error cleared ------------------------------------------
def test_a_lookup_that_failed_with_503_is_retried_and_its_error_cleared(
    fast_retries: None, stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    panel = window.user_panel
    sandbox = stack.sandbox
    # Every API request answers 500 or 503 (the sandbox's server errors), Retry-After-less.
    sandbox.set_faults(FaultConfig(error_rate=1.0, seed=7))
    failures: list[str] = []
    panel.lookupFailed.connect(failures.append)
    stack.type_user(window, DEMO_ALICE_ID)
    qtbot.waitUntil(lambda: len(failures) >= 2, timeout=5000)  # retried by itself
    assert all(f.startswith("Couldn't look the user up:") for f in failures)
    assert "Trying again in" in panel.error.text()
    assert not panel.error.isHidden()
    # The server recovers: the next retry finds the user and the error goes.
    sandbox.set_faults(FaultConfig())
    qtbot.waitUntil(lambda: panel.current_user() is not None, timeout=5000)
    assert panel.error.isHidden()
    assert "Alice Martin" in panel.info.text() and not panel.info.isHidden()
    stack.wait_history(window, DEMO_ALICE_ID)  # and the conversation loads
    # No more lookups once it answered (no retry left running).
    settled = lookups(sandbox)
    stack.barrier()
    qtbot.wait(300)
    assert lookups(sandbox) == settled


def test_a_server_down_at_start_is_retried_once_it_is_up(
    fast_retries: None,
    qtbot: QtBot,
    leak_guard: None,
    api_version: str,
) -> None:
    probe = SandboxServer(port=0).start()
    port = urlsplit(probe.base_url).port
    probe.stop()
    assert port is not None
    server = SandboxServer(port=port)  # the same address, not listening yet
    stack = build_stack(server, qtbot, api_version=api_version)
    try:
        window = stack.new_window()
        panel = window.user_panel
        with qtbot.waitSignal(panel.lookupFailed, timeout=5000) as failed:
            stack.type_user(window, DEMO_ALICE_ID)
        assert "Trying again in" in failed.args[0]
        server.start()
        qtbot.waitUntil(lambda: panel.current_user() is not None, timeout=10_000)
        assert panel.error.isHidden()
        assert "Alice Martin" in panel.info.text()
        stack.wait_history(window, DEMO_ALICE_ID)
    finally:
        stack.shutdown()
        server.stop()


def test_an_answer_retrying_cannot_change_is_not_retried(
    fast_retries: None, stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.user_panel
    with qtbot.waitSignal(panel.lookupFailed, timeout=5000) as failed:
        stack.type_user(window, UNKNOWN_USER)
    assert "404" in failed.args[0] and "Trying again" not in failed.args[0]
    before = len(stack.sandbox.log())
    qtbot.wait(400)  # several back-off periods
    assert len(stack.sandbox.log()) == before


# (b) The area under the User field keeps its height ----------------------------------------
def test_the_user_info_area_keeps_its_height_whatever_it_shows(
    fast_retries: None, stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    panel = window.user_panel
    below = window.hsplit  # the conversation, the composer and the sender panel

    def place() -> tuple[int, int]:
        QApplication.processEvents()
        return panel.height(), below.mapTo(window, below.rect().topLeft()).y()

    seen: dict[str, tuple[int, int]] = {"empty": place()}
    stack.open_user(window, DEMO_ALICE_ID)  # two lines: name and email, channels
    seen["user"] = place()
    stack.open_user(window, DEMO_NO_CLIENTS_USER_ID)  # plus a warning
    assert not panel.warning.isHidden()
    seen["warning"] = place()
    stack.open_user(window, DEMO_ENCODED_USER_ID)  # v2: a second conversation to pick
    seen["conversations"] = place()
    with qtbot.waitSignal(panel.lookupFailed, timeout=5000):
        stack.type_user(window, UNKNOWN_USER)  # an error
    seen["error"] = place()
    stack.sandbox.set_faults(FaultConfig(error_rate=1.0, seed=3))
    with qtbot.waitSignal(panel.lookupFailed, timeout=5000):
        stack.type_user(window, DEMO_ALICE_ID)  # an error and a retry
    seen["retrying"] = place()
    stack.sandbox.set_faults(FaultConfig())
    qtbot.waitUntil(lambda: panel.current_user() is not None, timeout=5000)
    stack.type_user(window, ".")  # a validation error
    assert not panel.error.isHidden()
    seen["invalid"] = place()
    assert len(set(seen.values())) == 1, seen


# (c) "Seen N min ago" refreshes ----------------------------------------------------------------
class _Clock:
    """``time`` for the user panel only: the real time plus a shift the test sets."""

    def __init__(self) -> None:
        self.shift = 0.0

    def time(self) -> float:
        return time.time() + self.shift


def test_seen_n_min_ago_is_redrawn_without_a_request(
    monkeypatch: pytest.MonkeyPatch, stack: UiStack, qtbot: QtBot, api_version: str
) -> None:
    clock = _Clock()
    monkeypatch.setattr(user_panel, "time", SimpleNamespace(time=clock.time))
    monkeypatch.setattr(user_panel, "LAST_SEEN_REFRESH_MS", 40, raising=False)
    window = stack.new_window()
    panel = window.user_panel
    stack.open_user(window, DEMO_ALICE_ID)
    user = panel.current_user()
    assert user is not None and user.last_seen > 0
    first = panel.info.text()
    assert describe_last_seen(user.last_seen, clock.time()) in first
    stack.barrier()
    requests = len(stack.sandbox.log())
    clock.shift = 17 * 60.0
    later = describe_last_seen(user.last_seen, clock.time())
    assert later not in first
    qtbot.waitUntil(lambda: later in panel.info.text(), timeout=3000)
    clock.shift = 5 * 3600.0
    qtbot.waitUntil(lambda: "seen 5 h ago" in panel.info.text(), timeout=3000)
    assert len(stack.sandbox.log()) == requests  # drawn from what is loaded: no request
    # Hidden, it costs no wake-ups; shown again, it is up to date at once.
    timer = panel.findChild(QTimer, "lastSeenRefresh")
    assert timer is not None and timer.isActive()
    window.hide()
    assert not timer.isActive()
    clock.shift = 3 * 86400.0
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: "seen 3 days ago" in panel.info.text(), timeout=3000)
    # No user, no timer.
    stack.type_user(window, "")
    assert not timer.isActive()


# (e) Clipped texts and a Tab stop without a visible focus -------------------------------------
def test_the_identity_combo_shows_a_saved_identity_whole(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.sender_panel
    label = "Sam (Support, Europe)"
    panel.save_identity(SenderIdentity(label, "Sam", "agent@example.com"))
    window.resize(1100, 720)  # the size the window first opens at
    QApplication.processEvents()
    combo = panel.identity_combo
    assert combo.currentText() == label
    text_room = combo.style().subControlRect(
        combo.style().ComplexControl.CC_ComboBox,
        _combo_option(combo),
        combo.style().SubControl.SC_ComboBoxEditField,
        combo,
    )
    assert combo.fontMetrics().horizontalAdvance(label) <= text_room.width(), (
        combo.width(),
        text_room.width(),
    )


def _combo_option(combo: Any) -> Any:
    from PySide6.QtWidgets import QStyleOptionComboBox

    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    return option


def test_the_save_identity_dialog_title_is_not_clipped(
    stack: UiStack, window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, int]] = []

    def check_then_cancel() -> None:
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QInputDialog)]
        assert len(dialogs) == 1
        dialog = dialogs[0]
        qtbot.waitExposed(dialog)
        title = dialog.windowTitle()
        # The title bar shows the title when the dialog is at least that wide (with room
        # for the window buttons, which take about as much again as a short title).
        needed = dialog.fontMetrics().horizontalAdvance(title) + 160
        seen.append((title, dialog.width(), needed))
        dialog.reject()

    QTimer.singleShot(200, check_then_cancel)
    window.sender_panel.save_identity_button.click()
    assert seen, "the dialog never opened"
    title, width, needed = seen[0]
    assert title and width >= needed, seen


def test_every_tab_stop_of_the_window_shows_the_focus(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    stack.open_user(window, DEMO_ALICE_ID)
    first = window.user_panel.combo
    first.setFocus(Qt.FocusReason.TabFocusReason)
    QApplication.processEvents()
    # Tab through the window as a keyboard user does, a picture at each stop.
    stops: list[tuple[QWidget, QImage]] = []
    for _ in range(40):
        widget = QApplication.focusWidget()
        assert widget is not None
        if any(widget is w for w, _image in stops):
            break
        stops.append((widget, window.grab().toImage()))
        QTest.keyClick(widget, Qt.Key.Key_Tab)
    names = [w.objectName() or type(w).__name__ for w, _image in stops]
    assert "conversationView" in names, names
    # Each stop must look different when it has the focus than when the next one has it.
    unmarked = []
    for i, (widget, focused) in enumerate(stops):
        _next, after = stops[(i + 1) % len(stops)]
        top_left = widget.mapTo(window, widget.rect().topLeft())
        area = widget.rect().translated(top_left).adjusted(-3, -3, 3, 3)
        if focused.copy(area) == after.copy(area):
            unmarked.append(names[i])
    assert unmarked == [], (unmarked, names)
