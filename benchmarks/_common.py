"""Shared helpers for the benchmark scripts (not a test module, not app code).

Every benchmark is a plain script: it measures the app and a baseline in the same run,
prints both with their ratio, and ends with one verdict line that ``run_all.sh`` collects::

    PASS: <what> <value> (target <= <target>)      or      FAIL: ...

Exit status: 0 when the target is met, 1 when it is missed, 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

#: Environment variables read by smooch_desktop.core.paths and ui.settings.
DIR_ENV = {
    "SMOOCH_DESKTOP_DATA_DIR": "data",
    "SMOOCH_DESKTOP_CACHE_DIR": "cache",
    "SMOOCH_DESKTOP_CONFIG_DIR": "config",
}


def isolated_env(root: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose data/cache/config dirs are fresh directories under ``root``."""
    env = dict(os.environ if base is None else base)
    for name, sub in DIR_ENV.items():
        path = root / sub
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env.pop("SMOOCH_KEY_SECRET", None)
    return env


def isolate_this_process(prefix: str) -> Path:
    """Point this process's app directories at a new temp dir, removed at exit."""
    root = Path(tempfile.mkdtemp(prefix=f"smooch-bench-{prefix}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.environ.update(isolated_env(root, {}))
    os.environ.pop("SMOOCH_KEY_SECRET", None)
    return root


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that really occurred."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base > 0 else "n/a"


def verdict(ok: bool, text: str) -> int:
    """Print the final verdict line and return the exit status."""
    print(f"{'PASS' if ok else 'FAIL'}: {text}", flush=True)
    return 0 if ok else 1


def make_qapp() -> Any:
    """The QApplication, named exactly as ``smooch_desktop.app.run_gui`` names it."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from smooch_desktop import appinfo

    QApplication.setApplicationName(appinfo.APP_ID)
    QApplication.setApplicationDisplayName(appinfo.NAME)
    QApplication.setOrganizationName(appinfo.ORGANIZATION)
    QApplication.setOrganizationDomain(appinfo.ORGANIZATION_DOMAIN)
    QApplication.setApplicationVersion(appinfo.VERSION)
    QGuiApplication.setDesktopFileName(appinfo.DESKTOP_FILE_ID)
    return QApplication.instance() or QApplication(sys.argv[:1])


def sandbox_args(*extra: str) -> argparse.Namespace:
    """The Namespace ``smooch-desktop --sandbox`` would give (the app's own parser)."""
    from smooch_desktop.app import build_parser

    return build_parser().parse_args(["--sandbox", *extra])


#: The API versions a benchmark's sandbox session can speak (``--api-version``).
API_VERSIONS = ("v1.1", "v2")


def start_app(sandbox: Any, api_version: str = "v1.1") -> Any:
    """An AppController on ``sandbox``, started (window shown), as ``run_gui`` does it,
    speaking ``api_version`` (``smooch-desktop --sandbox --api-version …``)."""
    from smooch_desktop.ui.controller import AppController

    # v1.1 is the default: started exactly as before, without the option.
    extra = () if api_version == "v1.1" else ("--api-version", api_version)
    controller = AppController(sandbox_args(*extra), sandbox)
    controller.start()
    # The window paints first; the session is attached right after (two-phase start-up).
    if not wait_until(lambda: controller.session is not None, 10.0):
        raise RuntimeError("the app did not connect to the sandbox within 10 s")
    return controller


def process_events_for(seconds: float) -> None:
    """Run the Qt event loop (timers included) for ``seconds`` of real time."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(max(0, int(seconds * 1000)), loop.quit)
    loop.exec()


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Run the event loop until ``predicate()`` is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        process_events_for(step)


def shutdown_app(controller: Any, sandbox: Any) -> None:
    """Close the window and stop the threads, then the sandbox (as ``run_gui`` ends)."""
    try:
        controller.shutdown()
    finally:
        if sandbox is not None:
            sandbox.stop()


def api_log_count(sandbox: Any, since: int, needle: str) -> int:
    """API requests in the sandbox log after ``since`` whose path contains ``needle``."""
    return sum(1 for e in sandbox.log(since) if needle in e["path"])


def last_seq(sandbox: Any) -> int:
    entries = sandbox.log()
    return int(entries[-1]["seq"]) if entries else 0
