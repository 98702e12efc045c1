"""Desktop integration files and packaging inputs: ids agree, validators pass, icons are sized."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from smooch_desktop import appinfo

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
PACKAGING = REPO / "packaging"
DESKTOP = RESOURCES / f"{appinfo.DESKTOP_FILE_ID}.desktop"
METAINFO = RESOURCES / f"{appinfo.DESKTOP_FILE_ID}.metainfo.xml"
HICOLOR = RESOURCES / "icons" / "hicolor"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, "IHDR must be the first chunk"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def _desktop_entry() -> dict[str, str]:
    lines = DESKTOP.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))


def _run_validator(*command: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(command[0]) is None:
        package = {"desktop-file-validate": "desktop-file-utils", "appstreamcli": "appstream"}
        pytest.skip(f"{command[0]} not installed (apt-get install {package[command[0]]})")
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


# --- .desktop entry ------------------------------------------------------------------------


def test_desktop_file_is_named_after_the_desktop_file_id() -> None:
    assert DESKTOP.is_file()
    assert DESKTOP.name.removesuffix(".desktop") == appinfo.DESKTOP_FILE_ID


def test_desktop_entry_agrees_with_appinfo_and_pyproject() -> None:
    entry = _desktop_entry()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == appinfo.NAME
    assert entry["Icon"] == appinfo.DESKTOP_FILE_ID
    assert entry["Exec"] == appinfo.APP_ID
    assert entry["Exec"] in scripts["gui-scripts"]
    assert entry["Terminal"] == "false"
    # Qt's X11 WM_CLASS is (argv[0] basename, applicationName) = APP_ID for both.
    assert entry["StartupWMClass"] == appinfo.APP_ID
    assert {"Network", "Chat", "InstantMessaging"} <= set(entry["Categories"].strip(";").split(";"))


def test_desktop_file_validate_is_clean() -> None:
    result = _run_validator("desktop-file-validate", str(DESKTOP))
    assert result.returncode == 0, result.stdout + result.stderr
    # It prints errors, warnings and hints alike; none is expected.
    assert result.stdout.strip() == "", result.stdout


# --- AppStream metainfo --------------------------------------------------------------------


def test_metainfo_agrees_with_appinfo() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component"
    assert root.attrib["type"] == "desktop-application"
    assert root.findtext("id") == appinfo.DESKTOP_FILE_ID
    assert root.findtext("name") == appinfo.NAME
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == "MIT"
    launchable = root.find("launchable")
    assert launchable is not None
    assert launchable.attrib["type"] == "desktop-id"
    assert launchable.text == DESKTOP.name
    assert root.findtext("provides/binary") == appinfo.APP_ID
    releases = [r.attrib["version"] for r in root.iterfind("releases/release")]
    assert releases, "at least one release"
    assert releases[0] == appinfo.VERSION, "newest release first, matching appinfo.VERSION"


def test_appstreamcli_validate_passes() -> None:
    result = _run_validator(
        "appstreamcli", "validate", "--no-net", "--no-color", "--explain", str(METAINFO)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Errors (E:) and warnings (W:) must not appear; infos (I:) and pedantic (P:) notes may.
    assert not re.search(r"^[EW]: ", output, re.MULTILINE), output


# --- icons ---------------------------------------------------------------------------------


def test_every_hicolor_size_is_present() -> None:
    for size in ICON_SIZES:
        assert (HICOLOR / f"{size}x{size}" / "apps" / f"{appinfo.DESKTOP_FILE_ID}.png").is_file()


@pytest.mark.parametrize(
    "png", sorted(HICOLOR.glob("*/apps/*.png")), ids=lambda p: p.parent.parent.name
)
def test_png_size_matches_its_directory(png: Path) -> None:
    match = re.fullmatch(r"(\d+)x(\d+)", png.parent.parent.name)
    assert match, f"unexpected directory {png.parent.parent.name}"
    width, height, depth, colour = _png_header(png.read_bytes())
    assert (width, height) == (int(match[1]), int(match[2]))
    assert (depth, colour) == (8, 6), "8-bit RGBA"
    assert png.stem == appinfo.DESKTOP_FILE_ID


def test_scalable_icon_exists() -> None:
    assert (RESOURCES / "icons" / f"{appinfo.DESKTOP_FILE_ID}.svg").is_file()


def test_windows_ico_entries_are_pngs_of_the_declared_size() -> None:
    data = (PACKAGING / "windows" / "smooch-desktop.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1) and count >= 4
    sizes = set()
    for i in range(count):
        w, h, _, _, _, bpp, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * i : 22 + 16 * i]
        )
        width, height, _, _ = _png_header(data[offset : offset + length])
        assert (width, height) == (w or 256, h or 256)
        assert bpp == 32
        sizes.add(width)
    assert {16, 32, 48, 256} <= sizes


def test_macos_icns_chunks_are_pngs_of_the_size_their_type_means() -> None:
    expected = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256,
                b"ic09": 512, b"ic10": 1024, b"ic11": 32, b"ic12": 64, b"ic13": 256,
                b"ic14": 512}  # fmt: skip
    data = (PACKAGING / "macos" / "smooch-desktop.icns").read_bytes()
    magic, total = struct.unpack(">4sI", data[:8])
    assert magic == b"icns" and total == len(data)
    offset, seen = 8, set()
    while offset < len(data):
        kind, length = struct.unpack(">4sI", data[offset : offset + 8])
        width, height, _, _ = _png_header(data[offset + 8 : offset + length])
        assert width == height == expected[kind], kind
        seen.add(kind)
        offset += length
    assert seen == set(expected)


# --- packaging inputs ----------------------------------------------------------------------


def test_wheel_config_ships_resources_and_every_subpackage() -> None:
    """The wheel carries resources/ as smooch_desktop/_resources (see packaging/README.md)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_cfg = pyproject["tool"]["setuptools"]
    packages = setuptools_cfg.get("packages")
    if not isinstance(packages, list):
        pytest.skip("pyproject.toml still uses packages.find: wheels would lack resources/")
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "smooch_desktop").rglob("__init__.py")
    }
    assert set(packages) == on_disk | {"smooch_desktop._resources"}, "a subpackage is missing"
    assert setuptools_cfg["package-dir"]["smooch_desktop._resources"] == "resources"
    assert setuptools_cfg["package-data"]["smooch_desktop._resources"] == ["**/*"]


def test_inno_setup_default_version_matches_appinfo() -> None:
    script = (PACKAGING / "windows" / "smooch-desktop.iss").read_text(encoding="utf-8")
    match = re.search(r'^\s*#define AppVersion "([^"]+)"', script, re.MULTILINE)
    assert match and match[1] == appinfo.VERSION


SHELL_SCRIPTS = sorted(
    [
        *PACKAGING.glob("*.sh"),
        *(REPO / "scripts").glob("*.sh"),
        *(REPO / "benchmarks").glob("*.sh"),
        REPO / ".ci" / "run",
    ]
)


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shell_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash not installed")
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed; only bash -n was run")
    result = subprocess.run(
        ["shellcheck", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout
