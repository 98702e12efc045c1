"""An upload's ``multipart/form-data`` body, streamed from a file with progress and cancel.

``requests`` builds a ``files=`` body in memory in one go: a 50 MB attachment would be
copied twice into RAM, and nothing could report how much of it went out or stop it
half-way. :class:`UploadBody` is the same body (one form field holding one file) as a
readable object of known length: ``requests`` sends it with a ``Content-Length`` and reads
it in blocks while the socket takes them, so each ``read`` is a progress report, and a
``progress`` callback that raises :class:`~smooch_desktop.api.errors.UploadCancelled`
stops the upload at the next block (the connection is then dropped, never reused).

Hand-written rather than ``requests-toolbelt``'s ``MultipartEncoder``: the body has
exactly one field, so it is a prefix, the file and a suffix (about forty lines); the
toolbelt ships no type information (``mypy --strict`` runs on the package) and would be a
dependency for this alone. The header follows what ``urllib3`` writes for ``files=``
(RFC 7578: the file name as UTF-8 in quotes, ``"`` and line breaks percent-escaped), so
servers parse it as they parse ``requests``' own bodies.

Only plain values and file objects here: no threads, no retries (the delivery engine
decides what a failed upload means).
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from typing import BinaryIO

#: ``progress(sent, total)``: bytes of the body handed to the socket so far, of all.
Progress = Callable[[int, int], None]


def _quote(name: str) -> str:
    """A file name for a ``filename="…"`` parameter (RFC 7578 §4.2, as urllib3 does)."""
    escaped = name.replace("\\", "\\\\").replace('"', "%22")
    return "".join(f"%{ord(ch):02X}" if ord(ch) < 0x20 and ch != "\x1b" else ch for ch in escaped)


class UploadBody:
    """One file as the ``field`` of a multipart form, read block by block.

    ``source`` is bytes or a binary file positioned at the start of the data (it is read
    to its end; the caller opens and closes it). ``progress`` is called after each block
    with the bytes handed out so far and the total.
    """

    def __init__(
        self,
        field: str,
        filename: str,
        source: bytes | BinaryIO,
        media_type: str,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{_quote(filename)}"\r\n'
            f"Content-Type: {media_type or 'application/octet-stream'}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._file: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
        self.file_size = file_size(self._file)
        self._parts: list[bytes | BinaryIO] = [head, self._file, tail]
        self._total = len(head) + self.file_size + len(tail)
        self._sent = 0
        self._progress = progress

    def __len__(self) -> int:
        return self._total

    @property
    def sent(self) -> int:
        return self._sent

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (all the rest for -1); b"" at its end."""
        want = self._total - self._sent if size is None or size < 0 else size
        out = bytearray()
        while self._parts and len(out) < want:
            part = self._parts[0]
            if isinstance(part, bytes):
                take = part[: want - len(out)]
                out += take
                rest = part[len(take) :]
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
            else:
                chunk = part.read(want - len(out))
                if chunk:
                    out += chunk
                else:
                    self._parts.pop(0)
        self._sent += len(out)
        if self._sent > self._total:
            # The file grew while it was read: the Content-Length would lie.
            raise OSError("The file changed while it was being uploaded.")
        if self._progress is not None and out:
            self._progress(self._sent, self._total)
        return bytes(out)


def file_size(source: BinaryIO) -> int:
    """Bytes from ``source``'s position to its end (the position is kept)."""
    try:
        return os.fstat(source.fileno()).st_size - source.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(here)
        return end - here
