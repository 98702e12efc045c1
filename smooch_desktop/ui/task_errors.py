"""The one sink for failed worker tasks: a log line without secrets, and the status bar.

:class:`TaskErrorSink` listens to :attr:`~smooch_desktop.ui.workers.TaskQueue.errorOccurred`
of the app's queues. Every failure is logged; the ones no ``on_error`` callback handles
(nobody else tells the user about them) are also shown in the window's status bar.
Failures a callback handles are the owner's to show: the sink does not repeat them.

What is logged and shown comes from :func:`failure_text`, which never uses an exception's
free text (it may quote a request, a header or a path): only the sentences the app's own
error types are built to carry (see docs/architecture.md#secrets),
else the exception's type. This module holds no retry or recovery logic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from smooch_desktop.api.errors import ApiError, ConfigError
from smooch_desktop.ui.plain import inline

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow

    from smooch_desktop.ui.workers import TaskQueue

log = logging.getLogger(__name__)

#: How long the status bar shows a failure (ms).
SHOW_MS = 15_000


def failure_text(exc: BaseException) -> str:
    """What went wrong, in words safe to log and show (never a secret)."""
    if isinstance(exc, ApiError):
        return exc.description  # built from status, the server's envelope and the host
    if isinstance(exc, ConfigError):
        return exc.message
    reason = getattr(exc, "reason", None)
    if type(exc).__name__ == "KeychainUnavailable" and isinstance(reason, str):
        return reason  # core.secrets words it for the user and keeps the secret out
    return f"unexpected {type(exc).__name__}"


class TaskErrorSink(QObject):
    """Logs every failed task of the queues it watches; shows the unhandled ones.

    ``window`` returns the window to show them in (the current one: it changes when the
    connection profile does), or None.
    """

    def __init__(
        self, window: Callable[[], QMainWindow | None], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._window = window

    def watch(self, *queues: TaskQueue) -> None:
        for queue in queues:
            queue.errorOccurred.connect(self.report)

    @Slot(str, object, bool)
    def report(self, kind: str, exc: object, handled: bool) -> None:
        name = kind or "unnamed"
        text = failure_text(exc) if isinstance(exc, BaseException) else repr(type(exc))
        if handled:
            log.info("%s task failed (its owner reports it): %s", name, text)
            return
        log.error("%s task failed: %s", name, text)
        window = self._window()
        if window is not None:
            shown = inline(text, 300, one_line=True)
            window.statusBar().showMessage(f"A background {name} call failed: {shown}", SHOW_MS)
