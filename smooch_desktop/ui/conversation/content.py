"""What a message carries besides its text, as plain data: links, files, places, forms, buttons.

The history shows links in text, files, locations, form responses, buttons and carousel or
list cards; this module decides *what* is shown and what may be opened, never how it is
drawn: which URLs are clickable (http(s) and mailto only, see :func:`safe_url`), which
image URLs may be fetched (https, or http on loopback: :func:`fetchable_media_url`), a
file's name and size in words, coordinates and their map link, a form's lines, a
button's kind, and the plain-text details of a message ("Show details…").

Qt-free (tests/unit/test_qt_free.py imports it with Qt blocked): no PySide6 here, directly
or through what it imports. Layout and painting belong in :mod:`.rich` and
:mod:`.bubbles`. Everything returned is still text from outside: it goes on screen
through :mod:`smooch_desktop.ui.plain` rules (docs/architecture.md#outside-text).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import unquote, urlsplit

#: Schemes a click may open; everything else (javascript:, file:, data:…) stays text.
CLICKABLE_SCHEMES: Final = frozenset({"http", "https", "mailto"})
#: Longest URL that is made clickable or fetched.
MAX_URL: Final = 2048
#: How much of one field the details text shows.
DETAIL_FIELD_MAX: Final = 2000
#: The whole details text is cut here.
DETAILS_MAX: Final = 100_000
#: Form fields shown in a bubble; more are counted ("… 3 more fields").
FORM_LINES_MAX: Final = 12

_LINK = re.compile(r"(?<![\w@:/.\-])(?:https?://|mailto:)[^\s<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}>…"
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_url(url: str) -> str | None:
    """``url`` if a click may open it: http(s) with a host, or mailto with an address.

    Anything with spaces or control characters, another scheme, or longer than
    :data:`MAX_URL` gives None and stays plain text.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in CLICKABLE_SCHEMES:
        return None
    if scheme == "mailto":
        return url if "@" in parts.path else None
    return url if host else None


def fetchable_media_url(url: str) -> bool:
    """Whether an image or file at ``url`` may be downloaded: https, or http on loopback.

    Plain http travels in the clear, so only the sandbox (on a loopback address) may use it.
    """
    if safe_url(url) is None:
        return False
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return True
    return scheme == "http" and _loopback(parts.hostname or "")


def find_links(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, url)`` of every clickable link in ``text``, in order.

    A link starts with ``http://``, ``https://`` or ``mailto:`` and runs to the next space;
    closing punctuation at its end ("see https://x.com/a.") is left out, a closing bracket
    only when the link holds no opening one.
    """
    found: list[tuple[int, int, str]] = []
    for match in _LINK.finditer(text):
        start, end = match.span()
        url = match.group()
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
            end -= 1
        if safe_url(url) is not None:
            found.append((start, end, url))
    return found


def file_name(url: str, fallback: str = "file") -> str:
    """The last path segment of ``url``, decoded ("report%202024.pdf" -> "report 2024.pdf")."""
    try:
        path = urlsplit(url).path
    except ValueError:
        path = url
    name = unquote(path.rsplit("/", 1)[-1]) if path else ""
    return name.strip() or fallback


def format_size(size: int) -> str:
    """A byte count in words: "512 bytes", "1.2 KB", "3.4 MB" ("" for unknown: 0 or less)."""
    if size <= 0:
        return ""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000.0
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} GB"


def format_coordinates(lat: float, lon: float) -> str:
    """``48.85837° N, 2.29448° E`` (5 decimals, about a metre)."""
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"{abs(lat):.5f}° {ns}, {abs(lon):.5f}° {ew}"


def map_url(lat: float, lon: float) -> str:
    """The OpenStreetMap page with a marker at (``lat``, ``lon``)."""
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
    )


#: Button kinds the history styles apart (smooch-api action types); others are "other".
ACTION_KINDS: Final = frozenset(
    {"reply", "postback", "link", "webview", "buy", "locationRequest", "share", "extension"}
)


def action_kind(action: dict[str, Any]) -> str:
    """The action's ``type`` if it is one the history knows, else "other"."""
    kind = action.get("type")
    return kind if isinstance(kind, str) and kind in ACTION_KINDS else "other"


def action_url(action: dict[str, Any]) -> str | None:
    """Where a click on a link-like button goes (link, webview, buy), if safe; else None."""
    if action_kind(action) not in ("link", "webview", "buy"):
        return None
    for key in ("uri", "fallback"):
        value = action.get(key)
        if isinstance(value, str):
            url = safe_url(value)
            if url is not None:
                return url
    return None


def _field_value(field: dict[str, Any]) -> str:
    for key in ("text", "email"):
        value = field.get(key)
        if isinstance(value, str) and value:
            return value
    selected = field.get("select")
    if isinstance(selected, list):
        labels = []
        for option in selected:
            if isinstance(option, dict):
                label = option.get("label") or option.get("name")
                if isinstance(label, str):
                    labels.append(label)
        return ", ".join(labels)
    return ""


def form_lines(fields: Iterable[dict[str, Any]], *, response: bool) -> list[str]:
    """One line per form field: "Label: answer" for a response, "Label (type)" for a form."""
    lines: list[str] = []
    listed = list(fields)
    for field in listed[:FORM_LINES_MAX]:
        label = field.get("label") or field.get("name") or "Field"
        label = label if isinstance(label, str) else "Field"
        if response:
            lines.append(f"{label}: {_field_value(field) or '—'}")
        else:
            kind = field.get("type")
            lines.append(f"{label} ({kind})" if isinstance(kind, str) and kind else label)
    if len(listed) > FORM_LINES_MAX:
        more = len(listed) - FORM_LINES_MAX
        lines.append(f"… {more} more field" + ("s" if more > 1 else ""))
    return lines


def _clip(value: str) -> str:
    if len(value) <= DETAIL_FIELD_MAX:
        return value
    return value[:DETAIL_FIELD_MAX] + f"… ({len(value) - DETAIL_FIELD_MAX} more characters)"


def _json(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return _clip(text)


def _action_lines(actions: Iterable[dict[str, Any]], indent: str) -> list[str]:
    lines: list[str] = []
    for number, action in enumerate(actions, 1):
        kind = action.get("type")
        lines.append(f"{indent}{number}. {kind if isinstance(kind, str) else '(no type)'}")
        for key in sorted(action):
            if key == "type":
                continue
            value = action[key]
            shown = value if isinstance(value, str) else _json(value)
            lines.append(f"{indent}   {key}: {_clip(shown)}")
    return lines


def details_text(
    *,
    message_id: str,
    msg_type: str,
    role: str,
    author: str,
    received: str,
    text: str,
    media_url: str = "",
    media_type: str = "",
    media_size: int = 0,
    alt_text: str = "",
    payload: str = "",
    coordinates: tuple[float, float] | None = None,
    actions: Iterable[dict[str, Any]] = (),
    items: Iterable[dict[str, Any]] = (),
    fields: Iterable[dict[str, Any]] = (),
    metadata: dict[str, Any] | None = None,
    state: str = "",
) -> str:
    """A message's facts, actions, items, fields, payload and metadata as plain text."""
    lines = [
        f"Type: {msg_type or 'text'}",
        f"From: {author} ({role})",
        f"Received: {received}",
        f"Message id: {message_id or '(not sent yet)'}",
    ]
    if state:
        lines.append(f"State: {state}")
    if text:
        lines += ["", "Text:", _clip(text)]
    if media_url:
        lines += ["", f"Media URL: {_clip(media_url)}"]
        if media_type:
            lines.append(f"Media type: {media_type}")
        if media_size > 0:
            lines.append(f"Media size: {format_size(media_size)} ({media_size} bytes)")
    if alt_text:
        lines.append(f"Alt text: {_clip(alt_text)}")
    if coordinates is not None:
        lat, lon = coordinates
        lines += ["", f"Coordinates: {format_coordinates(lat, lon)}", f"Map: {map_url(lat, lon)}"]
    if payload:
        lines += ["", f"Payload: {_clip(payload)}"]
    action_list = list(actions)
    if action_list:
        lines += ["", f"Actions ({len(action_list)}):", *_action_lines(action_list, "  ")]
    item_list = list(items)
    if item_list:
        lines += ["", f"Items ({len(item_list)}):"]
        for number, item in enumerate(item_list, 1):
            title = item.get("title")
            lines.append(f"  {number}. {_clip(title) if isinstance(title, str) else '(no title)'}")
            for key in ("description", "mediaUrl", "mediaType", "size"):
                value = item.get(key)
                if isinstance(value, str) and value:
                    lines.append(f"     {key}: {_clip(value)}")
            item_actions = item.get("actions")
            if isinstance(item_actions, list):
                acts = [a for a in item_actions if isinstance(a, dict)]
                lines += _action_lines(acts, "     ")
    field_list = list(fields)
    if field_list:
        lines += ["", f"Fields ({len(field_list)}):"]
        lines += [f"  {_json(field)}" for field in field_list]
    if metadata:
        lines += ["", "Metadata:", _json(metadata)]
    text_out = "\n".join(lines)
    if len(text_out) > DETAILS_MAX:
        text_out = text_out[:DETAILS_MAX] + "\n… (cut)"
    return text_out
