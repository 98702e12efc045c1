"""Helpers shared by the live-updates tests: a free loopback port and the webhook targets
a sandbox holds (v1.1 webhooks and v2 integrations' webhooks alike)."""

from __future__ import annotations

import socket
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def targets(sandbox: Any) -> list[str]:
    hooks = sandbox.webhooks.list_v1(sandbox.app_id)
    for integration in sandbox.webhooks.integrations(sandbox.app_id):
        hooks.extend(integration["webhooks"])
    return [h["target"] for h in hooks]
