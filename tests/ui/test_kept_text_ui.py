"""Nothing typed is stranded or lost, driven through the real controller, dialog and window.

Real parts only: the sandbox over loopback HTTP, the app's SQLite outbox and drafts in the
test's data directory, an in-memory keyring backend. A full disk is SQLite's own
SQLITE_FULL, reached with ``PRAGMA max_page_count`` on the store's connection. Every
test that talks to the sandbox runs on v1.1 and v2 (``api_version``).
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from memory_keyring import MemoryKeyring
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot
from ui_stack import UiStack, dispose_controller, type_text

from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.app import build_parser
from smooch_desktop.core import paths
from smooch_desktop.core.drafts import DraftStore
from smooch_desktop.core.outbox import EntryState, Outbox
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretStore, SessionSecrets, account_for
from smooch_desktop.sandbox import DEMO_ALICE_ID
from smooch_desktop.ui.connection.dialog import ConnectionDialog
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.settings import AppSettings, SenderIdentity
from smooch_desktop.ui.workers import TaskQueue

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def sandbox_id() -> str:
    """The built-in sandbox profile's stable id (imported late: the module is new)."""
    from smooch_desktop.core.profiles import legacy_profile_id

    return legacy_profile_id("Sandbox")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    qtbot: QtBot,
    sandbox: Any = None,
    argv: tuple[str, ...] = (),
    outbox: Outbox | None = None,
) -> Iterator[AppController]:
    """The app's controller, started as ``app.run_gui`` starts it; shut down afterwards."""
    settings = AppSettings()
    settings.set_current_identity(SenderIdentity("", "Sam Tester", "agent@example.com"))
    settings.sync()
    args: argparse.Namespace = build_parser().parse_args(list(argv))
    controller = AppController(args, sandbox=sandbox, outbox=outbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.stores_open, timeout=10_000)
        yield controller
    finally:
        dispose_controller(controller)


def window_of(controller: AppController) -> MainWindow:
    assert controller.window is not None
    return controller.window


def pick_user(qtbot: QtBot, window: MainWindow, user_ref: str) -> None:
    edit = window.user_panel.line_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    type_text(qtbot, edit, user_ref)
    QTest.keyClick(edit, Qt.Key.Key_Return)


def send(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.composer.edit.setFocus()
    type_text(qtbot, window.composer.edit, text)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)


def local_texts(window: MainWindow) -> list[str]:
    model = window.model
    return [model.item(r).text for r in range(model.rowCount()) if model.item(r).client_id]


def answer_next_box(button_text: str, seen: list[str]) -> None:
    """Click ``button_text`` in the next message box once it is up (it runs its own loop)."""

    def look() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.isVisible():
                seen.append(f"{widget.text()}\n{widget.informativeText()}")
                for button in widget.buttons():
                    if button.text() == button_text:
                        button.click()
                        return
                raise AssertionError(f"no button {button_text!r} in {widget.text()!r}")
        QTimer.singleShot(10, look)

    QTimer.singleShot(0, look)


# --- 1. stable profile ids ---------------------------------------------------------------------


def test_renaming_a_profile_carries_its_queued_message_draft_and_it_is_sent(
    sandbox: Any, qtbot: QtBot, memory_keyring: MemoryKeyring, api_version: str
) -> None:
    offline = f"http://127.0.0.1:{closed_port()}"
    settings = AppSettings()
    version = ApiVersion(api_version)
    settings.upsert_profile(
        Profile("Prod", Region.CUSTOM, offline, sandbox.app_id, sandbox.key_id, api_version=version)
    )
    settings.set_active_profile_name("Prod")
    settings.sync()
    SecretStore().set(account_for("Prod", sandbox.key_id), sandbox.secret)

    with running(qtbot) as controller:
        window = window_of(controller)
        qtbot.waitUntil(lambda: window.session is not None, timeout=10_000)
        pick_user(qtbot, window, DEMO_ALICE_ID)
        send(qtbot, window, "Queued while offline")
        qtbot.waitUntil(
            lambda: any(e.error_text for e in controller.outbox.all_entries()), timeout=10_000
        )
        [queued] = controller.outbox.all_entries()
        assert queued.state is EntryState.QUEUED
        type_text(qtbot, window.composer.edit, "Half-written follow-up")
        window.save_draft()

        # The agent renames the connection; nothing else changes.
        controller.open_connection_dialog()
        dialog = controller.connection_dialog
        assert isinstance(dialog, ConnectionDialog)
        name = dialog.findChild(QLineEdit, "nameEdit")
        assert name is not None and name.text() == "Prod"
        name.selectAll()
        QTest.keyClicks(name, "Production")
        save = dialog.findChild(QPushButton, "saveButton")
        assert save is not None
        qtbot.waitUntil(save.isEnabled, timeout=5000)
        with qtbot.waitSignal(dialog.profileSaved, timeout=10_000):
            QTest.mouseClick(save, Qt.MouseButton.LeftButton)
        # The new session follows once its secret has been read on the keychain thread.
        qtbot.waitUntil(
            lambda: (
                (session := window_of(controller).session) is not None
                and session.profile == "Production"
            ),
            timeout=10_000,
        )
        window = window_of(controller)
        assert window.session is not None and window.session.protocol == api_version
        # Still shown, still on its way, and the draft is still the user's.
        qtbot.waitUntil(lambda: "Queued while offline" in local_texts(window), timeout=10_000)
        assert controller.delivery is not None
        assert [e.client_id for e in controller.delivery.entries_for(DEMO_ALICE_ID)] == [
            queued.client_id
        ]
        assert window.composer.text() == "Half-written follow-up"

        # Back online (the URL fixed, same profile): the message renamed along is delivered.
        controller.open_connection_dialog()
        dialog = controller.connection_dialog
        assert isinstance(dialog, ConnectionDialog)
        url = dialog.findChild(QLineEdit, "baseUrlEdit")
        assert url is not None
        url.selectAll()
        QTest.keyClicks(url, sandbox.base_url)
        save = dialog.findChild(QPushButton, "saveButton")
        assert save is not None
        qtbot.waitUntil(save.isEnabled, timeout=5000)
        with qtbot.waitSignal(dialog.profileSaved, timeout=10_000):
            QTest.mouseClick(save, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: (
                "Queued while offline"
                in [m["text"] for m in sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID)]
            ),
            timeout=15_000,
        )


def test_deleting_a_profile_with_unsent_messages_says_so_and_keeps_them_until_asked(
    qtbot: QtBot, memory_keyring: MemoryKeyring, leak_guard: None
) -> None:
    settings = AppSettings()
    prod = Profile("Prod", app_id="app_1", key_id="app_key_1")
    keep = Profile("Keep", app_id="app_2", key_id="app_key_2")
    settings.save_profiles([keep, prod])
    outbox = Outbox(paths.data_dir() / "outbox.sqlite3")
    drafts = DraftStore(paths.data_dir() / "drafts.sqlite3")
    tasks = TaskQueue("keychain")
    try:
        for text in ("one", "two"):
            outbox.enqueue(prod.id, "alice", OutgoingMessage(text, Sender("Ada")))
        bad = outbox.enqueue(prod.id, "bob", OutgoingMessage("three", Sender("Ada")))
        outbox.mark_sending(bad.client_id)
        outbox.mark_failed(bad.client_id, status=400, code="x", text="Nope", retryable=False)
        drafts.save(prod.id, "carol", "a draft")
        outbox.enqueue(keep.id, "alice", OutgoingMessage("other", Sender("Ada")))

        dialog = ConnectionDialog(settings, SecretStore(), SessionSecrets(), tasks, select="Prod")
        qtbot.addWidget(dialog)
        from smooch_desktop.core.profiles import ProfileData

        dialog.set_profile_data(ProfileData(outbox, drafts))
        dialog.show()
        delete = dialog.findChild(QPushButton, "deleteProfileButton")
        assert delete is not None
        seen: list[str] = []

        answer_next_box("Keep the connection", seen)
        QTest.mouseClick(delete, Qt.MouseButton.LeftButton)
        assert "“Prod” still has 3 unsent messages and 1 draft" in seen[0]
        assert "(2 waiting to be sent, 1 failed)" in seen[0]
        assert [p.name for p in settings.profiles()] == ["Keep", "Prod"]
        assert len(outbox.all_entries(prod.id)) == 3 and drafts.count(prod.id) == 1

        answer_next_box("Delete it and its 3 unsent messages and 1 draft", seen)
        with qtbot.waitSignal(dialog.profileDeleted, timeout=5000):
            QTest.mouseClick(delete, Qt.MouseButton.LeftButton)
        assert [p.name for p in settings.profiles()] == ["Keep"]
        assert outbox.all_entries(prod.id) == [] and drafts.count(prod.id) == 0
        assert [e.message.text for e in outbox.all_entries(keep.id)] == ["other"]
        dialog.reject()
    finally:
        assert tasks.stop(5000)
        tasks.deleteLater()
        outbox.close()
        drafts.close()


# --- 2. text typed before a user is picked, or while not connected -----------------------------


def test_text_typed_before_picking_a_user_survives_a_restart_and_becomes_the_users_draft(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    text = "Dear customer, thanks for waiting"
    drafts_path = paths.data_dir() / "drafts.sqlite3"
    with running(qtbot, sandbox, ("--api-version", api_version)) as controller:
        window = window_of(controller)
        qtbot.waitUntil(lambda: window.session is not None, timeout=10_000)
        window.composer.edit.setFocus()
        QTest.keyClicks(window.composer.edit, text)
        # On disk within the autosave delay, as a crash right now would find it.
        with DraftStore(drafts_path) as seen_by_another_process:
            qtbot.waitUntil(
                lambda: seen_by_another_process.load_unaddressed() == text, timeout=5000
            )

    with running(qtbot, sandbox, ("--api-version", api_version)) as controller:
        window = window_of(controller)
        qtbot.waitUntil(lambda: window.session is not None, timeout=10_000)
        assert window.composer.text() == text
        with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            pick_user(qtbot, window, DEMO_ALICE_ID)
        assert window.composer.text() == text
        assert controller.drafts.load(sandbox_id(), DEMO_ALICE_ID) == text
        assert controller.drafts.load_unaddressed() == ""


def test_text_typed_while_not_connected_is_kept_like_a_draft(stack: UiStack, qtbot: QtBot) -> None:
    def offline_window() -> MainWindow:
        window = MainWindow(stack.settings, None, None, stack.drafts, stack.tasks, stack.avatars)
        stack.windows.append(window)
        window.show()
        return window

    window = offline_window()
    stack.type_user(window, DEMO_ALICE_ID)  # a user typed in, but no connection
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, "Written on the train")
    stack.close_window(window)  # quit

    window = offline_window()
    assert window.composer.text() == "Written on the train"
    assert stack.drafts.load_unaddressed() == "Written on the train"
    window.attach_session(stack.session, stack.delivery)  # connected now
    with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
        pick_user(qtbot, window, DEMO_ALICE_ID)
    assert window.composer.text() == "Written on the train"
    assert stack.drafts.load(sandbox_id(), DEMO_ALICE_ID) == "Written on the train"
    assert stack.drafts.load_unaddressed() == ""


# --- 3. the outbox file deleted while the app runs ---------------------------------------------


def test_an_outbox_deleted_while_running_is_written_back_with_a_warning(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    path = paths.data_dir() / "outbox.sqlite3"
    with running(qtbot, sandbox, ("--api-version", api_version)) as controller:
        window = window_of(controller)
        qtbot.waitUntil(lambda: window.session is not None, timeout=10_000)
        with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            pick_user(qtbot, window, DEMO_ALICE_ID)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        send(qtbot, window, "Accepted after the file was deleted")
        qtbot.waitUntil(
            lambda: (
                "Accepted after the file was deleted"
                in [m["text"] for m in sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID)]
            ),
            timeout=10_000,
        )
        notices = [
            label.text()
            for label in window.findChildren(QLabel, "noticeText")
            if label.isVisibleTo(window)
        ]
    with Outbox(path) as reopened:  # what the next start finds
        [entry] = reopened.all_entries()
        assert entry.message.text == "Accepted after the file was deleted"
        assert entry.state is EntryState.SENT
    [notice] = notices
    assert str(path) in notice and "deleted or replaced" in notice


# --- 4. a full disk ----------------------------------------------------------------------------


def fill_up(store: Outbox | DraftStore) -> None:
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def make_room(store: Outbox | DraftStore) -> None:
    store._conn.execute("PRAGMA max_page_count = 1073741823")


def test_start_up_on_a_full_disk_after_a_crash_is_shown_retried_and_then_delivers(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    path = paths.data_dir() / "outbox.sqlite3"
    with Outbox(path) as crashed:  # a previous run died with these requests in flight
        for i in range(40):
            entry = crashed.enqueue(sandbox_id(), f"u{i % 3}", OutgoingMessage(f"m{i}", Sender()))
            crashed.mark_sending(entry.client_id)

    outbox = Outbox(path)
    fill_up(outbox)

    with running(qtbot, sandbox, ("--api-version", api_version), outbox) as controller:
        window = window_of(controller)
        qtbot.waitUntil(lambda: window.notice("outbox") != "", timeout=10_000)
        notice = window.notice("outbox")
        assert "Can't start sending" in notice and str(path) in notice
        assert "database or disk is full" in notice
        assert window.notice_bar.isVisible()
        assert controller.delivery is not None and controller.delivery.recovery_pending
        assert all(e.state is EntryState.SENDING for e in controller.outbox.all_entries())

        make_room(controller.outbox)  # space freed: the next retry recovers and delivery starts
        qtbot.waitUntil(lambda: window.notice("outbox") == "", timeout=10_000)
        assert not controller.delivery.recovery_pending
        assert not any(e.state is EntryState.SENDING for e in controller.outbox.all_entries())
        with qtbot.waitSignal(window.user_panel.userLoaded, timeout=10_000):
            pick_user(qtbot, window, DEMO_ALICE_ID)
        send(qtbot, window, "Sent once the disk had room")
        qtbot.waitUntil(
            lambda: (
                "Sent once the disk had room"
                in [m["text"] for m in sandbox.store.messages(sandbox.app_id, DEMO_ALICE_ID)]
            ),
            timeout=15_000,
        )


def test_a_failing_draft_autosave_is_shown_once_and_cleared_when_it_works(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    shown: list[str] = []
    window.storageProblem.connect(shown.append)
    fill_up(stack.drafts)
    big = "A long reply that needs room on the disk. " * 150
    window.composer.edit.setFocus()
    window.composer.edit.insertPlainText(big)  # as typed: the autosave timer runs
    qtbot.waitUntil(lambda: window.notice("drafts") != "", timeout=5000)
    notice = window.notice("drafts")
    assert str(stack.drafts.path) in notice and "database or disk is full" in notice
    assert window.notice_bar.isVisible()
    for _ in range(5):  # more typing, more failing saves: still one notice
        QTest.keyClicks(window.composer.edit, "x")
        window.save_draft()
    assert len(shown) == 1
    assert window.composer.text().startswith(big)  # the text stays in the box

    make_room(stack.drafts)
    QTest.keyClicks(window.composer.edit, "!")
    qtbot.waitUntil(lambda: window.notice("drafts") == "", timeout=5000)
    assert not window.notice_bar.isVisible()
    assert stack.drafts.load(sandbox_id(), DEMO_ALICE_ID) == window.composer.text()
