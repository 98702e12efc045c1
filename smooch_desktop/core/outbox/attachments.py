"""Files waiting to be sent: what is checked before an upload, and the private copies.

An attachment in the outbox never depends on the file the agent picked: the moment it
is attached, it is checked (a regular, readable, non-empty file within the API's size
limit for the version in use) and *copied* into the outbox's own folder
(``DATA/attachments/``, private like the outbox), fsynced and renamed into place before
anything refers to it. The outbox entry names that copy (:class:`Attachment`); the
delivery engine uploads from it; it is deleted when the message is delivered or
discarded, and copies no open entry names are pruned at start-up (a kill between the copy
and the commit, or an attachment removed from the composer). Why a copy and not the
bytes in the SQLite row: a 50 MB row would be written twice (WAL, then the database)
with ``synchronous=FULL`` on the GUI thread at Send, and rewritten whole whenever the
outbox file is written back; a copy is made once, on a worker, while the agent is still
typing the caption, and the commit at Send stays a few hundred bytes.

Type: an image message needs a picture every channel shows, so a file is an ``image``
only when its first bytes are a PNG, JPEG, GIF or WebP signature (a ``.png`` that is not
one is sent as a ``file``); anything else is a ``file`` with the type its name suggests.
The API accepts files of any type (its documentation points to a file-validation guide
this project has no copy of), so no type is refused here; empty files, folders and
unreadable files are.

Plain Python: no Qt and no outbox transactions here (those are in :mod:`.store`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import mimetypes
import os
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

MIB: Final = 1024 * 1024
#: The largest file each API version accepts: v1.1 answers 413 past 10 MB, v2's spec
#: says "File upload: 50mb" (25 MB in its 2020 edition; the current one is used).
UPLOAD_LIMITS: Final = {"v1.1": 10 * MIB, "v2": 50 * MIB}
#: Image types every channel shows as a picture, by their first bytes.
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_COPY_BLOCK: Final = 1024 * 1024
DIR_NAME: Final = "attachments"
#: A file name longer than this is cut (keeping its extension).
NAME_LIMIT: Final = 200


class AttachmentRefused(Exception):
    """The file can't be attached; ``str()`` says why in one sentence for the agent."""


@dataclass(frozen=True)
class Attachment:
    """A file kept for sending: its private copy, and how it is presented."""

    #: The copy's name inside the attachments folder.
    file: str
    #: The name the end user sees.
    filename: str
    media_type: str
    size: int

    @property
    def kind(self) -> str:
        """The message type it is sent as: ``image`` or ``file``."""
        return "image" if self.media_type in IMAGE_TYPES else "file"

    def to_json(self) -> str:
        return json.dumps(
            {
                "file": self.file,
                "filename": self.filename,
                "mediaType": self.media_type,
                "size": self.size,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> Attachment:
        data = json.loads(raw)
        return cls(
            file=str(data["file"]),
            filename=str(data.get("filename") or "file"),
            media_type=str(data.get("mediaType") or "application/octet-stream"),
            size=int(data.get("size") or 0),
        )


IMAGE_TYPES: Final = frozenset(kind for _, kind in _SIGNATURES) | {"image/webp"}


def limit_for(version: str) -> int:
    """The largest file the API ``version`` accepts (v1.1's for anything unknown)."""
    return UPLOAD_LIMITS.get(str(version), UPLOAD_LIMITS["v1.1"])


def size_in_words(size: int) -> str:
    """``size`` bytes the way the limits are written: "10 MB", "2.4 MB", "812 KB"."""
    if size >= MIB:
        value = size / MIB
        return f"{value:.0f} MB" if value >= 10 or value == int(value) else f"{value:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} byte" + ("" if size == 1 else "s")


def check_size(name: str, size: int, version: str) -> None:
    """Refuse a file larger than ``version`` accepts (with the limit in words)."""
    limit = limit_for(version)
    if size > limit:
        raise AttachmentRefused(
            f"{name} is {size_in_words(size)}; API {version} accepts files up to "
            f"{size_in_words(limit)}."
        )


def _check_size(name: str, size: int, version: str) -> None:
    if size <= 0:
        raise AttachmentRefused(f"{name} is empty; there is nothing to send.")
    check_size(name, size, version)


def media_type_of(name: str, head: bytes) -> str:
    """The media type: an image type from the first bytes, else from the name."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None or guessed in IMAGE_TYPES:
        # A name that says "picture" over bytes that are not one: a plain file.
        return "application/octet-stream"
    return guessed


def clean_filename(name: str) -> str:
    """The last part of ``name``, without control characters, bounded; "file" if empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    base = unicodedata.normalize("NFC", base)
    if len(base) > NAME_LIMIT:
        _stem, dot, ext = base.rpartition(".")
        keep = ext if dot and 0 < len(ext) <= 16 else ""
        base = base[: NAME_LIMIT - len(keep) - 1] + ("." + keep if keep else "")
    return base if base not in ("", ".", "..") else "file"


def _disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


class AttachmentFiles:
    """The private copies of files waiting to be sent, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, attachment: Attachment) -> Path:
        return self.folder / attachment.file

    def open(self, attachment: Attachment) -> BinaryIO:
        """The copy, for reading (FileNotFoundError if it is gone)."""
        return self.path(attachment).open("rb")

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.folder, 0o700)

    def stage_file(self, source: Path, version: str) -> Attachment:
        """Check ``source`` and keep a private copy of it (see the module doc)."""
        name = clean_filename(source.name)
        try:
            if not source.exists():
                raise AttachmentRefused(f"{name} is no longer there.")
            if source.is_dir():
                raise AttachmentRefused(f"{name} is a folder; attach the files in it instead.")
            if not source.is_file():
                raise AttachmentRefused(f"{name} is not a file that can be sent.")
            size = source.stat().st_size
            _check_size(name, size, version)
            with source.open("rb") as reader:
                head = reader.read(16)
                reader.seek(0)
                return self._copy(reader, name, media_type_of(name, head), version)
        except AttachmentRefused:
            raise
        except FileNotFoundError:
            raise AttachmentRefused(f"{name} is no longer there.") from None
        except PermissionError:
            raise AttachmentRefused(f"{name} can't be read (no permission).") from None
        except OSError as exc:
            raise AttachmentRefused(f"{name} can't be read: {exc.strerror or exc}.") from None

    def stage_bytes(self, filename: str, data: bytes, version: str) -> Attachment:
        """Check ``data`` (e.g. a pasted image) and keep it as a private copy."""
        import io

        name = clean_filename(filename)
        _check_size(name, len(data), version)
        return self._copy(io.BytesIO(data), name, media_type_of(name, data[:16]), version)

    def _copy(self, reader: BinaryIO, name: str, media_type: str, version: str) -> Attachment:
        file = uuid.uuid4().hex
        temp = self.folder / f".{file}.tmp"
        size = 0
        try:
            self._ensure_folder()
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "wb") as writer:
                while block := reader.read(_COPY_BLOCK):
                    size += len(block)
                    _check_size(name, size, version)  # it grew while being copied
                    writer.write(block)
                writer.flush()
                os.fsync(writer.fileno())
            _check_size(name, size, version)
            os.replace(temp, self.folder / file)
            self._sync_folder()
        except AttachmentRefused:
            _unlink(temp)
            raise
        except OSError as exc:
            _unlink(temp)
            if _disk_full(exc):
                raise AttachmentRefused(
                    f"There is not enough disk space to keep a copy of {name} for sending "
                    f"({self.folder}). Free some space, then attach it again."
                ) from None
            raise AttachmentRefused(
                f"A copy of {name} can't be kept for sending in {self.folder}: "
                f"{exc.strerror or exc}."
            ) from None
        return Attachment(file=file, filename=name, media_type=media_type, size=size)

    def _sync_folder(self) -> None:
        """Make the rename durable (POSIX; Windows has no directory fsync)."""
        if os.name != "posix":
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, attachment: Attachment) -> None:
        """Delete the copy (best effort: a copy left behind is pruned at the next start)."""
        _unlink(self.path(attachment))

    def prune(self, keep: Iterable[str]) -> int:
        """Delete every copy (and half-written one) whose name is not in ``keep``."""
        kept = set(keep)
        removed = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 0
        for name in names:
            if name in kept:
                continue
            if _unlink(self.folder / name):
                removed += 1
        return removed


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True
