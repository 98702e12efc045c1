"""Timers run only while something on screen needs them (docs/architecture.md#timers).

The conversation view ticks each second only while a retry countdown shows and the view
is on screen: not while it is hidden or its window is minimised; the user panel's "seen N
min ago" neither while its window is minimised. (That no repeating
timer wakes the whole idle app is checked on the real entry point in test_signals.py.)
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from conversation_support import local
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot
from ui_stack import UiStack

from smooch_desktop.core.outbox import EntryState
from smooch_desktop.sandbox import DEMO_ALICE_ID
from smooch_desktop.ui import user_panel
from smooch_desktop.ui.conversation.view import ConversationView

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # offscreen: show() logs it


def test_the_countdown_tick_runs_only_while_the_view_is_on_screen(qtbot: QtBot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    view = ConversationView()
    window.setCentralWidget(view)
    window.resize(500, 400)
    model = view.conversation_model()
    model.upsert_local(local("c-wait", EntryState.QUEUED, next_attempt_at=time.time() + 30))
    assert not view._tick.isActive()  # not shown yet
    window.show()
    qtbot.waitExposed(window)
    assert view._tick.isActive()

    window.showMinimized()
    qtbot.waitUntil(lambda: window.isMinimized(), timeout=2000)
    assert not view._tick.isActive()
    window.showNormal()
    qtbot.waitUntil(lambda: view._tick.isActive(), timeout=2000)

    view.hide()
    assert not view._tick.isActive()
    view.show()
    assert view._tick.isActive()

    model.remove_local("c-wait")  # no countdown left: no tick
    assert not view._tick.isActive()


def test_seen_n_min_ago_does_not_tick_while_the_window_is_minimised(
    monkeypatch: pytest.MonkeyPatch, stack: UiStack, qtbot: QtBot, api_version: str
) -> None:
    shift = [0.0]
    monkeypatch.setattr(user_panel, "time", SimpleNamespace(time=lambda: time.time() + shift[0]))
    window = stack.new_window()
    panel = window.user_panel
    stack.open_user(window, DEMO_ALICE_ID)
    timer = panel.findChild(QTimer, "lastSeenRefresh")
    assert timer is not None and timer.isActive()
    window.showMinimized()
    qtbot.waitUntil(lambda: not timer.isActive(), timeout=2000)
    shift[0] = 3 * 86400.0
    window.showNormal()
    qtbot.waitUntil(timer.isActive, timeout=2000)
    assert "seen 3 days ago" in panel.info.text()  # up to date as soon as it is restored
