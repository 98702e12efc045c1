"""Per-user data and cache directories, without Qt.

The core (drafts, outbox, avatar cache) needs its directories before, or without, a
QApplication, so this module follows each platform's convention itself:

* Linux / BSD: ``$XDG_DATA_HOME/smooch-desktop`` (default ``~/.local/share/…``) and
  ``$XDG_CACHE_HOME/smooch-desktop`` (default ``~/.cache/…``);
* Windows: ``%LOCALAPPDATA%\\smooch-desktop`` and ``…\\smooch-desktop\\Cache``;
* macOS: ``~/Library/Application Support/smooch-desktop`` and
  ``~/Library/Caches/smooch-desktop``.

``SMOOCH_DESKTOP_DATA_DIR`` / ``SMOOCH_DESKTOP_CACHE_DIR`` override both, which is how
tests and portable installs keep the app away from the real profile. Directories are
created on first use with mode 0o700: drafts and the outbox hold messages to customers.
Local (not roaming) app data is used on Windows because the data is machine-specific
and can be large.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from smooch_desktop import appinfo

DATA_DIR_ENV: Final = "SMOOCH_DESKTOP_DATA_DIR"
CACHE_DIR_ENV: Final = "SMOOCH_DESKTOP_CACHE_DIR"


def _xdg_base(environ: Mapping[str, str], variable: str, fallback: Path) -> Path:
    # The XDG spec says relative values are invalid and must be ignored.
    value = environ.get(variable, "")
    return Path(value) if value and os.path.isabs(value) else fallback


def _windows_local_app_data(environ: Mapping[str, str], home: Path) -> Path:
    value = environ.get("LOCALAPPDATA", "")
    return Path(value) if value else home / "AppData" / "Local"


def default_data_dir(
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """Return the platform's data directory for the app, without creating it.

    ``platform``, ``environ`` and ``home`` default to the running system; tests pass
    them to check every platform's rule on any machine.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if platform.startswith("win"):
        return _windows_local_app_data(environ, home) / appinfo.APP_ID
    if platform == "darwin":
        return home / "Library" / "Application Support" / appinfo.APP_ID
    return _xdg_base(environ, "XDG_DATA_HOME", home / ".local" / "share") / appinfo.APP_ID


def default_cache_dir(
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """Return the platform's cache directory for the app, without creating it."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if platform.startswith("win"):
        return _windows_local_app_data(environ, home) / appinfo.APP_ID / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / appinfo.APP_ID
    return _xdg_base(environ, "XDG_CACHE_HOME", home / ".cache") / appinfo.APP_ID


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; a newly created leaf gets mode 0o700.

    An existing directory's mode is left alone: it may be one the user chose and shares
    on purpose (``SMOOCH_DESKTOP_DATA_DIR``).
    """
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name == "posix":
            # mkdir's mode is filtered by the umask; make sure the leaf really is private.
            os.chmod(path, 0o700)
    return path


def data_dir() -> Path:
    """Return (creating it if needed) the directory for drafts, the outbox and settings."""
    override = os.environ.get(DATA_DIR_ENV, "")
    return ensure_private_dir(Path(override).expanduser() if override else default_data_dir())


def cache_dir() -> Path:
    """Return (creating it if needed) the directory for re-downloadable data (avatars)."""
    override = os.environ.get(CACHE_DIR_ENV, "")
    return ensure_private_dir(Path(override).expanduser() if override else default_cache_dir())
