"""Find the files under the project's ``resources/`` directory. Qt-free (pathlib only).

The one place that knows where resources live, so app code never branches on how it
was installed (no ``sys._MEIPASS`` checks anywhere):

- **checkout / editable install**: ``<repo>/resources``, next to the ``smooch_desktop``
  package directory.
- **PyInstaller bundle**: the spec copies ``resources/`` to ``<bundle>/_internal/resources``;
  the package's ``__file__`` there is ``<bundle>/_internal/smooch_desktop/…``, so it is
  the same "next to the package" rule.
- **wheel**: the build ships the directory inside the package as ``smooch_desktop/_resources``
  (see ``packaging/README.md``), because a wheel must not install a top-level ``resources``.

A directory only counts when it holds the app icon, so an unrelated ``resources``
folder beside an installed package is never picked up by mistake.
"""

from __future__ import annotations

import functools
from pathlib import Path

from smooch_desktop.appinfo import DESKTOP_FILE_ID

__all__ = [
    "app_icon_path",
    "desktop_file_path",
    "icon_path",
    "metainfo_path",
    "resource_path",
    "resources_root",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
#: Where to look, most specific first: inside the package (wheel), next to it (checkout, bundle).
_CANDIDATES = (_PACKAGE_DIR / "_resources", _PACKAGE_DIR.parent / "resources")
#: Relative path of the file that marks a real resources directory.
_MARKER = Path("icons", f"{DESKTOP_FILE_ID}.svg")


@functools.cache
def resources_root() -> Path:
    """The directory that holds the resources, or FileNotFoundError naming every place tried."""
    for candidate in _CANDIDATES:
        if (candidate / _MARKER).is_file():
            return candidate
    tried = ", ".join(str(c) for c in _CANDIDATES)
    raise FileNotFoundError(
        f"Smooch Desktop resources not found (looked for {_MARKER.as_posix()} in: {tried}). "
        "The installation is incomplete; reinstall the app or run it from a full checkout."
    )


def resource_path(*parts: str) -> Path:
    """Absolute path of ``resources/<parts...>``; FileNotFoundError if it does not exist.

    Parts are relative names; anything that would step outside the resources directory
    (an absolute part or ``..``) is rejected with ValueError.
    """
    if not parts:
        raise ValueError("resource_path() needs at least one path part")
    relative = Path(*parts)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"resource path must stay inside resources/: {relative.as_posix()!r}")
    root = resources_root()
    path = root / relative
    if not path.exists():
        raise FileNotFoundError(f"resource {relative.as_posix()!r} not found in {root}")
    return path


def app_icon_path() -> Path:
    """The scalable app icon (SVG)."""
    return resource_path("icons", f"{DESKTOP_FILE_ID}.svg")


def icon_path(name: str) -> Path:
    """A small UI icon (``resources/icons/ui/<name>.svg``) by name, e.g. ``icon_path("send")``.

    Shipped: send, retry, settings, user, warning, check, clock.
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"not an icon name: {name!r}")
    path = resources_root() / "icons" / "ui" / f"{name}.svg"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.svg")))
        raise FileNotFoundError(f"no UI icon named {name!r} (available: {known})")
    return path


def desktop_file_path() -> Path:
    """The freedesktop ``.desktop`` entry."""
    return resource_path(f"{DESKTOP_FILE_ID}.desktop")


def metainfo_path() -> Path:
    """The AppStream metainfo file."""
    return resource_path(f"{DESKTOP_FILE_ID}.metainfo.xml")
