#!/usr/bin/env bash
# Build dist/smooch-desktop_<version>_<arch>.deb from the PyInstaller one-folder bundle.
#
#   packaging/build_deb.sh                 # build the bundle with PyInstaller, then the .deb
#   packaging/build_deb.sh --reuse-bundle  # package the existing dist/smooch-desktop as is
#
# Layout: /opt/smooch-desktop (bundle), /usr/bin/smooch-desktop (launcher), the .desktop
# entry, AppStream metainfo and hicolor icons under /usr/share. Depends is computed by
# dpkg-shlibdeps from the bundle's ELF files (the desktop platform libraries come from the
# host; see the spec), plus what Qt loads with dlopen.
# Environment: PYTHON (default .venv/bin/python), DEB_MAINTAINER, DEB_COMPRESSION (xz|zstd).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
BUNDLE=$ROOT/dist/smooch-desktop
STAGE=$ROOT/build/deb
PKGROOT=$STAGE/root
reuse=0

for arg in "$@"; do
    case $arg in
        --reuse-bundle) reuse=1 ;;
        -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build_deb.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

die() { echo "build_deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps file ldd; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install dpkg-dev file)"
done

appinfo() { # read a constant from smooch_desktop/appinfo.py without importing the package
    "$PYTHON" -c 'import sys; ns = {}; exec(open(sys.argv[1]).read(), ns); print(ns[sys.argv[2]])' \
        "$ROOT/smooch_desktop/appinfo.py" "$1"
}
VERSION=$(appinfo VERSION)
APP_ID=$(appinfo APP_ID)
DESKTOP_ID=$(appinfo DESKTOP_FILE_ID)
NAME=$(appinfo NAME)
ARCH=$(dpkg --print-architecture)
MAINTAINER=${DEB_MAINTAINER:-Smooch Desktop contributors <smooch-desktop@users.noreply.github.com>}
HOMEPAGE=https://github.com/smoochdesktop/smooch-desktop
DEB=$ROOT/dist/${APP_ID}_${VERSION}_${ARCH}.deb

if [[ $reuse == 0 || ! -x $BUNDLE/$APP_ID ]]; then
    echo "== PyInstaller bundle"
    "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
        "$ROOT/packaging/smooch-desktop.spec"
fi
[[ -x $BUNDLE/$APP_ID ]] || die "no bundle at $BUNDLE"

echo "== staging $PKGROOT"
umask 022
rm -rf "$STAGE"
mkdir -p "$PKGROOT/DEBIAN" "$PKGROOT/opt" "$PKGROOT/usr/bin" \
    "$PKGROOT/usr/share/applications" "$PKGROOT/usr/share/metainfo" \
    "$PKGROOT/usr/share/icons/hicolor/scalable/apps" "$PKGROOT/usr/share/doc/$APP_ID"

# The CI self-check executable (SMOOCH_BUNDLE_SELFCHECK=1 builds) is not shipped.
cp -a "$BUNDLE" "$PKGROOT/opt/$APP_ID"
rm -f "$PKGROOT/opt/$APP_ID/bundle-selfcheck"

cat >"$PKGROOT/usr/bin/$APP_ID" <<EOF
#!/bin/sh
# $NAME lives in /opt/$APP_ID (a self-contained PyInstaller bundle).
exec /opt/$APP_ID/$APP_ID "\$@"
EOF
chmod 0755 "$PKGROOT/usr/bin/$APP_ID"

RES=$ROOT/resources
install -m 0644 "$RES/$DESKTOP_ID.desktop" "$PKGROOT/usr/share/applications/"
install -m 0644 "$RES/$DESKTOP_ID.metainfo.xml" "$PKGROOT/usr/share/metainfo/"
install -m 0644 "$RES/icons/$DESKTOP_ID.svg" "$PKGROOT/usr/share/icons/hicolor/scalable/apps/"
for png in "$RES"/icons/hicolor/*/apps/"$DESKTOP_ID".png; do
    size=$(basename "$(dirname "$(dirname "$png")")")
    install -D -m 0644 "$png" "$PKGROOT/usr/share/icons/hicolor/$size/apps/$DESKTOP_ID.png"
done

cat >"$PKGROOT/usr/share/doc/$APP_ID/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $NAME
Source: $HOMEPAGE

Files: *
Copyright: Smooch Desktop contributors
License: MIT

Files: opt/$APP_ID/_internal/*
Comment: Third-party components bundled by PyInstaller, each under its own licence:
 Python (PSF-2.0), Qt 6 and PySide6/shiboken6 (LGPL-3.0-only; shared libraries that
 can be replaced in place), ICU (Unicode-3.0), OpenSSL (Apache-2.0), requests and
 cryptography (Apache-2.0), keyring, PyJWT and jeepney (MIT), Werkzeug and
 SecretStorage (BSD-3-Clause), certifi (MPL-2.0).

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this
 software and associated documentation files (the "Software"), to deal in the Software
 without restriction, including without limitation the rights to use, copy, modify,
 merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to the following
 conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies
 or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
 INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
 PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
 HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
 CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
 THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF

# Desktop integration caches. Debian's file triggers (hicolor-icon-theme,
# desktop-file-utils) refresh them too; these keep other dpkg-based systems right.
for script in postinst postrm; do
    cat >"$PKGROOT/DEBIAN/$script" <<'EOF'
#!/bin/sh
set -e
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f /usr/share/icons/hicolor/index.theme ]; then
    gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
fi
exit 0
EOF
    chmod 0755 "$PKGROOT/DEBIAN/$script"
done

echo "== checks"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$PKGROOT/usr/share/applications/$DESKTOP_ID.desktop"
else
    echo "   (desktop-file-validate not installed; skipped)"
fi
if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net --no-color "$PKGROOT/usr/share/metainfo/$DESKTOP_ID.metainfo.xml" >/dev/null \
        || die "appstreamcli validate failed on the metainfo"
else
    echo "   (appstreamcli not installed; skipped)"
fi

# Every ELF file in the bundle must resolve its libraries: bundled ones or the host's.
mapfile -t ELF_FILES < <(find "$PKGROOT/opt/$APP_ID" -type f -print0 \
    | xargs -0 file --no-pad --separator '|' | awk -F'|' '$2 ~ /ELF/ {print $1}')
internal=$PKGROOT/opt/$APP_ID/_internal
missing=$(for f in "${ELF_FILES[@]}"; do
    LD_LIBRARY_PATH=$internal:$internal/PySide6/Qt/lib ldd "$f" 2>/dev/null \
        | awk -v f="${f#"$PKGROOT"}" '/not found/ {print f ": " $1}'
done | sort -u)
[[ -z $missing ]] || die "unresolved libraries:"$'\n'"$missing"

echo "== dependencies (dpkg-shlibdeps over ${#ELF_FILES[@]} ELF files)"
# dpkg-shlibdeps wants a debian/control naming the package, nothing more.
mkdir -p "$STAGE/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$APP_ID" "$APP_ID" >"$STAGE/debian/control"
shlibs=$(cd "$STAGE" && dpkg-shlibdeps -O --ignore-missing-info -l"$internal" \
    -l"$internal/PySide6/Qt/lib" "${ELF_FILES[@]}" 2>"$STAGE/shlibdeps.log" \
    | sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || { cat "$STAGE/shlibdeps.log" >&2; die "dpkg-shlibdeps found no dependencies"; }
# Loaded with dlopen, so possibly invisible to dpkg-shlibdeps: QtDBus's libdbus-1.
DEPENDS=$shlibs
[[ $DEPENDS == *libdbus-1-3* ]] || DEPENDS="$DEPENDS, libdbus-1-3"
# A Secret Service keychain (docs/architecture.md#secrets): the app shows "no keychain" without one.
RECOMMENDS="gnome-keyring | kwalletmanager | keepassxc, hicolor-icon-theme"

INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$PKGROOT" | cut -f1)
cat >"$PKGROOT/DEBIAN/control" <<EOF
Package: $APP_ID
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Depends: $DEPENDS
Recommends: $RECOMMENDS
Section: net
Priority: optional
Homepage: $HOMEPAGE
Description: reply by hand to the users of a Sunshine Conversations app
 $NAME is a native Qt desktop app that sends manual replies to the end
 users of a Smooch / Sunshine Conversations app: pick a user, choose the name
 and email you appear as (with a live Gravatar preview), write and send. The
 user sees a typing indicator while you write; unsent messages are kept in a
 local outbox; API secrets are stored in the system keychain.
 .
 "smooch-desktop --sandbox" starts a local Smooch-compatible server with demo
 data, so the app can be tried without an account or network access.
 .
 The app and its own Python runtime and Qt 6 libraries are installed in
 /opt/$APP_ID.
EOF

echo "== dpkg-deb"
mkdir -p "$ROOT/dist"
rm -f "$DEB"
chmod -R u+rwX,go+rX,go-w "$PKGROOT"
# xz: the smallest download (~37 MB vs ~46 MB for zstd) for ~40 s of build time;
# DEB_COMPRESSION=zstd makes quick local/CI iterations.
dpkg-deb --build --root-owner-group -Z"${DEB_COMPRESSION:-xz}" "$PKGROOT" "$DEB" >/dev/null
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p' | sed 's/^ */   /'
echo "built $DEB ($(du -h "$DEB" | cut -f1))"
