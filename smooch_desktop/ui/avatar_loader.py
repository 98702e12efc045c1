"""Fetches avatars and message images off the GUI thread, with memory and disk caches.

Workers return bytes; the GUI thread turns them into QPixmaps (pixmaps are GUI-thread
objects). One request per distinct URL: a URL that is in flight or known to be missing
is never asked for again, and results for URLs nobody wants any more are simply cached.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QPixmap

from smooch_desktop.core.gravatar import AvatarDiskCache
from smooch_desktop.ui.workers import TaskQueue

MAX_IMAGE_BYTES = 5 * 1024 * 1024
_TIMEOUT = (3.0, 8.0)
#: Total time one image may take (connect, headers, body), however the server trickles.
DEADLINE_S = 20.0


class _Fetched(NamedTuple):
    url: str
    found: bool
    data: bytes
    from_network: bool


class _ImageNotLoaded(Exception):
    """The image could not be fetched (network error or unexpected status)."""


def _cache_key(url: str) -> str:
    import hashlib  # runs on the avatar thread, never at start-up

    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]


class AvatarLoader(QObject):
    """Loads images by URL on its own worker so a slow Gravatar never delays a send.

    Signals:
        imageReady(str): the image for this URL is now available from :meth:`pixmap`.
        imageMissing(str): the server answered 404 for this URL (e.g. no Gravatar).
        imageFailed(str, str): URL and a reason in words (network error, not an image).
    """

    imageReady = Signal(str)
    imageMissing = Signal(str)
    imageFailed = Signal(str, str)

    def __init__(
        self,
        disk_cache: AvatarDiskCache | None,
        parent: QObject | None = None,
        *,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        super().__init__(parent)
        self._tasks = TaskQueue("avatars", self)
        self._disk = disk_cache
        self._deadline_s = deadline_s
        self._session: Any = None  # created on the worker at first use (import cost)
        self._pixmaps: dict[str, QPixmap] = {}
        self._missing: set[str] = set()
        self._in_flight: set[str] = set()
        self._pruned = False  # the disk cache, once per run (see request)
        #: Network requests actually made (the benchmarks read this).
        self.network_requests = 0

    def stop(self) -> None:
        self._tasks.stop(2000)
        if self._session is not None:
            self._session.close()

    def is_busy(self) -> bool:
        """True until every image asked for so far has been fetched (or failed) and reported."""
        return self._tasks.is_busy()

    def pixmap(self, url: str) -> QPixmap | None:
        """The image if loaded; otherwise starts loading it (once) and returns None."""
        found = self._pixmaps.get(url)
        if found is None:
            self.request(url)
        return found

    def is_missing(self, url: str) -> bool:
        return url in self._missing

    def request(self, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            return
        if url in self._pixmaps or url in self._missing or url in self._in_flight:
            return
        self._in_flight.add(url)
        self._tasks.submit(
            lambda: self._fetch(url),
            self._on_fetched,
            lambda exc: self._on_failed(url, exc),
            kind="avatar",
            key=url,
        )
        if not self._pruned:
            # Once per run, behind the first image and off the start-up path: keeps the
            # cache folder from growing with every address ever seen.
            self._pruned = True
            self._tasks.submit(self._prune_disk, kind="avatar-cache-prune")

    # Worker side -------------------------------------------------------------------------
    def _prune_disk(self) -> None:
        if self._disk is not None:
            with contextlib.suppress(OSError):  # housekeeping: never worth an error message
                self._disk.prune()

    def _fetch(self, url: str) -> _Fetched:
        key = _cache_key(url)
        if self._disk is not None:
            hit = self._disk.get(key)
            if hit is not None:
                return _Fetched(url, hit.found, hit.data or b"", False)
        # Deferred off the start-up path; runs on the avatar thread.
        from smooch_desktop.api import transport

        if self._session is None:
            # The app's transport: one total deadline per request, and no proxy for a
            # loopback host (the sandbox's /avatar) whatever the environment says.
            self._session = transport.new_session()

        def read(resp: Any) -> tuple[int, bytes]:
            if resp.status_code != 200:
                return resp.status_code, b""
            return 200, resp.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)

        # Cut off by the deadline, it raises: a partial image is never kept.
        status, data = transport.fetch_streamed(
            self._session,
            url,
            read,
            timeout=_TIMEOUT,
            deadline_s=self._deadline_s,
            host=urlsplit(url).netloc,
            error=_ImageNotLoaded,
        )
        if status == 404:
            if self._disk is not None:
                self._disk.put_missing(key)
            return _Fetched(url, False, b"", True)
        if status != 200:
            raise _ImageNotLoaded(f"the image server answered HTTP {status}")
        if len(data) > MAX_IMAGE_BYTES:
            raise _ImageNotLoaded("the image is larger than 5 MB")
        if self._disk is not None:
            self._disk.put(key, data)
        return _Fetched(url, True, data, True)

    # GUI side -----------------------------------------------------------------------------
    @Slot(object)
    def _on_fetched(self, result: object) -> None:
        assert isinstance(result, _Fetched)
        self._in_flight.discard(result.url)
        if result.from_network:
            self.network_requests += 1
        if not result.found:
            self._missing.add(result.url)
            self.imageMissing.emit(result.url)
            return
        pixmap = QPixmap()
        if not pixmap.loadFromData(result.data):
            self._missing.add(result.url)
            self.imageFailed.emit(result.url, "the file is not an image")
            return
        self._pixmaps[result.url] = pixmap
        self.imageReady.emit(result.url)

    def _on_failed(self, url: str, exc: BaseException) -> None:
        self._in_flight.discard(url)
        self.network_requests += 1
        self.imageFailed.emit(url, str(exc))
