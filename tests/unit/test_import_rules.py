"""The layers' import rules (docs/architecture.md, "Layers"), checked on the source.

Every import counts, including the ones inside functions (a lazy import is still a
dependency) and the ones under ``TYPE_CHECKING``:

* ``api`` imports neither ``core`` nor ``ui`` (nor the sandbox);
* ``core`` never imports ``ui`` (nor the sandbox);
* ``sandbox`` imports none of ``api``, ``core`` and ``ui``;
* Qt (PySide6, shiboken6) is imported only in ``ui/`` and the app bootstrap;
* the Qt-free modules inside ``ui/`` (``QT_FREE_UI``) import neither Qt nor a ``ui``
  module outside that list.

``test_qt_free.py`` proves the Qt-free packages really import without Qt; this test
names the line that breaks a rule, in any package, before anything runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from qt_free_modules import QT_FREE_UI_MODULES

PACKAGE = Path(__file__).resolve().parents[2] / "smooch_desktop"
QT = ("PySide6", "shiboken6")
#: Modules outside ui/ that boot Qt: the command line and QApplication set-up.
QT_BOOTSTRAP = {"smooch_desktop.app", "smooch_desktop.__main__"}
#: Modules inside ui/ that must stay Qt-free (tested without a display; see test_qt_free.py).
QT_FREE_UI = set(QT_FREE_UI_MODULES)
#: The packages a Qt-free ui module is inside: importing one runs their __init__.py.
QT_FREE_UI_PARENTS = {
    "smooch_desktop.ui",
    "smooch_desktop.ui.connection",
    "smooch_desktop.ui.conversation",
}

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "smooch_desktop.api": (
        "smooch_desktop.core",
        "smooch_desktop.ui",
        "smooch_desktop.sandbox",
        *QT,
    ),
    "smooch_desktop.core": ("smooch_desktop.ui", "smooch_desktop.sandbox", *QT),
    "smooch_desktop.sandbox": (
        "smooch_desktop.api",
        "smooch_desktop.core",
        "smooch_desktop.ui",
        *QT,
    ),
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line number."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # "from smooch_desktop import ui" imports the subpackage itself.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def is_qt_free(module: str) -> bool:
    """True for a Qt-free ui module, one of its parent packages, or a name inside one."""
    allowed = QT_FREE_UI | QT_FREE_UI_PARENTS
    return module in allowed or module.rpartition(".")[0] in QT_FREE_UI


def violations(root: Path = PACKAGE) -> list[str]:
    """``file:line imports X`` for every import that breaks a rule, under ``root``."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        where = path.relative_to(root.parent)
        rules = [bad for layer, bad in FORBIDDEN.items() if is_under(name, layer)]
        qt_free_ui = name in QT_FREE_UI or name in QT_FREE_UI_PARENTS
        qt_allowed = (is_under(name, "smooch_desktop.ui") and not qt_free_ui) or (
            name in QT_BOOTSTRAP
        )
        for line, imported in imports_of(path, root):
            if qt_free_ui and is_under(imported, "smooch_desktop.ui") and not is_qt_free(imported):
                problems.append(f"{where}:{line} imports {imported} (not Qt-free)")
            for bad in (b for rule in rules for b in rule):
                if is_under(imported, bad):
                    problems.append(f"{where}:{line} imports {imported}")
            if not qt_allowed and any(is_under(imported, qt) for qt in QT):
                problems.append(f"{where}:{line} imports Qt ({imported})")
    return sorted(set(problems))


def test_every_module_keeps_the_import_rules() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("source", "where", "expected"),
    [
        ("from smooch_desktop.ui import plain\n", "api/bad.py", "imports smooch_desktop.ui"),
        ("from ..ui.plain import inline\n", "core/bad.py", "imports smooch_desktop.ui.plain"),
        ("def f():\n    import PySide6.QtCore\n", "core/bad.py", "imports Qt (PySide6.QtCore)"),
        ("from smooch_desktop.api import errors\n", "sandbox/bad.py", "imports smooch_desktop.api"),
        ("from PySide6.QtCore import Qt\n", "appinfo_bad.py", "imports Qt (PySide6.QtCore)"),
        ("import shiboken6\n", "ui/connection/form.py", "imports Qt (shiboken6)"),
        (
            "from smooch_desktop.ui.settings import AppSettings\n",
            "ui/connection/secret_saver.py",
            "imports smooch_desktop.ui.settings (not Qt-free)",
        ),
        ("import PySide6\n", "ui/conversation/items.py", "imports Qt (PySide6)"),
    ],
)
def test_the_checker_names_a_broken_rule(
    source: str, where: str, expected: str, tmp_path: Path
) -> None:
    fake = tmp_path / "smooch_desktop"
    target = fake / where
    target.parent.mkdir(parents=True, exist_ok=True)
    (target.parent / "__init__.py").write_text("")
    target.write_text(source)
    found = violations(fake)
    assert any(expected in problem for problem in found), found
