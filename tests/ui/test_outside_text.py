"""Outside text is never markup, and never too wide (issue 8 §1).

Text from the server, from end users, from the settings file and from the command line is
fed through the real paths: end users and their messages are written to the sandbox over
HTTP, a loopback server answers every call with an error whose description is hostile, the
settings file holds hostile profile names, identities and recent users, and ``--user-id``
is hostile. The app runs through its real controller. Then every widget of the live
window, the connection dialog, the message boxes and the menus the app opens is walked:

* a ``QLabel`` may interpret markup only when the app marked its rich text as its own
  (``plain.APP_RICH_TEXT``), and then it must not contain outside text;
* a tooltip (widget, action, item view ``ToolTipRole``) that looks like rich text must be
  one made by ``plain.plain_tooltip`` (escaped);
* a menu or action text must not show outside ``&`` as a mnemonic;
* the windows stay narrower than the screen.

The fuzz test puts each hostile string (markup, endless-file images, 20,000 characters, an
RTL override, NUL, emoji, a lone ``&``) into every field at once, hovers the bubbles (real
``QHelpEvent``s on the conversation's viewport) and checks the app keeps running.

Both run on v1.1 and v2 (``api_version``): the profiles speak that version, and the
refusing server answers in that version's error envelope (v2: the ``errors[]`` title).
"""

from __future__ import annotations

import argparse
import gc
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
import requests
import shiboken6
from memory_keyring import MemoryKeyring
from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QHelpEvent
from PySide6.QtGui import Qt as GuiQt  # Qt.mightBeRichText lives in QtGui
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QToolTip,
    QWidget,
)
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller, drain_deferred_deletes

from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.app import build_parser
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretStore, account_for
from smooch_desktop.ui import plain
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.settings import AppSettings, SenderIdentity

# The offscreen platform says these for shown top-level windows and tooltips; harmless.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")

#: Markup that would be interpreted (and load a local file) but can't hang the test when
#: the code under test is broken: this is what the walker looks for.
PROBE = '<img src="file:///nonexistent/smooch-probe.png"><b>probe</b> & co'
#: The fragments whose presence marks outside text in a widget.
PROBE_MARKERS = ("smooch-probe", "<b>probe</b>", "probe</b> & co")

HOSTILE: dict[str, str] = {
    "markup": "<b>bold</b> <i>it</i> <a href='https://evil.example'>link</a>",
    "endless-file": '<img src="/dev/zero">',
    "endless-url": '<img src="file:///dev/urandom">',
    "long": "W" * 20_000,
    "rtl-override": "\u202eevil.exe \u202d",
    "nul": "nul\x00byte",
    "emoji": "👩\u200d👩\u200d👧\u200d👦 🇩🇪 👍🏽",
    "ampersand": "Tom & Jerry",
}


# A server that refuses everything with a hostile description ----------------------------
class _ErrorHandler(BaseHTTPRequestHandler):
    description = ""
    #: The error envelope answered: "v1" (``error``) or "v2" (``errors[]``).
    envelope = "v1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        refusal: dict[str, Any] = (
            {"error": {"code": "unauthorized", "description": self.description}}
            if self.envelope == "v1"
            else {"errors": [{"code": "unauthorized", "title": self.description}]}
        )
        body = json.dumps(refusal).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def error_server(api_version: str) -> Iterator[Callable[[str], str]]:
    servers: list[ThreadingHTTPServer] = []
    envelope = "v1" if api_version == "v1.1" else "v2"

    def start(description: str) -> str:
        attributes = {"description": description, "envelope": envelope}
        handler = type("Handler", (_ErrorHandler,), attributes)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# The walker -------------------------------------------------------------------------------
def _is_app_rich(widget: QWidget) -> bool:
    current: QWidget | None = widget
    while current is not None:
        if current.property(plain.APP_RICH_TEXT):
            return True
        current = current.parentWidget()
    return False


def _has_outside(text: str, markers: tuple[str, ...]) -> bool:
    return any(marker in text for marker in markers)


def _interprets(text: str) -> bool:
    return bool(GuiQt.mightBeRichText(text))


def _where(widget: QWidget) -> str:
    return f"{type(widget).__name__}#{widget.objectName()}"


def _action_problems(owner: str, action: QAction, markers: tuple[str, ...]) -> list[str]:
    problems = []
    tip = action.toolTip()
    if tip and _interprets(tip) and not plain.is_plain_tooltip(tip):
        problems.append(f"{owner} action {action.text()[:40]!r}: rich tooltip {tip[:60]!r}")
    text = action.text()
    if any(marker in text for marker in markers if "&" in marker):
        problems.append(f"{owner} action: outside '&' would be a mnemonic: {text[:60]!r}")
    if len(text) > 200:
        problems.append(f"{owner} action text of {len(text)} characters")
    return problems


def _model_problems(owner: str, model: Any, markers: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    if model is None or not shiboken6.isValid(model):
        return problems
    try:
        columns = model.columnCount(QModelIndex())
    except TypeError:  # list models keep columnCount private: one column
        columns = 1
    for row in range(min(model.rowCount(QModelIndex()), 2000)):
        for column in range(columns):
            index = model.index(row, column, QModelIndex())
            tip = model.data(index, Qt.ItemDataRole.ToolTipRole)
            rich = isinstance(tip, str) and bool(tip) and _interprets(tip)
            if rich and not plain.is_plain_tooltip(tip):
                problems.append(f"{owner} row {row}: rich ToolTipRole {tip[:60]!r}")
    return problems


def markup_problems(markers: tuple[str, ...] = PROBE_MARKERS) -> list[str]:
    """Every place on screen that would interpret markup (or is too wide), by widget."""
    problems: list[str] = []
    # The offscreen screen is 800 px wide and the window opens at 1,100 px by default.
    sane = max(QGuiApplication.primaryScreen().availableGeometry().width(), 1280)
    for widget in QApplication.allWidgets():
        if not shiboken6.isValid(widget):
            continue
        where = _where(widget)
        if isinstance(widget, QLabel):
            text = QLabel.text(widget)  # what Qt shows, not a subclass override
            fmt = widget.textFormat()
            rich = fmt == Qt.TextFormat.RichText or (
                fmt == Qt.TextFormat.AutoText and _interprets(text)
            )
            escaped = plain.is_plain_tooltip(text)  # e.g. the tooltip's own label
            if rich and not escaped and (not _is_app_rich(widget) or _has_outside(text, markers)):
                problems.append(f"{where}: label interprets markup: {text[:60]!r}")
        tip = widget.toolTip()
        if tip and _interprets(tip) and not plain.is_plain_tooltip(tip):
            problems.append(f"{where}: rich tooltip {tip[:60]!r}")
        for action in widget.actions():
            problems += _action_problems(where, action, markers)
        if isinstance(widget, QAbstractItemView):
            problems += _model_problems(where, widget.model(), markers)
        if isinstance(widget, QComboBox):
            problems += _model_problems(where, widget.model(), markers)
        if widget.isWindow() and widget.isVisible():
            for what, width in (
                ("width", widget.width()),
                ("minimumSizeHint", widget.minimumSizeHint().width()),
            ):
                if width > sane:
                    problems.append(f"{where}: {what} {width} px > {sane} px")
    return problems


def hover_everything(view: QAbstractItemView) -> int:
    """Send a real tooltip event to the middle of every visible row; how many rows."""
    viewport = view.viewport()
    model = view.model()
    shown = 0
    for row in range(model.rowCount()):
        rect = view.visualRect(model.index(row, 0))
        if not rect.intersects(viewport.rect()):
            continue
        for point in (rect.center(), QPoint(rect.left() + 60, rect.center().y())):
            event = QHelpEvent(QHelpEvent.Type.ToolTip, point, viewport.mapToGlobal(point))
            QApplication.sendEvent(viewport, event)
            QApplication.processEvents()
            if QToolTip.isVisible():
                shown += 1
    QToolTip.hideText()
    return shown


def answer_next_dialog(seen: list[list[str]], markers: tuple[str, ...]) -> list[str]:
    """Audit the next modal dialog while it is open, then close it with No / Cancel."""
    texts: list[str] = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(10, answer)
            return
        seen.append(markup_problems(markers))
        if isinstance(dialog, QMessageBox):
            texts.append(dialog.text())
        assert isinstance(dialog, QDialog), dialog  # every modal window the app opens is one
        dialog.reject()

    QTimer.singleShot(0, answer)
    return texts


# Setting the stage ----------------------------------------------------------------------------
def api_post(sandbox: Any, path: str, key: tuple[str, str], body: dict[str, Any]) -> Any:
    answer = requests.post(f"{sandbox.base_url}{path}", json=body, auth=key, timeout=10)
    assert answer.status_code in (200, 201), answer.text[:300]
    return answer.json()


def seed_end_user(
    sandbox: Any, app_id: str, key: tuple[str, str], user_id: str, hostile: str
) -> None:
    """An end user whose name, email and messages are hostile, written over HTTP."""
    api_post(
        sandbox,
        f"/v1.1/apps/{app_id}/appusers",
        key,
        {"userId": user_id, "givenName": hostile, "surname": hostile, "email": hostile},
    )
    seg = quote(user_id, safe="")
    answer = requests.post(
        f"{sandbox.base_url}/_sandbox/apps/{app_id}/appusers/{seg}/messages",
        json={"text": hostile + " (text)"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text[:300]
    api_post(
        sandbox,
        f"/v1.1/apps/{app_id}/appusers/{seg}/messages",
        key,
        {
            "role": "appMaker",
            "type": "text",
            "text": "Pick one",
            "name": hostile,
            "actions": [{"type": "reply", "text": hostile, "payload": "p"}],
        },
    )


def seed_settings(
    sandbox_url: str,
    error_url: str,
    app_id: str,
    key_id: str,
    secret: str,
    hostile: str,
    version: ApiVersion,
) -> tuple[Profile, Profile]:
    settings = AppSettings()
    good = Profile(
        f"{hostile} shop", Region.CUSTOM, sandbox_url, app_id, key_id, api_version=version
    )
    bad = Profile(f"{hostile} down", Region.CUSTOM, error_url, app_id, key_id, api_version=version)
    for profile in (good, bad):
        settings.upsert_profile(profile)
        SecretStore().set(account_for(profile.name, key_id), secret)
    settings.set_active_profile_name(good.name)
    identity = SenderIdentity(hostile, "Agent", "agent@example.com")
    settings.save_identities([identity])
    settings.set_current_identity(identity)
    for name in (good.name, bad.name):
        settings.add_recent_user(name, hostile)
        settings.add_recent_user(name, "fuzz-user")
    settings.sync()
    return good, bad


def run_session(
    sandbox: Any,
    qtbot: QtBot,
    error_server: Callable[[str], str],
    hostile: str,
    markers: tuple[str, ...],
    *,
    hover: bool,
    version: ApiVersion,
) -> list[str]:
    """Drive a whole session with ``hostile`` everywhere; the problems found on screen."""
    app_id, key_id, secret = sandbox.store.create_app(name="Hostile shop")
    key = (key_id, secret)
    seed_end_user(sandbox, app_id, key, "fuzz-user", hostile)
    if "\x00" not in hostile and len(hostile) < 200:
        seed_end_user(sandbox, app_id, key, hostile, hostile)  # found via --user-id too
    error_url = error_server(f"{hostile} (server description)")
    _good, bad = seed_settings(
        sandbox.base_url, error_url, app_id, key_id, secret, hostile, version
    )

    args: argparse.Namespace = build_parser().parse_args(["--user-id", hostile])
    controller = AppController(args)
    problems: list[str] = []
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        assert controller.session is not None and controller.session.protocol == version.value
        window = controller.window
        assert isinstance(window, MainWindow)
        qtbot.waitUntil(lambda: window.status_call.text() != "", timeout=10_000)
        problems += markup_problems(markers)

        # The end user with hostile name, messages and buttons.
        window.user_panel.set_user_ref("fuzz-user")
        qtbot.waitUntil(lambda: window.loaded_address[0] == "fuzz-user", timeout=10_000)
        qtbot.waitUntil(lambda: window.user_panel.current_user() is not None, timeout=10_000)
        assert window.model.rowCount() >= 2
        problems += markup_problems(markers)
        literal = plain.visible_controls(hostile)[:100]
        # Literally: the whole name in the user info, the start of it in the bubble tooltip.
        info = window.user_panel.info
        shown = info.full_text() if hasattr(info, "full_text") else info.text()
        assert plain.inline(hostile, one_line=True) in shown
        tips = [
            plain.tooltip_text(
                window.model.data(window.model.index(row), Qt.ItemDataRole.ToolTipRole)
            )
            for row in range(window.model.rowCount())
        ]
        assert any(literal in tip for tip in tips)
        if hover:
            assert hover_everything(window.view) >= 2  # the bubbles' tooltips really showed
        menu = window.view.build_context_menu(0)
        problems += [p for a in menu.actions() for p in _action_problems("menu", a, markers)]
        menu.deleteLater()

        # A message box the app opens: deleting the hostile identity.
        seen: list[list[str]] = []
        texts = answer_next_dialog(seen, markers)
        window.sender_panel.identity_combo.setCurrentIndex(1)
        window.sender_panel.delete_identity_button.click()
        assert seen and texts
        problems += seen[0]

        # The connection dialog, and its delete confirmation.
        controller.open_connection_dialog()
        dialog = controller.connection_dialog
        assert dialog is not None
        qtbot.waitExposed(dialog)
        problems += markup_problems(markers)
        texts = answer_next_dialog(seen, markers)
        delete = dialog.findChild(QPushButton, "deleteProfileButton")
        assert delete is not None
        delete.click()
        assert texts
        problems += seen[-1]
        dialog.reject()
        drain_deferred_deletes()

        # The profile whose server refuses everything with a hostile description.
        old_window = controller.window
        controller.switch_profile(bad.name)  # its secret is read on the keychain thread
        qtbot.waitUntil(lambda: controller.window is not old_window, timeout=10_000)
        bad_window = controller.window
        assert isinstance(bad_window, MainWindow)
        qtbot.waitUntil(lambda: "401" in bad_window.status_call.text(), timeout=10_000)
        notes: list[tuple[str, str]] = []
        bad_window.notify.connect(lambda title, body: notes.append((title, body)))
        bad_window.user_panel.set_user_ref("fuzz-user")
        bad_window.composer.set_text("Hello")
        bad_window.send_current()
        qtbot.waitUntil(
            lambda: any(
                isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets()
            ),
            timeout=10_000,
        )
        problems += markup_problems(markers)
        assert literal[:60] in plain.tooltip_text(bad_window.status_call.toolTip())
        # Notifications: the title is the app's own; the body goes out escaped and bounded.
        assert notes and {title for title, _ in notes} <= {"Message not sent", "New message"}
        for _, body in notes:
            sent = plain.notification_text(body, markup=True)
            assert "<" not in sent and len(sent) <= 6 * plain.NOTIFICATION_LIMIT
        if hover:
            hover_everything(bad_window.view)
        assert bad_window.isVisible()
    finally:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox):
                widget.close()
        dispose_controller(controller)
        # Collect this session's Qt wrappers here, on the GUI thread: a collection that
        # happens to run on a worker thread must not be the one to destroy them.
        gc.collect()
    return problems


# The tests ------------------------------------------------------------------------------------
def test_live_window_never_interprets_outside_text(
    sandbox: Any,
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    error_server: Callable[[str], str],
    leak_guard: None,
    api_version: str,
) -> None:
    version = ApiVersion(api_version)
    problems = run_session(
        sandbox, qtbot, error_server, PROBE, PROBE_MARKERS, hover=False, version=version
    )
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_strings_everywhere_render_literally_and_fit(
    name: str,
    sandbox: Any,
    qtbot: QtBot,
    memory_keyring: MemoryKeyring,
    error_server: Callable[[str], str],
    leak_guard: None,
    api_version: str,
) -> None:
    hostile = HOSTILE[name]
    markers = (hostile[:30],) if "<" in hostile or "&" in hostile else ()
    version = ApiVersion(api_version)
    problems = run_session(
        sandbox, qtbot, error_server, hostile, markers, hover=True, version=version
    )
    assert problems == [], "\n".join(problems)
