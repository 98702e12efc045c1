"""Switching the ``--sandbox`` connection between API v1.1 and v2 in Connection settings.

Real parts only: the app's controller started as ``app.run_gui`` starts it, on a real
sandbox over loopback HTTP (port 0), the app's SQLite outbox and drafts in the test's
data folder, the real connection dialog (an in-memory keyring backend), the real API
thread. The dialog is driven through its widgets; the sandbox's store and request log
say what reached the server, and through which version.
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import keyring
import keyring.backends.fail
import pytest
from memory_keyring import MemoryKeyring
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller, drain_deferred_deletes, type_text

from smooch_desktop.app import build_parser
from smooch_desktop.core.outbox import EntryState, OutboxEntry
from smooch_desktop.core.profiles import legacy_profile_id
from smooch_desktop.sandbox import DEMO_ALICE_ID, SandboxServer
from smooch_desktop.sandbox.demo import DEMO_ENCODED_USER_ID, DEMO_PAGING_USER_ID
from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.ui.connection.dialog import BUILTIN_SECRET_TEXT, ConnectionDialog
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.delivery import DeliveryService
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.settings import AppSettings, SenderIdentity

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

SANDBOX_ID = legacy_profile_id("Sandbox")
W = TypeVar("W", bound=QWidget)


@contextmanager
def running(qtbot: QtBot, sandbox: SandboxServer, *flags: str) -> Iterator[AppController]:
    """``smooch-desktop --sandbox`` (plus ``flags``) on the test's sandbox; shut down after."""
    settings = AppSettings()
    settings.set_current_identity(SenderIdentity("", "Sam Tester", "agent@example.com"))
    settings.sync()
    args: argparse.Namespace = build_parser().parse_args(["--sandbox", *flags])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        yield controller
    finally:
        dispose_controller(controller)


def window_of(controller: AppController) -> MainWindow:
    assert controller.window is not None
    return controller.window


def child(parent: QWidget, kind: type[W], name: str) -> W:
    found = parent.findChild(kind, name)
    assert found is not None, name
    return found


def open_user(qtbot: QtBot, window: MainWindow, user_ref: str) -> None:
    """Type the user ID and press Return, as a person does; wait for their history."""
    edit = window.user_panel.line_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    type_text(qtbot, edit, user_ref)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    wait_history(qtbot, window, user_ref)


def wait_history(qtbot: QtBot, window: MainWindow, user_ref: str) -> None:
    qtbot.waitUntil(
        lambda: (
            window.loaded_address[0] == user_ref and window.user_panel.current_user() is not None
        ),
        timeout=10_000,
    )


def send(window: MainWindow, qtbot: QtBot, text: str) -> None:
    window.composer.edit.setFocus()
    type_text(qtbot, window.composer.edit, text)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)


def entry_with(controller: AppController, user_ref: str, text: str) -> OutboxEntry:
    found = [
        e for e in controller.outbox.entries_for(SANDBOX_ID, user_ref) if e.message.text == text
    ]
    assert len(found) == 1, found
    return found[0]


def wait_state(
    qtbot: QtBot, controller: AppController, user_ref: str, text: str, state: EntryState
) -> None:
    qtbot.waitUntil(lambda: entry_with(controller, user_ref, text).state is state, timeout=15_000)


def stored(sandbox: SandboxServer, user_ref: str, text: str) -> list[dict[str, Any]]:
    """The sandbox's copies of a message with ``text`` (exactly one when delivered once)."""
    return [m for m in sandbox.store.messages(sandbox.app_id, user_ref) if m.get("text") == text]


def shown(window: MainWindow, text: str) -> int:
    """How many rows of the conversation show ``text``."""
    return sum(1 for item in window.model.items() if item.text == text)


def open_dialog(qtbot: QtBot, controller: AppController) -> ConnectionDialog:
    controller.open_connection_dialog()
    dialog = controller.connection_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    # Save waits for the keychain status only when a saved profile changed; wait anyway
    # so each test sees the settled dialog.
    qtbot.waitUntil(
        lambda: "Checking" not in child(dialog, QLabel, "keychainLabel").text(), timeout=5000
    )
    return dialog


def choose_version(dialog: ConnectionDialog, version: str) -> None:
    combo = child(dialog, QComboBox, "apiVersionCombo")
    assert combo.isEnabled()
    combo.setFocus()
    combo.setCurrentIndex(combo.findData(version))


def switch_in_dialog(qtbot: QtBot, controller: AppController, version: str) -> MainWindow:
    """Connection settings ▸ Sandbox ▸ API version ▸ Save; wait for the reconnected window."""
    dialog = open_dialog(qtbot, controller)
    assert child(dialog, QListWidget, "profileList").currentItem().text() == "Sandbox"
    choose_version(dialog, version)
    save = child(dialog, QPushButton, "saveButton")
    qtbot.waitUntil(save.isEnabled, timeout=5000)
    QTest.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.connection_dialog is None, timeout=5000)
    session = controller.session
    assert session is not None and session.protocol == version
    return window_of(controller)


def barrier(qtbot: QtBot, controller: AppController) -> None:
    """Wait until everything queued on the app's API thread so far has run and reported."""
    done: list[bool] = []
    controller.api_tasks.submit(lambda: None, lambda _r: done.append(True), kind="barrier")
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)


def user_details(window: MainWindow) -> str:
    """What the user panel says about the user, "seen N min ago" as the time it is from
    (the words change when a minute passes between two looks)."""
    user = window.user_panel.current_user()
    assert user is not None
    text = window.user_panel.info.full_text()
    details, found = re.subn(r"seen [^\n]*$", f"last seen at {user.last_seen}", text)
    assert found == 1, text
    return details


def status(window: MainWindow) -> str:
    return window.status_profile.full_text()


# --- the dialog -------------------------------------------------------------------------------


def test_the_sandbox_is_listed_with_fixed_values_its_secret_hidden_and_a_version_choice(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    with running(qtbot, sandbox) as controller:
        dialog = open_dialog(qtbot, controller)
        try:
            listing = child(dialog, QListWidget, "profileList")
            assert listing.currentRow() == 0 and listing.currentItem().text() == "Sandbox"
            fields = {
                name: child(dialog, QLineEdit, name)
                for name in ("nameEdit", "baseUrlEdit", "appIdEdit", "keyIdEdit", "secretEdit")
            }
            assert fields["baseUrlEdit"].text() == sandbox.base_url
            assert fields["appIdEdit"].text() == sandbox.app_id
            assert fields["keyIdEdit"].text() == sandbox.key_id
            assert all(edit.isReadOnly() for edit in fields.values())
            secret = fields["secretEdit"]
            assert secret.text() == "" and secret.placeholderText() == BUILTIN_SECRET_TEXT
            show = secret.findChild(QAction, "showSecretAction")
            assert show is not None and not show.isVisible()
            for name in ("regionCombo", "authCombo"):
                assert not child(dialog, QComboBox, name).isEnabled()
            for name in ("deleteProfileButton", "duplicateProfileButton"):
                assert not child(dialog, QPushButton, name).isEnabled()
            assert child(dialog, QLabel, "builtinNote").isVisible()
            versions = child(dialog, QComboBox, "apiVersionCombo")
            assert versions.isEnabled() and versions.currentData() == "v1.1"
            assert [versions.itemData(i) for i in range(versions.count())] == ["v1.1", "v2"]
            # The secret is nowhere on screen, whatever the agent clicks.
            child(dialog, QPushButton, "testButton").click()
            qtbot.waitUntil(
                lambda: "Connected" in child(dialog, QLabel, "testResultLabel").text(),
                timeout=10_000,
            )
            texts = [
                w.text()
                for w in dialog.findChildren(QWidget)
                if isinstance(w, QLabel | QLineEdit | QPushButton)
            ]
            assert not [t for t in texts if sandbox.secret in t]
            # Nothing about it is written as a profile.
            assert AppSettings().profiles() == []
        finally:
            dialog.reject()


def test_without_any_keychain_the_sandbox_still_switches(
    qtbot: QtBot, sandbox: SandboxServer, leak_guard: None
) -> None:
    """Nothing about the sandbox goes to the keychain: no keychain, no "session only"."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        with running(qtbot, sandbox) as controller:
            dialog = open_dialog(qtbot, controller)
            assert "not available" in child(dialog, QLabel, "keychainLabel").text()
            assert not child(dialog, QCheckBox, "sessionOnlyCheck").isVisible()
            dialog.reject()
            window = switch_in_dialog(qtbot, controller, "v2")
            assert status(window).startswith("Profile: Sandbox · v2 · ")
            # A new profile (a secret to store) brings the choice back.
            dialog = open_dialog(qtbot, controller)
            QTest.mouseClick(
                child(dialog, QPushButton, "addProfileButton"), Qt.MouseButton.LeftButton
            )
            assert child(dialog, QCheckBox, "sessionOnlyCheck").isVisible()
            dialog.reject()
    finally:
        keyring.set_keyring(previous)


def test_test_connection_on_the_sandbox_works_for_both_versions(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    with running(qtbot, sandbox) as controller:
        dialog = open_dialog(qtbot, controller)
        try:
            host = sandbox.base_url.removeprefix("http://")
            for version, prefix in (("v2", "/v2/"), ("v1.1", "/v1.1/")):
                choose_version(dialog, version)
                sandbox.clear_log()
                child(dialog, QPushButton, "testButton").click()
                label = child(dialog, QLabel, "testResultLabel")
                qtbot.waitUntil(lambda lb=label: "Connected" in lb.text(), timeout=10_000)  # type: ignore[misc]
                assert label.text() == f"Connected: app {sandbox.app_id} on {host}"
                paths = [e["path"] for e in sandbox.log()]
                assert paths and all(p.startswith(prefix) for p in paths), paths
        finally:
            dialog.reject()
        # Testing changed nothing: the window still speaks v1.1.
        assert status(window_of(controller)).startswith("Profile: Sandbox · v1.1 · ")


# --- switching on a live window -----------------------------------------------------------------


def test_switching_v1_1_to_v2_keeps_replying_to_the_same_demo_user(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    """The "done when" of item 5: switch, keep replying; only the status bar differs."""
    host = sandbox.base_url.removeprefix("http://")
    with running(qtbot, sandbox) as controller:
        window = window_of(controller)
        assert status(window) == f"Profile: Sandbox · v1.1 · {host}"
        open_user(qtbot, window, DEMO_ALICE_ID)
        before_rows = list(window.model.items())
        before_info = user_details(window)
        send(window, qtbot, "Sent on v1.1: your parcel left today.")
        wait_state(
            qtbot,
            controller,
            DEMO_ALICE_ID,
            "Sent on v1.1: your parcel left today.",
            EntryState.SENT,
        )
        window.composer.edit.setFocus()
        type_text(qtbot, window.composer.edit, "Half typed when I switched")

        window = switch_in_dialog(qtbot, controller, "v2")
        wait_history(qtbot, window, DEMO_ALICE_ID)
        assert status(window) == f"Profile: Sandbox · v2 · {host}"
        assert window.user_panel.current_user_ref() == DEMO_ALICE_ID
        assert window.composer.text() == "Half typed when I switched"
        # The same conversation, row for row (the v1.1 reply now comes from v2's history).
        qtbot.waitUntil(lambda: shown(window, "Sent on v1.1: your parcel left today.") == 1)
        after_rows = [
            i for i in window.model.items() if i.text != "Sent on v1.1: your parcel left today."
        ]
        assert after_rows == [i for i in before_rows if i.state is None]
        # The user panel says the same about Alice, her primary channel included.
        assert user_details(window) == before_info
        assert "(primary)" in before_info

        window.composer.set_text("")
        send(window, qtbot, "Sent on v2: and here is the tracking link.")
        wait_state(
            qtbot,
            controller,
            DEMO_ALICE_ID,
            "Sent on v2: and here is the tracking link.",
            EntryState.SENT,
        )
        v2_posts = [
            e
            for e in sandbox.log()
            if e["method"] == "POST" and e["path"].startswith("/v2/") and "/messages" in e["path"]
        ]
        assert len(v2_posts) == 1

        window = switch_in_dialog(qtbot, controller, "v1.1")
        wait_history(qtbot, window, DEMO_ALICE_ID)
        assert status(window) == f"Profile: Sandbox · v1.1 · {host}"
        for text in (
            "Sent on v1.1: your parcel left today.",
            "Sent on v2: and here is the tracking link.",
        ):
            assert len(stored(sandbox, DEMO_ALICE_ID, text)) == 1, text
            qtbot.waitUntil(lambda t=text: shown(window, t) == 1)  # type: ignore[misc]
        assert user_details(window) == before_info


def test_the_choice_is_remembered_and_the_command_line_wins_for_its_run(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    with running(qtbot, sandbox) as controller:
        switch_in_dialog(qtbot, controller, "v2")
    assert AppSettings().sandbox_api_version() == "v2"
    with running(qtbot, sandbox) as controller:
        assert status(window_of(controller)).startswith("Profile: Sandbox · v2 · ")
        dialog = open_dialog(qtbot, controller)
        assert child(dialog, QComboBox, "apiVersionCombo").currentData() == "v2"
        dialog.reject()
    with running(qtbot, sandbox, "--api-version", "v1.1") as controller:
        assert status(window_of(controller)).startswith("Profile: Sandbox · v1.1 · ")
    assert AppSettings().sandbox_api_version() == "v2"  # the flag is for its run only


def test_a_stored_version_this_build_cannot_read_starts_on_v1_1(
    qtbot: QtBot, sandbox: SandboxServer, leak_guard: None
) -> None:
    settings = AppSettings()
    settings.set_sandbox_api_version("v9")
    settings.sync()
    with running(qtbot, sandbox) as controller:
        assert status(window_of(controller)).startswith("Profile: Sandbox · v1.1 · ")


# --- exactly once across the switch --------------------------------------------------------------


@contextmanager
def api_thread_held(qtbot: QtBot, controller: AppController) -> Iterator[None]:
    """Nothing queued on the app's API thread runs during the block."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(10)

    controller.api_tasks.submit(hold, kind="test-hold")
    try:
        qtbot.waitUntil(entered.is_set, timeout=10_000)
        yield
    finally:
        release.set()


def test_messages_queued_behind_the_switch_go_out_once_in_order_under_v2(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    """Sends whose delivery step was queued on the API thread before the switch.

    Their step runs after the switch; the old delivery service must still be there to
    report (before, it was deleted at once and the report raised between "sending" and
    the request: the message stayed "Sending…" until the next start).
    """
    texts = ("Queued first before the switch", "Queued second before the switch")
    with running(qtbot, sandbox) as controller:
        window = window_of(controller)
        open_user(qtbot, window, DEMO_ALICE_ID)
        with api_thread_held(qtbot, controller):
            for text in texts:
                send(window, qtbot, text)
            window = switch_in_dialog(qtbot, controller, "v2")
            drain_deferred_deletes()  # the old service's deleteLater, if any, happens now
        for text in texts:
            wait_state(qtbot, controller, DEMO_ALICE_ID, text, EntryState.SENT)
        got = [m["text"] for m in sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID)]
        assert [t for t in got if t in texts] == list(texts)  # once each, in order
        # The new window shows both as delivered (the old service's reports reach it).
        wait_history(qtbot, window, DEMO_ALICE_ID)
        for text in texts:
            qtbot.waitUntil(lambda t=text: shown(window, t) == 1)  # type: ignore[misc]
            rows = [i for i in window.model.items() if i.text == text]
            assert rows[0].state in (None, EntryState.SENT)


def test_a_send_in_flight_that_may_have_arrived_is_checked_through_v2_never_resent(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    """The v1.1 request is on the wire when the agent switches; a proxy's 502 comes back
    after the sandbox stored it. The v2 session must find it in v2's history, not resend."""
    text = "In flight while switching to v2"
    with running(qtbot, sandbox) as controller:
        window = window_of(controller)
        open_user(qtbot, window, DEMO_ALICE_ID)
        sandbox.set_faults(FaultConfig(latency_ms=800, error_after_store_rate=1.0, seed=3))
        send(window, qtbot, text)
        wait_state(qtbot, controller, DEMO_ALICE_ID, text, EntryState.SENDING)
        window = switch_in_dialog(qtbot, controller, "v2")
        drain_deferred_deletes()
        wait_state(qtbot, controller, DEMO_ALICE_ID, text, EntryState.UNKNOWN)
        sandbox.set_faults(FaultConfig())
        wait_state(qtbot, controller, DEMO_ALICE_ID, text, EntryState.SENT)
        assert len(stored(sandbox, DEMO_ALICE_ID, text)) == 1
        posts = [e for e in sandbox.log() if e["method"] == "POST" and "/messages" in e["path"]]
        assert [p["path"].split("/")[1] for p in posts] == ["v1.1"]  # never resent
        checks = [
            e
            for e in sandbox.log()
            if e["method"] == "GET" and e["path"].startswith("/v2/") and "/messages" in e["path"]
        ]
        assert checks  # found through v2's history
        qtbot.waitUntil(lambda: shown(window, text) == 1)


# --- the demo users look the same ----------------------------------------------------------------


def test_the_demo_users_look_the_same_under_both_versions(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    """Name, details, avatars and history rows (older pages too) of each demo user."""
    users = (DEMO_ALICE_ID, DEMO_PAGING_USER_ID, DEMO_ENCODED_USER_ID)
    seen: dict[str, dict[str, Any]] = {}
    with running(qtbot, sandbox) as controller:
        for version in ("v1.1", "v2"):
            if version == "v2":
                switch_in_dialog(qtbot, controller, "v2")
            window = window_of(controller)
            for user in users:
                open_user(qtbot, window, user)
                if window.model.has_older:
                    window._load_older()  # the view asks for it on scroll-up
                    model = window.model
                    qtbot.waitUntil(lambda m=model: m.rowCount() > 100, timeout=10_000)  # type: ignore[misc]
                seen.setdefault(user, {})[version] = (
                    user_details(window),
                    list(window.model.items()),
                )
    for user in users:
        info_1, rows_1 = seen[user]["v1.1"]
        info_2, rows_2 = seen[user]["v2"]
        assert info_1 == info_2, user
        assert rows_1 == rows_2, user
        assert all(row.avatar_url for row in rows_1), user


# --- nothing leaks --------------------------------------------------------------------------------


def test_switching_back_and_forth_leaks_no_window_service_or_thread(
    qtbot: QtBot, sandbox: SandboxServer, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    with running(qtbot, sandbox) as controller:
        open_user(qtbot, window_of(controller), DEMO_ALICE_ID)
        counts: list[tuple[int, int, int]] = []
        for version in ("v2", "v1.1") * 4:
            window = switch_in_dialog(qtbot, controller, version)
            wait_history(qtbot, window, DEMO_ALICE_ID)
            barrier(qtbot, controller)
            drain_deferred_deletes()
            windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
            services = controller.findChildren(DeliveryService)
            counts.append((len(windows), len(services), threading.active_count()))
        assert {c[:2] for c in counts} == {(1, 1)}, counts
        assert len({c[2] for c in counts[1:]}) == 1, counts  # no thread added per switch
