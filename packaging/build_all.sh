#!/usr/bin/env bash
# Build everything for Linux in one go: the PyInstaller bundle, its self-check, the .deb.
#
#   packaging/build_all.sh [--no-selfcheck]
#
# Output: dist/smooch-desktop/ (bundle) and dist/smooch-desktop_<version>_<arch>.deb.
# Prints the sizes and the wall time. Needs the venv with the "package" extra
# (.venv/bin/pip install -e '.[package]') and dpkg-dev; see packaging/README.md.
set -euo pipefail

start=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
export PYTHON
selfcheck=1
for arg in "$@"; do
    case $arg in
        --no-selfcheck) selfcheck=0 ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build_all.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 \
    || { echo "build_all.sh: PyInstaller missing: $PYTHON -m pip install -e '${ROOT}[package]'" >&2; exit 1; }

echo "== PyInstaller bundle (PyInstaller $("$PYTHON" -m PyInstaller --version))"
# The self-check executable shares the bundle's _internal; build_deb.sh leaves it out.
SMOOCH_BUNDLE_SELFCHECK=$selfcheck "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
    "$ROOT/packaging/smooch-desktop.spec"

if [[ $selfcheck == 1 ]]; then
    echo "== bundle self-check"
    check=$ROOT/dist/smooch-desktop/bundle-selfcheck
    if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
        # A private session bus and a throw-away unlocked keyring: proves the bundled
        # keyring really talks to a Secret Service, without touching the user's keychain.
        tmp_home=$(mktemp -d)
        trap 'rm -rf "$tmp_home"' EXIT
        # shellcheck disable=SC2016 # $0 is expanded by the inner sh
        HOME=$tmp_home XDG_DATA_HOME=$tmp_home/share XDG_RUNTIME_DIR=$tmp_home \
            dbus-run-session -- sh -c \
            'printf selfcheck | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
             exec "$0" --require-secret-service' "$check" 2>&1 \
            | grep -v 'Failed to set fd limit'
    else
        echo "   (no dbus-run-session/gnome-keyring-daemon: keychain round trip skipped)"
        QT_QPA_PLATFORM=offscreen "$check"
    fi
fi

"$ROOT/packaging/build_deb.sh" --reuse-bundle

echo "== sizes"
echo "bundle: $(du -sh --exclude=bundle-selfcheck "$ROOT/dist/smooch-desktop" | cut -f1)  dist/smooch-desktop"
for deb in "$ROOT"/dist/smooch-desktop_*.deb; do
    echo "deb:    $(du -h "$deb" | cut -f1)  ${deb#"$ROOT"/}"
done
echo "wall time: $(( $(date +%s) - start )) s"
