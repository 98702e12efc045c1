"""Secrets audit (issue 4): a whole scripted session must leave the secret nowhere.

The app is driven through its real controller, in-process: a connection profile saved
in the settings, its secret in a keychain (an in-memory keyring backend defined here),
the window built from that, messages sent, and every kind of failure provoked — a 400
from the server, a 401 from a wrong secret, a host that refuses connections. All Python
logging is captured at DEBUG into a file. Afterwards neither the secret, nor the wrong
secret, nor a JWT or Basic header made from them may appear in any file the app wrote,
in any log line, or in any text a widget shows. The session runs on v1.1 and on v2
(``api_version``: every profile speaks that version).
"""

from __future__ import annotations

import argparse
import base64
import logging
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller, type_text

from smooch_desktop.api.auth import AuthMethod, make_jwt
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.app import build_parser
from smooch_desktop.core.outbox import OutboxEntry
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretStore, account_for
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.settings import AppSettings, SenderIdentity

USER = "audit-user"


from memory_keyring import MemoryKeyring  # noqa: E402


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every logger at DEBUG into one file, restored afterwards."""
    path = tmp_path / "audit.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    loggers = [root] + [
        logger for logger in root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield path
    root.removeHandler(handler)
    handler.close()
    for logger, level in levels.items():
        logger.setLevel(level)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def forbidden_strings(key_id: str, *secret_values: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for n, value in enumerate(secret_values):
        basic = base64.b64encode(f"{key_id}:{value}".encode()).decode()
        found[f"secret{n}"] = value
        found[f"jwt{n}"] = make_jwt(key_id, value)
        found[f"basic{n}"] = basic
        # A JWT's signature is the part that proves the secret; never even that alone.
        found[f"jwt-signature{n}"] = make_jwt(key_id, value).rsplit(".", 1)[1]
    return found


def visible_texts() -> list[tuple[str, str]]:
    """Every text a person could read on screen or in a tooltip, with where it came from."""
    texts: list[tuple[str, str]] = []

    def add(widget: QWidget, what: str, text: str | None) -> None:
        if text:
            texts.append((f"{type(widget).__name__}#{widget.objectName()}.{what}", text))

    for widget in QApplication.allWidgets():
        add(widget, "windowTitle", widget.windowTitle())
        add(widget, "toolTip", widget.toolTip())
        add(widget, "statusTip", widget.statusTip())
        add(widget, "whatsThis", widget.whatsThis())
        add(widget, "accessibleName", widget.accessibleName())
        add(widget, "accessibleDescription", widget.accessibleDescription())
        if isinstance(widget, QLabel):
            add(widget, "text", widget.text())
        if isinstance(widget, QLineEdit):
            if widget.echoMode() is not QLineEdit.EchoMode.Password:
                add(widget, "text", widget.text())
            add(widget, "placeholder", widget.placeholderText())
        if isinstance(widget, QPlainTextEdit | QTextEdit):
            add(widget, "text", widget.toPlainText())
        if isinstance(widget, QAbstractButton):
            add(widget, "text", widget.text())
        if isinstance(widget, QComboBox):
            for i in range(widget.count()):
                add(widget, f"item{i}", widget.itemText(i))
        if isinstance(widget, QMessageBox):
            add(widget, "informativeText", widget.informativeText())
            add(widget, "detailedText", widget.detailedText())
        if isinstance(widget, QMainWindow):
            add(widget, "statusMessage", widget.statusBar().currentMessage())
        if isinstance(widget, MainWindow):
            model = widget.model
            for row in range(model.rowCount()):
                index = model.index(row, 0, QModelIndex())
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    value = model.data(index, role)
                    add(widget, f"row{row}.{role.name}", str(value) if value else "")
                add(widget, f"row{row}.status", model.item(row).status_text())
    return texts


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_whole_session_leaves_the_secret_nowhere(
    sandbox: Any,
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    debug_log: Path,
    isolated_dirs: Path,
    leak_guard: None,
    api_version: str,
) -> None:
    # An app of our own in the sandbox, with a random secret nobody else knows.
    app_id, key_id, secret = sandbox.store.create_app(name="Audit Shop")
    wrong_secret = secrets.token_urlsafe(32)
    sandbox.store.create_user(app_id, {"userId": USER, "givenName": "Audrey"})
    sandbox.store.add_user_message(app_id, USER, "Hello? Anyone there?")
    forbidden = forbidden_strings(key_id, secret, wrong_secret)

    # Set up as the connection dialog would: profile in the settings, secret in the keychain.
    settings = AppSettings()
    base = sandbox.base_url
    version = ApiVersion(api_version)
    good = Profile(
        "Audit", Region.CUSTOM, base, app_id, key_id, auth=AuthMethod.JWT, api_version=version
    )
    wrong = Profile(
        "Audit wrong key",
        Region.CUSTOM,
        base,
        app_id,
        key_id,
        auth=AuthMethod.BASIC,
        api_version=version,
    )
    nowhere = f"http://127.0.0.1:{closed_port()}"
    offline = Profile("Audit offline", Region.CUSTOM, nowhere, app_id, key_id, api_version=version)
    for profile in (good, wrong, offline):
        settings.upsert_profile(profile)
    settings.set_active_profile_name(good.name)
    settings.set_current_identity(SenderIdentity("", "Ada (Audit)", "ada@example.com"))
    settings.sync()
    store = SecretStore()
    store.set(account_for(good.name, key_id), secret)
    store.set(account_for(wrong.name, key_id), wrong_secret)
    store.set(account_for(offline.name, key_id), secret)

    args: argparse.Namespace = build_parser().parse_args([])
    controller = AppController(args)
    try:
        controller.start()  # the window first; the session follows its first paint
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        window = controller.window
        assert window is not None and window.session is controller.session
        assert window.session is not None and window.session.protocol == api_version
        qtbot.waitUntil(lambda: window.status_call.text() == "✓ connected", timeout=10_000)

        # A normal exchange.
        window.user_panel.line_edit.setFocus()
        with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            type_text(qtbot, window.user_panel.line_edit, USER)
            QTest.keyClick(window.user_panel.line_edit, Qt.Key.Key_Return)
        window.composer.edit.setFocus()
        QTest.keyClicks(window.composer.edit, "Hi Audrey, how can I help?")
        QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
        qtbot.waitUntil(
            lambda: (
                [m["text"] for m in sandbox.store.messages(app_id, USER)][-1:]
                == ["Hi Audrey, how can I help?"]
            ),
            timeout=10_000,
        )
        # A 400: the server rejects a message (through the real outbox and engine).
        # Enqueued once the API queue is idle, so the previous send and its typing calls
        # are finished and the next message request the sandbox sees is this one.
        qtbot.waitUntil(lambda: not controller.api_tasks.is_busy(), timeout=10_000)
        assert controller.delivery is not None
        bad = controller.delivery.enqueue(USER, OutgoingMessage("x", Sender("Ada"), type="bogus"))

        def bad_entry() -> OutboxEntry:
            entry = controller.outbox.get(bad.client_id)
            if entry is None:
                raise LookupError(f"outbox entry {bad.client_id} is gone")
            return entry

        qtbot.waitUntil(lambda: str(bad_entry().state) == "failed", timeout=10_000)
        assert bad_entry().error_status == 400
        QTest.keyClicks(window.composer.edit, "typing on")

        # A 401: the profile with the wrong secret.
        old_window = controller.window
        controller.switch_profile(wrong.name)  # the secret is read on the keychain thread
        qtbot.waitUntil(lambda: controller.window is not old_window, timeout=10_000)
        wrong_window = controller.window
        assert wrong_window is not None and wrong_window.session is not None
        qtbot.waitUntil(lambda: "401" in wrong_window.status_call.text(), timeout=10_000)
        qtbot.waitUntil(lambda: "401" in wrong_window.user_panel.error.text(), timeout=10_000)
        wrong_window.composer.edit.setFocus()
        QTest.keyClicks(wrong_window.composer.edit, "Will this get through?")
        QTest.keyClick(wrong_window.composer.edit, Qt.Key.Key_Return)
        qtbot.waitUntil(
            lambda: any(
                isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets()
            ),
            timeout=10_000,
        )

        seen = visible_texts()
        assert any("401" in text for _, text in seen)  # the failure really is on screen
        assert any(
            "The API key was not accepted" in text for where, text in seen if "QMessageBox" in where
        )

        # A network failure: nothing listens on the offline profile's port.
        old_window = controller.window
        controller.switch_profile(offline.name)
        qtbot.waitUntil(lambda: controller.window is not old_window, timeout=10_000)
        offline_window = controller.window
        assert offline_window is not None
        qtbot.waitUntil(
            lambda: "connection was refused" in offline_window.user_panel.error.text(),
            timeout=10_000,
        )
        offline_window.composer.edit.setFocus()
        QTest.keyClicks(offline_window.composer.edit, "Offline message")
        QTest.keyClick(offline_window.composer.edit, Qt.Key.Key_Return)
        qtbot.waitUntil(
            lambda: any(
                e.error_text and e.user_ref == USER and e.profile == offline.id
                for e in controller.outbox.all_entries()
            ),
            timeout=10_000,
        )

        seen += visible_texts()
        assert any("connection was refused" in text for _, text in seen)
        # Reported by name and place only: a failing audit must not print the secret.
        shown = [f"{n}: {where}" for where, text in seen for n, v in forbidden.items() if v in text]
        assert shown == []
    finally:
        dispose_controller(controller)

    # Sanity: the session really happened and the capture really captured.
    assert memory_keyring.entries[("smooch-desktop", account_for(good.name, key_id))] == secret
    log_text = debug_log.read_text(encoding="utf-8")
    assert "DEBUG urllib3" in log_text and "smooch_desktop" in log_text
    written = files_under(isolated_dirs)
    names = {p.name for p in written}
    assert {"outbox.sqlite3", "drafts.sqlite3"} <= names
    assert any(p.suffix == ".ini" for p in written)

    logged = [
        f"{name} in log line {number}"
        for number, line in enumerate(log_text.splitlines(), 1)
        for name, value in forbidden.items()
        if value in line
    ]
    assert logged == []
    stored = [
        f"{name} in {path.relative_to(isolated_dirs)}"
        for path in written
        for name, value in forbidden.items()
        if value.encode() in (data := path.read_bytes()) or value.encode("utf-16-le") in data
    ]
    assert stored == []
