"""Thumbnails, full-size images and file downloads for the conversation history.

:class:`MediaLoader` fetches a message's image on a worker thread, decodes it there
(``QImageReader`` straight to thumbnail size, so a 12-megapixel photo never exists in
memory at full size), and hands the GUI thread a small ``QImage`` that becomes a
``QPixmap`` in microseconds. Thumbnails are kept

* in memory, in an LRU bounded by :data:`THUMBNAIL_MEMORY_BYTES` (32 MiB: about 190
  thumbnails of 240x180 px, 48 on a 2x screen; a screen shows about five); an evicted
  thumbnail comes back from disk;
* on disk under ``CACHE/media/`` (encoded thumbnails, 30 days, pruned once per run), so a
  restart does not fetch the history's images again.

Only https URLs are fetched, and http on a loopback host (the sandbox); every request has
one total deadline; the body is cut at a size limit; an image that cannot be fetched or
decoded gets a reason in words (:meth:`MediaLoader.failure`) and is drawn as broken, never
retried in a loop. Full-size images (the viewer) and file downloads ("Save…") run on a
second worker so a big download never holds thumbnails up. Both worker threads start at
the first request and stop in :meth:`MediaLoader.stop`; a later request starts them again.

Workers return plain data (``QImage`` is not a GUI object); nothing here draws, and the
avatar loader (:mod:`.avatar_loader`) is separate and unchanged.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QSize, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage, QImageReader, QImageWriter, QPixmap

from smooch_desktop.ui.conversation.content import fetchable_media_url
from smooch_desktop.ui.workers import TaskQueue

#: Memory the thumbnails may take (decoded pixels, 4 bytes each); least recently used go first.
THUMBNAIL_MEMORY_BYTES: Final = 32 * 1024 * 1024
#: A thumbnail covers this box wide and 3/4 of it high (logical px; times the pixel ratio).
THUMBNAIL_BOX: Final = 240
#: Largest image fetched for a thumbnail or the viewer.
MAX_IMAGE_BYTES: Final = 25 * 1024 * 1024
#: Larger images are refused before decoding (a small file can claim a huge size).
MAX_IMAGE_PIXELS: Final = 100_000_000
#: The viewer decodes at most this many pixels (larger images are scaled while decoding).
VIEWER_PIXELS: Final = 16_000_000
#: Largest file "Save…" writes.
MAX_FILE_BYTES: Final = 200 * 1024 * 1024
#: Total time one thumbnail or image may take; a file download gets more.
DEADLINE_S: Final = 20.0
FILE_DEADLINE_S: Final = 600.0
_TIMEOUT = (3.0, 10.0)
#: Thumbnails queued beyond this many are dropped, oldest first (scrolled past).
_MAX_QUEUED: Final = 24
_DISK_MAX_AGE_S: Final = 30 * 24 * 3600
_CHUNK: Final = 256 * 1024


class MediaError(Exception):
    """An image or file could not be fetched, decoded or written; the message says why."""


class _Thumb(NamedTuple):
    url: str
    image: QImage


class FullImage(NamedTuple):
    """A decoded full-size image (possibly scaled to :data:`VIEWER_PIXELS`) and its size."""

    image: QImage
    width: int
    height: int
    size: int


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the server"
    except ValueError:
        return "the server"


def decode_image(
    data: bytes, box: tuple[int, int] | None, max_pixels: int = VIEWER_PIXELS
) -> QImage:
    """:func:`decode_sized` without the original size."""
    return decode_sized(data, box, max_pixels)[0]


def decode_sized(
    data: bytes, box: tuple[int, int] | None, max_pixels: int = VIEWER_PIXELS
) -> tuple[QImage, int, int]:
    """Decode ``data`` (any thread): scaled down to cover ``box`` (w, h), or to ``max_pixels``.

    "Cover": the result is at least ``box`` in both directions where the image is (so a
    thumbnail frame is filled without scaling up) and no larger than that needs, its
    longer side at most three boxes.

    Returns the image and the original width and height. Raises :class:`MediaError`
    for data that is not an image or claims too many pixels.
    """
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    try:
        reader = QImageReader(buffer)
        reader.setAutoTransform(True)
        size = reader.size()
        if not size.isValid() or size.isEmpty():
            raise MediaError("the file is not an image this app can show")
        width, height = size.width(), size.height()
        if width * height > MAX_IMAGE_PIXELS:
            raise MediaError(f"the image is too large to show ({width} x {height} pixels)")
        if box is not None:
            box_w, box_h = box
            scale = min(1.0, max(box_w / width, box_h / height))
            scale = min(scale, 3 * max(box_w, box_h) / max(width, height))
        else:
            scale = min(1.0, (max_pixels / (width * height)) ** 0.5)
        if scale < 1.0:
            reader.setScaledSize(QSize(max(1, round(width * scale)), max(1, round(height * scale))))
        image = reader.read()
        if image.isNull():
            raise MediaError("the image could not be decoded")
    finally:
        buffer.close()
    if image.format() not in (
        QImage.Format.Format_ARGB32_Premultiplied,
        QImage.Format.Format_RGB32,
    ):
        alpha = image.hasAlphaChannel()
        image = image.convertToFormat(
            QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32
        )
    return image, width, height


def _encode_png(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    QImageWriter(buffer, QByteArray(b"PNG")).write(image)
    data = bytes(buffer.data().data())
    buffer.close()
    return data


class MediaLoader(QObject):
    """Loads history images as thumbnails (and full size, and files) off the GUI thread.

    ``disk_dir``: where encoded thumbnails are kept (default ``CACHE/media``; None there
    and ``use_disk=False`` keeps nothing on disk). ``box``: thumbnail size in logical px.

    Signals:
        thumbnailReady(str): the thumbnail for this URL is available from :meth:`thumbnail`.
        thumbnailFailed(str, str): URL and the reason in words (drawn as a broken image).
    """

    thumbnailReady = Signal(str)
    thumbnailFailed = Signal(str, str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        disk_dir: Path | None = None,
        use_disk: bool = True,
        box: int = THUMBNAIL_BOX,
        memory_bytes: int = THUMBNAIL_MEMORY_BYTES,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        super().__init__(parent)
        self._disk_dir = disk_dir
        self._use_disk = use_disk
        self._disk: Any = None
        self._box = box
        screen = QGuiApplication.primaryScreen()
        self._dpr = max(1.0, screen.devicePixelRatio()) if screen is not None else 1.0
        self._memory_limit = memory_bytes
        self._deadline_s = deadline_s
        self._thumbs: OrderedDict[str, QPixmap] = OrderedDict()
        self._thumb_bytes = 0
        self._failed: dict[str, str] = {}
        self._in_flight: set[str] = set()
        self._order: deque[str] = deque()
        self._tasks: TaskQueue | None = None
        self._files: TaskQueue | None = None
        self._sessions: dict[int, Any] = {}  # one per worker thread (requests is not thread-safe)
        self._pruned = False
        #: Network requests made and thumbnails evicted (benchmarks and tests read these).
        self.network_requests = 0
        self.evictions = 0

    # GUI-thread API ------------------------------------------------------------------------
    @property
    def memory_limit(self) -> int:
        return self._memory_limit

    def memory_used(self) -> int:
        """Bytes of decoded thumbnail pixels held now (never above :attr:`memory_limit`)."""
        return self._thumb_bytes

    def cached_count(self) -> int:
        return len(self._thumbs)

    def thumbnail(self, url: str) -> QPixmap | None:
        """The thumbnail if loaded; otherwise starts loading it (once) and returns None."""
        found = self._thumbs.get(url)
        if found is not None:
            self._thumbs.move_to_end(url)
            return found
        self.request(url)
        return None

    def failure(self, url: str) -> str | None:
        """Why the image at ``url`` can't be shown, or None (loaded, loading or not asked)."""
        if url in self._failed:
            return self._failed[url]
        if not fetchable_media_url(url):
            return "only images from secure (https) addresses are shown"
        return None

    def is_busy(self) -> bool:
        """True while thumbnails asked for are still being fetched (or reported)."""
        return self._tasks is not None and self._tasks.is_busy()

    def request(self, url: str) -> None:
        """Start loading the thumbnail of ``url`` (no-op if loaded, loading, failed or unsafe)."""
        if url in self._thumbs or url in self._failed or url in self._in_flight:
            return
        if not fetchable_media_url(url):
            return
        tasks = self._thumb_queue()
        self._in_flight.add(url)
        self._order.append(url)
        tasks.submit(
            lambda: self._fetch_thumb(url),
            self._on_thumb,
            lambda exc: self._on_thumb_failed(url, exc),
            kind="thumbnail",
            key=url,
        )
        if len(self._order) > _MAX_QUEUED and tasks.pending_count("thumbnail") > _MAX_QUEUED:
            # The reader scrolled past these: drop the oldest; painting asks again if needed.
            stale: set[str] = set()
            while len(self._order) > _MAX_QUEUED:
                stale.add(self._order.popleft())
            dropped = tasks.drop_pending(lambda t: t.kind == "thumbnail" and t.key in stale)
            if dropped:
                self._in_flight.difference_update(stale)
                # Those still running or done report back normally and are kept.
        if not self._pruned and self._use_disk:
            self._pruned = True
            tasks.submit(self._prune_disk, kind="media-cache-prune")

    def load_full(
        self,
        url: str,
        on_done: Callable[[FullImage], None],
        on_error: Callable[[str], None],
        owner: QObject,
    ) -> None:
        """Fetch and decode ``url`` at full size (up to :data:`VIEWER_PIXELS`) for ``owner``.

        The callbacks run on the GUI thread, and not at all if ``owner`` is gone.
        """
        if not fetchable_media_url(url):
            on_error("only images from secure (https) addresses are shown")
            return

        def fetch() -> FullImage:
            data = self._download_bytes(url, MAX_IMAGE_BYTES, self._deadline_s)
            image, width, height = decode_sized(data, None)
            return FullImage(image, width, height, len(data))

        self._file_queue().submit(
            fetch,
            lambda result: on_done(result),
            lambda exc: on_error(_reason(exc)),
            kind="full-image",
            key=url,
            owner=owner,
        )

    def save_file(
        self,
        url: str,
        target: Path,
        on_done: Callable[[Path, int], None],
        on_error: Callable[[str], None],
        owner: QObject,
        *,
        overwrite: bool,
    ) -> None:
        """Download ``url`` into ``target`` on the download thread.

        The data goes to a temporary file beside ``target`` first, so a cut download never
        leaves half a file; an existing ``target`` is replaced only with ``overwrite``
        (the save dialog asked), else the save fails saying the file exists.
        """
        if not fetchable_media_url(url):
            on_error("only files from secure (https) addresses can be saved")
            return
        target = Path(target)

        def run() -> tuple[Path, int]:
            return target, self._download_to(url, target, overwrite=overwrite)

        self._file_queue().submit(
            run,
            lambda result: on_done(*result),
            lambda exc: on_error(_reason(exc)),
            kind="save-file",
            key=url,
            owner=owner,
        )

    def stop(self) -> None:
        """Stop both worker threads (queued work is dropped); a later request restarts them."""
        for queue in (self._tasks, self._files):
            if queue is not None:
                queue.stop(2000)
        self._tasks = None
        self._files = None
        self._in_flight.clear()
        self._order.clear()
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    # Queues --------------------------------------------------------------------------------
    def _thumb_queue(self) -> TaskQueue:
        if self._tasks is None:
            self._tasks = TaskQueue("thumbnails", self)
        return self._tasks

    def _file_queue(self) -> TaskQueue:
        if self._files is None:
            self._files = TaskQueue("media-files", self)
        return self._files

    # Worker side ---------------------------------------------------------------------------
    def _disk_cache(self) -> Any:
        if not self._use_disk:
            return None
        if self._disk is None:
            from smooch_desktop.core import paths
            from smooch_desktop.core.gravatar import AvatarDiskCache

            folder = self._disk_dir if self._disk_dir is not None else paths.cache_dir() / "media"
            self._disk = AvatarDiskCache(
                folder, max_age_s=_DISK_MAX_AGE_S, negative_max_age_s=3600.0
            )
        return self._disk

    def _prune_disk(self) -> None:
        disk = self._disk_cache()
        if disk is not None:
            with contextlib.suppress(OSError):
                disk.prune()

    def _get_session(self) -> Any:
        thread = threading.get_ident()
        session = self._sessions.get(thread)
        if session is None:
            from smooch_desktop.api import transport

            session = self._sessions[thread] = transport.new_session()
        return session

    def _download_bytes(self, url: str, limit: int, deadline_s: float) -> bytes:
        chunks: list[bytes] = []
        self._stream(url, limit, deadline_s, chunks.append)
        return b"".join(chunks)

    def _stream(self, url: str, limit: int, deadline_s: float, sink: Callable[[bytes], Any]) -> int:
        """GET ``url`` into ``sink`` chunk by chunk; the byte count. Raises MediaError."""
        from smooch_desktop.api import transport

        host = _host(url)

        def read(resp: Any) -> int:
            self.network_requests += 1
            status = resp.status_code
            if status == 404:
                raise MediaError("the server no longer has it (HTTP 404)")
            if status != 200:
                raise MediaError(f"{host} answered HTTP {status}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise MediaError(f"it is larger than {limit // (1024 * 1024)} MB")
            total = 0
            while True:
                chunk = resp.raw.read(_CHUNK, decode_content=True)
                if not chunk:
                    return total
                total += len(chunk)
                if total > limit:
                    raise MediaError(f"it is larger than {limit // (1024 * 1024)} MB")
                sink(chunk)

        # Cut off by the deadline, it raises: a partial file is never kept.
        return transport.fetch_streamed(
            self._get_session(),
            url,
            read,
            timeout=_TIMEOUT,
            deadline_s=deadline_s,
            host=host,
            error=MediaError,
        )

    def _fetch_thumb(self, url: str) -> _Thumb:
        box = (max(1, round(self._box * self._dpr)), max(1, round(self._box * 0.75 * self._dpr)))
        key = f"thumb{box[0]}x{box[1]}:{url}"
        disk = self._disk_cache()
        if disk is not None:
            hit = disk.get(key)
            if hit is not None and hit.found and hit.data:
                with contextlib.suppress(MediaError):
                    return _Thumb(url, decode_image(hit.data, box))
        data = self._download_bytes(url, MAX_IMAGE_BYTES, self._deadline_s)
        image = decode_image(data, box)
        if disk is not None:
            with contextlib.suppress(OSError):
                disk.put(key, _encode_png(image))
        return _Thumb(url, image)

    def _download_to(self, url: str, target: Path, *, overwrite: bool) -> int:
        folder = target.parent
        if not overwrite and target.exists():
            raise MediaError(f"{target.name} already exists")
        try:
            fd, temp_name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".part")
        except OSError as exc:
            raise MediaError(f"couldn't write in {folder}: {exc.strerror or 'error'}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                size = self._stream(url, MAX_FILE_BYTES, FILE_DEADLINE_S, handle.write)
            if overwrite:
                os.replace(temp_name, target)
            else:
                os.link(temp_name, target)  # fails if the name appeared meanwhile
                os.unlink(temp_name)
        except FileExistsError:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise MediaError(f"{target.name} already exists") from None
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise MediaError(f"couldn't write {target.name}: {exc.strerror or 'error'}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        return size

    # GUI side ------------------------------------------------------------------------------
    @Slot(object)
    def _on_thumb(self, result: object) -> None:
        assert isinstance(result, _Thumb)
        self._in_flight.discard(result.url)
        pixmap = QPixmap.fromImage(result.image)
        pixmap.setDevicePixelRatio(self._dpr)
        self._store(result.url, pixmap)
        self.thumbnailReady.emit(result.url)

    def _on_thumb_failed(self, url: str, exc: BaseException) -> None:
        self._in_flight.discard(url)
        reason = _reason(exc)
        self._failed[url] = reason
        if len(self._failed) > 5000:
            self._failed.pop(next(iter(self._failed)))
        self.thumbnailFailed.emit(url, reason)

    def _store(self, url: str, pixmap: QPixmap) -> None:
        old = self._thumbs.pop(url, None)
        if old is not None:
            self._thumb_bytes -= _pixmap_bytes(old)
        self._thumbs[url] = pixmap
        self._thumb_bytes += _pixmap_bytes(pixmap)
        while self._thumb_bytes > self._memory_limit and len(self._thumbs) > 1:
            _url, evicted = self._thumbs.popitem(last=False)
            self._thumb_bytes -= _pixmap_bytes(evicted)
            self.evictions += 1


def _pixmap_bytes(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * 4


def _reason(exc: BaseException) -> str:
    """An error in words fit to show: our own messages, never ``str()`` of anything else."""
    if isinstance(exc, MediaError):
        return str(exc)
    return "something went wrong while loading it"
