"""The real app in a real X server, driven with real key presses (xdotool).

Checks what a user would: the window appears, a message typed and sent with Enter
reaches the sandbox as ``appMaker`` with the chosen name and email, the end user saw
"typing…" first, and a secret saved in the real Secret Service keychain is used without
ever being written to the settings file or the logs.

Every test runs once per API version: v1.1 as the default (no option, or a profile
that doesn't say) and v2, chosen on the command line (``--api-version v2``, also with
``--sandbox``) or in the profile. The user must not notice a difference but the
protocol. Each test starts one app in a few seconds, so the group stays short.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from api_versions import API_VERSIONS, avatar_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def _xdotool(display: str, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"xdotool {args} failed: {result.stderr}")
    return result.stdout.strip()


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def app_env(xvfb_display: str, isolated_dirs: Path) -> dict[str, str]:
    if shutil.which("xdotool") is None:
        pytest.fail("xdotool is not installed (scripts/setup.sh --test installs it)")
    env = dict(os.environ)
    env.update(
        DISPLAY=xvfb_display,
        QT_QPA_PLATFORM="xcb",
        PYTHONUNBUFFERED="1",
    )
    env.pop("SMOOCH_KEY_SECRET", None)
    return env


class RunningApp:
    def __init__(self, args: list[str], env: dict[str, str], tmp: Path) -> None:
        self.stderr_path = tmp / "app-stderr.txt"
        self.stdout_path = tmp / "app-stdout.txt"
        self._stderr = self.stderr_path.open("w")
        self._stdout = self.stdout_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smooch_desktop", *args],
            env=env,
            stdout=self._stdout,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
        )
        self.display = env["DISPLAY"]

    def window_id(self) -> str:
        def find() -> str:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited early: {self.stderr_path.read_text()}")
            out = _xdotool(self.display, "search", "--name", "Smooch Desktop", check=False)
            return out.splitlines()[0] if out else ""

        return str(_wait_for(find, 30, "the main window"))

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        self._stdout.close()
        return self.stderr_path.read_text()


@pytest.fixture
def launch(app_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    apps: list[RunningApp] = []

    def start(*args: str, extra_env: dict[str, str] | None = None) -> RunningApp:
        app = RunningApp(list(args), {**app_env, **(extra_env or {})}, tmp_path)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


def _screenshot(display: str, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    subprocess.run(
        ["import", "-window", "root", str(path)],
        env={**os.environ, "DISPLAY": display},
        check=True,
        timeout=30,
        capture_output=True,
    )
    return path


def _assert_clean_stderr(text: str) -> None:
    bad = [
        line
        for line in text.splitlines()
        if "Traceback" in line or "QThread" in line or "QObject::" in line or "Error" in line
    ]
    assert not bad, text


def _screen_settled(display: str) -> Any:
    """A condition for ``_wait_for``: true once two grabs of the screen are the same."""
    last: list[bytes] = []

    def settled() -> bool:
        grab = subprocess.run(
            ["import", "-window", "root", "-depth", "8", "rgb:-"],
            env={**os.environ, "DISPLAY": display},
            check=True,
            timeout=30,
            capture_output=True,
        ).stdout
        same = last == [grab]
        last[:] = [grab]
        return same

    return settled


def _focus(display: str, window: str) -> None:
    """Give the window X input focus (Xvfb has no window manager to activate it)."""
    _xdotool(display, "mousemove", "200", "200")
    _xdotool(display, "windowfocus", "--sync", window)
    _wait_for(lambda: _xdotool(display, "getwindowfocus") == window, 10, "focus on the window")


def version_option(api_version: str) -> list[str]:
    """The command-line option for ``api_version``: none for v1.1, the default."""
    return [] if api_version == "v1.1" else ["--api-version", api_version]


def _type_into(display: str, keys: str, text: str) -> None:
    # No pause after the shortcut: X delivers these key events in order, and Qt moves the
    # focus when it handles the first, before it sees the next.
    _xdotool(display, "key", keys)
    _xdotool(display, "key", "ctrl+a")
    _xdotool(display, "type", "--delay", "20", text)


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_send_a_reply_with_real_key_presses(sandbox: Any, launch: Any, api_version: str) -> None:
    user = sandbox.store.users(sandbox.app_id)[0]
    user_ref = user["_id"]
    app = launch(
        "--base-url",
        sandbox.base_url,
        "--app-id",
        sandbox.app_id,
        "--key-id",
        sandbox.key_id,
        *version_option(api_version),
        "--user-id",
        user_ref,
        extra_env={"SMOOCH_KEY_SECRET": sandbox.secret},
    )
    window = app.window_id()
    _focus(app.display, window)
    _type_into(app.display, "alt+n", "E2E Agent")
    _type_into(app.display, "alt+m", "agent@example.com")
    _xdotool(app.display, "key", "ctrl+r")
    text = "Hello from a real keyboard"
    _xdotool(app.display, "type", "--delay", "40", text)

    def typing_seen() -> bool:
        return any(
            a.get("type") == "typing:start"
            for a in sandbox.store.activities(sandbox.app_id, user_ref)
        )

    _wait_for(typing_seen, 15, "typing:start at the sandbox")
    _xdotool(app.display, "key", "Return")

    def delivered() -> dict[str, Any] | None:
        for m in sandbox.store.messages(sandbox.app_id, user_ref):
            if m.get("text") == text:
                found: dict[str, Any] = m
                return found
        return None

    message = _wait_for(delivered, 20, "the message at the sandbox")
    assert message["role"] == "appMaker"
    assert message["name"] == "E2E Agent"
    # What the end user sees: the avatar Smooch derives from the email, on either version.
    gravatar = avatar_for(sandbox.base_url, "agent@example.com")
    assert message["avatarUrl"] == gravatar
    log = sandbox.log()
    posts = [e for e in log if e["method"] == "POST" and e["path"].endswith("/messages")]
    assert all(f"/{api_version}/" in p["path"] for p in posts)
    sent = [p["body"] for p in posts if p["status"] == 201]
    if api_version == "v2":  # no author email in v2: the derived avatar travels instead
        assert [b["author"] for b in sent] == [
            {"type": "business", "displayName": "E2E Agent", "avatarUrl": gravatar}
        ]
    else:
        assert [b.get("email") for b in sent] == ["agent@example.com"]
    # The screenshot shows the sent bubble: once the window has stopped repainting.
    _wait_for(_screen_settled(app.display), 15, "the window to stop repainting")
    shot = _screenshot(app.display, f"e2e-main-window-{api_version}.png")
    assert shot.stat().st_size > 10_000
    stderr = app.close()
    _assert_clean_stderr(stderr)


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_secret_from_real_keychain_never_written(
    sandbox: Any, launch: Any, isolated_dirs: Path, api_version: str
) -> None:
    import keyring

    from smooch_desktop.core.secrets import SecretStore, account_for

    backend = keyring.get_keyring()
    # keyring may wrap the viable backends in a chain; the Secret Service must be one.
    members = getattr(backend, "backends", [backend])
    names = [type(b).__module__ + "." + type(b).__name__ for b in members]
    assert any("SecretService" in name for name in names), names
    store = SecretStore()
    assert store.available().ok
    account = account_for("E2E", sandbox.key_id)
    store.set(account, sandbox.secret)
    try:
        assert store.get(account) == sandbox.secret
        from smooch_desktop.api.auth import AuthMethod
        from smooch_desktop.api.factory import ApiVersion
        from smooch_desktop.api.hosts import Region
        from smooch_desktop.core.profiles import Profile
        from smooch_desktop.ui.settings import AppSettings

        settings = AppSettings()
        settings.upsert_profile(
            Profile(
                "E2E",
                Region.CUSTOM,
                sandbox.base_url,
                sandbox.app_id,
                sandbox.key_id,
                AuthMethod.JWT,
                ApiVersion(api_version),
            )
        )
        settings.set_active_profile_name("E2E")
        settings.sync()
        user_ref = sandbox.store.users(sandbox.app_id)[1]["_id"]
        app = launch("--user-id", user_ref)
        window = app.window_id()
        _focus(app.display, window)
        _xdotool(app.display, "key", "ctrl+r")
        _xdotool(app.display, "type", "--delay", "30", "via keychain")
        _xdotool(app.display, "key", "Return")

        def delivered() -> bool:
            return any(
                m.get("text") == "via keychain"
                for m in sandbox.store.messages(sandbox.app_id, user_ref)
            )

        _wait_for(delivered, 20, "the message sent with the keychain secret")
        assert any(e.get("auth") == "jwt" for e in sandbox.log())
        assert any(e["path"].startswith(f"/{api_version}/") for e in sandbox.log())
        stderr = app.close()
        _assert_clean_stderr(stderr)
        for path in isolated_dirs.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert sandbox.secret.encode() not in data, path
        assert sandbox.secret not in stderr
        assert sandbox.secret not in app.stdout_path.read_text()
    finally:
        store.delete(account)


_DECOY = """
import sys
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication(sys.argv)
label = QLabel("decoy window")
label.setWindowTitle("decoy-window")
label.resize(300, 100)
label.show()
app.exec()
"""


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_a_second_start_gives_the_running_window_the_focus(
    sandbox: Any, launch: Any, app_env: dict[str, str], tmp_path: Path, api_version: str
) -> None:
    app = launch("--sandbox", *version_option(api_version))
    window = app.window_id()
    decoy = subprocess.Popen(
        [sys.executable, "-c", _DECOY],
        env=app_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found = _wait_for(
            lambda: _xdotool(app.display, "search", "--name", "decoy-window", check=False),
            30,
            "the decoy window",
        )
        decoy_window = str(found).splitlines()[0]
        _xdotool(app.display, "windowfocus", "--sync", decoy_window)
        assert _xdotool(app.display, "getwindowfocus") == decoy_window

        second = subprocess.run(
            [sys.executable, "-m", "smooch_desktop", "--user-id", "focus-user"],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        assert "brought to the front" in second.stderr
        _wait_for(
            lambda: _xdotool(app.display, "getwindowfocus", check=False) == window,
            10,
            "the running window to take the focus",
        )
    finally:
        decoy.terminate()
        decoy.wait(10)
    _assert_clean_stderr(app.close())


def _sandbox_of(app: RunningApp) -> dict[str, str]:
    """What ``--sandbox`` prints on stdout: base_url, app_id, key_id, secret."""

    def printed() -> dict[str, str]:
        if app.proc.poll() is not None:
            raise AssertionError(f"app exited early: {app.stderr_path.read_text()}")
        found = dict(
            line.split("=", 1) for line in app.stdout_path.read_text().splitlines() if "=" in line
        )
        return found if {"base_url", "app_id"} <= found.keys() else {}

    found: dict[str, str] = _wait_for(printed, 30, "the sandbox's address on stdout")
    return found


def _inbox_row(
    data_dir: Path, user_ref: str, columns: str = "unread, preview_text"
) -> tuple[Any, ...] | None:
    """(unread, preview) of ``user_ref`` in the app's conversation list file (read-only)."""
    path = data_dir / "inbox.sqlite3"
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            f"SELECT {columns} FROM conversations WHERE user_ref = ? AND removed = 0",
            (user_ref,),
        ).fetchone()
    except sqlite3.OperationalError:
        return None  # not created yet
    finally:
        conn.close()
    return None if row is None else tuple(row)


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_a_new_user_sees_the_list_picks_one_and_is_told_of_another(
    launch: Any, isolated_dirs: Path, api_version: str
) -> None:
    """The issue's "done when": start --sandbox, the demo conversations are listed, pick
    one; an end user writes for another user (the sandbox's end-user route, over HTTP);
    it shows in the list with an unread mark, as a desktop notification (a real
    ``org.freedesktop.Notifications`` server on this session bus), and in the window
    title; clicking the notification opens that conversation, which is then read."""
    import requests
    from notification_server import NotificationServer

    from smooch_desktop import appinfo
    from smooch_desktop.core.inbox import FollowReason
    from smooch_desktop.sandbox.demo import DEMO_ALICE_ID, DEMO_PAGING_USER_ID

    server = NotificationServer()
    try:
        app = launch("--sandbox", *version_option(api_version))
        window = app.window_id()
        sandbox = _sandbox_of(app)
        base, app_id = sandbox["base_url"], sandbox["app_id"]
        data = isolated_dirs / "data"
        # The demo users who wrote in are listed (the list is the app's inbox file), and
        # the list has polled Bob once (his history so far is the baseline: not new).
        _wait_for(lambda: _inbox_row(data, DEMO_ALICE_ID), 20, "the demo users listed")
        assert _inbox_row(data, DEMO_PAGING_USER_ID) is not None
        _wait_for(
            lambda: (_inbox_row(data, DEMO_PAGING_USER_ID, "last_seen_id") or ("",))[0],
            30,
            "bob synced",
        )

        # Pick one from the list: Ctrl+T, a few letters of the name, Enter.
        _focus(app.display, window)
        _xdotool(app.display, "key", "ctrl+t")
        _xdotool(app.display, "type", "--delay", "30", "alice")
        _xdotool(app.display, "key", "Return")

        def opened(user: str) -> bool:
            """The window opened ``user`` (the list then follows them as opened)."""
            row = _inbox_row(data, user, "reasons")
            return row is not None and bool(row[0] & FollowReason.OPENED)

        _wait_for(lambda: opened(DEMO_ALICE_ID), 20, "alice's conversation to load")
        # The whole list again (Escape in the filter clears it).
        _xdotool(app.display, "key", "ctrl+t")
        _xdotool(app.display, "key", "Escape")
        assert _xdotool(app.display, "getwindowname", window) == appinfo.NAME

        # Bob writes, on the sandbox's end-user route.
        text = "Is my order on its way?"
        bob = quote(DEMO_PAGING_USER_ID, safe="")
        answer = requests.post(
            f"{base}/_sandbox/apps/{app_id}/appusers/{bob}/messages",
            json={"text": text},
            timeout=5,
        )
        assert answer.status_code == 201, answer.text

        # Within the list's budget (30 requests a minute over the demo users).
        _wait_for(lambda: _inbox_row(data, DEMO_PAGING_USER_ID) == (1, text), 45, "bob unread")
        notes = _wait_for(server.notifications, 15, "a desktop notification")
        assert len(notes) == 1
        note = notes[0]
        assert note.app_name == appinfo.NAME
        assert note.summary.startswith("Bob")  # the demo user's name
        assert note.body == text
        assert note.actions[0] == "default"
        _wait_for(
            lambda: _xdotool(app.display, "getwindowname", window) == f"(1) {appinfo.NAME}",
            10,
            "the unread total in the window title",
        )
        _wait_for(_screen_settled(app.display), 15, "the window to stop repainting")
        _screenshot(app.display, f"e2e-inbox-unread-{api_version}.png")

        # A click on the notification opens Bob's conversation in the window, which the
        # agent now sees: it is read, once.
        server.invoke(note.id)
        _wait_for(lambda: opened(DEMO_PAGING_USER_ID), 20, "bob's conversation to open")
        _wait_for(lambda: _inbox_row(data, DEMO_PAGING_USER_ID) == (0, text), 20, "bob read")
        _wait_for(
            lambda: _xdotool(app.display, "getwindowname", window) == appinfo.NAME,
            10,
            "the title without unread",
        )

        def receipts() -> list[dict[str, Any]]:
            entries = requests.get(f"{base}/_sandbox/log", timeout=5).json()["entries"]
            return [
                e
                for e in entries
                if e["method"] == "POST"
                and e["path"].endswith("/activity")
                and isinstance(e.get("body"), dict)
                and e["body"].get("type") == "conversation:read"
            ]

        _wait_for(lambda: len(receipts()) == 1, 10, "one conversation:read")
        assert len(server.notifications()) == 1  # no notification for what is on screen
        _assert_clean_stderr(app.close())
    finally:
        server.stop()
