"""API-test fixtures: the API version a test runs on (see ``tests/api_versions.py``), and
for modules that define a ``server`` fixture (a ``SandboxServer``), the app's adapter on it
(``api``) and a conversation-list store (``inbox``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_versions import API_VERSIONS, sandbox_api

from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.core.inbox import InboxStore


@pytest.fixture(params=API_VERSIONS)
def api_version(request: pytest.FixtureRequest) -> str:
    """The version under test: a test that takes it runs once on v1.1 and once on v2."""
    version: str = request.param
    return version


@pytest.fixture
def api(server: Any, api_version: str) -> Iterator[ConversationApi]:
    """The adapter for ``api_version`` on the module's ``server`` (short timeouts)."""
    adapter = sandbox_api(server, api_version, connect_timeout=2.0, read_timeout=2.0)
    yield adapter
    adapter.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[InboxStore]:
    with InboxStore(tmp_path / "inbox.sqlite3") as store:
        yield store
