"""One app per data directory: a second start brings the first forward; honest start-up errors.

The process tests run the real app (``python -m smooch_desktop``, offscreen) twice on one
data directory and watch the first one's sandbox over real HTTP; the read-only case runs
the app on a read-only tmpfs in a private mount namespace (``unshare``), because root
ignores permission bits and a chmod would prove nothing. The tests whose app talks to its
sandbox run on v1.1 and v2 (``api_version``).
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PySide6.QtCore import QByteArray
from PySide6.QtNetwork import QLocalSocket
from pytestqt.qtbot import QtBot
from ui_stack import dispose_controller

from smooch_desktop.ui.single_instance import (
    MAX_REQUEST_BYTES,
    InstanceServer,
    ask_running_instance,
    decode_request,
    encode_request,
    server_name,
)

REPO = Path(__file__).resolve().parents[2]


def app_env(root: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "SMOOCH_DESKTOP_DATA_DIR": str(root / "data"),
        "SMOOCH_DESKTOP_CONFIG_DIR": str(root / "config"),
        "SMOOCH_DESKTOP_CACHE_DIR": str(root / "cache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    env.pop("SMOOCH_KEY_SECRET", None)
    return env


def read_line_with(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first stdout line of ``proc`` starting with ``prefix`` (fails after ``timeout``)."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not selector.select(timeout=max(0.0, end - time.monotonic())):
            continue
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.strip()[len(prefix) :]
    raise AssertionError(f"the app never printed {prefix!r}")


@pytest.fixture
def first_app(
    tmp_path: Path, api_version: str
) -> Iterator[tuple[subprocess.Popen[str], str, dict[str, str]]]:
    env = app_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "smooch_desktop", "--sandbox", "--api-version", api_version],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = read_line_with(proc, "base_url=", 30)
        yield proc, base_url, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def sandbox_paths(base_url: str) -> list[str]:
    entries = requests.get(f"{base_url}/_sandbox/log", timeout=5).json()["entries"]
    return [str(entry.get("path", "")) for entry in entries]


def test_a_second_start_brings_the_first_forward_and_opens_its_user(
    first_app: tuple[subprocess.Popen[str], str, dict[str, str]],
) -> None:
    proc, base_url, env = first_app
    second = subprocess.run(
        [sys.executable, "-m", "smooch_desktop", "--user-id", "second-start-user"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 0, second.stderr
    assert "already running; its window was brought to the front" in second.stderr
    assert "Traceback" not in second.stderr
    # The running app opened the user the second start named: its sandbox saw the lookup
    # (v1.1 …/appusers/second-start-user, v2 …/users/second-start-user).
    lookup = re.compile(r"/(appusers|users)/second-start-user$")
    deadline = time.monotonic() + 15
    while not any(lookup.search(p) for p in sandbox_paths(base_url)):
        assert time.monotonic() < deadline, "the running app never opened the user"
        time.sleep(0.1)
    assert proc.poll() is None  # and it keeps running
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_read_only_data_directory_says_what_is_wrong_and_where(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    mount = shutil.which("mount")
    if unshare is None or mount is None:
        pytest.skip("needs unshare and mount (util-linux) for a read-only file system")
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {tmp_path}"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"can't mount a read-only tmpfs here: {probe.stderr.decode()[-200:]}")
    data = tmp_path / "ro"
    data.mkdir()
    env = {**app_env(tmp_path / "rw"), "SMOOCH_DESKTOP_DATA_DIR": str(data)}
    script = f'mount -t tmpfs -o ro tmpfs "{data}" && exec "$@"'
    result = subprocess.run(
        [unshare, "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "smooch_desktop"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    assert f"can't write to the data directory {data} (Read-only file system)" in result.stderr
    assert "already running" not in result.stderr
    assert "Traceback" not in result.stderr


_CRASH_THEN_FILL = """
set -u
mount -t tmpfs -o size=400k tmpfs "$DATA" || exit 90
"$PY" -m smooch_desktop >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do
    [ -s "$DATA/instance.lock" ] && [ -e "$DATA/outbox.sqlite3" ] && break
    sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null
dd if=/dev/zero of="$DATA/filler" bs=4k 2>/dev/null
exec "$PY" -m smooch_desktop
"""


def test_a_crash_then_a_full_disk_is_not_reported_as_already_running(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare (util-linux) for a private small file system")
    data = tmp_path / "small"
    data.mkdir()
    env = {
        **app_env(tmp_path / "rw"),
        "SMOOCH_DESKTOP_DATA_DIR": str(data),
        "DATA": str(data),
        "PY": sys.executable,
    }
    result = subprocess.run(
        [unshare, "-rm", "sh", "-c", _CRASH_THEN_FILL],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode == 90:
        pytest.skip(f"can't mount a tmpfs here: {result.stderr[-200:]}")
    assert result.returncode == 1, result.stderr
    assert f"can't write to the data directory {data} (No space left on device)" in result.stderr
    assert "already running" not in result.stderr
    assert "Traceback" not in result.stderr


# --- the local-socket protocol, in process ------------------------------------------------------


@pytest.fixture
def server(qapp: Any, tmp_path: Path) -> Iterator[InstanceServer]:
    instance = InstanceServer(server_name(tmp_path))
    assert instance.listen()
    yield instance
    instance.close()


def raw_client(name: str, payload: bytes) -> QLocalSocket:
    sock = QLocalSocket()
    sock.connectToServer(name)
    assert sock.waitForConnected(2000)
    sock.write(QByteArray(payload))
    sock.flush()
    return sock


def test_request_round_trip(server: InstanceServer, qtbot: QtBot) -> None:
    assert decode_request(encode_request("ü/../<b>x</b>")) == "ü/../<b>x</b>"
    with qtbot.waitSignal(server.activationRequested, timeout=5000) as blocker:
        # The blocking client runs in this thread, so let the server answer from a timer-free
        # loop: a raw write first, then wait for the reply while processing events.
        sock = raw_client(server.name, encode_request("alice"))
        qtbot.waitUntil(lambda: sock.bytesAvailable() > 0 or not sock.isOpen(), timeout=5000)
    assert blocker.args == ["alice"]
    assert bytes(sock.readAll().data()) == b"ok\n"
    sock.abort()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json\n",
        b'{"command": "quit"}\n',
        b'{"command": "activate", "userId": 42}\n',
        b"\xff\xfe\n",
        b"x" * (MAX_REQUEST_BYTES + 10),
        b'{"command": "activate"',  # never finished: dropped after the timeout
    ],
)
def test_hostile_requests_activate_nothing(
    server: InstanceServer, qtbot: QtBot, payload: bytes
) -> None:
    # The server decides (and emits) before it closes the socket: no extra wait needed.
    with qtbot.assertNotEmitted(server.activationRequested):
        sock = raw_client(server.name, payload)
        qtbot.waitUntil(
            lambda: sock.state() == QLocalSocket.LocalSocketState.UnconnectedState,
            timeout=5000,
        )
    assert bytes(sock.readAll().data()) == b""


def test_nobody_listening_is_a_plain_no(qapp: Any, tmp_path: Path) -> None:
    assert ask_running_instance(server_name(tmp_path / "nobody-here"), "", timeout_ms=500) is False


# The offscreen platform can't size or raise windows; it says so, harmlessly.
@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")
def test_an_id_from_a_second_start_is_opened_or_its_problem_shown(
    sandbox: Any, qtbot: QtBot, leak_guard: None, api_version: str
) -> None:
    from smooch_desktop.app import build_parser
    from smooch_desktop.sandbox.demo import DEMO_ALICE_ID
    from smooch_desktop.ui.controller import AppController

    args = build_parser().parse_args(["--sandbox", "--api-version", api_version])
    controller = AppController(args, sandbox=sandbox)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.session is not None, timeout=10_000)
        window = controller.window
        assert window is not None
        controller.bring_to_front(DEMO_ALICE_ID)
        assert window.user_panel.current_user_ref() == DEMO_ALICE_ID
        controller.bring_to_front("bad\x00id")
        assert "control characters" in window.user_panel.error.text()
        assert window.user_panel.current_user_ref() == ""
        assert window.isVisible()
    finally:
        dispose_controller(controller)
