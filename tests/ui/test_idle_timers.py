"""Timers run only while something on screen needs them (docs/architecture.md#timers).

The conversation view ticks each second only while a retry countdown shows and the view
is on screen: not while it is hidden or its window is minimised. (That no repeating
timer wakes the whole idle app is checked on the real entry point in test_signals.py.)
"""

from __future__ import annotations

import time

import pytest
from conversation_support import local
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot

from smooch_desktop.core.outbox import EntryState
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
