"""A Gravatar-compatible avatar endpoint, drawn offline with zlib + struct.

The desktop app previews "the avatar the user will see"; in the sandbox that must work
with no internet, so ``/avatar/<md5>[.png|.jpg]?s=…&d=…`` answers like Gravatar:

* a known hash (the demo emails) → a coloured identicon-style PNG, ``s`` by ``s`` pixels;
* an unknown hash with ``d=404`` → 404; ``d=identicon`` → an identicon of the hash;
  ``d=<http(s) URL>`` → 302 to it; anything else (``mm``, missing, …) → a grey
  "mystery person" PNG with 200.

``s`` (or ``size``) is clamped to 1..512, default 80. ``.jpg`` URLs get a PNG too (with an
honest ``image/png`` type): clients display what the header says. Images are cached in
memory because the same few sizes are asked for over and over.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import Final

DEFAULT_SIZE: Final = 80
MAX_SIZE: Final = 512
CACHE_CONTROL: Final = "public, max-age=300"

_GREY_BG: Final = (0xDC, 0xDC, 0xDC)
_GREY_FG: Final = (0xF7, 0xF7, 0xF7)
_LIGHT_BG: Final = (0xF2, 0xF2, 0xF2)


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """Encode 8-bit RGB rows (each ``width * 3`` bytes) as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 per scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _hsl_to_rgb(hue: float, sat: float, light: float) -> tuple[int, int, int]:
    def channel(n: int) -> int:
        k = (n + hue / 30.0) % 12
        a = sat * min(light, 1 - light)
        return round(255 * (light - a * max(-1.0, min(k - 3, 9 - k, 1.0))))

    return channel(0), channel(8), channel(4)


@functools.lru_cache(maxsize=256)
def identicon(digest: str, size: int) -> bytes:
    """A 5x5 mirrored block pattern in a colour taken from the hash (GitHub-style)."""
    nibbles = [int(c, 16) for c in (digest + "0" * 32)[:32]]
    colour = _hsl_to_rgb(nibbles[0] * 22.5 + nibbles[1], 0.55, 0.5)
    cells = [[False] * 5 for _ in range(5)]
    for i in range(15):
        col, row = divmod(i, 5)
        on = nibbles[2 + i] % 2 == 0
        cells[row][col] = on
        cells[row][4 - col] = on
    margin = size / 12.0
    cell = (size - 2 * margin) / 5.0
    bg, fg = bytes(_LIGHT_BG), bytes(colour)

    def grid_index(pos: int) -> int:
        return int((pos + 0.5 - margin) // cell) if cell > 0 else -1

    columns = [grid_index(x) for x in range(size)]
    # rows in the same grid row are identical: build each of the 5 (+ margin) once
    patterns = {
        gy: b"".join(fg if 0 <= gx < 5 and cells[gy][gx] else bg for gx in columns)
        for gy in range(5)
    }
    blank = bg * size
    rows = [patterns.get(grid_index(y), blank) for y in range(size)]
    return png(size, size, rows)


@functools.lru_cache(maxsize=64)
def mystery_person(size: int) -> bytes:
    """Gravatar's ``mm`` in spirit: a light silhouette (head + shoulders) on grey."""
    bg, fg = bytes(_GREY_BG), bytes(_GREY_FG)
    cx, head_cy, head_r = size / 2.0, size * 0.38, size * 0.2
    body_cy, body_rx, body_ry = size * 1.02, size * 0.38, size * 0.34
    rows = []
    for y in range(size):
        py = y + 0.5
        spans: list[tuple[float, float]] = []
        dy = py - head_cy
        if abs(dy) <= head_r:
            half = (head_r * head_r - dy * dy) ** 0.5
            spans.append((cx - half, cx + half))
        ey = (py - body_cy) / body_ry
        if abs(ey) <= 1.0:
            half = body_rx * (1.0 - ey * ey) ** 0.5
            spans.append((cx - half, cx + half))
        row = bytearray(bg * size)
        for left, right in spans:
            start, end = max(0, round(left)), min(size, round(right))
            if end > start:
                row[start * 3 : end * 3] = fg * (end - start)
        rows.append(bytes(row))
    return png(size, size, rows)


def parse_size(value: str | None) -> int:
    """Gravatar ``s``: integer, clamped to 1..512; missing or junk means 80."""
    if value is None:
        return DEFAULT_SIZE
    try:
        size = int(value)
    except ValueError:
        return DEFAULT_SIZE
    return max(1, min(MAX_SIZE, size))


def split_name(name: str) -> str | None:
    """``<md5>``, ``<md5>.png`` or ``<md5>.jpg`` → the lower-case hash, else None."""
    stem = name
    for ext in (".png", ".jpg", ".jpeg"):
        if name.lower().endswith(ext):
            stem = name[: -len(ext)]
            break
    stem = stem.lower()
    if len(stem) != 32 or any(c not in "0123456789abcdef" for c in stem):
        return None
    return stem
