"""Console self-check built into a bundle on request (SMOOCH_BUNDLE_SELFCHECK=1, see the spec).

Runs inside the frozen bundle and proves what a GUI launch cannot print: the keyring
backends were collected, every smooch_desktop module imports, the resources resolve,
the CA bundle for HTTPS is there, and Qt loads with its image and icon plugins (SVG,
JPEG). Exit status 0 means all good.

``--require-secret-service``: also demand that keyring picks the Secret Service backend
and that a set/get/delete round trip works (run it inside a D-Bus session with an
unlocked gnome-keyring, as ``packaging/build_all.sh`` does).
"""

from __future__ import annotations

import os
import pkgutil
import sys


def main() -> int:
    failures: list[str] = []

    def check(label: str, ok: bool, detail: object = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {detail}")
        if not ok:
            failures.append(label)

    print(f"frozen={getattr(sys, 'frozen', False)} executable={sys.executable}")

    import importlib.metadata

    import keyring
    import keyring.backend

    # keyring finds backends through entry points, i.e. keyring's dist-info must be bundled.
    entry_points = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group="keyring.backends")
    }
    check(
        "keyring entry points",
        {"SecretService", "KWallet", "libsecret"} <= set(entry_points),
        sorted(entry_points),
    )
    for module in sorted(entry_points.values()):
        try:
            importlib.import_module(module)
            check(f"import {module}", True, "")
        except ImportError as exc:
            # Windows/macOS backends import fine on Linux; any failure is a missing module.
            check(f"import {module}", False, repr(exc))
    viable = sorted(
        type(b).__module__ + "." + type(b).__name__ for b in keyring.backend.get_all_keyring()
    )
    check("viable keyring backends", True, viable)
    chosen = keyring.get_keyring()
    check("keyring.get_keyring()", True, chosen)
    if "--require-secret-service" in sys.argv:
        check("Secret Service backend chosen", "SecretService" in repr(chosen), repr(chosen))
        service, user = "smooch-desktop-selfcheck", "probe"
        try:
            keyring.set_password(service, user, "s3cret-probe")
            ok = keyring.get_password(service, user) == "s3cret-probe"
            keyring.delete_password(service, user)
            check("keychain round trip (set/get/delete)", ok, "")
        except Exception as exc:
            check("keychain round trip (set/get/delete)", False, repr(exc))

    import smooch_desktop
    from smooch_desktop import resources

    names = [m.name for m in pkgutil.walk_packages(smooch_desktop.__path__, "smooch_desktop.")]
    broken = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing hidden import shows up here
            broken.append(f"{name}: {exc!r}")
    check(f"import {len(names)} smooch_desktop modules", not broken, broken or "all")
    check("resources_root", resources.resources_root().is_dir(), resources.resources_root())
    check("app icon", resources.app_icon_path().is_file(), resources.app_icon_path())
    check("ui icon send", resources.icon_path("send").is_file(), resources.icon_path("send"))

    # HTTPS goes through requests + certifi (not QtNetwork): the CA bundle must be there.
    import ssl

    import certifi

    check("certifi CA bundle", os.path.isfile(certifi.where()), certifi.where())
    check("ssl default context", ssl.create_default_context() is not None, ssl.OPENSSL_VERSION)

    # Only the Qt modules the app itself imports, so this check adds nothing to the bundle.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtGui import QIcon, QImage, QImageReader
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    check("Qt plugins path", True, QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    formats = sorted(bytes(f.data()).decode() for f in QImageReader.supportedImageFormats())
    check("image formats include svg, jpeg, png", {"svg", "jpeg", "png"} <= set(formats), formats)
    check("app icon SVG renders", not QImage(str(resources.app_icon_path())).isNull(), "")
    icon = QIcon(str(resources.icon_path("send")))
    check("QIcon from SVG (iconengines plugin)", not icon.pixmap(24, 24).isNull(), "")
    del app
    print("SELFCHECK", "FAILED: " + ", ".join(failures) if failures else "PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
