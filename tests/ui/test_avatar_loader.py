"""The avatar loader keeps its disk cache bounded: pruned once per run, on its own thread.

No network: the requested URLs are answered from the disk cache ("no Gravatar" entries).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from smooch_desktop.core.gravatar import AvatarDiskCache
from smooch_desktop.ui import avatar_loader
from smooch_desktop.ui.avatar_loader import AvatarLoader

MONTH_S = 30 * 24 * 3600


class CountingCache(AvatarDiskCache):
    """A real disk cache that notes on which thread each prune ran."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.prune_threads: list[threading.Thread] = []

    def prune(self) -> int:
        self.prune_threads.append(threading.current_thread())
        return super().prune()


@pytest.fixture
def cache(tmp_path: Path) -> CountingCache:
    return CountingCache(tmp_path / "avatars")


@pytest.fixture
def loader(qtbot: QtBot, cache: CountingCache) -> Iterator[AvatarLoader]:
    avatars = AvatarLoader(cache)
    yield avatars
    avatars.stop()
    avatars.deleteLater()


def known_missing(cache: AvatarDiskCache, url: str) -> str:
    """``url`` answered from the cache ("no Gravatar"), with no request."""
    cache.put_missing(avatar_loader._cache_key(url))
    return url


def test_the_disk_cache_is_pruned_once_per_run_off_the_gui_thread(
    loader: AvatarLoader, cache: CountingCache, qtbot: QtBot
) -> None:
    month_ago = AvatarDiskCache(cache.directory, clock=lambda: time.time() - MONTH_S)
    month_ago.put("someone-seen-long-ago", b"\x89PNG old image")
    expired = month_ago.path_for("someone-seen-long-ago")
    first, second, third = (
        known_missing(cache, f"https://www.gravatar.com/avatar/{n * 32}?d=404") for n in "123"
    )
    assert cache.prune_threads == []  # nothing at start-up: only once images are wanted

    with qtbot.waitSignal(loader.imageMissing) as missing:
        loader.request(first)
    assert missing.args == [first]
    qtbot.waitUntil(lambda: not expired.exists())
    # FIFO: a second prune queued by a later request would run before the third image.
    for url in (second, third):
        with qtbot.waitSignal(loader.imageMissing):
            loader.request(url)
    assert len(cache.prune_threads) == 1
    assert cache.prune_threads[0] is not threading.main_thread()
    assert loader.network_requests == 0
