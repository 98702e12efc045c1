"""API-test fixtures: the API version a test runs on (see ``tests/api_versions.py``)."""

from __future__ import annotations

import pytest
from api_versions import API_VERSIONS


@pytest.fixture(params=API_VERSIONS)
def api_version(request: pytest.FixtureRequest) -> str:
    """The version under test: a test that takes it runs once on v1.1 and once on v2."""
    version: str = request.param
    return version
