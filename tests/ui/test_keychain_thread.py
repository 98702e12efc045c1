"""Every keychain call runs on the keychain worker thread, never on the GUI thread.

Even loading the keyring backend talks to D-Bus, and a locked keychain shows an unlock
prompt that can take the user a minute: on the GUI thread either freezes the window. A
keyring backend that notes the thread of every call (and of every backend lookup) is
driven through the real controller: start-up with a saved profile, the connection dialog
opening, a rename saved from it, and the session it reconnects with.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from typing import Any

import keyring
import keyring.backend
import pytest
from memory_keyring import MemoryKeyring
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller, type_text

from smooch_desktop import appinfo
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.app import build_parser
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import account_for
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.settings import AppSettings

# The offscreen platform says this for every shown top-level window; harmless.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


class ThreadNotingKeyring(MemoryKeyring):
    """An in-memory keychain that remembers which thread made each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def _note(self, what: str) -> None:
        self.calls.append((what, threading.current_thread().name))

    def get_password(self, service: str, username: str) -> str | None:
        self._note("get_password")
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._note("set_password")
        super().set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._note("delete_password")
        super().delete_password(service, username)


@pytest.fixture
def noting_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadNotingKeyring]:
    previous = keyring.get_keyring()
    backend = ThreadNotingKeyring()
    keyring.set_keyring(backend)
    real_get_keyring = keyring.get_keyring

    def get_keyring() -> keyring.backend.KeyringBackend:
        backend._note("get_keyring")  # the backend lookup itself may talk to D-Bus
        return real_get_keyring()

    monkeypatch.setattr(keyring, "get_keyring", get_keyring)
    yield backend
    monkeypatch.undo()
    keyring.set_keyring(previous)


def on_gui_thread(backend: ThreadNotingKeyring) -> list[tuple[str, str]]:
    gui = threading.main_thread().name
    return [call for call in backend.calls if call[1] == gui]


def test_start_up_dialog_and_save_never_call_the_keychain_on_the_gui_thread(
    sandbox: Any,
    qtbot: QtBot,
    noting_keyring: ThreadNotingKeyring,
    leak_guard: None,
    api_version: str,
) -> None:
    app_id, key_id, secret = sandbox.store.create_app(name="Keychain Shop")
    settings = AppSettings()
    version = ApiVersion(api_version)
    settings.upsert_profile(
        Profile("Shop", Region.CUSTOM, sandbox.base_url, app_id, key_id, api_version=version)
    )
    settings.set_active_profile_name("Shop")
    settings.sync()
    noting_keyring.entries[(appinfo.KEYRING_SERVICE, account_for("Shop", key_id))] = secret

    args: argparse.Namespace = build_parser().parse_args([])
    controller = AppController(args)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        window = controller.window
        assert window is not None
        qtbot.waitUntil(lambda: window.status_call.text() == "✓ connected", timeout=10_000)
        assert controller.session is not None and controller.session.protocol == api_version
        assert any(call[0] == "get_password" for call in noting_keyring.calls)

        controller.open_connection_dialog()
        dialog = controller.connection_dialog
        assert dialog is not None
        label = dialog.findChild(QLabel, "keychainLabel")
        assert label is not None
        qtbot.waitUntil(lambda: "never in the settings" in label.text(), timeout=10_000)
        secret_edit = dialog.findChild(QLineEdit, "secretEdit")
        assert secret_edit is not None
        qtbot.waitUntil(
            lambda: secret_edit.placeholderText() == "Stored in the system keychain",
            timeout=10_000,
        )

        name_edit = dialog.findChild(QLineEdit, "nameEdit")
        assert name_edit is not None
        name_edit.selectAll()
        QTest.keyClick(name_edit, Qt.Key.Key_Backspace)
        type_text(qtbot, name_edit, "Shop renamed")
        name_edit.editingFinished.emit()
        save_button = dialog.findChild(QPushButton, "saveButton")
        assert save_button is not None
        qtbot.waitUntil(save_button.isEnabled, timeout=10_000)
        old_window = controller.window
        QTest.mouseClick(save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: controller.window is not old_window, timeout=10_000)
        qtbot.waitUntil(
            lambda: (
                controller.session is not None
                and controller.window is not None
                and controller.window.status_call.text() == "✓ connected"
            ),
            timeout=10_000,
        )
        if controller.connection_dialog is not None:
            controller.connection_dialog.reject()
        assert any(call[0] == "set_password" for call in noting_keyring.calls)
        assert controller.session is not None and controller.session.protocol == api_version
    finally:
        dispose_controller(controller)
    assert noting_keyring.calls, "the keychain was never used: the test proves nothing"
    assert on_gui_thread(noting_keyring) == []
