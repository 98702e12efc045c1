"""ConnectionDialog: validation, keychain-only secrets, session-only fallback, live tests.

Connection tests talk real HTTP to the sandbox on loopback; the keychain is an in-memory
keyring backend (or keyring's "fail" backend for a machine without one). The Qt-free
parts of ``ui/connection/`` have their own tests in tests/unit: test_connection_form.py
(form state and validation), test_connection_secret_saver.py (the save plan),
test_connection_probe.py and test_connection_messages.py (the connection test).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from smooch_desktop import appinfo
from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretStore, SessionSecrets, account_for
from smooch_desktop.ui import plain
from smooch_desktop.ui.connection.dialog import ConnectionDialog
from smooch_desktop.ui.settings import AppSettings
from smooch_desktop.ui.workers import TaskQueue

SECRET = "s3cr3t-Value_that-must-never-leak-9f8e7d"
SERVICE = appinfo.KEYRING_SERVICE
W = TypeVar("W", bound=QWidget)


from loopback_servers import v1_only_api, v2_only_api  # noqa: E402
from memory_keyring import MemoryKeyring, ReadOnlyKeyring  # noqa: E402

# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def use_keyring() -> Iterator[Callable[[keyring.backend.KeyringBackend], None]]:
    previous = keyring.get_keyring()

    def install(backend: keyring.backend.KeyringBackend) -> None:
        keyring.set_keyring(backend)

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
) -> MemoryKeyring:
    backend = MemoryKeyring()
    use_keyring(backend)
    return backend


@pytest.fixture
def tasks(qapp: Any) -> Iterator[TaskQueue]:
    queue = TaskQueue("connection-dialog-test")
    yield queue
    assert queue.stop()


@pytest.fixture
def settings() -> AppSettings:
    return AppSettings()


@pytest.fixture
def session_secrets() -> SessionSecrets:
    return SessionSecrets()


@pytest.fixture
def open_dialog(
    qtbot: QtBot, settings: AppSettings, session_secrets: SessionSecrets, tasks: TaskQueue
) -> Callable[..., ConnectionDialog]:
    def make(select: str | None = None) -> ConnectionDialog:
        dialog = ConnectionDialog(settings, SecretStore(), session_secrets, tasks, select=select)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: not tasks.is_busy())
        return dialog

    return make


# --- helpers ------------------------------------------------------------------------------------


def child(dialog: QWidget, kind: type[W], name: str) -> W:
    found = dialog.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} named {name}"
    return found


def type_into(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    """Replace the field's text the way a user does (emits textEdited)."""
    if edit.text():
        edit.selectAll()
        QTest.keyClick(edit, Qt.Key.Key_Backspace)
    if text:
        QTest.keyClicks(edit, text)
    edit.editingFinished.emit()


def error_text(dialog: QWidget, name: str) -> str:
    label = child(dialog, QLabel, name)
    return label.text() if label.isVisibleTo(dialog) else ""


def all_label_text(dialog: QWidget) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel))


def choose(combo: QComboBox, data: str) -> None:
    index = combo.findData(data)
    assert index >= 0
    combo.setCurrentIndex(index)


def fill(
    qtbot: QtBot,
    dialog: ConnectionDialog,
    *,
    name: str = "Sandbox",
    url: str | None = None,
    app_id: str = "app_1",
    key_id: str = "app_key_1",
    secret: str | None = SECRET,
    version: str | None = None,
) -> None:
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), name)
    if url is not None:
        choose(child(dialog, QComboBox, "regionCombo"), "custom")
        type_into(qtbot, child(dialog, QLineEdit, "baseUrlEdit"), url)
    if version is not None:
        choose(child(dialog, QComboBox, "apiVersionCombo"), version)
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), app_id)
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), key_id)
    if secret is not None:
        type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), secret)


def run_connection_test(qtbot: QtBot, dialog: ConnectionDialog) -> str:
    """Click Test connection and wait for the verdict."""
    button = child(dialog, QPushButton, "testButton")
    assert button.isEnabled()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(button.isEnabled, timeout=15_000)
    return child(dialog, QLabel, "testResultLabel").text()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def probe_path(api_version: str, app_id: str) -> str:
    """The path of the connection test's one request in ``api_version``: a user that can't
    exist, whose "not found" proves host, app and key."""
    users = "appusers" if api_version == "v1.1" else "users"
    return f"/{api_version}/apps/{app_id}/{users}/smooch-desktop-connection-check"


def api_paths(sandbox: Any) -> list[str]:
    """Every API request path the sandbox has logged, in order."""
    return [str(e["path"]) for e in sandbox.log()]


def save(qtbot: QtBot, dialog: ConnectionDialog) -> None:
    button = child(dialog, QPushButton, "saveButton")
    assert button.isEnabled(), child(dialog, QLabel, "saveHint").text()
    with qtbot.waitSignal(dialog.profileSaved, timeout=5000):
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)


# --- validation ---------------------------------------------------------------------------------


def test_base_url_messages_and_custom_only(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    dialog = open_dialog()
    url = child(dialog, QLineEdit, "baseUrlEdit")
    region = child(dialog, QComboBox, "regionCombo")
    save_button = child(dialog, QPushButton, "saveButton")
    fill(qtbot, dialog)
    assert not url.isEnabled()
    assert url.text() == "https://api.smooch.io"
    choose(region, "eu")
    assert url.text() == "https://api.eu-1.smooch.io"
    assert save_button.isEnabled()

    choose(region, "custom")
    assert url.isEnabled()
    type_into(qtbot, url, "http://api.example.com")
    assert error_text(dialog, "baseUrlError").startswith(
        "Plain http:// is only allowed for this computer (localhost)"
    )
    assert not save_button.isEnabled()

    type_into(qtbot, url, "javascript:alert(1)")
    assert "must start with https://" in error_text(dialog, "baseUrlError")
    assert "javascript" in error_text(dialog, "baseUrlError")
    assert not save_button.isEnabled()

    type_into(qtbot, url, "http://127.0.0.1:8080")
    assert error_text(dialog, "baseUrlError") == ""
    assert save_button.isEnabled()


def test_a_localhost_subdomain_over_plain_http_is_refused_next_to_the_field(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    dialog = open_dialog()
    url = child(dialog, QLineEdit, "baseUrlEdit")
    save_button = child(dialog, QPushButton, "saveButton")
    fill(qtbot, dialog)
    choose(child(dialog, QComboBox, "regionCombo"), "custom")
    type_into(qtbot, url, "http://dev.localhost:8080")
    assert "“dev.localhost” is a name that may not be this computer" in error_text(
        dialog, "baseUrlError"
    )
    assert not save_button.isEnabled()
    type_into(qtbot, url, "http://localhost.:8080")
    assert error_text(dialog, "baseUrlError") == ""
    assert save_button.isEnabled()


def test_id_name_and_secret_messages(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    dialog = open_dialog()
    save_button = child(dialog, QPushButton, "saveButton")
    fill(qtbot, dialog)
    assert save_button.isEnabled()

    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "")
    assert error_text(dialog, "appIdError") == "Enter the app ID from the Smooch dashboard."
    assert not save_button.isEnabled()
    assert "App ID" in child(dialog, QLabel, "saveHint").text()
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "app 1")
    assert error_text(dialog, "appIdError") == "An app ID can't contain spaces."
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "app_1")
    assert error_text(dialog, "appIdError") == ""

    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "")
    assert error_text(dialog, "keyIdError") == "Enter the key ID from the Smooch dashboard."
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "app_key_1")

    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "  ")
    assert error_text(dialog, "nameError") == "Give this connection a name."
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "Sandbox")

    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), f" {SECRET} ")
    assert error_text(dialog, "secretError").startswith(
        "The secret starts or ends with a space or line break"
    )
    assert not save_button.isEnabled()
    assert SECRET not in all_label_text(dialog)
    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), SECRET)
    assert error_text(dialog, "secretError") == ""
    assert save_button.isEnabled()


def test_new_profile_shows_no_errors_until_touched_but_cannot_be_saved(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    dialog = open_dialog()
    for name in ("nameError", "baseUrlError", "appIdError", "keyIdError", "secretError"):
        assert error_text(dialog, name) == ""
    assert not child(dialog, QPushButton, "saveButton").isEnabled()
    assert child(dialog, QLabel, "saveHint").text() == (
        "To save, complete: App ID, Key ID, Secret."
    )


def test_duplicate_names_are_refused(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
) -> None:
    settings.save_profiles([Profile("Production", app_id="app_1", key_id="app_key_1")])
    dialog = open_dialog()
    QTest.mouseClick(child(dialog, QPushButton, "addProfileButton"), Qt.MouseButton.LeftButton)
    assert child(dialog, QListWidget, "profileList").count() == 2
    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "production")
    assert "already called “production”" in error_text(dialog, "nameError")


# --- saving ---------------------------------------------------------------------------------------


def test_save_writes_the_profile_to_settings_and_the_secret_only_to_the_keychain(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    session_secrets: SessionSecrets,
    open_dialog: Callable[..., ConnectionDialog],
    caplog: pytest.LogCaptureFixture,
    api_version: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = open_dialog()
    fill(qtbot, dialog, name="Local", url="http://127.0.0.1:8080/", version=api_version)
    save(qtbot, dialog)

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert settings.profiles() == [
        Profile(
            name="Local",
            region=Region.CUSTOM,
            base_url="http://127.0.0.1:8080",
            app_id="app_1",
            key_id="app_key_1",
            auth=AuthMethod.BASIC,
            api_version=ApiVersion(api_version),
            id=settings.profiles()[0].id,  # a new profile's random id, kept from now on
        )
    ]
    assert settings.active_profile_name() == "Local"
    settings.sync()
    ini = Path(settings.file_name).read_text(encoding="utf-8")
    assert "app_key_1" in ini
    assert SECRET not in ini
    assert memory_keyring.entries == {(SERVICE, account_for("Local", "app_key_1")): SECRET}
    assert len(session_secrets) == 0
    assert SECRET not in caplog.text
    assert SECRET not in dialog.windowTitle()
    assert child(dialog, QLineEdit, "secretEdit").text() == ""


def test_enter_saves_and_escape_cancels(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    dialog = open_dialog()
    fill(qtbot, dialog, name="Keyboard", version=api_version)
    with qtbot.waitSignal(dialog.profileSaved, timeout=5000) as blocker:
        QTest.keyClick(child(dialog, QLineEdit, "appIdEdit"), Qt.Key.Key_Return)
    assert blocker.args == ["Keyboard"]
    assert settings.profiles()[0].api_version is ApiVersion(api_version)

    second = open_dialog(select="Keyboard")
    type_into(qtbot, child(second, QLineEdit, "appIdEdit"), "app_changed")
    assert child(second, QComboBox, "apiVersionCombo").currentData() == api_version
    with qtbot.waitSignal(second.rejected, timeout=2000):
        QTest.keyClick(second, Qt.Key.Key_Escape)
    assert settings.profiles()[0].app_id == "app_1"


def test_existing_secret_is_kept_and_a_rename_moves_its_entry(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    settings.save_profiles(
        [Profile("Old", app_id="app_1", key_id="app_key_1", api_version=ApiVersion(api_version))]
    )
    memory_keyring.entries[(SERVICE, account_for("Old", "app_key_1"))] = SECRET
    dialog = open_dialog(select="Old")
    secret = child(dialog, QLineEdit, "secretEdit")
    assert secret.text() == ""
    assert secret.placeholderText() == "Stored in the system keychain"
    assert error_text(dialog, "secretError") == ""

    type_into(qtbot, child(dialog, QLineEdit, "nameEdit"), "New")
    save(qtbot, dialog)
    assert [p.name for p in settings.profiles()] == ["New"]
    assert settings.profiles()[0].api_version is ApiVersion(api_version)
    assert memory_keyring.entries == {(SERVICE, account_for("New", "app_key_1")): SECRET}


def test_changing_the_key_id_asks_for_its_secret(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
) -> None:
    settings.save_profiles([Profile("Prod", app_id="app_1", key_id="app_key_1")])
    memory_keyring.entries[(SERVICE, account_for("Prod", "app_key_1"))] = SECRET
    dialog = open_dialog()
    type_into(qtbot, child(dialog, QLineEdit, "keyIdEdit"), "app_key_2")
    assert error_text(dialog, "secretError") == (
        "The key ID changed: enter the secret of the new key."
    )
    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), "other-secret")
    save(qtbot, dialog)
    assert memory_keyring.entries == {(SERVICE, account_for("Prod", "app_key_2")): "other-secret"}


def test_delete_asks_then_removes_profile_and_keychain_entry(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    tasks: TaskQueue,
    open_dialog: Callable[..., ConnectionDialog],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.save_profiles(
        [
            Profile("Keep", app_id="app_1", key_id="app_key_1"),
            Profile("Drop", app_id="app_2", key_id="app_key_2"),
        ]
    )
    settings.set_active_profile_name("Drop")
    memory_keyring.entries[(SERVICE, account_for("Keep", "app_key_1"))] = "keep"
    memory_keyring.entries[(SERVICE, account_for("Drop", "app_key_2"))] = "drop"
    dialog = open_dialog()
    profiles = child(dialog, QListWidget, "profileList")
    assert profiles.currentItem().text() == "Drop"
    questions: list[str] = []

    def answer(no: bool) -> Callable[..., QMessageBox.StandardButton]:
        def ask(_parent: object, _title: str, text: str, *_args: object) -> Any:
            questions.append(text)
            return QMessageBox.StandardButton.No if no else QMessageBox.StandardButton.Yes

        return ask

    delete = child(dialog, QPushButton, "deleteProfileButton")
    monkeypatch.setattr(plain, "question", answer(no=True))
    QTest.mouseClick(delete, Qt.MouseButton.LeftButton)
    assert profiles.count() == 2
    assert "keychain" in questions[0]

    monkeypatch.setattr(plain, "question", answer(no=False))
    with qtbot.waitSignal(dialog.profileDeleted) as blocker:
        QTest.mouseClick(delete, Qt.MouseButton.LeftButton)
    assert blocker.args == ["Drop"]
    qtbot.waitUntil(lambda: not tasks.is_busy())
    assert profiles.count() == 1
    assert [p.name for p in settings.profiles()] == ["Keep"]
    assert settings.active_profile_name() == ""
    assert memory_keyring.entries == {(SERVICE, account_for("Keep", "app_key_1")): "keep"}


def test_duplicate_copies_values_and_reuses_the_stored_secret(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    version = ApiVersion(api_version)
    settings.save_profiles(
        [Profile("Prod", region=Region.EU, app_id="app_1", key_id="app_key_1", api_version=version)]
    )
    memory_keyring.entries[(SERVICE, account_for("Prod", "app_key_1"))] = SECRET
    dialog = open_dialog()
    QTest.mouseClick(
        child(dialog, QPushButton, "duplicateProfileButton"), Qt.MouseButton.LeftButton
    )
    assert child(dialog, QLineEdit, "nameEdit").text() == "Prod (copy)"
    assert child(dialog, QComboBox, "regionCombo").currentData() == "eu"
    assert child(dialog, QComboBox, "apiVersionCombo").currentData() == api_version
    save(qtbot, dialog)
    assert [p.name for p in settings.profiles()] == ["Prod", "Prod (copy)"]
    assert [p.api_version for p in settings.profiles()] == [version, version]
    assert settings.active_profile_name() == "Prod (copy)"
    assert memory_keyring.entries == {
        (SERVICE, account_for("Prod", "app_key_1")): SECRET,
        (SERVICE, account_for("Prod (copy)", "app_key_1")): SECRET,
    }


# --- no keychain ----------------------------------------------------------------------------------


def test_without_a_keychain_the_secret_can_be_kept_for_this_session_only(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    settings: AppSettings,
    session_secrets: SessionSecrets,
    open_dialog: Callable[..., ConnectionDialog],
) -> None:
    # keyring's KeyringBackend.__init__ has no annotations.
    use_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    dialog = open_dialog()
    status = child(dialog, QLabel, "keychainLabel").text()
    assert status.startswith("The system keychain is not available: No keychain")
    session_only = child(dialog, QCheckBox, "sessionOnlyCheck")
    assert session_only.isVisibleTo(dialog)
    assert not session_only.isChecked()
    assert session_only.text().replace("&", "") == (
        "Use the secret for this session only (not saved)"
    )

    fill(qtbot, dialog, name="Temp")
    assert error_text(dialog, "secretError").startswith("The secret can't be saved: No keychain")
    assert not child(dialog, QPushButton, "saveButton").isEnabled()

    session_only.setChecked(True)
    assert error_text(dialog, "secretError") == ""
    save(qtbot, dialog)
    assert session_secrets.get(account_for("Temp", "app_key_1")) == SECRET
    settings.sync()
    assert SECRET not in Path(settings.file_name).read_text(encoding="utf-8")
    assert [p.name for p in settings.profiles()] == ["Temp"]


def test_a_failing_keychain_save_keeps_the_dialog_open_and_the_secret_typed(
    qtbot: QtBot,
    use_keyring: Callable[[keyring.backend.KeyringBackend], None],
    settings: AppSettings,
    session_secrets: SessionSecrets,
    open_dialog: Callable[..., ConnectionDialog],
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = ReadOnlyKeyring()
    use_keyring(backend)
    dialog = open_dialog()
    fill(qtbot, dialog, name="Locked")
    saved: list[str] = []
    dialog.profileSaved.connect(saved.append)
    secret_error = child(dialog, QLabel, "secretError")
    QTest.mouseClick(child(dialog, QPushButton, "saveButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: secret_error.isVisibleTo(dialog))

    assert dialog.isVisible()
    assert saved == []
    assert child(dialog, QLineEdit, "secretEdit").text() == SECRET
    assert secret_error.text() == (
        "The secret could not be saved: The keychain could not store the secret "
        "(the collection is read-only)."
    )
    assert "read-only" in child(dialog, QLabel, "keychainLabel").text()
    assert settings.profiles() == []
    assert backend.entries == {}
    assert SECRET not in all_label_text(dialog)
    assert SECRET not in caplog.text

    session_only = child(dialog, QCheckBox, "sessionOnlyCheck")
    assert session_only.isVisibleTo(dialog)
    session_only.setChecked(True)
    save(qtbot, dialog)
    assert saved == ["Locked"]
    assert session_secrets.get(account_for("Locked", "app_key_1")) == SECRET


def test_show_hide_toggles_the_echo_mode(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    dialog = open_dialog()
    secret = child(dialog, QLineEdit, "secretEdit")
    QTest.keyClicks(secret, SECRET)
    show = next(a for a in secret.actions() if a.objectName() == "showSecretAction")
    assert secret.echoMode() == QLineEdit.EchoMode.Password
    show.trigger()
    assert secret.echoMode() == QLineEdit.EchoMode.Normal
    assert show.text() == "Hide the secret"
    show.trigger()
    assert secret.echoMode() == QLineEdit.EchoMode.Password
    assert secret.text() == SECRET


# --- connection test against the sandbox ------------------------------------------------------


def test_connection_test_success_with_basic_auth(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    dialog = open_dialog()
    fill(
        qtbot,
        dialog,
        url=sandbox.base_url,
        app_id=sandbox.app_id,
        key_id=sandbox.key_id,
        secret=sandbox.secret,
        version=api_version,
    )
    host = sandbox.base_url.removeprefix("http://")
    assert run_connection_test(qtbot, dialog) == f"Connected: app {sandbox.app_id} on {host}"
    assert memory_keyring.entries == {}  # testing saves nothing
    assert api_paths(sandbox) == [probe_path(api_version, sandbox.app_id)]


def test_connection_test_success_with_jwt(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    dialog = open_dialog()
    fill(
        qtbot,
        dialog,
        url=sandbox.base_url,
        app_id=sandbox.app_id,
        key_id=sandbox.key_id,
        secret=sandbox.secret,
        version=api_version,
    )
    choose(child(dialog, QComboBox, "authCombo"), "jwt")
    assert run_connection_test(qtbot, dialog).startswith(f"Connected: app {sandbox.app_id} on ")

    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), "wrong-secret-for-jwt")
    text = run_connection_test(qtbot, dialog)
    assert text.startswith("The JWT was not accepted (401 invalid_auth: Invalid JWT signature)")


def test_connection_test_uses_the_stored_secret_when_none_is_typed(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    settings.save_profiles(
        [
            Profile(
                "Sandbox",
                region=Region.CUSTOM,
                base_url=sandbox.base_url,
                app_id=sandbox.app_id,
                key_id=sandbox.key_id,
                api_version=ApiVersion(api_version),
            )
        ]
    )
    memory_keyring.entries[(SERVICE, account_for("Sandbox", sandbox.key_id))] = sandbox.secret
    dialog = open_dialog()
    assert run_connection_test(qtbot, dialog).startswith("Connected: ")
    assert api_paths(sandbox) == [probe_path(api_version, sandbox.app_id)]


def test_connection_test_wrong_secret(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    dialog = open_dialog()
    fill(
        qtbot,
        dialog,
        url=sandbox.base_url,
        app_id=sandbox.app_id,
        key_id=sandbox.key_id,
        secret="not-the-secret",
        version=api_version,
    )
    assert run_connection_test(qtbot, dialog) == (
        "The key ID or secret was not accepted (401 unauthorized: Invalid key id or secret)."
    )


def test_connection_test_unknown_app(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    dialog = open_dialog()
    fill(
        qtbot,
        dialog,
        url=sandbox.base_url,
        app_id="app_does_not_exist",
        key_id=sandbox.key_id,
        secret=sandbox.secret,
        version=api_version,
    )
    # The server's own code: v1.1 says not_found, v2 (the spec) app_not_found.
    code = "not_found" if api_version == "v1.1" else "app_not_found"
    assert run_connection_test(qtbot, dialog).startswith(
        f"App not found (404 {code}: App not found). Check the App ID"
    )


def test_connection_test_unreachable_host(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    open_dialog: Callable[..., ConnectionDialog],
    api_version: str,
) -> None:
    dialog = open_dialog()
    port = closed_port()
    fill(qtbot, dialog, url=f"http://127.0.0.1:{port}", version=api_version)
    text = run_connection_test(qtbot, dialog)
    assert text.startswith("The server can't be reached: ")
    assert f"127.0.0.1:{port}: the connection was refused" in text


def test_connection_test_reports_bad_input_without_a_request(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    dialog = open_dialog()
    fill(qtbot, dialog, url="http://example.com")
    assert run_connection_test(qtbot, dialog).startswith(
        "Can't test yet: Plain http:// is only allowed"
    )


def test_a_result_for_edited_values_is_marked_stale(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    # A server that accepts the connection and answers nothing until we close it.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    try:
        dialog = open_dialog()
        fill(qtbot, dialog, url=f"http://127.0.0.1:{port}")
        button = child(dialog, QPushButton, "testButton")
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        label = child(dialog, QLabel, "testResultLabel")
        assert label.text() == f"Connecting to 127.0.0.1:{port}…"
        assert button.text() == "Testing…"
        assert not button.isEnabled()
        thread.join(5)
        type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "app_other")
    finally:
        for conn in accepted:
            conn.close()
        listener.close()
    qtbot.waitUntil(button.isEnabled, timeout=15_000)
    assert label.text().startswith("For the previous values — ")


# --- screenshot -------------------------------------------------------------------------------


# --- API version and the Zendesk host ----------------------------------------------------------


def item_offered(combo: QComboBox, data: str) -> tuple[bool, str]:
    """(enabled, tooltip) of the combo's item for ``data``."""
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    item = model.item(combo.findData(data))
    assert item is not None
    return item.isEnabled(), item.toolTip()


def test_v2_and_the_zendesk_region_are_not_offered_before_this_build_speaks_v2(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    open_dialog: Callable[..., ConnectionDialog],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import v2_stand_in

    v2_stand_in.hide_v2(monkeypatch)
    dialog = open_dialog()
    region = child(dialog, QComboBox, "regionCombo")
    version = child(dialog, QComboBox, "apiVersionCombo")
    assert item_offered(region, "zendesk") == (
        False,
        "Zendesk-hosted accounts use API v2, which comes in a later version of Smooch Desktop.",
    )
    assert item_offered(version, "v2") == (
        False,
        "API v2 comes in a later version of Smooch Desktop; choose v1.1.",
    )
    assert item_offered(version, "v1.1") == (True, "")
    for value in ("us", "eu", "custom"):
        assert item_offered(region, value)[0]
    assert version.currentData() == "v1.1"
    assert not child(dialog, QLineEdit, "zendeskSubdomainEdit").isVisibleTo(dialog)


def test_a_stored_v2_profile_shows_why_it_cant_be_used_yet(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import v2_stand_in

    v2_stand_in.hide_v2(monkeypatch)
    settings.save_profiles(
        [Profile("Later", app_id="app_1", key_id="app_key_1", api_version=ApiVersion.V2)]
    )
    memory_keyring.entries[(SERVICE, account_for("Later", "app_key_1"))] = SECRET
    dialog = open_dialog()
    version = child(dialog, QComboBox, "apiVersionCombo")
    assert version.currentData() == "v2"  # shown as stored, not silently changed
    assert error_text(dialog, "apiVersionError") == (
        "API v2 comes in a later version of Smooch Desktop; choose v1.1."
    )
    assert not child(dialog, QPushButton, "saveButton").isEnabled()
    assert run_connection_test(qtbot, dialog) == (
        "Can't test yet: API v2 comes in a later version of Smooch Desktop; choose v1.1."
    )

    choose(version, "v1.1")
    assert error_text(dialog, "apiVersionError") == ""
    save(qtbot, dialog)
    assert settings.profiles()[0].api_version is ApiVersion.V1_1


def test_the_zendesk_subdomain_field_once_this_build_speaks_v2(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    open_dialog: Callable[..., ConnectionDialog],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import v2_stand_in

    v2_stand_in.offer_v2(monkeypatch)
    dialog = open_dialog()
    region = child(dialog, QComboBox, "regionCombo")
    version = child(dialog, QComboBox, "apiVersionCombo")
    subdomain = child(dialog, QLineEdit, "zendeskSubdomainEdit")
    url = child(dialog, QLineEdit, "baseUrlEdit")
    assert item_offered(region, "zendesk") == (True, "")
    assert item_offered(version, "v2") == (True, "")
    fill(qtbot, dialog, name="Acme")
    assert not subdomain.isVisibleTo(dialog)

    choose(region, "zendesk")
    assert subdomain.isVisibleTo(dialog) and subdomain.hasFocus()
    assert version.currentData() == "v2"  # a Zendesk host speaks v2 only
    assert not url.isEnabled()

    type_into(qtbot, subdomain, "ac_me")
    assert error_text(dialog, "zendeskSubdomainError").startswith(
        "A Zendesk subdomain has only letters, digits and hyphens (found “_”)"
    )
    assert url.text() == ""
    assert not child(dialog, QPushButton, "saveButton").isEnabled()
    assert "Zendesk subdomain" in child(dialog, QLabel, "saveHint").text()

    type_into(qtbot, subdomain, "https://Acme.zendesk.com/sc/")
    assert error_text(dialog, "zendeskSubdomainError") == ""
    assert url.text() == "https://acme.zendesk.com/sc"

    choose(version, "v1.1")
    assert error_text(dialog, "apiVersionError") == "A Zendesk host speaks API v2 only; choose v2."
    assert not child(dialog, QPushButton, "saveButton").isEnabled()
    choose(version, "v2")
    assert error_text(dialog, "apiVersionError") == ""

    save(qtbot, dialog)
    [saved] = settings.profiles()
    assert (saved.region, saved.zendesk_subdomain, saved.api_version, saved.base_url) == (
        Region.ZENDESK,
        "acme",
        ApiVersion.V2,
        "",
    )

    again = open_dialog(select="Acme")
    assert child(again, QLineEdit, "zendeskSubdomainEdit").text() == "acme"
    assert child(again, QLineEdit, "baseUrlEdit").text() == "https://acme.zendesk.com/sc"
    assert child(again, QComboBox, "regionCombo").currentData() == "zendesk"
    choose(child(again, QComboBox, "regionCombo"), "us")
    assert not child(again, QLineEdit, "zendeskSubdomainEdit").isVisibleTo(again)
    assert child(again, QLineEdit, "baseUrlEdit").text() == "https://api.smooch.io"


def test_connection_test_tells_a_v2_only_host_from_bad_credentials(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    open_dialog: Callable[..., ConnectionDialog],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import v2_stand_in

    v2_stand_in.hide_v2(monkeypatch)
    with v2_only_api() as host:
        dialog = open_dialog()
        fill(qtbot, dialog, url=host.base_url)
        assert run_connection_test(qtbot, dialog) == (
            "This host speaks API v2, not v1.1: it answered in v2's format (404 not_found: "
            "Not Found). Smooch Desktop speaks API v2 from a later version on; this host "
            "can't be used until then."
        )
        assert host.paths == ["/v1.1/apps/app_1/appusers/smooch-desktop-connection-check"]


def test_connection_test_names_v2_for_a_v2_only_host_and_then_judges_the_key(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    # This build speaks v2: the mismatch says to choose it, and once chosen, the host's
    # answer is about the key, not the version.
    with v2_only_api() as host:
        dialog = open_dialog()
        fill(qtbot, dialog, url=host.base_url, version="v1.1")
        assert run_connection_test(qtbot, dialog) == (
            "This host speaks API v2, not v1.1: it answered in v2's format (404 not_found: "
            "Not Found). Choose API version v2 and test again."
        )
        choose(child(dialog, QComboBox, "apiVersionCombo"), "v2")
        assert run_connection_test(qtbot, dialog) == (
            "The key ID or secret was not accepted (401 unauthorized: Authorization is required)."
        )
        assert host.paths == [
            probe_path("v1.1", "app_1"),
            probe_path("v2", "app_1"),
        ]


def test_connection_test_names_v1_1_for_a_host_without_v2(
    qtbot: QtBot, memory_keyring: MemoryKeyring, open_dialog: Callable[..., ConnectionDialog]
) -> None:
    with v1_only_api() as host:
        dialog = open_dialog()
        fill(qtbot, dialog, url=host.base_url, version="v2")
        text = run_connection_test(qtbot, dialog)
        assert text == (
            "This host speaks API v1.1, not v2: it answered in v1.1's format (404 not_found: "
            "Resource not found). Choose API version v1.1 and test again."
        )
        assert "key" not in text.lower() and SECRET not in text
        choose(child(dialog, QComboBox, "apiVersionCombo"), "v1.1")
        assert run_connection_test(qtbot, dialog) == (
            "The key ID or secret was not accepted (401 unauthorized: Authorization is required)."
        )
        assert host.paths == [probe_path("v2", "app_1"), probe_path("v1.1", "app_1")]


def test_connection_test_on_the_zendesk_form_of_the_sandbox_v2(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
) -> None:
    # A Zendesk host is https://{subdomain}.zendesk.com/sc; the sandbox serves the same
    # /sc/v2/… form on loopback, reached here as a custom URL.
    dialog = open_dialog()
    fill(
        qtbot,
        dialog,
        url=sandbox.base_url + "/sc",
        app_id=sandbox.app_id,
        key_id=sandbox.key_id,
        secret=sandbox.secret,
        version="v2",
    )
    host = sandbox.base_url.removeprefix("http://")
    assert run_connection_test(qtbot, dialog) == f"Connected: app {sandbox.app_id} on {host}"
    assert api_paths(sandbox) == ["/sc" + probe_path("v2", sandbox.app_id)]
    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), "not-the-secret")
    assert run_connection_test(qtbot, dialog) == (
        "The key ID or secret was not accepted (401 unauthorized: Invalid key id or secret)."
    )


def test_render_screenshot(
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    settings: AppSettings,
    sandbox: Any,
    open_dialog: Callable[..., ConnectionDialog],
) -> None:
    settings.save_profiles(
        [
            Profile("Production (US)", app_id="5963c0d619a30a2e00de36b8", key_id="app_5963c0d6"),
            Profile(
                "Local sandbox",
                region=Region.CUSTOM,
                base_url=sandbox.base_url,
                app_id=sandbox.app_id,
                key_id=sandbox.key_id,
            ),
        ]
    )
    memory_keyring.entries[(SERVICE, account_for("Local sandbox", sandbox.key_id))] = sandbox.secret
    dialog = open_dialog(select="Local sandbox")
    assert run_connection_test(qtbot, dialog).startswith("Connected: ")
    qtbot.wait(50)
    artifacts = Path(__file__).resolve().parents[2] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    image = dialog.grab()
    assert not image.isNull()
    assert image.save(str(artifacts / "connection_dialog.png"))

    QTest.mouseClick(child(dialog, QPushButton, "addProfileButton"), Qt.MouseButton.LeftButton)
    choose(child(dialog, QComboBox, "regionCombo"), "custom")
    type_into(qtbot, child(dialog, QLineEdit, "baseUrlEdit"), "http://api.example.com")
    type_into(qtbot, child(dialog, QLineEdit, "appIdEdit"), "")
    type_into(qtbot, child(dialog, QLineEdit, "secretEdit"), " pasted-with-a-space")
    qtbot.wait(50)  # let the wrapped error labels settle their height
    assert dialog.grab().save(str(artifacts / "connection_dialog_errors.png"))
