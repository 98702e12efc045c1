"""Connection dialog defects as a new user found them (issue 12, item 4).

Each test failed on the code before its fix. Real parts: the real dialog driven through
its widgets, keyring's "fail" backend for a machine without a keychain (or an in-memory
one), and for "Try the sandbox" the app's controller started as ``app.run_gui`` starts
it, which starts a real sandbox on a loopback port and talks HTTP to it.

* error labels appearing under fields never move the fields below them;
* with no keychain, the save hint names the keychain, not "complete: Secret";
* started without ``--sandbox`` and without a profile, the dialog offers the sandbox.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import keyring
import keyring.backend
import keyring.backends.fail
import pytest
from memory_keyring import MemoryKeyring
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller, type_text

from smooch_desktop.app import build_parser
from smooch_desktop.core.secrets import SecretStore, SessionSecrets
from smooch_desktop.sandbox import DEMO_ALICE_ID
from smooch_desktop.ui.connection.dialog import ConnectionDialog
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.settings import AppSettings, SenderIdentity
from smooch_desktop.ui.workers import TaskQueue

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

SECRET = "s3cr3t-Value_that-must-never-leak-9f8e7d"
W = TypeVar("W", bound=QWidget)


@pytest.fixture
def use_keyring() -> Iterator[Callable[[keyring.backend.KeyringBackend], None]]:
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)


@pytest.fixture
def tasks(qapp: Any) -> Iterator[TaskQueue]:
    queue = TaskQueue("connection-dialog-defects")
    yield queue
    assert queue.stop()
    queue.deleteLater()


@pytest.fixture
def open_dialog(qtbot: QtBot, tasks: TaskQueue) -> Callable[[], ConnectionDialog]:
    def make() -> ConnectionDialog:
        dialog = ConnectionDialog(AppSettings(), SecretStore(), SessionSecrets(), tasks)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        qtbot.waitUntil(lambda: not tasks.is_busy())
        return dialog

    return make


def child(parent: QWidget, kind: type[W], name: str) -> W:
    found = parent.findChild(kind, name)
    assert found is not None, name
    return found


def type_into(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    """Replace the field's text with key presses, then leave it (as Tab does)."""
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Backspace)
    if text:
        QTest.keyClicks(edit, text)
    edit.editingFinished.emit()


# (b) Error labels keep their place ----------------------------------------
FIELDS = ("nameEdit", "baseUrlEdit", "appIdEdit", "keyIdEdit", "secretEdit", "authCombo")


def test_error_labels_appearing_never_move_the_fields(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    open_dialog: Callable[[], ConnectionDialog],
) -> None:
    use_keyring(MemoryKeyring())
    dialog = open_dialog()
    combo = child(dialog, QComboBox, "regionCombo")
    combo.setCurrentIndex(combo.findData("custom"))

    def places() -> dict[str, int]:
        QApplication.processEvents()
        return {
            name: child(dialog, QWidget, name).mapTo(dialog, child(dialog, QWidget, name).pos()).y()
            for name in FIELDS
        }

    before = places()
    # Leave every field wrong, one after the other, as a new user tabbing through does.
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "")
    type_into(qtbot, child(dialog, QLineEdit, "baseUrlEdit"), "http://api.example.com")
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "has space")
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "")
    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), " pasted-with-a-space")
    shown = [
        label.objectName()
        for label in dialog.findChildren(QLabel)
        if label.objectName().endswith("Error") and label.isVisibleTo(dialog)
    ]
    assert {"nameError", "baseUrlError", "appIdError", "keyIdError", "secretError"} <= set(shown), (
        shown
    )
    assert places() == before
    # A message longer than its line is cut, and whole in the tooltip.
    dialog.resize(dialog.minimumSize())
    QApplication.processEvents()
    url_error = child(dialog, QLabel, "baseUrlError")
    assert places() == places()  # settled
    assert url_error.text()  # the whole message
    # Fixing them takes the messages away, and still nothing moves.
    dialog.resize(820, 520)
    before = places()
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "Shop")
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "app_1")
    assert not child(dialog, QLabel, "nameError").isVisibleTo(dialog)
    assert places() == before


# (d) The save hint names the keychain ----------------------------------------
def test_without_a_keychain_the_save_hint_names_the_keychain_not_the_secret(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    open_dialog: Callable[[], ConnectionDialog],
) -> None:
    use_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    dialog = open_dialog()
    label = child(dialog, QLabel, "keychainLabel")
    qtbot.waitUntil(lambda: "not available" in label.text(), timeout=5000)
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "Shop")
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "app_1")
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "app_key_1")
    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), SECRET)
    hint = child(dialog, QLabel, "saveHint").text()
    save = child(dialog, QPushButton, "saveButton")
    assert not save.isEnabled()
    assert "Secret" not in hint, hint  # the secret is complete: the keychain is missing
    assert "keychain is not available" in hint and "session only" in hint, hint
    # With another field missing too, both are said.
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "")
    hint = child(dialog, QLabel, "saveHint").text()
    assert hint.startswith("To save, complete: Key ID;") and "keychain" in hint, hint
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "app_key_1")
    # Doing what it says makes Save possible.
    session_only = child(dialog, QCheckBox, "sessionOnlyCheck")
    assert session_only.isVisibleTo(dialog)
    session_only.setChecked(True)
    assert save.isEnabled()
    assert child(dialog, QLabel, "saveHint").text() == ""


def test_an_empty_secret_is_still_asked_for_as_the_secret(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    open_dialog: Callable[[], ConnectionDialog],
) -> None:
    use_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    dialog = open_dialog()
    qtbot.waitUntil(
        lambda: "not available" in child(dialog, QLabel, "keychainLabel").text(), timeout=5000
    )
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "Shop")
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "app_1")
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "app_key_1")
    assert child(dialog, QLabel, "saveHint").text() == "To save, complete: Secret."


# (f) The sandbox is offered to a new user ----------------------------------------
def test_a_new_user_without_a_profile_can_try_the_sandbox_from_the_dialog(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    api_version: str,
) -> None:
    use_keyring(MemoryKeyring())
    settings = AppSettings()
    settings.set_current_identity(SenderIdentity("", "Sam Tester", "agent@example.com"))
    settings.set_sandbox_api_version(api_version)  # the version the sandbox row would start on
    settings.sync()
    args: argparse.Namespace = build_parser().parse_args([])  # no --sandbox, no profile
    controller = AppController(args)
    try:
        controller.start()
        # No profile: the connection dialog opens by itself.
        qtbot.waitUntil(lambda: controller.connection_dialog is not None, timeout=10_000)
        dialog = controller.connection_dialog
        assert dialog is not None
        qtbot.waitExposed(dialog)
        assert controller.session is None and controller.sandbox is None
        button = child(dialog, QPushButton, "trySandboxButton")
        assert button.isVisibleTo(dialog) and button.isEnabled()
        assert "demo users" in child(dialog, QLabel, "trySandboxNote").text()
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: controller.connection_dialog is None, timeout=5000)
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        session = controller.session
        assert session is not None and controller.on_sandbox
        assert session.protocol == api_version
        sandbox = controller.sandbox
        assert sandbox is not None and sandbox.running
        window = controller.window
        assert window is not None
        qtbot.waitUntil(lambda: window.status_call.text() == "✓ connected", timeout=10_000)
        # It works: a demo user is found and their conversation shown.
        edit = window.user_panel.line_edit
        edit.setFocus()
        type_text(qtbot, edit, DEMO_ALICE_ID)
        QTest.keyClick(edit, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: window.user_panel.current_user() is not None, timeout=10_000)
        qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=10_000)
        # Connection settings now list the running sandbox and offer no second one.
        controller.open_connection_dialog()
        again = controller.connection_dialog
        assert again is not None
        qtbot.waitExposed(again)
        assert not child(again, QPushButton, "trySandboxButton").isVisibleTo(again)
        assert again.findChild(QWidget, "profileList") is not None
        assert child(again, QLabel, "builtinNote").isVisibleTo(again)
        again.reject()
        qtbot.waitUntil(lambda: controller.connection_dialog is None, timeout=5000)
    finally:
        dispose_controller(controller)
    assert controller.sandbox is not None and not controller.sandbox.running  # stopped with the app


def test_with_a_sandbox_running_no_second_one_is_offered(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    open_dialog: Callable[[], ConnectionDialog],
) -> None:
    use_keyring(MemoryKeyring())
    dialog = open_dialog()  # offer_sandbox not asked for: nothing that does nothing
    assert not child(dialog, QPushButton, "trySandboxButton").isVisibleTo(dialog)
