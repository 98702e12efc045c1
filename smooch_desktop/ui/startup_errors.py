"""Saying why the app can't start or go on: on stderr, and in a box a person can see.

A desktop launch has no terminal, so a message only on stderr is a window that never
appears (or vanishes). Without a screen (the offscreen/minimal platforms: tests, CI)
no box is shown, since nobody could close it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from smooch_desktop import appinfo


def report_fatal(text: str, parent: object = None) -> int:
    """Print ``text`` to stderr and show it in a box when there is a screen; returns 1."""
    print(f"{appinfo.APP_ID}: {text}", file=sys.stderr, flush=True)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox, QWidget

    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return 1
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        appinfo.NAME,
        text[:1].upper() + text[1:],  # a sentence in the box; "app: can't …" on stderr
        QMessageBox.StandardButton.Close,
        parent if isinstance(parent, QWidget) else None,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)  # paths and OS reasons are shown literally
    box.exec()
    return 1


def unwritable_reason(folder: Path) -> str:
    """Why files can't be created in ``folder``, in the OS's words ('' if they can)."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        with open(probe, "xb") as handle:
            # Some bytes, not an empty file: a full disk still has room for a name.
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        return exc.strerror or type(exc).__name__
    with contextlib.suppress(OSError):
        probe.unlink()
    return ""
