"""Attaching files in the window, on v1.1 and v2, against the real sandbox.

Pasting a 2 MB PNG puts a file line under the composer; Send uploads it on the upload
queue (a thread of its own) with a progress bar in the strip, and the sandbox then holds
one image message with the caption. Refusals (over the version's limit, in words) keep
the text; dropping files on the window attaches them; Cancel discards a waiting upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtTest import QTest
from ui_stack import UiStack

from smooch_desktop.core.outbox import EntryState, limit_for
from smooch_desktop.sandbox.demo import DEMO_ALICE_ID
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.workers import TaskQueue

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def upload_stack(stack_factory: Callable[..., UiStack]) -> Iterator[UiStack]:
    """The stack with its own upload queue, as the controller wires it."""
    uploads = TaskQueue("uploads")
    stack = stack_factory(uploads=uploads)
    yield stack
    stack.delivery.abandon_uploads()
    assert uploads.stop(5000)
    uploads.deleteLater()


def noisy_image(width: int = 1024, height: int = 700) -> QImage:
    """An image whose PNG is about 2 MB (noise does not compress)."""
    import random

    rng = random.Random(7)
    image = QImage(width, height, QImage.Format.Format_RGB32)
    for y in range(height):
        for x in range(width):
            image.setPixel(x, y, rng.getrandbits(24))
    return image


def wait_file_ready(stack: UiStack, window: MainWindow) -> None:
    stack.qtbot.waitUntil(lambda: window.composer.has_file, timeout=10_000)


def business_messages(stack: UiStack) -> list[dict[str, Any]]:
    return [m for m in stack.messages(DEMO_ALICE_ID) if m.get("role") == "appMaker"]


def test_pasting_a_2_mb_png_uploads_with_progress_and_sends_one_image_message(
    upload_stack: UiStack,
) -> None:
    stack = upload_stack
    window = stack.new_window()
    stack.open_user(window, DEMO_ALICE_ID)
    before = len(business_messages(stack))
    image = noisy_image()
    QGuiApplication.clipboard().setImage(image)
    window.composer.edit.setFocus()
    QTest.keyClick(window.composer.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    wait_file_ready(stack, window)
    assert window.composer.text() == ""  # the image was not pasted as text
    label = window.composer.file_label.text()
    assert "pasted-image-" in label and ".png" in label and "image" in label
    QTest.keyClicks(window.composer.edit, "The screenshot")
    progress: list[tuple[str, int, int]] = []
    stack.delivery.uploadProgress.connect(lambda c, s, t: progress.append((c, s, t)))
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.composer.text() == "" and not window.composer.file_line.isVisible()
    strip = window.upload_strip
    assert strip is not None
    stack.qtbot.waitUntil(lambda: len(business_messages(stack)) == before + 1, timeout=20_000)
    stack.qtbot.waitUntil(lambda: not strip.rows(), timeout=10_000)
    sent = business_messages(stack)[-1]
    assert sent["type"] == "image" and sent["text"] == "The screenshot"
    details = stack.sandbox.store.media_details(sent["mediaUrl"])
    assert details["mediaType"] == "image/png" and details["size"] > 1_500_000
    assert details["filename"].startswith("pasted-image-")
    assert progress and progress[-1][1] == progress[-1][2]  # reported to the end
    (entry,) = [e for e in stack.outbox.all_entries() if e.attachment is not None]
    stack.qtbot.waitUntil(
        lambda: stack.outbox.get(entry.client_id).state is EntryState.SENT,  # type: ignore[union-attr]
        timeout=10_000,
    )
    # The copy goes right after the "sent" commit, on the API thread: wait for it too.
    copy = stack.outbox.files.path(entry.attachment)  # type: ignore[arg-type]
    stack.qtbot.waitUntil(lambda: not copy.exists(), timeout=10_000)


def test_a_file_over_the_limit_is_refused_in_words_and_the_text_is_kept(
    upload_stack: UiStack, api_version: str, tmp_path: Path
) -> None:
    stack = upload_stack
    window = stack.new_window()
    stack.open_user(window, DEMO_ALICE_ID)
    big = tmp_path / "video.mp4"
    with big.open("wb") as f:
        f.truncate(limit_for(api_version) + 1)
    QTest.keyClicks(window.composer.edit, "my words")
    window._attach_paths([str(big)])
    limit = "10 MB" if api_version == "v1.1" else "50 MB"
    stack.qtbot.waitUntil(lambda: window.composer.error.isVisible(), timeout=10_000)
    assert f"accepts files up to {limit}" in window.composer.error.text()
    assert window.composer.text() == "my words" and not window.composer.has_file
    assert not window.composer.file_line.isVisible()


def test_files_dropped_on_the_window_attach_the_first_and_remove_deletes_its_copy(
    upload_stack: UiStack, tmp_path: Path
) -> None:
    stack = upload_stack
    window = stack.new_window()
    stack.open_user(window, DEMO_ALICE_ID)
    one, two = tmp_path / "a.pdf", tmp_path / "b.pdf"
    one.write_bytes(b"%PDF-1.4 one")
    two.write_bytes(b"%PDF-1.4 two")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(one)), QUrl.fromLocalFile(str(two))])
    assert window.composer.edit.canInsertFromMimeData(mime)
    window.composer.edit.insertFromMimeData(mime)  # what a drop on the box does
    wait_file_ready(stack, window)
    assert "a.pdf — file" in window.composer.file_label.text()
    assert "One file per message" in window.composer.note.text()
    assert window.composer.send_button.isEnabled()  # a file alone can be sent
    (copy,) = [p for p in stack.outbox.files.folder.iterdir()]
    window.composer.file_remove.click()
    assert not window.composer.file_line.isVisible() and not copy.exists()


def test_cancel_discards_a_waiting_upload_and_the_next_message_goes(
    upload_stack: UiStack, tmp_path: Path
) -> None:
    stack = upload_stack
    window = stack.new_window()
    stack.open_user(window, DEMO_ALICE_ID)
    before = len(business_messages(stack))
    source = tmp_path / "notes.txt"
    source.write_bytes(b"x" * 1000)
    # Hold the upload queue so the upload is still waiting when Cancel is pressed.
    import threading

    release = threading.Event()
    assert stack.delivery._uploads is not stack.tasks
    stack.delivery._uploads.submit(lambda: release.wait(10), kind="test-hold")
    window._attach_paths([str(source)])
    wait_file_ready(stack, window)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    strip = window.upload_strip
    assert strip is not None
    stack.qtbot.waitUntil(lambda: len(strip.rows()) == 1, timeout=5_000)
    QTest.keyClicks(window.composer.edit, "after the file")
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
    # The text waits behind the file (one line per user), while typing goes on.
    (row,) = strip.rows().values()
    row.cancel.click()
    release.set()
    assert not strip.rows()
    stack.qtbot.waitUntil(lambda: len(business_messages(stack)) == before + 1, timeout=10_000)
    assert business_messages(stack)[-1]["text"] == "after the file"
    assert not [p for p in stack.outbox.files.folder.iterdir()]
    assert not [e for e in stack.outbox.all_entries() if e.attachment is not None]


def test_a_long_hostile_file_name_is_one_plain_line_and_never_widens_the_window(
    upload_stack: UiStack, tmp_path: Path
) -> None:
    stack = upload_stack
    window = stack.new_window()
    stack.open_user(window, DEMO_ALICE_ID)
    width = window.width()
    name = "<b>bold &amp; " + "x" * 200 + ".pdf"
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4 hostile")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.composer.edit.insertFromMimeData(mime)
    wait_file_ready(stack, window)
    QTest.qWait(50)  # let the layout settle
    label = window.composer.file_label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>bold &amp; " in label.text()  # the name as it is, never markup
    assert window.width() == width
    assert label.width() < window.width()
    window.composer.file_remove.click()
