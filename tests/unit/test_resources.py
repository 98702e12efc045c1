"""smooch_desktop.resources: one lookup rule for a checkout, a wheel and a PyInstaller bundle."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from smooch_desktop import appinfo, resources

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "smooch_desktop"
UI_ICON_NAMES = ("send", "retry", "settings", "user", "warning", "check", "clock")
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test change the candidate directories; the cached root is reset around it."""
    resources.resources_root.cache_clear()
    yield
    monkeypatch.undo()
    resources.resources_root.cache_clear()


def _fake_resources(root: Path) -> Path:
    """A minimal resources directory: the marker file plus one data file."""
    (root / "icons").mkdir(parents=True)
    (root / "icons" / f"{appinfo.DESKTOP_FILE_ID}.svg").write_text("<svg/>", encoding="utf-8")
    (root / "data.txt").write_text(root.name, encoding="utf-8")
    return root


def test_checkout_root_is_the_top_level_resources_directory() -> None:
    assert resources.resources_root() == REPO / "resources"


def test_app_icon_is_a_square_svg() -> None:
    path = resources.app_icon_path()
    assert path.name == f"{appinfo.DESKTOP_FILE_ID}.svg"
    svg = ET.parse(path).getroot()
    assert svg.tag == f"{SVG_NS}svg"
    _, _, width, height = (float(v) for v in svg.attrib["viewBox"].split())
    assert width == height


@pytest.mark.parametrize("name", UI_ICON_NAMES)
def test_ui_icons_are_24px_svgs_with_fixed_colours(name: str) -> None:
    path = resources.icon_path(name)
    assert path == REPO / "resources" / "icons" / "ui" / f"{name}.svg"
    svg = ET.parse(path).getroot()
    assert svg.tag == f"{SVG_NS}svg"
    assert svg.attrib["viewBox"] == "0 0 24 24"
    # Fixed colours: a QIcon renders currentColor as black, invisible on dark themes.
    assert "currentColor" not in path.read_text(encoding="utf-8")


def test_unknown_icon_names_the_available_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"no UI icon named 'nope'.*send"):
        resources.icon_path("nope")


@pytest.mark.parametrize("name", ["", "../send", "ui/send", ".hidden", "a\\b"])
def test_icon_name_must_be_a_plain_name(name: str) -> None:
    with pytest.raises(ValueError, match="not an icon name"):
        resources.icon_path(name)


def test_desktop_and_metainfo_files_are_found() -> None:
    assert resources.desktop_file_path().suffix == ".desktop"
    assert resources.metainfo_path().name.endswith(".metainfo.xml")


def test_resource_path_returns_existing_absolute_paths() -> None:
    path = resources.resource_path("icons", "ui", "send.svg")
    assert path.is_absolute()
    assert path.is_file()


def test_missing_resource_is_a_clear_file_not_found() -> None:
    with pytest.raises(FileNotFoundError, match=r"resource 'icons/missing\.svg' not found in"):
        resources.resource_path("icons", "missing.svg")


@pytest.mark.parametrize(
    "parts",
    [("..", "pyproject.toml"), ("icons", "..", "..", "pyproject.toml"), ("/etc/passwd",)],
)
def test_resource_path_cannot_leave_the_resources_directory(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="must stay inside resources"):
        resources.resource_path(*parts)


def test_resource_path_needs_a_part() -> None:
    with pytest.raises(ValueError):
        resources.resource_path()


def test_wheel_layout_wins_over_a_directory_beside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None
) -> None:
    inside = _fake_resources(tmp_path / "smooch_desktop" / "_resources")
    beside = _fake_resources(tmp_path / "resources")
    monkeypatch.setattr(resources, "_CANDIDATES", (inside, beside))
    assert resources.resources_root() == inside
    assert resources.resource_path("data.txt").read_text(encoding="utf-8") == "_resources"


def test_a_directory_without_the_app_icon_is_not_mistaken_for_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None
) -> None:
    # e.g. some other distribution installed a top-level "resources" into site-packages.
    unrelated = tmp_path / "unrelated"
    (unrelated / "icons").mkdir(parents=True)
    ours = _fake_resources(tmp_path / "resources")
    monkeypatch.setattr(resources, "_CANDIDATES", (unrelated, ours))
    assert resources.resources_root() == ours


def test_no_resources_anywhere_lists_every_place_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None
) -> None:
    candidates = (tmp_path / "a", tmp_path / "b")
    monkeypatch.setattr(resources, "_CANDIDATES", candidates)
    with pytest.raises(FileNotFoundError) as info:
        resources.app_icon_path()
    message = str(info.value)
    assert all(str(c) in message for c in candidates)
    assert "reinstall" in message


def _copy_package(target: Path) -> None:
    """The Qt-free modules resources.py needs, laid out like an installed package."""
    target.mkdir(parents=True)
    for name in ("__init__.py", "appinfo.py", "resources.py"):
        shutil.copy2(PACKAGE / name, target / name)


def _root_in_fresh_interpreter(sys_path_entry: Path) -> str:
    # -I -S: no site-packages, so the editable install cannot shadow the copied package.
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(sys_path_entry)!r})
        from smooch_desktop import resources
        print(resources.app_icon_path().parent.parent)
        """
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_pyinstaller_layout_is_found_without_any_frozen_branch(tmp_path: Path) -> None:
    # The spec puts resources/ at <bundle>/_internal/resources, beside the package.
    internal = tmp_path / "smooch-desktop" / "_internal"
    _copy_package(internal / "smooch_desktop")
    shutil.copytree(REPO / "resources", internal / "resources")
    assert _root_in_fresh_interpreter(internal) == str(internal / "resources")


def test_wheel_layout_is_found_in_a_fresh_interpreter(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    _copy_package(site / "smooch_desktop")
    shutil.copytree(REPO / "resources", site / "smooch_desktop" / "_resources")
    assert _root_in_fresh_interpreter(site) == str(site / "smooch_desktop" / "_resources")


def test_module_is_qt_free_and_has_no_frozen_branch() -> None:
    tree = ast.parse((PACKAGE / "resources.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported <= {"__future__", "functools", "pathlib", "smooch_desktop"}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not attributes & {"_MEIPASS", "frozen"}
