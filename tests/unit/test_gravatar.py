"""Gravatar hashing/URLs, initials, colours and the avatar disk cache."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from smooch_desktop.core import gravatar as g
from smooch_desktop.core.gravatar import AvatarDiskCache, CacheHit


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- hashing and URLs --------------------------------------------------------------


def test_normalize_email_trims_and_lowercases() -> None:
    assert g.normalize_email("  Alice.Smith@Example.COM \n") == "alice.smith@example.com"
    assert g.normalize_email(None) == ""


def test_gravatar_hash_matches_the_documented_rule() -> None:
    expected = hashlib.md5(b"alice@example.com").hexdigest()
    assert g.gravatar_hash(" Alice@Example.com ") == expected
    assert g.gravatar_hash("alice@example.com") == expected


def test_gravatar_hash_known_value() -> None:
    # The worked example on gravatar.com's "Creating the hash" page.
    assert g.gravatar_hash("MyEmailAddress@example.com ") == "0bc83cb571cd1c50ba6f3e8a78ef1346"


@pytest.mark.parametrize("email", ["", "   ", None])
def test_empty_email_maps_to_the_all_zero_hash(email: str | None) -> None:
    assert g.gravatar_hash(email) == "0" * 32


def test_gravatar_hash_unicode_email() -> None:
    assert g.gravatar_hash("ÜSER@例子.广告") == hashlib.md5("üser@例子.广告".encode()).hexdigest()


def test_gravatar_url_default_form() -> None:
    digest = g.gravatar_hash("alice@example.com")
    assert g.gravatar_url("alice@example.com") == (
        f"https://www.gravatar.com/avatar/{digest}.png?s=200&d=404"
    )


def test_gravatar_url_smooch_form() -> None:
    url = g.gravatar_url("", size=200, default="mm")
    assert url == "https://www.gravatar.com/avatar/00000000000000000000000000000000.png?s=200&d=mm"


@pytest.mark.parametrize(
    ("size", "clamped"), [(0, 1), (-5, 1), (1, 1), (80, 80), (512, 512), (9999, 512)]
)
def test_gravatar_url_size_is_clamped(size: int, clamped: int) -> None:
    assert f"?s={clamped}&" in g.gravatar_url("a@b.co", size=size)


def test_gravatar_url_custom_base_and_encoded_default() -> None:
    url = g.gravatar_url(
        "a@b.co", base="http://127.0.0.1:5000/avatar/", default="https://x.io/d.png"
    )
    assert url.startswith(f"http://127.0.0.1:5000/avatar/{g.gravatar_hash('a@b.co')}.png?")
    assert url.endswith("d=https%3A%2F%2Fx.io%2Fd.png")


# --- initials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "email", "expected"),
    [
        ("Ada Lovelace", "", "AL"),
        ("ada", "", "A"),
        ("  Ada   Byron  Lovelace ", "", "AL"),
        ("Alice (Support)", "", "AS"),
        ("élodie durand", "", "ÉD"),
        ("e\u0301lodie", "", "É"),  # decomposed accent is composed first
        ("山田 太郎", "", "山太"),
        ("Мария Иванова", "", "МИ"),
        ("محمد علي", "", "مع"),
        ("🙂 Bob", "", "B"),
        ("straße", "", "S"),
        ("ßaa", "", "ß"),
        ("3M Support", "", "3S"),
        ("", "john.smith@example.com", "JS"),
        ("", "  jsmith@example.com", "J"),
        ("  ", "mary-jane_watson+tag@x.com", "MT"),
        ("🙂", "bob@x.com", "B"),
        ("", "", "?"),
        (None, None, "?"),
        ("🙂 ✨", "", "?"),
        ("", "@example.com", "?"),
    ],
)
def test_initials(name: str | None, email: str | None, expected: str) -> None:
    assert g.initials(name, email) == expected


def test_initials_are_at_most_two_characters() -> None:
    for name in ["a b c d e", "ǆemal ǉubo", "ﬀ ﬁ", "İstanbul Şehir"]:
        assert 1 <= len(g.initials(name)) <= 2


# --- colours -----------------------------------------------------------------------


def test_avatar_color_is_stable_and_in_range() -> None:
    first = g.avatar_color("alice@example.com")
    assert first == g.avatar_color("alice@example.com")
    assert all(0 <= channel <= 255 for channel in first)


def test_avatar_color_differs_between_seeds() -> None:
    colors = {g.avatar_color(f"user{i}@example.com") for i in range(50)}
    assert len(colors) > 30


def test_avatar_color_always_readable_with_white_text() -> None:
    seeds = [f"seed-{i}" for i in range(3000)] + ["", "🙂", "\ud800", "x" * 10_000]
    for seed in seeds:
        assert g.contrast_with_white(g.avatar_color(seed)) >= 4.5, seed


def test_avatar_color_is_not_grey_or_black() -> None:
    for i in range(200):
        r, gr, b = g.avatar_color(str(i))
        assert max(r, gr, b) - min(r, gr, b) > 40
        assert max(r, gr, b) > 80


def test_contrast_extremes() -> None:
    assert g.contrast_with_white((255, 255, 255)) == pytest.approx(1.0)
    assert g.contrast_with_white((0, 0, 0)) == pytest.approx(21.0)


# --- disk cache --------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(tmp_path: Path, clock: FakeClock) -> AvatarDiskCache:
    return AvatarDiskCache(tmp_path / "avatars", clock=clock)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_cache_miss_before_anything_is_stored(cache: AvatarDiskCache) -> None:
    assert cache.get("abc") is None
    assert not cache.directory.exists()  # created on first write only


def test_cache_roundtrip(cache: AvatarDiskCache) -> None:
    cache.put("abc", PNG)
    assert cache.get("abc") == CacheHit(found=True, data=PNG)


def test_cache_empty_image_is_still_a_hit(cache: AvatarDiskCache) -> None:
    cache.put("abc", b"")
    assert cache.get("abc") == CacheHit(found=True, data=b"")


def test_cache_remembers_missing(cache: AvatarDiskCache) -> None:
    cache.put_missing("abc")
    assert cache.get("abc") == CacheHit(found=False, data=None)


def test_cache_put_replaces_missing_and_back(cache: AvatarDiskCache) -> None:
    cache.put_missing("abc")
    cache.put("abc", PNG)
    assert cache.get("abc") == CacheHit(True, PNG)
    cache.put_missing("abc")
    assert cache.get("abc") == CacheHit(False, None)


def test_cache_images_expire_after_max_age(cache: AvatarDiskCache, clock: FakeClock) -> None:
    cache.put("abc", PNG)
    clock.now += 7 * 24 * 3600 - 1
    assert cache.get("abc") is not None
    clock.now += 2
    assert cache.get("abc") is None


def test_cache_missing_expires_sooner(cache: AvatarDiskCache, clock: FakeClock) -> None:
    cache.put_missing("abc")
    clock.now += 24 * 3600 - 1
    assert cache.get("abc") == CacheHit(False, None)
    clock.now += 2
    assert cache.get("abc") is None


def test_cache_custom_ages(tmp_path: Path, clock: FakeClock) -> None:
    cache = AvatarDiskCache(tmp_path, max_age_s=10, negative_max_age_s=5, clock=clock)
    cache.put("img", PNG)
    cache.put_missing("none")
    clock.now += 6
    assert cache.get("img") is not None
    assert cache.get("none") is None
    clock.now += 5
    assert cache.get("img") is None


def test_cache_entries_from_the_future_are_not_trusted(
    cache: AvatarDiskCache, clock: FakeClock
) -> None:
    cache.put("abc", PNG)
    clock.now -= 3600  # the clock was an hour ahead when this was written
    assert cache.get("abc") is None


def test_cache_survives_a_new_instance(tmp_path: Path, clock: FakeClock) -> None:
    AvatarDiskCache(tmp_path, clock=clock).put("abc", PNG)
    assert AvatarDiskCache(tmp_path, clock=clock).get("abc") == CacheHit(True, PNG)


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "/absolute/path",
        "alice@example.com",
        "https://example.com/a.png?s=200",
        "con",
        "a\x00b",
        "🙂",
        "\ud800",
        "",
        "x" * 5000,
    ],
)
def test_cache_keys_become_safe_file_names(cache: AvatarDiskCache, key: str) -> None:
    path = cache.path_for(key)
    assert path.parent == cache.directory
    assert all(ch.isalnum() or ch in "-_." for ch in path.name)
    assert len(path.name) < 120
    cache.put(key, PNG)
    assert cache.get(key) == CacheHit(True, PNG)
    assert sorted(p.name for p in cache.directory.iterdir()) == [path.name]


def test_cache_hash_keys_keep_a_readable_name(cache: AvatarDiskCache) -> None:
    digest = g.gravatar_hash("alice@example.com")
    assert digest in cache.path_for(digest).name


def test_cache_similar_keys_do_not_collide(cache: AvatarDiskCache) -> None:
    keys = ["abc", "ABC", "abc ", "h-abc", "k-abc", "a/bc", "a_bc"]
    for index, key in enumerate(keys):
        cache.put(key, bytes([index]))
    for index, key in enumerate(keys):
        assert cache.get(key) == CacheHit(True, bytes([index]))


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: b"",
        lambda blob: blob[:10],
        lambda blob: blob[:-1],
        lambda blob: blob + b"extra",
        lambda blob: b"NOTMAGIC!" + blob[9:],
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 0xFF]),
        lambda blob: os.urandom(len(blob)),
    ],
)
def test_cache_corrupt_files_are_ignored(
    cache: AvatarDiskCache, damage: Callable[[bytes], bytes]
) -> None:
    cache.put("abc", PNG)
    path = cache.path_for("abc")
    path.write_bytes(damage(path.read_bytes()))
    assert cache.get("abc") is None
    cache.put("abc", PNG)  # and can be overwritten afterwards
    assert cache.get("abc") == CacheHit(True, PNG)


def test_cache_unreadable_entry_is_a_miss(cache: AvatarDiskCache) -> None:
    cache.put("abc", PNG)
    path = cache.path_for("abc")
    path.unlink()
    path.mkdir()  # a directory where the file should be: reading fails with OSError
    assert cache.get("abc") is None


def test_cache_write_leaves_no_temp_files(cache: AvatarDiskCache) -> None:
    for index in range(20):
        cache.put(f"k{index}", PNG)
    cache.put_missing("gone")
    names = [p.name for p in cache.directory.iterdir()]
    assert len(names) == 21
    assert all(name.endswith(".avatar") for name in names)


def test_cache_failed_write_keeps_the_old_entry(
    cache: AvatarDiskCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.put("abc", PNG)

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.put("abc", b"new")
    monkeypatch.undo()
    assert cache.get("abc") == CacheHit(True, PNG)
    assert [p.name for p in cache.directory.iterdir()] == [cache.path_for("abc").name]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_cache_directory_is_private(cache: AvatarDiskCache) -> None:
    cache.put("abc", PNG)
    assert stat.S_IMODE(cache.directory.stat().st_mode) & 0o077 == 0


def test_cache_concurrent_writers_and_readers(cache: AvatarDiskCache) -> None:
    payloads = [bytes([i]) * (1000 + i) for i in range(8)]
    errors: list[str] = []

    def writer(data: bytes) -> None:
        for _ in range(50):
            cache.put("shared", data)

    def reader() -> None:
        for _ in range(200):
            hit = cache.get("shared")
            if hit is not None and hit.data not in payloads:
                errors.append("torn read")

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    hit = cache.get("shared")
    assert hit is not None and hit.data in payloads


def test_cache_prune_removes_expired_and_corrupt(cache: AvatarDiskCache, clock: FakeClock) -> None:
    cache.put("old", PNG)
    cache.put_missing("old-missing")
    clock.now += 2 * 24 * 3600
    cache.put("fresh", PNG)
    cache.put("broken", PNG)
    cache.path_for("broken").write_bytes(b"junk")
    assert cache.prune() == 2  # the expired 404 and the corrupt file
    assert cache.get("old") is not None and cache.get("fresh") is not None
    clock.now += 6 * 24 * 3600
    assert cache.prune() == 1
    assert cache.get("fresh") is not None


def test_cache_prune_removes_abandoned_writes_only(
    cache: AvatarDiskCache, clock: FakeClock
) -> None:
    cache.put("kept", PNG)
    abandoned = cache.directory / ".tmp-abc123.part"  # the app was killed mid-write
    under_way = cache.directory / ".tmp-def456.part"  # another instance writing now
    for path, age in ((abandoned, 2 * 3600), (under_way, 60)):
        path.write_bytes(b"half an image")
        os.utime(path, (clock.now - age, clock.now - age))
    assert cache.prune() == 1
    assert not abandoned.exists() and under_way.exists()
    assert cache.get("kept") == CacheHit(True, PNG)


def test_cache_prune_without_directory(tmp_path: Path) -> None:
    assert AvatarDiskCache(tmp_path / "nope").prune() == 0


def test_cache_remove(cache: AvatarDiskCache) -> None:
    cache.put("abc", PNG)
    cache.remove("abc")
    cache.remove("abc")
    assert cache.get("abc") is None
