"""The status bar names the profile, the API version it speaks and the host.

The real controller starts against the sandbox, once as ``--sandbox`` and once through a
saved profile (the secret from ``SMOOCH_KEY_SECRET``), each on v1.1 and on v2, and the
text is read from the window's status label.
"""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller

from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.app import build_parser
from smooch_desktop.core.profiles import Profile
from smooch_desktop.sandbox import SandboxServer
from smooch_desktop.ui.controller import AppController
from smooch_desktop.ui.settings import AppSettings

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def status_after_start(qtbot: QtBot, controller: AppController) -> str:
    controller.start()
    try:
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        assert controller.window is not None
        return controller.window.status_profile.full_text()
    finally:
        dispose_controller(controller)


def test_the_sandbox_session_names_v1_1_and_its_host(qtbot: QtBot, sandbox: SandboxServer) -> None:
    controller = AppController(build_parser().parse_args([]), sandbox=sandbox)
    host = sandbox.base_url.removeprefix("http://")
    assert status_after_start(qtbot, controller) == f"Profile: Sandbox · v1.1 · {host}"


def test_the_sandbox_session_names_the_version_asked_for(
    qtbot: QtBot, sandbox: SandboxServer, api_version: str
) -> None:
    args = build_parser().parse_args(["--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    host = sandbox.base_url.removeprefix("http://")
    assert status_after_start(qtbot, controller) == f"Profile: Sandbox · {api_version} · {host}"


def test_a_saved_profile_names_its_version_and_host(
    qtbot: QtBot, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, api_version: str
) -> None:
    settings = AppSettings()
    settings.save_profiles(
        [
            Profile(
                "Shop",
                Region.CUSTOM,
                base_url=sandbox.base_url,
                app_id=sandbox.app_id,
                key_id=sandbox.key_id,
                api_version=ApiVersion(api_version),
            )
        ]
    )
    settings.sync()
    monkeypatch.setenv("SMOOCH_KEY_SECRET", sandbox.secret)
    controller = AppController(build_parser().parse_args(["--profile", "Shop"]))
    host = sandbox.base_url.removeprefix("http://")
    assert status_after_start(qtbot, controller) == f"Profile: Shop · {api_version} · {host}"
