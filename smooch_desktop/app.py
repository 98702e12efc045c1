"""Start-up: command line, QApplication, the connection to use, and the main window.

Qt is imported only after the command line is parsed, so ``--help`` and ``--version``
answer instantly and bad flags get argparse's message, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from smooch_desktop import appinfo

if TYPE_CHECKING:
    import socket

    from PySide6.QtCore import QLockFile

log = logging.getLogger("smooch_desktop")

SECRET_ENV = "SMOOCH_KEY_SECRET"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smooch-desktop",
        description=f"{appinfo.NAME}: send manual replies to the end users of a Smooch app.",
        epilog=f"The key secret is read from the system keychain or from ${SECRET_ENV} "
        "(used for this run only, never stored).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {appinfo.VERSION}")
    sandbox = parser.add_argument_group("sandbox (no account or internet needed)")
    sandbox.add_argument(
        "--sandbox", action="store_true", help="start the local sandbox server and connect to it"
    )
    sandbox.add_argument(
        "--sandbox-port",
        type=_port,
        default=0,
        metavar="N",
        help="port for the sandbox (default: a free port)",
    )
    conn = parser.add_argument_group("connection")
    conn.add_argument("--profile", metavar="NAME", help="use this saved connection profile")
    host = conn.add_mutually_exclusive_group()
    host.add_argument("--base-url", metavar="URL", help="API base URL (https, or http on loopback)")
    host.add_argument(
        "--zendesk-subdomain",
        metavar="NAME",
        help="a Zendesk-hosted account: acme for https://acme.zendesk.com/sc (API v2)",
    )
    conn.add_argument("--app-id", metavar="ID", help="Smooch app ID")
    conn.add_argument("--key-id", metavar="ID", help="API key ID")
    conn.add_argument(
        "--auth",
        choices=["basic", "jwt"],  # api.auth.AuthMethod values (not imported: start-up cost)
        default=None,
        help="authentication method (default: basic)",
    )
    conn.add_argument(
        "--api-version",
        choices=["v1.1", "v2"],  # api.factory.ApiVersion values (not imported: start-up cost)
        default=None,
        help="API version (default: the profile's; v1.1, or v2 for --zendesk-subdomain)",
    )
    parser.add_argument("--user-id", metavar="ID", help="open the conversation with this user")
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {value}")
    return value


def _check_zendesk_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Check ``--zendesk-subdomain`` and what goes with it; reduce it to the subdomain."""
    from smooch_desktop.api.errors import ConfigError
    from smooch_desktop.api.factory import ApiVersion, version_problem
    from smooch_desktop.api.hosts import Region, validate_zendesk_subdomain

    if args.sandbox:
        parser.error("--sandbox can't be combined with --zendesk-subdomain")
    if not (args.app_id and args.key_id):
        parser.error("--zendesk-subdomain, --app-id and --key-id go together")
    try:
        args.zendesk_subdomain = validate_zendesk_subdomain(args.zendesk_subdomain)
    except ConfigError as exc:
        parser.error(f"--zendesk-subdomain: {exc.message}")
    problem = version_problem(args.api_version or ApiVersion.V2, Region.ZENDESK)
    if problem:
        parser.error(f"--zendesk-subdomain: {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.zendesk_subdomain is not None:
        _check_zendesk_flags(parser, args)
    flag_conn = [args.base_url, args.app_id, args.key_id]
    if args.zendesk_subdomain is None and any(flag_conn) and not all(flag_conn):
        parser.error("--base-url, --app-id and --key-id go together")
    if args.sandbox and any(flag_conn):
        parser.error("--sandbox can't be combined with --base-url/--app-id/--key-id")
    if args.api_version is not None and args.zendesk_subdomain is None:
        from smooch_desktop.api.factory import version_problem

        problem = version_problem(args.api_version)
        if problem:
            parser.error(f"--api-version {args.api_version}: {problem}")
    if args.base_url or args.zendesk_subdomain is not None:
        from smooch_desktop.api.errors import ConfigError
        from smooch_desktop.api.hosts import validate_base_url
        from smooch_desktop.core.validation import ValidationError, clean_app_id, clean_key_id

        if args.base_url:
            try:
                validate_base_url(args.base_url)
            except ConfigError as exc:
                parser.error(f"--base-url: {exc.message}")
        for flag, check, value in (
            ("--app-id", clean_app_id, args.app_id),
            ("--key-id", clean_key_id, args.key_id),
        ):
            try:
                check(value)
            except ValidationError as exc:
                parser.error(f"{flag}: {exc.message}")
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return run_gui(args)


def run_gui(args: argparse.Namespace) -> int:
    # Start-up creates tens of thousands of objects (PySide makes a Python enum class for
    # every Qt enum it touches) and almost none are garbage: the cyclic collector would
    # only walk them again and again (about 4 ms before the first paint). It is switched
    # back on once the window has painted (AppController._after_first_paint).
    gc.disable()
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QApplication.setApplicationName(appinfo.APP_ID)
    QApplication.setApplicationDisplayName(appinfo.NAME)
    QApplication.setOrganizationName(appinfo.ORGANIZATION)
    QApplication.setOrganizationDomain(appinfo.ORGANIZATION_DOMAIN)
    QApplication.setApplicationVersion(appinfo.VERSION)
    QGuiApplication.setDesktopFileName(appinfo.DESKTOP_FILE_ID)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)

    # One instance per data directory: two senders on one outbox could deliver twice.
    from PySide6.QtCore import QLockFile

    from smooch_desktop.core.paths import data_dir

    try:
        lock_dir = data_dir()
    except OSError as exc:
        return _fatal(f"can't use the data directory: {exc}")
    lock = QLockFile(str(lock_dir / "instance.lock"))
    lock.setStaleLockTime(0)
    if not lock.tryLock(200):
        return _not_first(lock, lock_dir, args)

    from smooch_desktop.ui.controller import AppController

    try:
        controller = AppController(args)
    except OSError as exc:
        return _fatal(f"can't use the app's folders: {exc}")
    controller.instance_dir = lock_dir  # it listens for later starts after its first paint
    # Let Python see Ctrl+C / SIGTERM while Qt's loop runs, and close the window cleanly.
    signal.signal(signal.SIGINT, controller.request_quit_from_signal)
    signal.signal(signal.SIGTERM, controller.request_quit_from_signal)
    wakeup = SignalWakeup()
    controller.start()
    try:
        code = app.exec()
    finally:
        wakeup.close()
    controller.shutdown()
    lock.unlock()
    from smooch_desktop.ui.workers import wait_for_orphans

    if not wait_for_orphans(5.0):
        # A network call is still blocked in a worker. Everything is saved (an in-flight
        # send is re-checked at the next start), so leave without tearing threads down.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))
    return int(code)


class SignalWakeup:
    """Wakes Qt's event loop when a signal arrives, so Python runs its handler at once.

    Python only runs a signal handler when the interpreter gets control, and Qt's loop
    sleeps in C++. Instead of waking it periodically (a timer costs wake-ups forever, see
    docs/architecture.md#timers), the C-level handler writes the signal number to a pipe
    (:func:`signal.set_wakeup_fd`; a socket pair on Windows, where it takes only a
    socket); a :class:`QSocketNotifier` on the other end wakes the loop, and its slot
    (Python code) lets the handler run.
    """

    def __init__(self) -> None:
        from PySide6.QtCore import QSocketNotifier

        if sys.platform == "win32":
            import socket

            pair = socket.socketpair()
            self._sockets: tuple[socket.socket, ...] = pair
            self._read_fd, self._write_fd = pair[0].fileno(), pair[1].fileno()
            for end in pair:
                end.setblocking(False)
        else:
            # os.pipe: no socket module to import before the first paint (~2 ms).
            self._sockets = ()
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._read_fd, False)
            os.set_blocking(self._write_fd, False)
        self._previous = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self.notifier = QSocketNotifier(self._read_fd, QSocketNotifier.Type.Read)
        self.notifier.activated.connect(self._drain)

    @property
    def write_fd(self) -> int:
        """The descriptor the C-level handler writes to."""
        return self._write_fd

    def _drain(self) -> None:
        """Empty the pipe (the handlers run as soon as this Python code does)."""
        with contextlib.suppress(OSError):
            if self._sockets:
                while self._sockets[0].recv(64):
                    pass
            else:
                while os.read(self._read_fd, 64):
                    pass

    def close(self) -> None:
        self.notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous)
        if self._sockets:
            for end in self._sockets:
                end.close()
        else:
            os.close(self._read_fd)
            os.close(self._write_fd)


def _not_first(lock: QLockFile, folder: Path, args: argparse.Namespace) -> int:
    """The data directory's lock is not ours: bring the running app forward, or say why not."""
    from PySide6.QtCore import QLockFile

    from smooch_desktop.ui.single_instance import ask_running_instance, server_name
    from smooch_desktop.ui.startup_errors import unwritable_reason

    if lock.error() != QLockFile.LockError.LockFailedError:
        # Not "held by another process": the lock file can't be created or read.
        reason = unwritable_reason(folder) or "the lock file can't be created or read"
        return _fatal(
            f"can't write to the data directory {folder} ({reason}). Messages and drafts "
            "are kept there: make it writable, or point SMOOCH_DESKTOP_DATA_DIR at a "
            "writable folder."
        )
    name = server_name(folder)
    # The running app listens once its window has painted; give a just-started one a moment.
    for attempt in range(5):
        if ask_running_instance(name, args.user_id or ""):
            print(
                f"{appinfo.APP_ID}: {appinfo.NAME} is already running; its window was brought "
                "to the front.",
                file=sys.stderr,
            )
            return 0
        if attempt == 0:
            # Nobody answered. A lock left by a crashed run is replaced by tryLock() unless
            # the folder can't be written (a full disk): then that is what is wrong.
            reason = unwritable_reason(folder)
            if reason:
                return _fatal(
                    f"can't write to the data directory {folder} ({reason}), so this run "
                    "can't take over the lock file a previous run left. Messages and drafts "
                    "are kept there: free some space (or make it writable) and start again."
                )
        time.sleep(0.5)
    return _fatal(
        f"{appinfo.NAME} is already running with the data directory {folder}, but it did "
        "not answer. Close it (or wait until it has started) and try again."
    )


def _fatal(text: str) -> int:
    from smooch_desktop.ui.startup_errors import report_fatal

    return report_fatal(text)
