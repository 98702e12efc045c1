"""ProfileForm and form_problems: the connection dialog's form state and validation, no Qt.

The dialog (tests/ui/test_connection_dialog.py) shows these messages under the fields;
here the rules themselves are checked without a display. Tests whose form carries an API
version run on v1.1 and v2 (``api_version``); only a Zendesk host tells them apart.
"""

from __future__ import annotations

from typing import Any

import pytest

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretLocation, account_for
from smooch_desktop.ui.connection.form import (
    FIELD_LABELS,
    SESSION_ONLY_TEXT,
    ProfileForm,
    SecretStorage,
    form_problems,
    unique_name,
)

SECRET = "s3cr3t-Value_that-must-never-leak-9f8e7d"
KEYCHAIN_OK = SecretStorage(keychain_ok=True, keychain_reason="", session_only=False)
NO_KEYCHAIN = SecretStorage(False, "No keychain service is running.", session_only=False)
SESSION_ONLY = SecretStorage(False, "No keychain service is running.", session_only=True)


def saved(**values: Any) -> Profile:
    defaults: dict[str, Any] = {"name": "Prod", "app_id": "app_1", "key_id": "app_key_1"}
    return Profile(**{**defaults, **values})


def valid_form(**values: Any) -> ProfileForm:
    defaults: dict[str, Any] = {
        "name": "Prod",
        "app_id": "app_1",
        "key_id": "app_key_1",
        "secret": SECRET,
    }
    return ProfileForm(**{**defaults, **values})


# --- unique_name ------------------------------------------------------------------------------


def test_unique_name_numbers_a_taken_name_ignoring_case() -> None:
    assert unique_name("My app", set()) == "My app"
    assert unique_name("My app", {"my APP"}) == "My app 2"
    assert unique_name("My app", {"My app", "My app 2"}) == "My app 3"


# --- ProfileForm --------------------------------------------------------------------------------


def test_a_saved_profile_opens_unchanged_with_its_secret_still_to_be_looked_up(
    api_version: str,
) -> None:
    profile = saved(region=Region.EU, auth=AuthMethod.JWT, api_version=ApiVersion(api_version))
    form = ProfileForm.from_profile(profile)
    assert (form.region, form.auth) == (Region.EU, AuthMethod.JWT)
    assert form.api_version is ApiVersion(api_version)
    assert form.original is profile
    assert form.stored_account == account_for("Prod", "app_key_1")
    assert form.lookup_pending and form.owns_stored
    assert form.touched == set(FIELD_LABELS)  # a saved profile shows its problems at once
    assert not form.is_dirty()


def test_a_saved_profile_without_a_key_id_has_no_secret_to_look_up() -> None:
    form = ProfileForm.from_profile(saved(key_id=""))
    assert form.stored_in is SecretLocation.NOWHERE
    assert not form.lookup_pending and not form.owns_stored


def test_edits_and_a_typed_secret_make_a_form_dirty_but_a_hidden_custom_url_does_not() -> None:
    form = ProfileForm.from_profile(saved())
    form.custom_url = "https://ignored.example"  # only used for the custom region
    assert not form.is_dirty()
    form.region = Region.CUSTOM
    assert form.is_dirty()
    form = ProfileForm.from_profile(saved())
    form.secret = SECRET
    assert form.is_dirty()
    assert ProfileForm(name="New").is_dirty()  # never saved


@pytest.mark.parametrize(("stored", "chosen"), [("v1.1", "v2"), ("v2", "v1.1")])
def test_choosing_the_other_api_version_makes_a_form_dirty(stored: str, chosen: str) -> None:
    form = ProfileForm.from_profile(saved(api_version=ApiVersion(stored)))
    assert not form.is_dirty()
    form.api_version = ApiVersion(chosen)
    assert form.is_dirty()
    form.api_version = ApiVersion(stored)
    assert not form.is_dirty()


def test_a_profile_with_an_unknown_region_opens_as_changed() -> None:
    # The form shows US/Basic in place of values this version can't read: saving it is a
    # change (the list marks it), not a no-op that would leave the profile unusable.
    profile = Profile.from_dict({"name": "Later", "region": "apac", "key_id": "app_key_1"})
    assert profile is not None
    form = ProfileForm.from_profile(profile)
    assert (form.region, form.auth) == (Region.US, AuthMethod.BASIC)
    assert form.is_dirty()


def test_a_copy_reuses_the_stored_secret_but_does_not_own_it(api_version: str) -> None:
    original = ProfileForm.from_profile(saved(api_version=ApiVersion(api_version)))
    original.stored_in = SecretLocation.KEYCHAIN
    copy = original.copy_as("Prod (copy)")
    assert copy.original is None and copy.name == "Prod (copy)"
    assert copy.api_version is ApiVersion(api_version)
    assert copy.stored_account == original.stored_account
    assert copy.has_stored_secret()
    assert not copy.owns_stored  # deleting the copy must not delete the original's entry


def test_a_stored_secret_is_only_used_for_the_key_it_was_saved_for() -> None:
    form = ProfileForm.from_profile(saved())
    form.stored_in = SecretLocation.SESSION
    assert form.has_stored_secret()
    form.key_id = "app_key_2"
    assert not form.has_stored_secret()


def test_new_secrets_go_to_the_session_only_when_the_agent_chose_it() -> None:
    assert KEYCHAIN_OK.target is SecretLocation.KEYCHAIN
    assert SESSION_ONLY.target is SecretLocation.SESSION
    assert KEYCHAIN_OK.can_store and SESSION_ONLY.can_store and not NO_KEYCHAIN.can_store


# --- form_problems ------------------------------------------------------------------------------


def test_a_complete_form_has_no_problems(api_version: str) -> None:
    version = ApiVersion(api_version)
    assert form_problems(valid_form(api_version=version), set(), KEYCHAIN_OK) == {}
    custom = valid_form(
        region=Region.CUSTOM, custom_url="http://127.0.0.1:8080", api_version=version
    )
    assert form_problems(custom, set(), KEYCHAIN_OK) == {}
    eu = valid_form(region=Region.EU, api_version=version)
    assert form_problems(eu, set(), KEYCHAIN_OK) == {}


def test_a_name_taken_by_another_profile_is_refused_whatever_its_case() -> None:
    problems = form_problems(valid_form(name="PROD"), {"prod"}, KEYCHAIN_OK)
    assert problems == {
        "profile_name": "Another connection is already called “PROD”; choose a different name."
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "  "}, "profile_name"),
        ({"region": Region.CUSTOM, "custom_url": "ftp://example.com"}, "base_url"),
        ({"app_id": ""}, "app_id"),
        ({"key_id": "has space"}, "key_id"),
    ],
)
def test_each_bad_field_is_named(values: dict[str, object], field: str, api_version: str) -> None:
    form = valid_form(**values, api_version=ApiVersion(api_version))
    problems = form_problems(form, set(), KEYCHAIN_OK)
    assert list(problems) == [field]
    assert problems[field]


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("acme", ""),
        ("https://Acme.zendesk.com/sc/", ""),  # pasted whole: reduced to the subdomain
        ("", "zendesk_subdomain"),
        ("ac_me", "zendesk_subdomain"),
    ],
)
def test_a_zendesk_profile_needs_a_valid_subdomain_and_v2(
    typed: str, problem: str, api_version: str
) -> None:
    form = valid_form(
        region=Region.ZENDESK, zendesk_subdomain=typed, api_version=ApiVersion(api_version)
    )
    problems = form_problems(form, set(), KEYCHAIN_OK)
    if problem:
        assert problems.pop(problem)
    if api_version == "v1.1":  # a Zendesk host speaks v2 only
        assert problems == {"api_version": "A Zendesk host speaks API v2 only; choose v2."}
    else:
        assert problems == {}


def test_a_zendesk_subdomain_is_only_checked_for_the_zendesk_region(api_version: str) -> None:
    form = valid_form(zendesk_subdomain="ac_me", api_version=ApiVersion(api_version))
    assert form_problems(form, set(), KEYCHAIN_OK) == {}
    assert form.values() == valid_form(api_version=ApiVersion(api_version)).values()


def test_a_custom_url_is_only_checked_for_the_custom_region() -> None:
    form = valid_form(region=Region.EU, custom_url="not a url")
    assert form_problems(form, set(), KEYCHAIN_OK) == {}


def test_without_a_keychain_a_typed_secret_asks_for_the_session_only_choice() -> None:
    problems = form_problems(valid_form(), set(), NO_KEYCHAIN)
    plain_choice = SESSION_ONLY_TEXT.replace("&", "")
    assert problems == {
        "secret": "The secret can't be saved: No keychain service is running. "
        f"Tick “{plain_choice}” below to use it until you quit."
    }
    assert form_problems(valid_form(), set(), SESSION_ONLY) == {}


def test_the_secret_waits_for_the_keychain_lookup() -> None:
    form = ProfileForm.from_profile(saved())
    assert form_problems(form, set(), KEYCHAIN_OK) == {
        "secret": "Looking for the saved secret in the keychain…"
    }


def test_a_stored_secret_counts_until_the_key_id_changes() -> None:
    form = ProfileForm.from_profile(saved())
    form.stored_in = SecretLocation.KEYCHAIN
    assert form_problems(form, set(), KEYCHAIN_OK) == {}
    form.key_id = "app_key_2"
    assert form_problems(form, set(), KEYCHAIN_OK) == {
        "secret": "The key ID changed: enter the secret of the new key."
    }


def test_a_rename_that_must_move_a_keychain_secret_needs_the_keychain() -> None:
    form = ProfileForm.from_profile(saved())
    form.stored_in = SecretLocation.KEYCHAIN
    form.name = "Renamed"
    assert form_problems(form, set(), KEYCHAIN_OK) == {}
    problem = form_problems(form, set(), NO_KEYCHAIN)["secret"]
    assert problem.startswith("The saved secret can't be moved to the new name:")


def test_no_secret_anywhere_asks_for_one() -> None:
    problems = form_problems(valid_form(secret=""), set(), KEYCHAIN_OK)
    assert list(problems) == ["secret"]
    assert SECRET not in str(problems)


@pytest.mark.parametrize(
    ("stored_in", "owns", "sentence"),
    [
        (SecretLocation.KEYCHAIN, True, "Its secret is also removed from the system keychain."),
        (SecretLocation.SESSION, True, "Its secret, kept for this session only, is forgotten."),
        (SecretLocation.NOWHERE, True, "No secret is stored for it."),
        (
            SecretLocation.KEYCHAIN,
            False,
            "The secret it uses is kept: it is stored for another connection.",
        ),
        (None, True, "Its secret is also removed from the system keychain if it is there."),
    ],
)
def test_the_delete_question_says_what_happens_to_the_secret_where_it_really_is(
    stored_in: SecretLocation | None, owns: bool, sentence: str
) -> None:
    form = ProfileForm.from_profile(saved())
    form.stored_in = stored_in
    form.owns_stored = owns
    assert form.secret_fate_on_delete() == sentence
