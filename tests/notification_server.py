"""A desktop notification server for tests: ``org.freedesktop.Notifications`` on the
session bus, as a notification daemon (GNOME Shell, KDE, dunst, mako…) provides it.

It speaks the real protocol over the real bus (jeepney, pure Python, on its own thread):
``Notify`` (answers a new id, or ``replaces_id``), ``CloseNotification``,
``GetCapabilities`` (``actions`` and ``body``, no markup), ``GetServerInformation``, and
emits ``ActionInvoked`` / ``NotificationClosed`` when a test "clicks" one. Every call is
recorded for the test to read. Use it inside a private bus (``dbus-run-session``, as
scripts/test.sh runs the e2e group) or through :func:`private_session_bus`.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from jeepney import DBusAddress, HeaderFields, MessageType, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import Message
from jeepney.wrappers import new_error, new_method_return

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
_EMITTER = DBusAddress(PATH, interface=NAME)


class Notified(NamedTuple):
    """One ``Notify`` call as the server received it."""

    id: int
    app_name: str
    replaces_id: int
    icon: str
    summary: str
    body: str
    actions: list[str]
    hints: dict[str, Any]
    timeout_ms: int


class NotificationServer:
    """Owns ``org.freedesktop.Notifications`` on the session bus until :meth:`stop`."""

    def __init__(self) -> None:
        self.calls: list[Notified] = []
        self.closed: list[int] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self._conn: DBusConnection = open_dbus_connection(bus="SESSION")
        reply = self._conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # DO_NOT_QUEUE
        if reply.body[0] != 1:  # PRIMARY_OWNER
            self._conn.close()
            raise RuntimeError("another notification server owns the name")
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="test-notifications", daemon=True)
        self._thread.start()

    # What a test reads and does ----------------------------------------------------------

    def notifications(self) -> list[Notified]:
        with self._lock:
            return list(self.calls)

    def invoke(self, notification_id: int, action: str = "default") -> None:
        """The user clicked the notification (``default``) or one of its buttons."""
        self._emit("ActionInvoked", "us", (notification_id, action))
        self._emit("NotificationClosed", "uu", (notification_id, 2))  # dismissed by the user

    def stop(self) -> None:
        """Give the name up and end the thread (it wakes every half second to look)."""
        self._stopping = True
        self._thread.join(5)
        self._conn.close()

    # The bus side ------------------------------------------------------------------------

    def _emit(self, name: str, signature: str, body: tuple[Any, ...]) -> None:
        self._conn.send(new_signal(_EMITTER, name, signature, body))

    def _serve(self) -> None:
        while not self._stopping:
            try:
                msg = self._conn.receive(timeout=0.5)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type is MessageType.method_call:
                self._answer(msg)

    def _answer(self, msg: Message) -> None:
        member = msg.header.fields.get(HeaderFields.member)
        iface = msg.header.fields.get(HeaderFields.interface)
        if iface not in (NAME, None):
            self._conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownInterface"))
            return
        if member == "Notify":
            app, replaces, icon, summary, body, actions, hints, timeout = msg.body
            with self._lock:
                if replaces:
                    nid = int(replaces)
                else:
                    nid = self._next_id
                    self._next_id += 1
                self.calls.append(
                    Notified(
                        nid,
                        app,
                        int(replaces),
                        icon,
                        summary,
                        body,
                        list(actions),
                        dict(hints),
                        int(timeout),
                    )
                )
            self._conn.send(new_method_return(msg, "u", (nid,)))
        elif member == "CloseNotification":
            with self._lock:
                self.closed.append(int(msg.body[0]))
            self._conn.send(new_method_return(msg))
            self._emit("NotificationClosed", "uu", (int(msg.body[0]), 3))
        elif member == "GetCapabilities":
            self._conn.send(new_method_return(msg, "as", (["actions", "body"],)))
        elif member == "GetServerInformation":
            info = ("test-notifications", "smooch-desktop tests", "1", "1.2")
            self._conn.send(new_method_return(msg, "ssss", info))
        else:
            self._conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


@contextmanager
def private_session_bus() -> Iterator[str]:
    """A throw-away session bus (``dbus-daemon --session``) as DBUS_SESSION_BUS_ADDRESS
    for the block; the previous value is restored and the daemon ended after it."""
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--print-address=1", "--nofork", "--nopidfile"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    previous = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        yield address
    finally:
        if previous is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = previous
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
