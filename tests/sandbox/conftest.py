"""Fixtures for the sandbox contract tests: a real server on 127.0.0.1:0 and an HTTP client.

Everything goes over real sockets with ``requests`` — the sandbox is the peer the rest of
the project tests against, so it is tested the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sandbox_helpers import V2, Api, FakeClock

from smooch_desktop.sandbox import SandboxServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def srv() -> Iterator[SandboxServer]:
    """A fresh demo sandbox (real clock), stopped after the test."""
    with SandboxServer(host="127.0.0.1", port=0, hang_seconds=5.0) as server:
        yield server


@pytest.fixture
def clocked_srv(clock: FakeClock) -> Iterator[SandboxServer]:
    """A fresh demo sandbox driven by :class:`FakeClock`."""
    with SandboxServer(host="127.0.0.1", port=0, clock=clock) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def api(srv: SandboxServer, session: requests.Session) -> Api:
    return Api(srv, session)


@pytest.fixture
def clocked_api(clocked_srv: SandboxServer, session: requests.Session) -> Api:
    return Api(clocked_srv, session)


@pytest.fixture
def v2(srv: SandboxServer, session: requests.Session) -> V2:
    return V2(srv, session)


@pytest.fixture
def clocked_v2(clocked_srv: SandboxServer, session: requests.Session) -> V2:
    return V2(clocked_srv, session)
