"""Sender panel: validation, the live avatar preview and its request budget, identities.

Avatars come over real HTTP: from the sandbox's Gravatar-compatible ``/avatar/<md5>``
endpoint, or from a small gated image server defined here when a test needs a request
to stay in flight until it says so.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, QTimer
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import Sender
from smooch_desktop.core import paths
from smooch_desktop.core.gravatar import AvatarDiskCache, gravatar_url
from smooch_desktop.core.validation import ValidationError
from smooch_desktop.ui.avatar_loader import AvatarLoader
from smooch_desktop.ui.avatars import initials_pixmap
from smooch_desktop.ui.sender_panel import PREVIEW_SIZE, SenderPanel
from smooch_desktop.ui.settings import AppSettings, SenderIdentity

KNOWN_EMAIL = "alice@example.com"  # the sandbox has a picture for it
UNKNOWN_EMAIL = "support.teams@example.org"  # 25 characters, no picture anywhere
FOUND = "Gravatar found: the user sees this picture."


def md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


# Fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def loader(qtbot: QtBot, leak_guard: None) -> Iterator[AvatarLoader]:
    avatars = AvatarLoader(AvatarDiskCache(paths.cache_dir() / "avatars"))
    yield avatars
    avatars.stop()
    avatars.deleteLater()


@pytest.fixture
def make_panel(qtbot: QtBot, loader: AvatarLoader, sandbox: Any) -> Callable[..., SenderPanel]:
    def make(base: str | None = None, settings: AppSettings | None = None) -> SenderPanel:
        panel = SenderPanel(
            settings or AppSettings(),
            loader,
            gravatar_base=base or sandbox.base_url + "/avatar",
        )
        qtbot.addWidget(panel)
        panel.show()
        qtbot.waitExposed(panel)
        # With no email yet the panel fetches Smooch's default silhouette; the tests count
        # the requests their own typing causes, from here on.
        qtbot.waitUntil(lambda: not loader.is_busy(), timeout=5000)
        loader.network_requests = 0
        return panel

    return make


def silhouette_url(panel: SenderPanel) -> str:
    """The picture Smooch shows for an author without a Gravatar (or without an email)."""
    return gravatar_url("", size=200, default="mm", base=panel._gravatar_base)


@pytest.fixture
def panel(make_panel: Callable[..., SenderPanel]) -> SenderPanel:
    return make_panel()


def png_bytes() -> bytes:
    image = QImage(16, 16, QImage.Format.Format_ARGB32)
    image.fill(QColor("#3366cc"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6's stub wants bytes for the format, but at run time only str is accepted.
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    buffer.close()
    return bytes(data.data())


class GatedAvatars:
    """A Gravatar look-alike on loopback whose answers for ``gated`` hashes wait for a go."""

    def __init__(self, known: set[str], gated: set[str]) -> None:
        self.known = known
        self.gated = gated
        self.release = threading.Event()
        self.requests: list[str] = []
        image = png_bytes()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                digest = self.path.split("/")[-1].split(".")[0]
                gate.requests.append(digest)
                if digest in gate.gated:
                    gate.release.wait(5)
                if digest in gate.known:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(image)))
                    self.end_headers()
                    self.wfile.write(image)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/avatar"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def gated() -> Iterator[GatedAvatars]:
    server = GatedAvatars(known={md5(KNOWN_EMAIL)}, gated={md5(KNOWN_EMAIL)})
    yield server
    server.close()


def type_email(qtbot: QtBot, panel: SenderPanel, text: str) -> None:
    edit = panel.email_edit
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(edit, text)


def settled(panel: SenderPanel) -> bool:
    return not panel._settle.isActive()


def shows_initials(panel: SenderPanel) -> bool:
    expected = initials_pixmap(
        PREVIEW_SIZE, panel.name_edit.text(), panel.email_edit.text(), panel.devicePixelRatioF()
    )
    return panel.preview.pixmap().toImage() == expected.toImage()


# Avatar preview ----------------------------------------------------------------------------
def test_a_settled_email_costs_exactly_one_request(
    panel: SenderPanel, loader: AvatarLoader, qtbot: QtBot
) -> None:
    assert len(UNKNOWN_EMAIL) == 25
    type_email(qtbot, panel, UNKNOWN_EMAIL)
    assert loader.network_requests == 0  # none per keystroke
    qtbot.waitUntil(lambda: panel.preview_caption.text().startswith("No Gravatar"), timeout=5000)
    assert loader.network_requests == 1  # the silhouette shown instead was already cached
    assert panel.preview_caption.text() == (
        "No Gravatar for this email: the user sees Smooch's default silhouette."
    )
    # What the end user sees: Gravatar's default picture, not the agent's initials.
    assert panel.preview_url() == silhouette_url(panel)
    assert not shows_initials(panel)
    # Typing the same address again is answered from the cache.
    type_email(qtbot, panel, UNKNOWN_EMAIL)
    qtbot.waitUntil(lambda: settled(panel), timeout=5000)
    assert not loader.is_busy()  # answered from the cache: no request out
    assert loader.network_requests == 1
    assert panel.preview_caption.text().startswith("No Gravatar")


def test_no_email_shows_the_silhouette_the_user_sees(
    panel: SenderPanel, loader: AvatarLoader, qtbot: QtBot
) -> None:
    # Smooch gives an author without an email Gravatar's default picture (the all-zero
    # hash with d=mm), so the preview shows that picture, not initials the user never sees.
    assert panel.email_edit.text() == ""
    assert panel.preview_caption.text() == "No email: the user sees Smooch's default silhouette."
    assert panel.preview_url() == silhouette_url(panel)
    assert not shows_initials(panel)
    # Clearing a typed address goes back to it from the cache, with no request.
    type_email(qtbot, panel, KNOWN_EMAIL)
    qtbot.waitUntil(lambda: panel.preview_caption.text() == FOUND, timeout=5000)
    QTest.keyClick(panel.email_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(panel.email_edit, Qt.Key.Key_Backspace)
    assert panel.preview_caption.text() == "No email: the user sees Smooch's default silhouette."
    assert not shows_initials(panel)
    assert loader.network_requests == 1


def test_without_a_connection_the_no_email_caption_still_says_what_the_user_sees(
    qtbot: QtBot, loader: AvatarLoader
) -> None:
    panel = SenderPanel(AppSettings(), loader, gravatar_base="")
    qtbot.addWidget(panel)
    assert panel.preview_caption.text() == (
        "No email: the user will see Smooch's default silhouette."
    )
    assert panel.preview_url() == ""
    assert loader.network_requests == 0


def test_a_known_demo_email_shows_its_gravatar(
    panel: SenderPanel, loader: AvatarLoader, qtbot: QtBot
) -> None:
    type_email(qtbot, panel, KNOWN_EMAIL)
    qtbot.waitUntil(lambda: panel.preview_caption.text() == FOUND, timeout=5000)
    assert loader.network_requests == 1
    assert not shows_initials(panel)
    assert panel.email_error.isHidden()


def test_an_invalid_email_is_flagged_and_not_looked_up(
    panel: SenderPanel, loader: AvatarLoader, qtbot: QtBot
) -> None:
    type_email(qtbot, panel, "alice@example")
    qtbot.waitUntil(lambda: settled(panel), timeout=5000)
    assert not panel.email_error.isHidden()
    assert "needs a dot" in panel.email_error.text()
    assert panel.preview_caption.text().startswith("Not a valid email yet")
    assert panel.preview_url() == ""
    assert shows_initials(panel)
    assert not loader.is_busy()  # settled without asking for an image
    assert loader.network_requests == 0
    assert not panel.is_valid()
    with pytest.raises(ValidationError) as info:
        panel.current_sender()
    assert info.value.field == "sender_email"


def test_an_answer_for_an_address_no_longer_typed_is_dropped(
    make_panel: Callable[..., SenderPanel],
    loader: AvatarLoader,
    gated: GatedAvatars,
    qtbot: QtBot,
) -> None:
    panel = make_panel(base=gated.base)
    gated.requests.clear()  # the no-email silhouette (this host has none)
    type_email(qtbot, panel, KNOWN_EMAIL)
    qtbot.waitUntil(lambda: md5(KNOWN_EMAIL) in gated.requests, timeout=5000)
    assert panel.preview_caption.text() == "Looking up the avatar…"
    # The user changes the address while the first lookup is still out, and that answer
    # arrives while the new address is still settling.
    type_email(qtbot, panel, UNKNOWN_EMAIL)
    with qtbot.waitSignal(loader.imageReady, timeout=5000) as ready:
        gated.release.set()
    assert ready.args == [gravatar_url(KNOWN_EMAIL, size=200, default="404", base=gated.base)]
    assert panel.preview_caption.text() == "Looking up the avatar…"  # unchanged
    qtbot.waitUntil(lambda: panel.preview_caption.text().startswith("No Gravatar"), timeout=5000)
    assert gated.requests == [md5(KNOWN_EMAIL), md5(UNKNOWN_EMAIL)]
    assert shows_initials(panel)


def test_an_answer_arriving_after_the_next_lookup_started_is_dropped(
    make_panel: Callable[..., SenderPanel],
    loader: AvatarLoader,
    gated: GatedAvatars,
    qtbot: QtBot,
) -> None:
    panel = make_panel(base=gated.base)
    type_email(qtbot, panel, KNOWN_EMAIL)
    qtbot.waitUntil(lambda: md5(KNOWN_EMAIL) in gated.requests, timeout=5000)
    type_email(qtbot, panel, UNKNOWN_EMAIL)
    qtbot.waitUntil(lambda: settled(panel), timeout=5000)
    assert panel.preview_caption.text() == "Looking up the avatar…"
    with qtbot.waitSignal(loader.imageReady, timeout=5000):
        gated.release.set()
    assert panel.preview_caption.text() != FOUND
    qtbot.waitUntil(lambda: panel.preview_caption.text().startswith("No Gravatar"), timeout=5000)


def test_a_javascript_avatar_url_is_rejected_with_a_message(
    panel: SenderPanel, loader: AvatarLoader, qtbot: QtBot
) -> None:
    panel.avatar_edit.setFocus()
    QTest.keyClicks(panel.avatar_edit, "javascript:alert(1)")
    assert not panel.avatar_error.isHidden()
    assert '"javascript:" addresses are not allowed' in panel.avatar_error.text()
    qtbot.waitUntil(lambda: settled(panel), timeout=5000)
    assert panel.preview_caption.text() == "The avatar URL is not valid; initials shown."
    assert not panel.is_valid()
    assert not loader.is_busy()  # settled without asking for an image
    assert loader.network_requests == 0


def test_a_custom_avatar_url_overrides_the_gravatar(
    panel: SenderPanel, loader: AvatarLoader, sandbox: Any, qtbot: QtBot
) -> None:
    type_email(qtbot, panel, UNKNOWN_EMAIL)
    url = f"{sandbox.base_url}/avatar/{md5(KNOWN_EMAIL)}.png?s=96"
    panel.avatar_edit.setFocus()
    QTest.keyClicks(panel.avatar_edit, url)
    qtbot.waitUntil(
        lambda: panel.preview_caption.text() == "Custom avatar URL: the user sees this picture.",
        timeout=5000,
    )
    assert loader.network_requests == 1  # the email's Gravatar was never asked for
    assert panel.current_sender() == Sender("", UNKNOWN_EMAIL, url)
    assert panel.typing_sender().avatar_url == url


def test_the_typing_sender_uses_smoochs_default_picture(
    panel: SenderPanel, sandbox: Any, qtbot: QtBot
) -> None:
    panel.name_edit.setFocus()
    QTest.keyClicks(panel.name_edit, "  Sam  ")
    type_email(qtbot, panel, KNOWN_EMAIL)
    sender = panel.typing_sender()
    assert sender.name == "Sam"
    assert sender.avatar_url == gravatar_url(
        KNOWN_EMAIL, default="mm", base=sandbox.base_url + "/avatar"
    )
    type_email(qtbot, panel, "broken@")
    assert panel.typing_sender() == Sender()


# Identities ---------------------------------------------------------------------------------
def answer_next_dialog(qtbot: QtBot, action: Callable[[Any], None]) -> list[bool]:
    """Answer the next modal dialog (QInputDialog/QMessageBox) like a person would."""
    done: list[bool] = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(10, answer)
            return
        action(dialog)
        done.append(True)

    QTimer.singleShot(0, answer)
    return done


def test_identities_are_saved_switched_and_deleted(
    make_panel: Callable[..., SenderPanel], qtbot: QtBot
) -> None:
    settings = AppSettings()
    settings.save_identities([SenderIdentity("Billing", "Bea (Billing)", "bea@example.com")])
    panel = make_panel(settings=settings)
    combo = panel.identity_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["(unsaved)", "Billing"]
    assert not panel.delete_identity_button.isEnabled()

    panel.name_edit.setFocus()
    QTest.keyClicks(panel.name_edit, "Sam (Support)")
    type_email(qtbot, panel, KNOWN_EMAIL)

    def name_it(dialog: Any) -> None:
        assert isinstance(dialog, QInputDialog)
        assert dialog.textValue() == "Sam (Support)"  # suggested from the name
        dialog.setTextValue("Support")
        dialog.accept()

    done = answer_next_dialog(qtbot, name_it)
    QTest.mouseClick(panel.save_identity_button, Qt.MouseButton.LeftButton)
    assert done == [True]
    assert [i.label for i in settings.identities()] == ["Billing", "Support"]
    assert combo.currentText() == "Support"
    assert settings.current_identity() == SenderIdentity(
        "Support", "Sam (Support)", KNOWN_EMAIL, ""
    )

    # Switch with the keyboard, as a person would on a closed combo box.
    changed: list[bool] = []
    panel.senderChanged.connect(lambda: changed.append(True))
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Up)
    assert combo.currentText() == "Billing"
    assert changed == [True]
    assert panel.name_edit.text() == "Bea (Billing)"
    assert panel.email_edit.text() == "bea@example.com"
    assert panel.current_sender() == Sender("Bea (Billing)", "bea@example.com", "")
    assert settings.current_identity().label == "Billing"
    assert panel.delete_identity_button.isEnabled()

    # A new panel starts with the identity last used.
    again = make_panel(settings=settings)
    assert again.identity_combo.currentText() == "Billing"
    assert again.name_edit.text() == "Bea (Billing)"

    done = answer_next_dialog(qtbot, lambda box: box.button(QMessageBox.StandardButton.Yes).click())
    QTest.mouseClick(panel.delete_identity_button, Qt.MouseButton.LeftButton)
    assert done == [True]
    assert [i.label for i in settings.identities()] == ["Support"]
    assert combo.currentIndex() == 0
