"""Shared fixtures: isolation from the developer's real settings, keychain and network.

* Every test gets its own data, cache and QSettings directories (environment variables
  read by :mod:`smooch_desktop.core.paths` and the UI settings wrapper).
* ``sandbox`` is a real sandbox server on a loopback port 0; tests talk real HTTP to it.
* ``api_version`` runs a test that asks for it once on v1.1 and once on v2 (the sandbox
  serves both from one store).
* No test may leave a QThread running or a QTimer active behind it (``qt_leaks.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["qt_leaks"]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every per-user directory of the app at a fresh temporary directory."""
    root = tmp_path / "home"
    for name, sub in (
        ("SMOOCH_DESKTOP_DATA_DIR", "data"),
        ("SMOOCH_DESKTOP_CACHE_DIR", "cache"),
        ("SMOOCH_DESKTOP_CONFIG_DIR", "config"),
    ):
        path = root / sub
        path.mkdir(parents=True)
        monkeypatch.setenv(name, str(path))
    monkeypatch.delenv("SMOOCH_KEY_SECRET", raising=False)
    return root


@pytest.fixture
def sandbox() -> Iterator[object]:
    """A fresh sandbox server with demo data on 127.0.0.1, port chosen by the OS."""
    from smooch_desktop.sandbox import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["v1.1", "v2"])
def api_version(request: pytest.FixtureRequest) -> str:
    """The API version the test speaks ("v1.1" or "v2"): a test that asks for it runs on
    both, against the one sandbox store behind both (the UI stack of ``tests/ui`` uses it
    for every window it builds)."""
    version: str = request.param
    return version
