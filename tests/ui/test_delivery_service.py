"""DeliveryService at start-up: recovery first, then delivered replies of long ago are pruned.

Runs on v1.1 and v2 (``api_version``): the service gets the adapter a session of that
version gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.outbox import SENT_RETENTION_S, EntryState, Outbox
from smooch_desktop.ui.controller import connect_api
from smooch_desktop.ui.delivery import DeliveryService
from smooch_desktop.ui.workers import TaskQueue


def message(text: str) -> OutgoingMessage:
    return OutgoingMessage(text=text, sender=Sender(name="Sam"))


def test_start_up_forgets_replies_delivered_long_ago_and_nothing_else(
    qapp: Any, sandbox: Any, tmp_path: Path, api_version: str
) -> None:
    now = [1_000_000.0]
    outbox = Outbox(tmp_path / "outbox.sqlite3", clock=lambda: now[0])
    old_sent = outbox.enqueue("p", "u", message("delivered long ago"))
    outbox.mark_sending(old_sent.client_id)
    outbox.mark_sent(old_sent.client_id, "s1", now[0])
    old_failed = outbox.enqueue("other", "u", message("failed long ago"))
    outbox.mark_sending(old_failed.client_id)
    outbox.mark_failed(old_failed.client_id, status=400, code="bad", text="no", retryable=False)
    now[0] += SENT_RETENTION_S + 60
    recent = outbox.enqueue("p", "u", message("delivered yesterday"))
    outbox.mark_sending(recent.client_id)
    outbox.mark_sent(recent.client_id, "s2", now[0])

    tasks = TaskQueue("delivery-service-test")
    api = connect_api(
        ApiVersion(api_version),
        sandbox.base_url,
        sandbox.app_id,
        Credentials(sandbox.key_id, sandbox.secret),
        sandbox.base_url + "/avatar",
    )
    service = DeliveryService(outbox, tasks, "p", api)
    try:
        service.start(recover=True)
        assert outbox.get(old_sent.client_id) is None
        kept = outbox.get(old_failed.client_id)
        assert kept is not None and kept.state is EntryState.FAILED  # never pruned
        assert outbox.get(recent.client_id) is not None
    finally:
        assert tasks.stop(5000)
        service.deleteLater()
        tasks.deleteLater()
        api.close()
        outbox.close()
