"""The avatar loader's network edges, over real loopback sockets (no mocks).

* One total deadline per image: a server that trickles its status line, headers or body
  (each single read quick) is given up on, the image is reported as not loaded, nothing
  (no partial image) is cached, and the loader's queue moves on.
* The sandbox's ``/avatar`` on loopback is fetched directly even with HTTP_PROXY and
  friends set: nothing reaches the proxy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from loopback_servers import (
    BODY_START,
    HEADERS_START,
    STATUS_START,
    RecordingProxy,
    point_proxies_at,
    recording_proxy,
    trickle_server,
)
from pytestqt.qtbot import QtBot

from smooch_desktop.core import paths
from smooch_desktop.core.gravatar import AvatarDiskCache, gravatar_url
from smooch_desktop.ui import avatar_loader
from smooch_desktop.ui.avatar_loader import AvatarLoader

#: Short, so a trickle costs about a second; each read (a byte every 0.1 s) stays quick.
DEADLINE_S = 1.0


@pytest.fixture
def cache() -> AvatarDiskCache:
    return AvatarDiskCache(paths.cache_dir() / "avatars")


@pytest.fixture
def loader(qtbot: QtBot, cache: AvatarDiskCache) -> Iterator[AvatarLoader]:
    avatars = AvatarLoader(cache, deadline_s=DEADLINE_S)
    yield avatars
    avatars.stop()
    avatars.deleteLater()


@pytest.mark.parametrize(
    "start", [STATUS_START, HEADERS_START, BODY_START], ids=["status", "headers", "body"]
)
def test_trickling_image_server_is_given_up_on_by_the_deadline(
    loader: AvatarLoader, cache: AvatarDiskCache, qtbot: QtBot, start: bytes
) -> None:
    with trickle_server(start) as peer:
        url = f"http://{peer.host}/avatar/{'0' * 32}.png?s=200&d=404"
        with qtbot.waitSignal(loader.imageFailed, timeout=30_000) as failed:
            loader.request(url)
        assert failed.args == [url, f"{peer.host} did not answer in time"]
        # The deadline ended it while the server was still trickling, not the server.
        assert peer.wait_for_outcome() == "client left"
    assert cache.get(avatar_loader._cache_key(url)) is None  # no partial image kept
    assert not loader.is_missing(url)  # a failure, not "no such image": may be asked again


def test_a_trickling_image_does_not_hold_the_next_one(
    loader: AvatarLoader, sandbox: Any, qtbot: QtBot
) -> None:
    known = hashlib.md5(b"alice@example.com").hexdigest()
    good = f"{sandbox.base_url}/avatar/{known}.png?s=64&d=404"
    finished: list[str] = []
    loader.imageFailed.connect(lambda url, _reason: finished.append(url))
    loader.imageReady.connect(finished.append)
    with trickle_server(STATUS_START) as peer:
        slow = f"http://{peer.host}/avatar/{'1' * 32}.png"
        loader.request(slow)
        loader.request(good)
        qtbot.waitUntil(lambda: len(finished) == 2, timeout=30_000)
        assert peer.wait_for_outcome() == "client left"
    assert finished == [slow, good]
    assert loader.pixmap(good) is not None


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    with recording_proxy() as found:
        point_proxies_at(monkeypatch, found.url)
        yield found


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_sandbox_avatar_on_loopback_never_goes_through_the_proxy(
    loader: AvatarLoader, sandbox: Any, proxy: RecordingProxy, qtbot: QtBot, host: str
) -> None:
    base = sandbox.base_url.replace("127.0.0.1", host) + "/avatar"
    url = gravatar_url("alice@example.com", size=64, base=base)
    with qtbot.waitSignal(loader.imageReady, timeout=10_000) as ready:
        loader.request(url)
    assert ready.args == [url]
    assert proxy.seen == []
