"""The standalone entry point (subprocess) and persistence with ``data_dir``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from smooch_desktop.sandbox import (
    DEMO_ALICE_ID,
    DEMO_APP_ID,
    DEMO_KEY_ID,
    DEMO_SECRET,
    SandboxServer,
)
from smooch_desktop.sandbox.__main__ import main

KEYS = ("base_url", "app_id", "key_id", "secret")


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smooch_desktop.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    info: dict[str, str] = {}
    assert proc.stdout is not None
    while not set(KEYS) <= set(info):
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"sandbox exited early: {err}")
        key, _, value = line.strip().partition("=")
        info[key] = value
    return proc, info


def _finish(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_module_prints_credentials_serves_and_stops(sig: int) -> None:
    proc, info = _start("--error-rate", "0", "--seed", "1")
    try:
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert (info["app_id"], info["key_id"], info["secret"]) == (
            DEMO_APP_ID,
            DEMO_KEY_ID,
            DEMO_SECRET,
        )
        url = f"{info['base_url']}/v1.1/apps/{info['app_id']}/appusers/{DEMO_ALICE_ID}"
        with requests.Session() as s:
            resp = s.get(url, auth=(info["key_id"], info["secret"]), timeout=10)
            assert resp.status_code == 200
            # faults can be flipped from outside the process
            s.put(f"{info['base_url']}/_sandbox/faults", json={"rate_limit_rate": 1}, timeout=10)
            assert s.get(url, auth=(info["key_id"], info["secret"]), timeout=10).status_code == 429
    finally:
        code, err = _finish(proc, sig)
    assert code == 0, err
    assert "Traceback" not in err


def test_cli_faults_apply() -> None:
    proc, info = _start("--rate-limit-rate", "1", "--retry-after", "4", "--no-demo")
    try:
        with requests.Session() as s:
            resp = s.get(
                f"{info['base_url']}/v1.1/appusers/{DEMO_ALICE_ID}",
                auth=(info["key_id"], info["secret"]),
                timeout=10,
            )
            assert resp.status_code == 429 and resp.headers["Retry-After"] == "4"
            s.put(f"{info['base_url']}/_sandbox/faults", json={"rate_limit_rate": 0}, timeout=10)
            resp = s.get(
                f"{info['base_url']}/v1.1/appusers/{DEMO_ALICE_ID}",
                auth=(info["key_id"], info["secret"]),
                timeout=10,
            )
            assert resp.status_code == 404  # --no-demo: credentials but no users
    finally:
        code, err = _finish(proc, signal.SIGTERM)
    assert code == 0, err


@pytest.mark.parametrize(
    "argv",
    [
        ["--error-rate", "1.5"],
        ["--latency-ms", "-3"],
        ["--port", "70000"],
        ["--seed", "abc"],
        ["--bogus"],
        ["--host", "0.0.0.0"],
    ],
)
def test_bad_flags_exit_2_without_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


def test_port_in_use_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with SandboxServer() as srv:
        port = srv.base_url.rsplit(":", 1)[1]
        assert main(["--port", port]) == 1
    assert "cannot start" in capsys.readouterr().err


def test_persistence_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "sandbox-data"
    with SandboxServer(data_dir=data) as first, requests.Session() as s:
        auth = (first.key_id, first.secret)
        users = f"{first.base_url}/v1.1/apps/{first.app_id}/appusers"
        assert s.post(users, json={"userId": "kept"}, auth=auth, timeout=10).status_code == 201
        sent = s.post(
            f"{users}/kept/messages",
            json={"role": "appMaker", "text": "persist me", "email": "a@b.c"},
            auth=auth,
            timeout=10,
        ).json()["message"]
        upload = s.post(
            f"{first.base_url}/v1.1/apps/{first.app_id}/attachments?access=public",
            files={"source": ("keep.txt", b"kept bytes", "text/plain")},
            auth=auth,
            timeout=10,
        ).json()
        s.post(
            f"{users}/kept/messages",
            json={"role": "appMaker", "type": "file", "mediaUrl": upload["mediaUrl"]},
            auth=auth,
            timeout=10,
        )
        demo_count = len(first.store.messages(DEMO_APP_ID, DEMO_ALICE_ID))
    stored = json.loads((data / "sandbox-store.json").read_text(encoding="utf-8"))
    assert stored["version"] == 1
    assert not list(data.glob(".*.tmp"))  # atomic writes leave no temp files behind

    with SandboxServer(data_dir=data) as second, requests.Session() as s:
        messages = second.store.messages(DEMO_APP_ID, "kept", base=second.base_url)
        assert messages[0]["_id"] == sent["_id"] and messages[0]["text"] == "persist me"
        # URLs to the sandbox itself follow the new port
        assert messages[0]["avatarUrl"].startswith(second.base_url)
        assert messages[1]["mediaUrl"].startswith(second.base_url)
        assert s.get(messages[1]["mediaUrl"], timeout=10).content == b"kept bytes"
        assert len(second.store.messages(DEMO_APP_ID, DEMO_ALICE_ID)) == demo_count


def test_no_demo_has_credentials_but_no_users() -> None:
    with SandboxServer(demo=False) as srv:
        assert srv.store.users(DEMO_APP_ID) == []
        assert srv.store.key(DEMO_KEY_ID) == (DEMO_APP_ID, DEMO_SECRET)


def test_sandbox_never_imports_qt() -> None:
    code = (
        "import sys, smooch_desktop.sandbox, smooch_desktop.sandbox.__main__;"
        "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
