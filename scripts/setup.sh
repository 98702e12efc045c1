#!/usr/bin/env bash
# Sets up everything Smooch Desktop needs on this machine, idempotently:
#   - system libraries Qt's X11 platform plugin needs (and, with --test, Xvfb and a
#     Secret Service keychain for the end-to-end tests), via apt-get when missing;
#   - a virtual environment in .venv with the app (editable) and its extras.
# Usage: scripts/setup.sh [--test] [--package]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_package=0
for arg in "$@"; do
    case "$arg" in
        --test) want_test=1 ;;
        --package) want_package=1 ;;
        *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup.sh: Python 3.11+ is required ($PYTHON not found)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: Python 3.11 or newer is required" >&2
    exit 1
fi

# --- system packages (Debian/Ubuntu) ---------------------------------------------------
runtime_pkgs=(libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1
    libgl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core)
test_pkgs=(xvfb xauth xdotool imagemagick gnome-keyring dbus dbus-x11 desktop-file-utils
    appstream shellcheck util-linux)
pkgs=("${runtime_pkgs[@]}")
package_pkgs=(dpkg-dev file binutils curl xvfb xdotool imagemagick)
if [ "$want_test" = 1 ]; then pkgs+=("${test_pkgs[@]}"); fi
if [ "$want_package" = 1 ]; then pkgs+=("${package_pkgs[@]}"); fi

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        sudo=""
        if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
        echo "setup.sh: installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
else
    echo "setup.sh: not a Debian/Ubuntu system; install Qt's xcb libraries yourself if Qt" \
        "can't load its platform plugin." >&2
fi

# --- Python environment ------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
extras="dev"
if [ "$want_package" = 1 ]; then extras="dev,package"; fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$extras"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[$extras]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
