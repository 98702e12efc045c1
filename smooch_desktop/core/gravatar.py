"""Gravatar URLs, initials avatars and an on-disk avatar cache.

The sender panel previews the avatar the end user will see. Smooch picks it from the
sender email through Gravatar (smooch-api.md §9), so the preview computes the same URL
Smooch does: MD5 of the trimmed, lowercased address. Until an image arrives, or when
the address has no Gravatar, the panel draws initials on a colour derived from the
address, so the preview is never blank.

The cache remembers both images and "this address has no Gravatar" (a 404), so a
settled email costs at most one request per week, and typing never causes one.
"""

from __future__ import annotations

import colorsys
import contextlib
import os
import re
import struct
import tempfile
import time
import unicodedata
import urllib.parse
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Final, NamedTuple

GRAVATAR_BASE: Final = "https://www.gravatar.com/avatar"
#: What Smooch itself sends for an author without an email (smooch-api.md §9).
EMPTY_EMAIL_HASH: Final = "0" * 32
MIN_SIZE: Final = 1
MAX_SIZE: Final = 512


def normalize_email(email: str | None) -> str:
    """Return the address in the form Gravatar hashes: trimmed and lowercased."""
    return "" if email is None else email.strip().lower()


def gravatar_hash(email: str | None) -> str:
    """Return the Gravatar hash of ``email``: the MD5 hex digest of its normalized form.

    An empty address maps to the all-zero hash, as Smooch does for authors without an
    email; Gravatar answers it with its default image, never someone's picture.
    """
    normalized = normalize_email(email)
    if not normalized:
        return EMPTY_EMAIL_HASH
    import hashlib  # deferred: only needed once an address is looked up

    # MD5 is Gravatar's addressing scheme, not a security measure (also keeps FIPS happy).
    return hashlib.md5(normalized.encode("utf-8"), usedforsecurity=False).hexdigest()


def gravatar_url(
    email: str | None,
    *,
    size: int = 200,
    default: str = "404",
    base: str = GRAVATAR_BASE,
) -> str:
    """Return ``{base}/{hash}.png?s={size}&d={default}`` for ``email``.

    ``default="404"`` makes Gravatar answer 404 when the address has no picture, so
    the app can show initials instead of a generic silhouette; pass ``"mm"`` to get
    exactly what Smooch shows the end user. ``size`` is clamped to Gravatar's 1-512.
    """
    clamped = max(MIN_SIZE, min(MAX_SIZE, int(size)))
    query = urllib.parse.urlencode({"s": clamped, "d": default})
    return f"{base.rstrip('/')}/{gravatar_hash(email)}.png?{query}"


def smooch_avatar_url(email: str | None, base: str = GRAVATAR_BASE) -> str:
    """The avatar Smooch shows the end user for a business message sent with ``email``:
    its Gravatar, the "mystery man" when it has none (v1.1 derives it on the server; v2
    takes no email, so this URL is what the app sends as ``avatarUrl``)."""
    return gravatar_url(email, default="mm", base=base)


def _initial_of(word: str) -> str:
    """First letter or digit of ``word`` in upper case, or "" if it has none."""
    for char in word:
        if char.isalnum():
            upper = char.upper()
            # Some letters uppercase to two ("ß" -> "SS"); one character is an initial.
            return upper if len(upper) == 1 else char
    return ""


def _initials_from_words(words: list[str]) -> str:
    letters = [initial for initial in (_initial_of(word) for word in words) if initial]
    if not letters:
        return ""
    if len(letters) == 1:
        return letters[0]
    return letters[0] + letters[-1]


def initials(name: str | None, email: str | None = "") -> str:
    """Return one or two capital letters for an avatar placeholder.

    From the display name ("Ada Lovelace" -> "AL", "Ada" -> "A"), else from the local
    part of the email ("ada.lovelace@x" -> "AL"), else "?". Leading punctuation is
    skipped ("(Support)" gives "S"); words with no letter or digit at all, such as an
    emoji, are ignored. Works for any script ("Élodie" -> "É", "山田 太郎" -> "山太").
    """
    name_text = unicodedata.normalize("NFC", name or "")
    from_name = _initials_from_words(name_text.split())
    if from_name:
        return from_name
    local = unicodedata.normalize("NFC", (email or "").strip()).split("@", 1)[0]
    from_email = _initials_from_words(re.split(r"[._+\-\s]+", local))
    return from_email or "?"


def _relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(rgb: tuple[int, int, int]) -> float:
    """WCAG contrast ratio between ``rgb`` and white text (1.0 to 21.0)."""
    return 1.05 / (_relative_luminance(rgb) + 0.05)


#: WCAG AA for normal text; initials are large, so this leaves a margin.
_MIN_CONTRAST: Final = 4.5


def avatar_color(seed: str) -> tuple[int, int, int]:
    """Return a stable, pleasant background colour for ``seed`` that white text reads on.

    The hue comes from a hash of the seed (so the same sender always gets the same
    colour, across runs and machines); saturation is fixed and lightness is lowered
    until white initials reach a WCAG contrast of 4.5:1. Pass a normalized email (or a
    name) so "Ada@x.com" and "ada@x.com" look the same.
    """
    # CRC-32 spreads hues well enough and, unlike hashlib, costs nothing at start-up.
    hue = (zlib.crc32(seed.encode("utf-8", "surrogatepass")) & 0xFFFF) / 65536
    lightness = 0.45
    while True:
        r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.55)
        rgb = (round(r * 255), round(g * 255), round(b * 255))
        if contrast_with_white(rgb) >= _MIN_CONTRAST or lightness <= 0.05:
            return rgb
        lightness -= 0.02


class CacheHit(NamedTuple):
    """A fresh cache entry: ``found`` with the image ``data``, or a remembered 404."""

    found: bool
    data: bytes | None


_MAGIC: Final = b"SDAVATAR1"
# magic, found flag, stored-at (epoch seconds), data length, CRC-32 of the data
_HEADER: Final = struct.Struct(">9s?dQI")
_SAFE_KEY: Final = re.compile(r"[0-9A-Za-z_-]{1,100}")
#: Entries written this far "in the future" come from a wrong clock and are not trusted.
_CLOCK_SKEW_S: Final = 300.0
#: A write goes to ``.tmp-*.part`` first; one this old was abandoned, not under way.
_TEMP_PREFIX: Final = ".tmp-"
_TEMP_SUFFIX: Final = ".part"
_ABANDONED_WRITE_S: Final = 3600.0


class AvatarDiskCache:
    """Avatar images and known-missing avatars on disk, with separate expiry times.

    One file per key holds a small header (found flag, time stored, length, CRC-32)
    and the image bytes. Writes go to a temporary file in the same directory and are
    renamed over the old entry, so a reader (another thread, another app instance) sees
    the old entry or the new one, never half of one; a file damaged anyway (disk full,
    power loss) fails the length/CRC check and is treated as absent.

    ``max_age_s`` is how long an image stays fresh (people rarely change their avatar);
    ``negative_max_age_s`` is shorter so a newly created Gravatar appears within a day.
    ``clock`` returns epoch seconds (the timestamps are stored on disk, so it must be a
    wall clock, not a monotonic one).
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_age_s: float = 7 * 24 * 3600,
        negative_max_age_s: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = Path(directory)
        self._max_age_s = max_age_s
        self._negative_max_age_s = negative_max_age_s
        self._clock = clock

    @property
    def directory(self) -> Path:
        return self._directory

    def path_for(self, key: str) -> Path:
        """Return the file that holds ``key``; any key maps to a safe name in the directory.

        Keys that are already safe (a Gravatar hash) keep their name for easy debugging;
        anything else (an email, a URL, ``../x``) is replaced by its SHA-256. The prefixes
        keep the two kinds from ever colliding.
        """
        if _SAFE_KEY.fullmatch(key):
            name = f"k-{key}"
        else:
            import hashlib

            name = "h-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._directory / f"{name}.avatar"

    def get(self, key: str) -> CacheHit | None:
        """Return the fresh entry for ``key``, or None if absent, expired or unreadable."""
        try:
            blob = self.path_for(key).read_bytes()
        except OSError:
            return None
        if len(blob) < _HEADER.size:
            return None
        magic, found, stored_at, length, crc = _HEADER.unpack_from(blob)
        data = blob[_HEADER.size :]
        if magic != _MAGIC or len(data) != length or zlib.crc32(data) != crc:
            return None
        age = self._clock() - stored_at
        max_age = self._max_age_s if found else self._negative_max_age_s
        if age != age or age > max_age or age < -_CLOCK_SKEW_S:  # age != age: NaN
            return None
        return CacheHit(found=True, data=data) if found else CacheHit(found=False, data=None)

    def put(self, key: str, data: bytes) -> None:
        """Store the image ``data`` for ``key``."""
        self._write(key, found=True, data=bytes(data))

    def put_missing(self, key: str) -> None:
        """Remember that ``key`` has no Gravatar (the server answered 404)."""
        self._write(key, found=False, data=b"")

    def remove(self, key: str) -> None:
        """Forget ``key``; a missing entry is fine."""
        with contextlib.suppress(FileNotFoundError):
            self.path_for(key).unlink()

    def prune(self) -> int:
        """Delete expired and unreadable entries; return how many files were removed.

        Also removes temporary files of writes cut short (the app killed mid-write). The
        avatar loader calls it once per run, on its worker thread, so the directory stays
        about the size of the avatars seen within ``max_age_s``.
        """
        removed = 0
        if not self._directory.is_dir():
            return 0
        now = self._clock()
        for path in self._directory.glob("*.avatar"):
            if self._is_stale(path, now):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        for path in self._directory.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > _ABANDONED_WRITE_S:  # not a write under way
                    path.unlink()
                    removed += 1
        return removed

    def _is_stale(self, path: Path, now: float) -> bool:
        try:
            with path.open("rb") as handle:
                header = handle.read(_HEADER.size)
        except OSError:
            return False
        if len(header) < _HEADER.size:
            return True
        magic, found, stored_at, _length, _crc = _HEADER.unpack(header)
        if magic != _MAGIC:
            return True
        max_age = self._max_age_s if found else self._negative_max_age_s
        age = now - stored_at
        return bool(age != age or age > max_age or age < -_CLOCK_SKEW_S)

    def _write(self, key: str, *, found: bool, data: bytes) -> None:
        target = self.path_for(key)
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        header = _HEADER.pack(_MAGIC, found, self._clock(), len(data), zlib.crc32(data))
        fd, temp_name = tempfile.mkstemp(
            dir=self._directory, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header)
                handle.write(data)
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
