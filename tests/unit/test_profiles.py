"""Profile: region, auth method and API version as enums, read from and written to the
settings as before; the Zendesk subdomain stored only when there is one.

``data/settings_v1.ini`` was written by the version whose ``Profile`` held plain strings
(``"eu"``, ``"jwt"``, ``"v1.1"``) and had no Zendesk subdomain; this version reads it into
enums and writes the very same text back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.core.profiles import Profile, legacy_profile_id

DATA = Path(__file__).parent / "data"


def settings_file() -> Path:
    from smooch_desktop.ui.settings import settings_path

    path = settings_path()
    assert path is not None  # tests/conftest.py points the settings at a temp dir
    return path


def stored_profiles_text() -> str:
    """The ``profiles=`` line of the settings file, exactly as written."""
    lines = settings_file().read_text(encoding="utf-8").splitlines()
    return next(line for line in lines if line.startswith("profiles="))


def test_an_old_settings_file_reads_into_enums_and_is_written_back_unchanged() -> None:
    from smooch_desktop.ui.settings import AppSettings

    shutil.copyfile(DATA / "settings_v1.ini", settings_file())
    before = stored_profiles_text()
    settings = AppSettings()

    profiles = settings.profiles()

    assert [(p.name, p.region, p.auth) for p in profiles] == [
        ("Production (EU)", Region.EU, AuthMethod.JWT),
        ("Local sandbox", Region.CUSTOM, AuthMethod.BASIC),
        ("Old US", Region.US, AuthMethod.BASIC),
    ]
    assert all(type(p.region) is Region and type(p.auth) is AuthMethod for p in profiles)
    assert all(type(p.api_version) is ApiVersion for p in profiles)
    assert {p.api_version for p in profiles} == {ApiVersion.V1_1}
    assert all(p.zendesk_subdomain == "" and p.unreadable == () for p in profiles)
    assert profiles[1].base_url == "http://127.0.0.1:8080"
    assert settings.active_profile_name() == "Production (EU)"

    settings.save_profiles(profiles)
    settings.sync()
    assert stored_profiles_text() == before
    assert "zendesk_subdomain" not in before
    assert AppSettings().profiles() == profiles


def test_a_zendesk_v2_profile_round_trips_through_the_settings_file() -> None:
    from smooch_desktop.ui.settings import AppSettings

    zendesk = Profile(
        "Acme support",
        Region.ZENDESK,
        app_id="app_9",
        key_id="app_key_9",
        api_version=ApiVersion.V2,
        zendesk_subdomain="acme",
    )
    us = Profile("Old US", app_id="app_2", key_id="app_key_2")
    settings = AppSettings()
    settings.save_profiles([zendesk, us])
    settings.sync()

    text = stored_profiles_text()
    assert '\\"zendesk_subdomain\\": \\"acme\\"' in text
    assert '\\"api_version\\": \\"v2\\"' in text
    assert text.count("zendesk_subdomain") == 1  # written only where there is one
    again = AppSettings().profiles()
    assert again == [zendesk, us]
    assert again[0].region is Region.ZENDESK and again[0].api_version is ApiVersion.V2


def test_an_unknown_api_version_shows_as_v1_1_is_not_used_and_is_written_back() -> None:
    raw = {"name": "Later", "api_version": "v3", "id": "abc"}
    profile = Profile.from_dict(raw)
    assert profile is not None
    assert profile.api_version is ApiVersion.V1_1  # what the dialog shows
    assert profile.unreadable == (("api_version", "v3"),)
    assert profile.unusable_reason() == (
        "its API version “v3” is not one this version knows; choose one in Connection settings"
    )
    assert profile.unusable_reason(version_given=True) == ""  # --api-version decides
    assert profile.to_dict()["api_version"] == "v3"
    assert Profile.from_dict(profile.to_dict()) == profile


def test_to_dict_holds_plain_strings_that_from_dict_reads_back() -> None:
    profile = Profile("Prod", Region.EU, app_id="app_1", key_id="k", auth=AuthMethod.JWT)
    raw = profile.to_dict()
    assert raw["region"] == "eu" and type(raw["region"]) is str
    assert raw["auth"] == "jwt" and type(raw["auth"]) is str
    assert Profile.from_dict(raw) == profile


def test_plain_strings_are_accepted_and_stored_as_enums() -> None:
    # Plain strings where the signature says enums, on purpose (that is what is tested).
    profile = Profile("Prod", "custom", "http://127.0.0.1:1", auth="jwt")  # type: ignore[arg-type]
    assert profile.region is Region.CUSTOM
    assert profile.auth is AuthMethod.JWT


def test_an_unknown_value_passed_in_code_is_refused() -> None:
    # Unknown plain strings where the signature says enums, on purpose.
    with pytest.raises(ValueError):
        Profile("Prod", "mars")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Profile("Prod", auth="oauth")  # type: ignore[arg-type]


def test_an_unknown_region_or_auth_in_the_settings_shows_as_the_default() -> None:
    profile = Profile.from_dict({"name": "Later", "region": "apac", "auth": "oauth"})
    assert profile is not None
    # What the connection dialog shows (and saves, once the agent saves the form)...
    assert (profile.region, profile.auth) == (Region.US, AuthMethod.BASIC)
    # ...but the stored values are kept: the profile is not usable as it is.
    assert profile.unreadable == (("region", "apac"), ("auth", "oauth"))


def test_an_unknown_region_or_auth_is_written_back_as_it_was() -> None:
    # Saving the list (another profile added, ids given) must not turn a region this
    # version does not know into "us": a newer version would then send the key there.
    raw = {"name": "Later", "region": "apac", "auth": "oauth", "id": "abc"}
    profile = Profile.from_dict(raw)
    assert profile is not None
    stored = profile.to_dict()
    assert (stored["region"], stored["auth"]) == ("apac", "oauth")
    assert "unreadable" not in stored
    assert Profile.from_dict(stored) == profile


def test_a_stored_unreadable_key_is_not_taken_as_a_field() -> None:
    profile = Profile.from_dict({"name": "X", "region": "eu", "unreadable": "region"})
    assert profile is not None
    assert profile.unreadable == ()
    assert profile.region is Region.EU


def test_a_missing_region_or_auth_is_the_default_not_unreadable() -> None:
    profile = Profile.from_dict({"name": "Old"})
    assert profile is not None
    assert (profile.region, profile.auth, profile.unreadable) == (
        Region.US,
        AuthMethod.BASIC,
        (),
    )


def test_a_profile_saved_before_ids_gets_the_id_of_its_name() -> None:
    profile = Profile.from_dict({"name": "Prod", "region": "eu"})
    assert profile is not None
    assert profile.id == legacy_profile_id("Prod")
    assert profile.region is Region.EU
