"""One running app per data directory; a second start brings the running window forward.

Two processes on one outbox could deliver a message twice (each one's start-up recovery
would take the other's in-flight sends for crashed ones), so the data directory is
locked (:class:`~PySide6.QtCore.QLockFile`, in ``app.run_gui``). The process holding the
lock also listens on a local socket named after the data directory; a second start
connects to it, asks it to come to the front (and to open ``--user-id`` if one was
given), and exits — the desktop convention, instead of a box saying "already running".

The socket is private to the user (``UserAccessOption``) and the request is one short
JSON line; anything longer, slower or malformed is dropped without effect.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Final

from PySide6.QtCore import QByteArray, QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from smooch_desktop import appinfo

#: Longest request accepted (a user ID is at most 256 characters, escaped in JSON).
MAX_REQUEST_BYTES: Final = 4096
#: A peer that hasn't sent its whole request by then is disconnected.
REQUEST_TIMEOUT_MS: Final = 2000
_REPLY: Final = b"ok\n"


def server_name(data_dir: Path) -> str:
    """The local socket name for the app using ``data_dir`` (short, per user and folder)."""
    owner = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    try:
        where = str(data_dir.resolve())
    except OSError:
        where = str(data_dir)
    digest = hashlib.sha256(f"{owner}\0{where}".encode()).hexdigest()[:24]
    return f"{appinfo.APP_ID}-{digest}"


def encode_request(user_id: str) -> bytes:
    return json.dumps({"command": "activate", "userId": user_id}).encode("utf-8") + b"\n"


def decode_request(raw: bytes) -> str | None:
    """The user ID asked for ('' for none), or None when ``raw`` is not a valid request."""
    try:
        message = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(message, dict) or message.get("command") != "activate":
        return None
    user_id = message.get("userId", "")
    return user_id if isinstance(user_id, str) else None


class InstanceServer(QObject):
    """Listens for later starts of the app and asks the running one to come forward.

    Signals:
        activationRequested(str): a second start asked to be shown; the argument is the
            ``--user-id`` it was given ('' for none), not yet validated.
    """

    activationRequested = Signal(str)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        """Start listening; the caller holds the data directory's lock, so a socket left
        behind by a crashed run is stale and removed first."""
        QLocalServer.removeServer(self.name)
        return self._server.listen(self.name)

    def close(self) -> None:
        self._server.close()
        for sock in list(self._buffers):
            sock.abort()
        self._buffers.clear()

    @Slot()
    def _on_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            if sock is None:
                break
            self._buffers[sock] = bytearray()
            sock.readyRead.connect(lambda s=sock: self._on_ready_read(s))
            sock.disconnected.connect(lambda s=sock: self._forget(s))
            QTimer.singleShot(REQUEST_TIMEOUT_MS, sock, lambda s=sock: self._drop(s))

    def _on_ready_read(self, sock: QLocalSocket) -> None:
        buffer = self._buffers.get(sock)
        if buffer is None:
            return
        buffer += bytes(sock.readAll().data())
        if len(buffer) > MAX_REQUEST_BYTES:
            self._drop(sock)
            return
        line, newline, _rest = bytes(buffer).partition(b"\n")
        if not newline:
            return
        user_id = decode_request(line)
        if user_id is None:
            self._drop(sock)
            return
        sock.write(QByteArray(_REPLY))
        sock.flush()
        sock.disconnectFromServer()
        self._buffers.pop(sock, None)
        self.activationRequested.emit(user_id)

    def _drop(self, sock: QLocalSocket) -> None:
        if self._buffers.pop(sock, None) is not None:
            sock.abort()

    def _forget(self, sock: QLocalSocket) -> None:
        self._buffers.pop(sock, None)
        sock.deleteLater()


def ask_running_instance(name: str, user_id: str, timeout_ms: int = 3000) -> bool:
    """Ask the app listening on ``name`` to come forward; True when it said it would.

    Runs before this process shows anything, so waiting here (bounded) freezes no window.
    """
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(timeout_ms):
        return False
    sock.write(QByteArray(encode_request(user_id)))
    if not sock.waitForBytesWritten(timeout_ms):
        sock.abort()
        return False
    reply = b""
    while len(reply) < len(_REPLY) and sock.waitForReadyRead(timeout_ms):
        reply += bytes(sock.readAll().data())
    sock.abort()
    return reply.startswith(_REPLY)
