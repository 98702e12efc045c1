"""The benchmark scripts still run: import each one, then run its ``--quick`` variant.

Not a performance test: the quick variants are too short to mean anything, and their
verdict (PASS/FAIL) is not checked here, only that each run completes and prints one.
The real figures come from ``benchmarks/run_all.sh``. Each script that drives the window
on the sandbox runs once per API version (``--api-version``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
#: (script, --api-version or None). The scripts that drive the window on the sandbox run on
#: both versions; start-up has no API traffic to speak of (it runs as before), the outbox
#: benchmark none at all. The fault run's smoke on both versions is the slow test in
#: tests/api/test_restart_safety.py.
SCRIPTS = [
    ("bench_startup.py", None),
    ("bench_outbox.py", None),
    ("bench_preview.py", None),
    ("bench_inbox_filter.py", None),
    *[
        (script, version)
        for script in (
            "bench_gui_stall.py",
            "bench_typing.py",
            "bench_avatars.py",
            "bench_poll_budget.py",
            "bench_idle.py",
        )
        for version in ("v1.1", "v2")
    ],
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "api_version"), SCRIPTS, ids=[f"{s}-{v}" if v else s for s, v in SCRIPTS]
)
def test_benchmark_quick_run(
    script: str, api_version: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = BENCHMARKS / script
    # The scripts put benchmarks/ on sys.path for ``_common``; undo that after the import.
    monkeypatch.setattr(sys, "path", list(sys.path))
    had_common = "_common" in sys.modules
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # imports cleanly, defines main()
    finally:
        if not had_common:
            sys.modules.pop("_common", None)
    assert callable(module.main)

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [
            sys.executable,
            str(path),
            "--quick",
            *(["--api-version", api_version] if api_version else []),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith(("PASS:", "FAIL:"))]
    # 0 = target met, 1 = missed (a quick run may well miss it); anything else is a crash.
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert len(verdicts) == 1, proc.stdout
