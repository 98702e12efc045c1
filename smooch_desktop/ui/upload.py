"""Attaching files in the window: the checks and copy off the GUI thread, and the strip
of uploads in progress (a progress bar and Cancel for each).

* :class:`AttachmentStager` turns what the agent picked, dropped or pasted into an
  :class:`~smooch_desktop.core.outbox.Attachment` (checked and copied into the outbox's
  folder by :mod:`smooch_desktop.core.outbox.attachments`) on a short-lived worker
  thread: reading and fsyncing a 50 MB file, or encoding a pasted screenshot as PNG, must
  not freeze the window. Results come back as queued signals, tagged with a token so a
  result the agent no longer waits for (removed, or replaced by another file) is ignored.
* :class:`UploadStrip` lists the attachments that were sent from the composer and are
  not uploaded yet, with their progress and Cancel (which discards the message and its
  copy; once the file is uploaded the row goes, and the message is an ordinary one).

It holds no outbox or delivery state of its own: the main window wires it to
:class:`~smooch_desktop.ui.delivery.DeliveryService`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.core.outbox import (
    Attachment,
    EntryState,
    OutboxEntry,
    size_in_words,
)
from smooch_desktop.core.outbox.attachments import AttachmentFiles, AttachmentRefused
from smooch_desktop.ui.plain import ElidedLabel, inline


def pasted_image_name(now: float | None = None) -> str:
    """The name a pasted image is sent under: ``pasted-image-20250102-150405.png``."""
    return time.strftime("pasted-image-%Y%m%d-%H%M%S.png", time.localtime(now))


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as PNG (QImage is safe to use off the GUI thread)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]  # PySide6 takes str
        raise AttachmentRefused("The pasted image could not be encoded as PNG.")
    buffer.close()
    return bytes(data.data())


class AttachmentStager(QObject):
    """Checks and copies files for attaching, each on a worker thread.

    Signals:
        staged(int, object): (token, Attachment) — the copy is made.
        refused(int, str): (token, why in one sentence) — nothing was kept.
    """

    staged = Signal(int, object)
    refused = Signal(int, str)

    def __init__(self, files: AttachmentFiles, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.files = files
        self._tokens = 0
        self._threads: list[threading.Thread] = []

    def stage_path(self, path: Path, version: str) -> int:
        """Start checking and copying ``path``; returns the token its result carries."""
        return self._start(lambda: self.files.stage_file(path, version))

    def stage_image(self, image: QImage, version: str, name: str = "") -> int:
        """Start encoding a pasted ``image`` as PNG and keeping it; returns its token."""
        copy = image.copy()  # detached from the clipboard's
        filename = name or pasted_image_name()
        return self._start(lambda: self.files.stage_bytes(filename, png_bytes(copy), version))

    def _start(self, job: Callable[[], Attachment]) -> int:
        self._tokens += 1
        token = self._tokens

        def run() -> None:
            try:
                attachment = job()
            except AttachmentRefused as exc:
                with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
                    self.refused.emit(token, str(exc))
                return
            except Exception as exc:  # report, never lose silently
                with contextlib.suppress(RuntimeError):
                    self.refused.emit(token, f"The file could not be attached: {exc}")
                return
            with contextlib.suppress(RuntimeError):
                self.staged.emit(token, attachment)

        thread = threading.Thread(target=run, name="attach-file", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return token

    def wait(self, timeout_s: float = 10.0) -> bool:
        """Wait for running jobs (tests and shutdown); True if none is left."""
        end = time.monotonic() + timeout_s
        for thread in list(self._threads):
            thread.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)


class _UploadRow(QWidget):
    def __init__(self, client_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client_id = client_id
        self.setObjectName("uploadRow")
        # File names and user ids come from outside: plain, one elided line.
        self.label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.label.setObjectName("uploadLabel")
        self.bar = QProgressBar()
        self.bar.setObjectName("uploadProgress")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setMaximumWidth(220)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("uploadCancel")
        self.cancel.setToolTip("Don't send this file (its message is discarded)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.bar)
        row.addWidget(self.cancel)


class UploadStrip(QWidget):
    """Attachments waiting for their upload: name, recipient, progress, Cancel.

    Signals:
        cancelRequested(str): the client id of the attachment to cancel.
    """

    cancelRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("uploadStrip")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._rows: dict[str, _UploadRow] = {}
        self.hide()

    def rows(self) -> dict[str, _UploadRow]:
        return dict(self._rows)

    def track(self, entry: OutboxEntry) -> None:
        """Show, update or drop ``entry``'s row as it moves on (any entry may be passed)."""
        attachment = entry.attachment
        waiting = (
            attachment is not None
            and entry.needs_upload
            and entry.state in (EntryState.QUEUED, EntryState.FAILED)
        )
        if not waiting or attachment is None:
            self.forget(entry.client_id)
            return
        row = self._rows.get(entry.client_id)
        if row is None:
            row = _UploadRow(entry.client_id, self)
            row.cancel.clicked.connect(lambda: self.cancelRequested.emit(row.client_id))
            self._rows[entry.client_id] = row
            self._layout.addWidget(row)
            row.bar.setValue(0)
            row.bar.setFormat("waiting")
        name = inline(attachment.filename, 60, one_line=True)
        to = inline(entry.user_ref, 40, one_line=True)
        text = f"Uploading {name} ({size_in_words(attachment.size)}) to {to}"
        if entry.state is EntryState.FAILED:
            text = (
                f"Not sent: {name} to {to} — {inline(entry.error_text or '', 200, one_line=True)}"
            )
            row.bar.setFormat("failed")
            row.cancel.setText("Remove")
        elif entry.error_text:
            text += f" — {inline(entry.error_text, 200, one_line=True)}"
            row.cancel.setText("Cancel")
        row.label.setText(text)
        row.label.setToolTip(text)
        self.setVisible(bool(self._rows))

    @Slot(str, int, int)
    def progress(self, client_id: str, sent: int, total: int) -> None:
        row = self._rows.get(client_id)
        if row is None or total <= 0:
            return
        row.bar.setValue(min(1000, sent * 1000 // total))
        row.bar.setFormat(f"{size_in_words(sent)} of {size_in_words(total)}")

    def forget(self, client_id: str) -> None:
        row = self._rows.pop(client_id, None)
        if row is not None:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.setVisible(bool(self._rows))
