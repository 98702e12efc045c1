"""``ui/task_errors.py``: the one sink for failed worker tasks (a log line and the status bar).

Real TaskQueues and a real window; the controller test checks that the app's own queues
are routed to the sink.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller, drain_deferred_deletes

from smooch_desktop.api.errors import ConfigError, ConnectFailed, HttpError
from smooch_desktop.app import build_parser
from smooch_desktop.core.secrets import KeychainUnavailable
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.task_errors import TaskErrorSink, failure_text
from smooch_desktop.ui.workers import TaskQueue

SECRET = "s3cr3t-value-never-shown"


@pytest.fixture
def queue(qtbot: QtBot) -> Iterator[TaskQueue]:
    tasks = TaskQueue("sink-test")
    yield tasks
    assert tasks.stop(5000)
    tasks.deleteLater()
    drain_deferred_deletes()


@pytest.fixture
def window(qtbot: QtBot) -> QMainWindow:
    shown = QMainWindow()
    qtbot.addWidget(shown)
    return shown


def raising(exc: BaseException) -> Any:
    def run() -> None:
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (ConnectFailed("Can't connect to api.example.com"), "Can't connect to api.example.com"),
        (
            HttpError(401, code="unauthorized", description="Invalid key", host="h.example"),
            "The API key was not accepted (401 unauthorized from h.example): Invalid key",
        ),
        (ConfigError("base_url", "The base URL must use https."), "The base URL must use https."),
        (KeychainUnavailable("The keychain is locked."), "The keychain is locked."),
        (ValueError(f"Authorization: Basic {SECRET}"), "unexpected ValueError"),
        (RuntimeError(), "unexpected RuntimeError"),
    ],
)
def test_failure_text_uses_only_words_made_to_be_shown(exc: BaseException, text: str) -> None:
    assert failure_text(exc) == text


def test_an_unhandled_failure_is_logged_and_shown_in_the_status_bar(
    qtbot: QtBot, queue: TaskQueue, window: QMainWindow, caplog: pytest.LogCaptureFixture
) -> None:
    TaskErrorSink(lambda: window, window).watch(queue)
    with caplog.at_level(logging.DEBUG):
        queue.submit(raising(ValueError(SECRET)), kind="close")
        qtbot.waitUntil(lambda: window.statusBar().currentMessage() != "", timeout=5000)
    assert window.statusBar().currentMessage() == (
        "A background close call failed: unexpected ValueError"
    )
    sink_lines = [r for r in caplog.records if r.name == "smooch_desktop.ui.task_errors"]
    assert [(r.levelno, r.getMessage()) for r in sink_lines] == [
        (logging.ERROR, "close task failed: unexpected ValueError")
    ]
    assert SECRET not in caplog.text
    # The sink listens: the queue does not log the same failure a second time.
    assert not [r for r in caplog.records if r.name == "smooch_desktop.ui.workers"]


def test_a_handled_failure_is_logged_quietly_and_left_to_its_owner_to_show(
    qtbot: QtBot, queue: TaskQueue, window: QMainWindow, caplog: pytest.LogCaptureFixture
) -> None:
    TaskErrorSink(lambda: window, window).watch(queue)
    handled: list[BaseException] = []
    with caplog.at_level(logging.DEBUG, logger="smooch_desktop.ui.task_errors"):
        queue.submit(raising(ConnectFailed("Can't connect")), on_error=handled.append, kind="check")
        qtbot.waitUntil(lambda: not queue.is_busy(), timeout=5000)
    assert len(handled) == 1
    assert window.statusBar().currentMessage() == ""
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "check task failed (its owner reports it): Can't connect")
    ]


def test_without_a_window_the_failure_is_still_logged(
    qtbot: QtBot, queue: TaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    sink = TaskErrorSink(lambda: None)
    sink.watch(queue)
    with caplog.at_level(logging.ERROR, logger="smooch_desktop.ui.task_errors"):
        queue.submit(raising(OSError("disk")), kind="close")
        qtbot.waitUntil(lambda: not queue.is_busy(), timeout=5000)
    assert [r.getMessage() for r in caplog.records] == ["close task failed: unexpected OSError"]


@pytest.mark.qt_log_ignore("propagateSizeHints")
def test_the_app_shows_a_failure_of_its_api_and_keychain_queues(
    sandbox: Any, qtbot: QtBot, caplog: pytest.LogCaptureFixture, api_version: str
) -> None:
    args: argparse.Namespace = build_parser().parse_args(["--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        window = controller.window
        assert window is not None
        qtbot.waitUntil(lambda: window.status_call.text() == "✓ connected", timeout=10_000)
        status = window.statusBar()
        for tasks, kind in (
            (controller.api_tasks, "close"),
            (controller.keychain_tasks, "keychain"),
        ):
            status.clearMessage()
            with caplog.at_level(logging.ERROR, logger="smooch_desktop.ui.task_errors"):
                tasks.submit(raising(RuntimeError(SECRET)), kind=kind)
                qtbot.waitUntil(lambda: status.currentMessage() != "", timeout=5000)
            assert status.currentMessage() == (
                f"A background {kind} call failed: unexpected RuntimeError"
            )
        assert SECRET not in caplog.text
    finally:
        dispose_controller(controller)
