"""The history shows what arrives and what was sent: images, files, places, forms, buttons,
cards and links, and opens them safely (ui/conversation/{rich,bubbles,view,dialogs}.py and
ui/media_loader.py).

Real view, real messages read from v1.1 and v2 bodies, real HTTP to a sandbox on a
loopback port for every image and file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conversation_support import color_distance, count_pixels, show
from history_rich_support import T0, add_file, add_image, png_bytes, rich_messages
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import Message
from smooch_desktop.ui.conversation.dialogs import ImageViewer, MessageDetailsDialog
from smooch_desktop.ui.conversation.view import ConversationView, suggested_file_name
from smooch_desktop.ui.media_loader import MediaLoader

ORANGE = "#d97706"


@pytest.fixture
def media(tmp_path: Path) -> Iterator[MediaLoader]:
    loader = MediaLoader(disk_dir=tmp_path / "media")
    yield loader
    loader.stop()


@pytest.fixture
def view(qtbot: QtBot, media: MediaLoader, leak_guard: None) -> Iterator[ConversationView]:
    v = ConversationView(media=media)
    qtbot.addWidget(v)
    v.resize(760, 1500)
    opened: list[str] = []

    def opener(url: QUrl) -> bool:
        opened.append(url.toString())
        return True

    v.url_opener = opener
    v.opened = opened  # type: ignore[attr-defined]
    yield v
    v.shutdown()
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, ImageViewer | MessageDetailsDialog):
            widget.close()


def opened(view: ConversationView) -> list[str]:
    return list(view.opened)  # type: ignore[attr-defined]


def load_rich(sandbox: Any, view: ConversationView) -> dict[str, str]:
    urls = {
        "photo": add_image(sandbox, "box.png", 800, 600, ORANGE),
        "card": add_image(sandbox, "kettle.png", 300, 300, "#16a34a"),
        "file": add_file(sandbox, "invoice 2024.pdf", b"%PDF-1.4 invoice"),
    }
    view.conversation_model().set_messages(rich_messages(urls["photo"], urls["card"], urls["file"]))
    return urls


def row_of(view: ConversationView, message_id: str) -> int:
    row = view.conversation_model().find_server(message_id)
    assert row is not None
    return row


def click(view: ConversationView, row: int, target: tuple[str, str]) -> None:
    view.scrollTo(view.conversation_model().index(row))
    area = view.target_rect(row, target)
    assert area is not None, target
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=area.center())


def test_an_image_arrives_as_a_thumbnail_fetched_off_the_gui_thread(
    qtbot: QtBot, sandbox: Any, view: ConversationView, media: MediaLoader
) -> None:
    urls = load_rich(sandbox, view)
    model = view.conversation_model()
    row = row_of(view, "img1")
    show(qtbot, view)
    view.scrollTo(model.index(row))
    height = view.visualRect(model.index(row)).height()
    qtbot.waitUntil(lambda: media.thumbnail(urls["photo"]) is not None, timeout=10_000)
    thumb = media.thumbnail(urls["photo"])
    assert thumb is not None
    # Decoded on the worker straight to thumbnail size, not the 800x600 original.
    assert thumb.width() <= 240 * thumb.devicePixelRatio() * 3
    assert thumb.height() < 600
    view.viewport().repaint()
    assert view.visualRect(model.index(row)).height() == height  # nothing jumps
    shot = view.viewport().grab(view.visualRect(model.index(row))).toImage()
    assert count_pixels(shot, lambda c: color_distance(c, QColor(ORANGE)) < 20) > 5000
    # The card images came too (each URL fetched once).
    qtbot.waitUntil(lambda: media.thumbnail(urls["card"]) is not None, timeout=10_000)
    assert media.network_requests == 2


def test_a_missing_or_insecure_image_is_drawn_broken_with_the_reason(
    qtbot: QtBot, sandbox: Any, view: ConversationView, media: MediaLoader
) -> None:
    gone = f"{sandbox.base_url}/_sandbox/media/{'0' * 32}/gone.png"
    insecure = "http://images.example/cat.png"
    view.conversation_model().set_messages(
        [
            Message(id="a", role="user", type="image", media_url=gone, received=T0),
            Message(id="b", role="user", type="image", media_url=insecure, received=T0 + 1),
        ]
    )
    show(qtbot, view)
    qtbot.waitUntil(lambda: media.failure(gone) is not None, timeout=10_000)
    assert "404" in (media.failure(gone) or "")
    assert "https" in (media.failure(insecure) or "")
    assert media.network_requests == 1  # the http image was never asked for
    # Not clickable: there is nothing to open.
    assert view.target_rect(1, ("image", insecure)) is None


def test_links_in_text_open_only_for_http_and_mailto(
    qtbot: QtBot, sandbox: Any, view: ConversationView
) -> None:
    load_rich(sandbox, view)
    show(qtbot, view)
    row = row_of(view, "t1")
    shape = view.message_delegate().shape_for(*view.conversation_model().entry(row))
    assert sorted({link.url for link in shape.text_links}) == [
        "https://track.example/PKG-7",
        "mailto:help@example.com",
    ]
    click(view, row, ("url", "https://track.example/PKG-7"))
    click(view, row, ("url", "mailto:help@example.com"))
    assert opened(view) == ["https://track.example/PKG-7", "mailto:help@example.com"]
    # javascript:, file: and data: stay text: a click on them opens nothing.
    for dangerous in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x"):
        assert view.target_rect(row, ("url", dangerous)) is None
        assert view.open_url(dangerous) is False
    assert len(opened(view)) == 2


def test_buttons_are_drawn_by_kind_and_only_links_open(
    qtbot: QtBot, sandbox: Any, view: ConversationView
) -> None:
    load_rich(sandbox, view)
    show(qtbot, view)
    row = row_of(view, "btn1")
    shape = view.message_delegate().shape_for(*view.conversation_model().entry(row))
    pills = [pill for pills in shape.pill_rows for pill in pills]
    assert [(label, kind) for label, _w, kind, _t in pills] == [
        ("Refund", "reply"),
        ("Talk to a person", "postback"),
        ("Track ↗", "link"),
        ("📍 Send location", "locationRequest"),
    ]
    assert [target for *_rest, target in pills] == [
        None,
        None,
        ("url", "https://track.example/PKG-7"),
        None,
    ]
    click(view, row, ("url", "https://track.example/PKG-7"))
    assert opened(view) == ["https://track.example/PKG-7"]


def test_a_location_shows_its_coordinates_and_opens_the_map(
    qtbot: QtBot, sandbox: Any, view: ConversationView
) -> None:
    load_rich(sandbox, view)
    show(qtbot, view)
    row = row_of(view, "loc1")
    shape = view.message_delegate().shape_for(*view.conversation_model().entry(row))
    assert shape.rich is not None
    texts = [piece.text for piece in shape.rich.pieces]
    assert "📍 48.85837° N, 2.29448° E" in texts and "Open map" in texts
    link = next(p.target for p in shape.rich.pieces if p.text == "Open map")
    assert link is not None
    click(view, row, link)
    assert opened(view) == [
        "https://www.openstreetmap.org/?mlat=48.858370&mlon=2.294481#map=16/48.858370/2.294481"
    ]
    # Enter on the row opens the same.
    view.setCurrentIndex(view.conversation_model().index(row))
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert len(opened(view)) == 2


def test_a_file_shows_name_and_size_and_saves_where_asked_without_silent_overwrite(
    qtbot: QtBot, sandbox: Any, view: ConversationView, media: MediaLoader, tmp_path: Path
) -> None:
    urls = load_rich(sandbox, view)
    show(qtbot, view)
    row = row_of(view, "file1")
    shape = view.message_delegate().shape_for(*view.conversation_model().entry(row))
    assert shape.rich is not None
    texts = [piece.text for piece in shape.rich.pieces]
    assert "📎 invoice 2024.pdf" in texts
    assert "48.2 KB · application/pdf" in texts
    # Open goes to the browser; Save… asks where (the platform dialog confirms replacing).
    click(view, row, ("url", urls["file"]))
    assert opened(view) == [QUrl(urls["file"]).toString()]
    asked: list[str] = []
    target = tmp_path / "saved.pdf"

    def chooser(name: str) -> str:
        asked.append(name)
        return str(target)

    view.save_path_chooser = chooser
    with qtbot.waitSignal(
        view.statusMessage, timeout=10_000, check_params_cb=lambda t: t.startswith("Saved")
    ):
        click(view, row, ("save", urls["file"]))
    assert asked == ["invoice 2024.pdf"]
    assert target.read_bytes() == b"%PDF-1.4 invoice"
    assert not list(tmp_path.glob(".download-*"))  # no temporary file left behind
    # Cancelled: nothing written, nothing said.
    view.save_path_chooser = lambda _name: ""
    view.save_file(urls["file"])
    # Without the dialog's consent an existing file is never replaced.
    target.write_bytes(b"mine")
    errors: list[str] = []
    media.save_file(urls["file"], target, lambda *_: None, errors.append, view, overwrite=False)
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "already exists" in errors[0]
    assert target.read_bytes() == b"mine"


def test_the_save_dialog_is_offered_a_harmless_name() -> None:
    assert suggested_file_name("https://x.example/a/..%2F..%2Fetc%2Fpasswd") == "_.._etc_passwd"
    assert suggested_file_name("https://x.example/.bashrc") == "bashrc"
    assert suggested_file_name("https://x.example/") == "download"


@pytest.mark.qt_log_ignore("propagateSizeHints")  # offscreen, for every shown dialog
def test_clicking_a_thumbnail_opens_the_image_full_size_and_esc_closes(
    qtbot: QtBot, sandbox: Any, view: ConversationView
) -> None:
    urls = load_rich(sandbox, view)
    show(qtbot, view)
    click(view, row_of(view, "img1"), ("image", urls["photo"]))
    viewer = view.viewer
    assert isinstance(viewer, ImageViewer)
    qtbot.waitUntil(viewer.is_loaded, timeout=10_000)
    assert "800 x 600 px" in viewer.info.text()
    pixmap = viewer.picture.pixmap()
    assert not pixmap.isNull()
    viewer.toggle_fit()  # actual size: the whole 800x600 picture
    assert (viewer.picture.pixmap().width(), viewer.picture.pixmap().height()) == (800, 600)
    QTest.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: view.viewer is None, timeout=5000)


def test_cards_of_a_carousel_and_a_list(qtbot: QtBot, sandbox: Any, view: ConversationView) -> None:
    urls = load_rich(sandbox, view)
    show(qtbot, view)
    model = view.conversation_model()
    carousel = view.message_delegate().shape_for(*model.entry(row_of(view, "car1")))
    assert carousel.rich is not None
    kinds = [piece.kind for piece in carousel.rich.pieces]
    assert kinds.count("card") == 2 and kinds.count("thumb") == 1
    titles = [piece.text for piece in carousel.rich.pieces if piece.kind == "title"]
    assert titles == ["Blue kettle", "Red kettle"]
    cards = [p for p in carousel.rich.pieces if p.kind == "card"]
    assert cards[0].y == cards[1].y  # side by side
    pills = [(p.text, p.style) for p in carousel.rich.pieces if p.kind == "pill"]
    assert pills == [("Choose", "postback"), ("Details ↗", "link"), ("Choose", "postback")]
    click(view, row_of(view, "car1"), ("url", "https://shop.example/blue"))
    assert opened(view) == ["https://shop.example/blue"]
    listed = view.message_delegate().shape_for(*model.entry(row_of(view, "list1")))
    assert listed.rich is not None
    cards = [p for p in listed.rich.pieces if p.kind == "card"]
    assert len(cards) == 2 and cards[1].y > cards[0].y  # one under the other
    # A card's picture opens in the viewer like any image.
    assert view.target_rect(row_of(view, "list1"), ("image", urls["card"])) is not None


@pytest.mark.qt_log_ignore("propagateSizeHints")
def test_show_details_lists_actions_payloads_and_metadata(
    qtbot: QtBot, sandbox: Any, view: ConversationView
) -> None:
    load_rich(sandbox, view)
    show(qtbot, view)
    row = row_of(view, "car1")
    menu = view.build_context_menu(row)
    details = next(a for a in menu.actions() if a.text() == "Show details…")
    details.trigger()
    menu.deleteLater()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MessageDetailsDialog))
    text = dialog.text.toPlainText()
    assert "Type: carousel" in text and "payload: BLUE" in text
    assert "uri: https://shop.example/blue" in text
    assert dialog.text.isReadOnly()
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    reply = view.details_of(row_of(view, "reply1"))
    assert "Payload: REFUND" in reply


def test_context_menu_offers_what_the_message_can_open(
    qtbot: QtBot, sandbox: Any, view: ConversationView
) -> None:
    load_rich(sandbox, view)
    show(qtbot, view)

    def labels(message_id: str) -> list[str]:
        menu = view.build_context_menu(row_of(view, message_id))
        found = [a.text() for a in menu.actions() if not a.isSeparator()]
        menu.deleteLater()
        return found

    assert "Open image" in labels("img1")
    assert {"Open file in browser", "Save file…"} <= set(labels("file1"))
    assert "Open map" in labels("loc1")


def test_hostile_content_cannot_widen_the_bubble_or_the_window(
    qtbot: QtBot, view: ConversationView
) -> None:
    word = "W" * 5000
    hostile = Message.from_v1(
        {
            "_id": "h",
            "role": "appMaker",
            "type": "carousel",
            "text": "https://x.example/" + "a" * 3000,
            "mediaUrl": "javascript:alert(1)",
            "actions": [{"type": "link", "text": word, "uri": "javascript:x"}] * 500,
            "items": [
                {
                    "title": word,
                    "description": "<b>bold</b>\n" * 50,
                    "mediaUrl": "data:image/png;base64,AAAA",
                    "actions": [{"type": "reply", "text": word}] * 50,
                }
            ]
            * 300,
            "coordinates": {"lat": 1e9, "long": "x"},
            "fields": [{"label": word}] * 100,
            "received": T0,
        }
    )
    view.conversation_model().set_messages([hostile])
    show(qtbot, view)
    width = view.width()
    delegate = view.message_delegate()
    shape = delegate.shape_for(*view.conversation_model().entry(0))
    limit = delegate.text_limit + 24
    assert shape.bubble_width <= limit + 2
    assert shape.rich is not None
    assert all(piece.x + piece.w <= limit for piece in shape.rich.pieces)
    assert sum(1 for p in shape.rich.pieces if p.kind == "card") == 10
    assert sum(len(row) for row in shape.pill_rows) == 13  # 12 and "+488 more"
    assert all(pill[3] is None for row in shape.pill_rows for pill in row)  # javascript:
    assert view.horizontalScrollBar().maximum() == 0
    assert view.width() == width
    assert view.sizeHintForIndex(view.conversation_model().index(0)).width() <= 1
    # A data: or javascript: image is never fetched nor opened.
    assert view.target_at(QPoint(10, 10)) is None


@pytest.mark.parametrize("version", ["v1.1", "v2"])
def test_v1_and_v2_bodies_render_alike(
    qtbot: QtBot, sandbox: Any, view: ConversationView, version: str
) -> None:
    photo = add_image(sandbox, "p.png", 40, 30, ORANGE)
    content: dict[str, Any] = {
        "type": "carousel",
        "text": "Pick",
        "items": [{"title": "One", "mediaUrl": photo, "actions": [{"type": "reply", "text": "A"}]}],
    }
    location: dict[str, Any] = {
        "type": "location",
        "text": "Here",
        "coordinates": {"lat": 1.5, "long": 2.5},
    }
    if version == "v2":
        messages = [
            Message.from_v2(
                {
                    "id": f"m{n}",
                    "received": "2023-11-14T22:13:20.000Z",
                    "author": {"type": "business", "displayName": "Sam"},
                    "content": body,
                }
            )
            for n, body in enumerate((content, location))
        ]
    else:
        messages = [
            Message.from_v1({"_id": f"m{n}", "role": "appMaker", "received": T0, **body})
            for n, body in enumerate((content, location))
        ]
    view.conversation_model().set_messages(messages)
    show(qtbot, view)
    model = view.conversation_model()
    shapes = [view.message_delegate().shape_for(*model.entry(row)) for row in range(2)]
    assert shapes[0].rich is not None and shapes[1].rich is not None
    assert [p.kind for p in shapes[0].rich.pieces] == ["card", "thumb", "title", "pill"]
    assert "📍 1.50000° N, 2.50000° E" in [p.text for p in shapes[1].rich.pieces]


def test_thumbnail_memory_stays_within_its_limit(
    qtbot: QtBot, sandbox: Any, leak_guard: None, tmp_path: Path
) -> None:
    limit = 600_000  # about three 240x180 thumbnails
    loader = MediaLoader(disk_dir=tmp_path / "m", memory_bytes=limit)
    try:
        urls = [add_image(sandbox, f"{n}.png", 400, 300, "#123456") for n in range(8)]
        for url in urls:
            loader.request(url)
        qtbot.waitUntil(lambda: not loader.is_busy(), timeout=20_000)
        assert loader.memory_used() <= limit
        assert loader.evictions >= 4
        assert loader.memory_limit == limit
        # An evicted one comes back from the disk cache, not the network.
        before = loader.network_requests
        loader.request(urls[0])
        qtbot.waitUntil(lambda: loader.thumbnail(urls[0]) is not None, timeout=10_000)
        assert loader.network_requests == before
    finally:
        loader.stop()


def test_a_picture_bomb_is_refused_before_decoding(
    qtbot: QtBot, sandbox: Any, leak_guard: None, tmp_path: Path
) -> None:
    from smooch_desktop.ui.media_loader import MediaError, decode_image

    with pytest.raises(MediaError):
        decode_image(b"not an image", (240, 180))
    small = png_bytes(20, 10, ORANGE)
    assert decode_image(small, (240, 180)).size().width() == 20  # never scaled up
