"""Attachments in the outbox: the checks before an upload, the private copies, schema 5.

Real files in temp folders; the one simulated failure is a full disk (``os.fsync``
raising ENOSPC, where a full disk shows on a copy that fits the page cache).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from smooch_desktop.api.models import OutgoingMessage
from smooch_desktop.core.outbox import (
    Attachment,
    AttachmentRefused,
    EntryState,
    Outbox,
    OutboxStateError,
    limit_for,
    size_in_words,
)
from smooch_desktop.core.outbox.attachments import AttachmentFiles, clean_filename, media_type_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
MIB = 1024 * 1024


def test_limits_are_the_apis_and_said_in_words() -> None:
    assert limit_for("v1.1") == 10 * MIB and limit_for("v2") == 50 * MIB
    assert size_in_words(10 * MIB) == "10 MB" and size_in_words(int(2.4 * MIB)) == "2.4 MB"
    assert size_in_words(812 * 1024) == "812 KB" and size_in_words(1) == "1 byte"


@pytest.mark.parametrize(("version", "limit"), [("v1.1", "10 MB"), ("v2", "50 MB")])
def test_a_file_over_the_versions_limit_is_refused_before_any_copy(
    tmp_path: Path, version: str, limit: str
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(limit_for(version) + 1)
    files = AttachmentFiles(tmp_path / "attachments")
    with pytest.raises(AttachmentRefused) as refused:
        files.stage_file(big, version)
    assert f"API {version} accepts files up to {limit}" in str(refused.value)
    assert not (tmp_path / "attachments").exists() or not os.listdir(tmp_path / "attachments")


def test_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    source = tmp_path / "edge.bin"
    source.write_bytes(b"\1" * limit_for("v1.1"))
    kept = AttachmentFiles(tmp_path / "a").stage_file(source, "v1.1")
    assert kept.size == limit_for("v1.1") and kept.kind == "file"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "is no longer there"),
    ],
)
def test_empty_files_folders_and_missing_files_are_refused(
    tmp_path: Path, make: object, words: str
) -> None:
    target = tmp_path / "thing.txt"
    make(target)  # type: ignore[operator]
    with pytest.raises(AttachmentRefused, match=words):
        AttachmentFiles(tmp_path / "a").stage_file(target, "v2")


def test_type_comes_from_the_bytes_for_images_and_the_name_otherwise() -> None:
    assert media_type_of("x.bin", PNG) == "image/png"
    assert media_type_of("photo.jpg", b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert media_type_of("a.gif", b"GIF89a...") == "image/gif"
    assert media_type_of("a", b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert media_type_of("fake.png", b"not a picture") == "application/octet-stream"
    assert media_type_of("report.pdf", b"%PDF-1.7") == "application/pdf"
    assert media_type_of("noext", b"hello") == "application/octet-stream"


def test_file_names_are_cleaned() -> None:
    assert clean_filename("C:\\Users\\me\\a\x07b.png") == "ab.png"
    assert clean_filename("..") == "file" and clean_filename("") == "file"
    long = clean_filename("x" * 500 + ".pdf")
    assert len(long) <= 200 and long.endswith(".pdf")


def test_a_copy_is_private_and_independent_of_the_original(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(PNG)
    files = AttachmentFiles(tmp_path / "attachments")
    kept = files.stage_file(source, "v1.1")
    source.unlink()  # the agent moves or deletes the original: the copy stays
    assert files.path(kept).read_bytes() == PNG
    assert kept.kind == "image" and kept.media_type == "image/png"
    assert kept.filename == "photo.png" and kept.size == len(PNG)
    assert (files.path(kept).stat().st_mode & 0o777) == 0o600
    assert (files.folder.stat().st_mode & 0o777) == 0o700
    assert Attachment.from_json(kept.to_json()) == kept


def test_a_full_disk_refuses_in_words_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    files = AttachmentFiles(tmp_path / "attachments")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(AttachmentRefused, match=r"not enough disk space.*photo\.png"):
        files.stage_bytes("photo.png", PNG, "v2")
    assert os.listdir(files.folder) == []


def test_schema_4_files_gain_the_attachment_column(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.enqueue("p", "u", OutgoingMessage("before"))
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE outbox DROP COLUMN attachment")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    with Outbox(path) as outbox:
        (entry,) = outbox.all_entries("p")
        assert entry.attachment is None and not entry.needs_upload
        assert entry.message.text == "before"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    conn.close()


def enqueue_file(outbox: Outbox) -> tuple[Attachment, str]:
    kept = outbox.files.stage_bytes("photo.png", PNG, "v2")
    message = OutgoingMessage("caption", type="image", media_type=kept.media_type)
    entry = outbox.enqueue("p", "u", message, attachment=kept)
    assert entry.needs_upload and entry.attachment == kept
    return kept, entry.client_id


def test_set_media_is_committed_once_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        kept, cid = enqueue_file(outbox)
        entry = outbox.set_media(cid, "https://media.example/p.png", "image/png")
        assert not entry.needs_upload and entry.state is EntryState.QUEUED
        with pytest.raises(OutboxStateError):
            outbox.set_media(cid, "https://media.example/other.png", "image/png")
    with Outbox(path) as outbox:
        reopened = outbox.get(cid)
        assert reopened is not None
        assert reopened.message.media_url == "https://media.example/p.png"
        assert reopened.message.text == "caption" and reopened.attachment == kept


def test_the_copy_goes_when_sent_or_discarded_and_strays_are_pruned(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        sent, cid = enqueue_file(outbox)
        outbox.set_media(cid, "https://media.example/p.png", "image/png")
        outbox.mark_sending(cid)
        outbox.mark_sent(cid, "server-id", 1.0)
        assert not outbox.files.path(sent).exists()

        dropped, cid2 = enqueue_file(outbox)
        outbox.discard(cid2)
        assert not outbox.files.path(dropped).exists()

        failed, cid3 = enqueue_file(outbox)
        outbox.fail_upload(cid3, status=413, code="too_large", text="too big")
        stray = outbox.files.stage_bytes("left.png", PNG, "v2")  # never enqueued
        assert outbox.prune_attachments() == 1
        assert outbox.files.path(failed).exists()  # failed is still open: Retry needs it
        assert not outbox.files.path(stray).exists()
        retried = outbox.retry(cid3)
        assert retried.state is EntryState.QUEUED and retried.needs_upload
