#!/usr/bin/env python3
"""Render the app icon SVG into the PNG sizes, .ico and .icns that desktops and installers use.

Run with the project's venv (PySide6 provides QtSvg); needs no display:

    .venv/bin/python packaging/render_icons.py

Writes, all from ``resources/icons/<DESKTOP_FILE_ID>.svg``:

- ``resources/icons/hicolor/<N>x<N>/apps/<DESKTOP_FILE_ID>.png`` (Linux icon theme, the app)
- ``packaging/windows/smooch-desktop.ico`` (PyInstaller ``icon=`` and Inno Setup)
- ``packaging/macos/smooch-desktop.icns`` (PyInstaller ``BUNDLE(icon=)``)

The outputs are committed, so builds never render. The .ico and .icns containers are
written here with ``struct`` (PNG payloads), so Pillow is not needed.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 256)
# Apple icon types that hold PNG data, and the pixel size each one must have.
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),
    (b"ic11", 32),
    (b"ic12", 64),
    (b"ic13", 256),
    (b"ic14", 512),
)


def _desktop_file_id() -> str:
    # appinfo is plain constants; read it without importing the package (and its deps).
    namespace: dict[str, object] = {}
    exec((ROOT / "smooch_desktop" / "appinfo.py").read_text(encoding="utf-8"), namespace)
    return str(namespace["DESKTOP_FILE_ID"])


class IconRenderer:
    """Renders one SVG to PNG bytes at any square size (offscreen Qt)."""

    def __init__(self, svg: Path) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtSvg import QSvgRenderer

        self._app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
        self._renderer = QSvgRenderer(str(svg))
        if not self._renderer.isValid():
            raise SystemExit(f"render_icons: {svg} is not a valid SVG for QtSvg")
        self._cache: dict[int, bytes] = {}

    def png(self, size: int) -> bytes:
        if size not in self._cache:
            from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF
            from PySide6.QtGui import QImage, QPainter

            image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(0)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            self._renderer.render(painter, QRectF(0, 0, size, size))
            painter.end()
            data = QByteArray()
            buffer = QBuffer(data)
            buffer.open(QIODevice.OpenModeFlag.WriteOnly)
            # Straight alpha in the file: premultiplied pixels are converted first.
            if not image.convertToFormat(QImage.Format.Format_ARGB32).save(buffer, "PNG"):
                raise SystemExit(f"render_icons: PNG encoding failed at {size}px")
            buffer.close()
            self._cache[size] = bytes(data.data())
        return self._cache[size]


def ico_bytes(images: dict[int, bytes]) -> bytes:
    """A Windows .ico whose entries are PNG images (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, payload = b"", b""
    for size, png in sorted(images.items()):
        # Width/height 0 means 256; planes 1, 32 bits per pixel.
        dim = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(png), offset)
        payload += png
        offset += len(png)
    return header + entries + payload


def icns_bytes(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A macOS .icns: big-endian type/length chunks holding PNG data."""
    body = b"".join(kind + struct.pack(">I", 8 + len(data)) + data for kind, data in chunks)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--svg",
        type=Path,
        default=ROOT / "resources" / "icons" / f"{_desktop_file_id()}.svg",
        help="source SVG (default: the app icon)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "resources" / "icons" / "hicolor",
        help="hicolor theme root for the PNGs (default: resources/icons/hicolor)",
    )
    parser.add_argument(
        "--no-platform-icons", action="store_true", help="skip the .ico and .icns files"
    )
    args = parser.parse_args(argv)

    renderer = IconRenderer(args.svg)
    written = [
        _write(args.out / f"{n}x{n}" / "apps" / f"{args.svg.stem}.png", renderer.png(n))
        for n in SIZES
    ]
    if not args.no_platform_icons:
        ico = ico_bytes({n: renderer.png(n) for n in ICO_SIZES})
        written.append(_write(ROOT / "packaging" / "windows" / "smooch-desktop.ico", ico))
        icns = icns_bytes([(kind, renderer.png(n)) for kind, n in ICNS_TYPES])
        written.append(_write(ROOT / "packaging" / "macos" / "smooch-desktop.icns", icns))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
