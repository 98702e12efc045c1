"""Messages with every kind of content the history renders, and images served by the sandbox.

Shared by ``test_history_rich.py`` and the screenshot helper; the images are real PNG
bytes kept in a real sandbox and fetched over real HTTP on a loopback port.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage, QImageWriter

from smooch_desktop.api.models import Message

T0 = 1_700_000_000.0


def png_bytes(width: int, height: int, color: str) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(color))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    QImageWriter(buffer, QByteArray(b"PNG")).write(image)
    return bytes(buffer.data().data())


def add_image(sandbox: Any, name: str, width: int, height: int, color: str) -> str:
    """Keep a PNG in the sandbox; its URL (http on loopback)."""
    store = sandbox.store
    media_id = store.add_media(sandbox.app_id, name, "image/png", png_bytes(width, height, color))
    return str(store.media_url(media_id, name, sandbox.base_url))


def add_file(sandbox: Any, name: str, data: bytes, media_type: str = "application/pdf") -> str:
    store = sandbox.store
    media_id = store.add_media(sandbox.app_id, name, media_type, data)
    return str(store.media_url(media_id, name, sandbox.base_url))


def rich_messages(photo: str, card_image: str, file_url: str) -> list[Message]:
    """One message of each kind: text with links, image, file, location, form response,
    buttons of every type, a carousel and a list; as v1.1 bodies are read."""
    bodies: list[dict[str, Any]] = [
        {
            "_id": "t1",
            "role": "appUser",
            "name": "Alice Martin",
            "text": "Tracking says https://track.example/PKG-7 — or mail help@x via "
            "mailto:help@example.com; not javascript:alert(1) nor file:///etc/passwd",
            "received": T0,
        },
        {
            "_id": "img1",
            "role": "appUser",
            "name": "Alice Martin",
            "type": "image",
            "mediaUrl": photo,
            "mediaType": "image/png",
            "text": "The box as it arrived",
            "received": T0 + 60,
        },
        {
            "_id": "file1",
            "role": "appUser",
            "name": "Alice Martin",
            "type": "file",
            "mediaUrl": file_url,
            "mediaType": "application/pdf",
            "mediaSize": 48213,
            "text": "",
            "received": T0 + 120,
        },
        {
            "_id": "loc1",
            "role": "appUser",
            "name": "Alice Martin",
            "type": "location",
            "text": "Location shared",
            "coordinates": {"lat": 48.858370, "long": 2.294481},
            "received": T0 + 180,
        },
        {
            "_id": "form1",
            "role": "appUser",
            "name": "Alice Martin",
            "type": "formResponse",
            "fields": [
                {"name": "email", "label": "Your email", "type": "email", "email": "a@x.com"},
                {"name": "size", "label": "Size", "type": "select", "select": [{"label": "L"}]},
            ],
            "received": T0 + 240,
        },
        {
            "_id": "btn1",
            "role": "appMaker",
            "name": "Sam from Support",
            "text": "What would you like us to do?",
            "actions": [
                {"type": "reply", "text": "Refund", "payload": "REFUND"},
                {"type": "postback", "text": "Talk to a person", "payload": "AGENT"},
                {"type": "link", "text": "Track", "uri": "https://track.example/PKG-7"},
                {"type": "locationRequest", "text": "Send location"},
            ],
            "received": T0 + 300,
        },
        {
            "_id": "reply1",
            "role": "appUser",
            "name": "Alice Martin",
            "text": "Refund",
            "payload": "REFUND",
            "received": T0 + 360,
        },
        {
            "_id": "car1",
            "role": "appMaker",
            "name": "Sam from Support",
            "type": "carousel",
            "text": "Pick one",
            "items": [
                {
                    "title": "Blue kettle",
                    "description": "1.7 l, stainless steel, ships tomorrow",
                    "mediaUrl": card_image,
                    "actions": [
                        {"type": "postback", "text": "Choose", "payload": "BLUE"},
                        {"type": "link", "text": "Details", "uri": "https://shop.example/blue"},
                    ],
                },
                {
                    "title": "Red kettle",
                    "description": "1.5 l",
                    "actions": [{"type": "postback", "text": "Choose", "payload": "RED"}],
                },
            ],
            "received": T0 + 420,
        },
        {
            "_id": "list1",
            "role": "appMaker",
            "name": "Sam from Support",
            "type": "list",
            "items": [
                {
                    "title": "Order #1042",
                    "description": "Delivered Monday",
                    "mediaUrl": card_image,
                    "actions": [{"type": "postback", "text": "Open", "payload": "O1042"}],
                },
                {"title": "Order #1043", "description": "On its way"},
            ],
            "received": T0 + 480,
        },
    ]
    return [Message.from_v1(body) for body in bodies]
