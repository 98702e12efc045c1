"""``api``, ``core``, the sandbox and the Qt-free ``ui`` modules import without Qt
(docs/architecture.md#qt-free-core).

Each module is imported in a fresh interpreter in which importing PySide6 or shiboken6
raises ImportError, so an accidental ``from PySide6 import …`` anywhere in the import
chain fails here, not on a headless server. Modules of ``api``, ``core`` and ``sandbox`` are
discovered with pkgutil, so modules added later are covered without touching this test;
the Qt-free modules inside ``ui/`` are listed one by one (their neighbours use Qt).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from qt_free_modules import QT_FREE_UI_MODULES

QT_FREE_PACKAGES = ("smooch_desktop.api", "smooch_desktop.core", "smooch_desktop.sandbox")

PROBE = r"""
import importlib
import importlib.abc
import json
import pkgutil
import sys
import traceback

BLOCKED = ("PySide6", "shiboken6")


class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is blocked: this module must stay Qt-free")
        return None


sys.meta_path.insert(0, BlockQt())

results = {"imported": [], "failed": {}}
for package_name in sys.argv[1:]:
    package = importlib.import_module(package_name)
    results["imported"].append(package_name)
    # A plain module (no __path__) is imported on its own.
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), package_name + "."):
        try:
            importlib.import_module(info.name)
        except BaseException:
            results["failed"][info.name] = traceback.format_exc(limit=5)
        else:
            results["imported"].append(info.name)
results["qt_loaded"] = sorted(
    name for name in sys.modules if name.split(".")[0] in BLOCKED
)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *QT_FREE_PACKAGES, *QT_FREE_UI_MODULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_the_blocker_really_blocks() -> None:
    code = PROBE.split("results = ")[0] + "import PySide6.QtCore\n"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode != 0
    assert "ImportError: PySide6 is blocked" in completed.stderr


def test_every_qt_free_module_imports_without_qt(probe: dict[str, object]) -> None:
    failed = probe["failed"]
    assert isinstance(failed, dict)
    assert failed == {}, "\n".join(f"{name}:\n{tb}" for name, tb in failed.items())


def test_qt_was_never_loaded(probe: dict[str, object]) -> None:
    assert probe["qt_loaded"] == []


def test_discovery_found_the_modules(probe: dict[str, object]) -> None:
    imported = probe["imported"]
    assert isinstance(imported, list)
    for name in [
        "smooch_desktop.api",
        "smooch_desktop.core",
        "smooch_desktop.core.validation",
        "smooch_desktop.core.gravatar",
        "smooch_desktop.core.typing_policy",
        "smooch_desktop.core.drafts",
        "smooch_desktop.core.secrets",
        "smooch_desktop.core.paths",
        "smooch_desktop.core.shorthand",
        "smooch_desktop.core.profiles",
        "smooch_desktop.core.sqlite_store",
        "smooch_desktop.sandbox.dispatch",
        "smooch_desktop.sandbox.routes",
        *QT_FREE_UI_MODULES,
    ]:
        assert name in imported
