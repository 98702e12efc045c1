"""A stand-in for ``smooch_desktop.api.v2``, to test what lights up once that module exists.

The real v2 adapter is written separately; until it lands, tests point
:data:`smooch_desktop.api.factory.V2_MODULE` at this module (:func:`offer_v2`) to prove
that the factory, the command line and the connection dialog offer v2 as soon as the
module can be found, with no other edit. :func:`hide_v2` points it at a name that
does not exist, so the "not available" tests hold whether or not the real module has
landed. ``V2Api`` here builds nothing and sends nothing: it records how it was connected.
"""

from __future__ import annotations

from typing import Any

import pytest

from smooch_desktop.api import factory
from smooch_desktop.api.auth import Credentials

#: Every V2Api.connect call: (base_url, app_id, credentials, options).
CONNECTED: list[tuple[str, str, Credentials, dict[str, Any]]] = []


class V2Api:
    def __init__(self, base_url: str) -> None:
        self.host = base_url.split("://", 1)[-1].split("/", 1)[0]

    @classmethod
    def connect(cls, base_url: str, app_id: str, credentials: Credentials, **options: Any) -> V2Api:
        CONNECTED.append((base_url, app_id, credentials, options))
        return cls(base_url)

    def close(self) -> None:
        pass


def offer_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this module the v2 adapter for the rest of the test."""
    CONNECTED.clear()
    monkeypatch.setattr(factory, "V2_MODULE", __name__)


def hide_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make v2 unavailable for the rest of the test (as before its module lands)."""
    monkeypatch.setattr(factory, "V2_MODULE", "smooch_desktop.api.no_such_v2_module")
