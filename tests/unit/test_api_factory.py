"""api/factory.py: the one place that picks the adapter for an API version.

v2 is offered exactly when ``smooch_desktop.api.v2`` can be found; the stand-in of
``tests/v2_stand_in.py`` plays that module so both states are tested whether or not the
real one has landed. The v1.1 adapter built here is the real one (no request is sent by
building it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import v2_stand_in

import smooch_desktop.api
from smooch_desktop.api import factory
from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.errors import ConfigError
from smooch_desktop.api.factory import ApiVersion, available_versions, version_problem
from smooch_desktop.api.hosts import Region
from smooch_desktop.api.v1 import V1Api

CREDS = Credentials("app_key_1", "not-a-real-secret", AuthMethod.BASIC)


def test_this_build_offers_v2_exactly_when_its_module_is_in_the_package() -> None:
    package = Path(smooch_desktop.api.__file__).parent
    on_disk = (package / "v2.py").is_file() or (package / "v2" / "__init__.py").is_file()
    assert (ApiVersion.V2 in available_versions()) is on_disk
    assert available_versions()[0] is ApiVersion.V1_1


def test_without_the_v2_module_v2_is_refused_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    v2_stand_in.hide_v2(monkeypatch)
    assert available_versions() == (ApiVersion.V1_1,)
    assert version_problem("v2") == (
        "API v2 comes in a later version of Smooch Desktop; choose v1.1."
    )
    with pytest.raises(ConfigError) as caught:
        factory.connect(ApiVersion.V2, "https://api.smooch.io", "app_1", CREDS)
    assert caught.value.field == "api_version"
    assert "later version" in caught.value.message
    assert "not-a-real-secret" not in str(caught.value)


def test_the_day_the_v2_module_exists_v2_lights_up(monkeypatch: pytest.MonkeyPatch) -> None:
    v2_stand_in.offer_v2(monkeypatch)
    assert available_versions() == (ApiVersion.V1_1, ApiVersion.V2)
    assert version_problem(ApiVersion.V2) == ""
    api = factory.connect("v2", "https://acme.zendesk.com/sc", "app_1", CREDS, read_timeout=3.0)
    assert isinstance(api, v2_stand_in.V2Api)
    assert v2_stand_in.CONNECTED == [
        ("https://acme.zendesk.com/sc", "app_1", CREDS, {"read_timeout": 3.0})
    ]


def test_v1_1_builds_the_real_v1_1_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    v2_stand_in.hide_v2(monkeypatch)
    api = factory.connect(ApiVersion.V1_1, "https://api.eu-1.smooch.io", "app_1", CREDS)
    try:
        assert isinstance(api, V1Api)
        assert api.client.paths.version == "v1.1"
        assert api.host == "api.eu-1.smooch.io"
    finally:
        api.close()


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError):
        factory.connect("v3", "https://api.smooch.io", "app_1", CREDS)


@pytest.mark.parametrize("offered", [True, False], ids=["v2-offered", "v2-not-yet"])
def test_a_zendesk_host_speaks_v2_only(offered: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if offered:
        v2_stand_in.offer_v2(monkeypatch)
        assert version_problem(ApiVersion.V2, Region.ZENDESK) == ""
        assert version_problem(ApiVersion.V1_1, Region.ZENDESK) == (
            "A Zendesk host speaks API v2 only; choose v2."
        )
    else:
        v2_stand_in.hide_v2(monkeypatch)
        expected = (
            "Zendesk-hosted accounts use API v2, which comes in a later version of Smooch Desktop."
        )
        assert version_problem(ApiVersion.V2, Region.ZENDESK) == expected
        assert version_problem(ApiVersion.V1_1, Region.ZENDESK) == expected
    for region in (Region.US, Region.EU, Region.CUSTOM):
        assert version_problem(ApiVersion.V1_1, region) == ""
