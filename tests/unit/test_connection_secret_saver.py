"""plan_save and store_secrets: what Save does with secrets, without Qt or a real keychain.

The keychain is an in-memory keyring backend (``memory_keyring.py``); the dialog's own
save flows, with its keychain thread, are in tests/ui/test_connection_dialog.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.errors
import pytest
from memory_keyring import MemoryKeyring, ReadOnlyKeyring

from smooch_desktop import appinfo
from smooch_desktop.api.hosts import Region
from smooch_desktop.core.profiles import Profile
from smooch_desktop.core.secrets import SecretLocation, SecretStore, SessionSecrets, account_for
from smooch_desktop.ui.connection.form import ProfileForm, SecretStorage
from smooch_desktop.ui.connection.secret_saver import (
    find_secret,
    plan_save,
    read_secret,
    store_secrets,
)

SECRET = "s3cr3t-Value_that-must-never-leak-9f8e7d"
SERVICE = appinfo.KEYRING_SERVICE
TO_KEYCHAIN = SecretStorage(keychain_ok=True, keychain_reason="", session_only=False)
TO_SESSION = SecretStorage(False, "No keychain service is running.", session_only=True)
OLD = account_for("Prod", "app_key_1")


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def saved_form(stored_in: SecretLocation = SecretLocation.KEYCHAIN) -> ProfileForm:
    form = ProfileForm.from_profile(Profile("Prod", app_id="app_1", key_id="app_key_1"))
    form.stored_in = stored_in
    return form


def test_a_new_profile_plan_cleans_the_values_and_targets_the_keychain() -> None:
    form = ProfileForm(
        name=" Local ",
        region=Region.CUSTOM,
        custom_url="http://127.0.0.1:8080/",
        app_id="app_1",
        key_id="app_key_1",
        secret=SECRET,
    )
    plan = plan_save(form, TO_KEYCHAIN)
    assert plan.profile.name == "Local"
    assert plan.profile.region is Region.CUSTOM
    assert plan.profile.base_url == "http://127.0.0.1:8080"
    assert plan.previous_name is None
    assert plan.account == account_for("Local", "app_key_1")
    assert plan.target is SecretLocation.KEYCHAIN
    assert plan.stored_in_after is SecretLocation.KEYCHAIN
    assert SECRET not in repr(plan)


def test_a_rename_keeps_the_id_and_moves_the_stored_secret() -> None:
    form = saved_form()
    form.name = "Renamed"
    plan = plan_save(form, TO_KEYCHAIN)
    assert form.original is not None and plan.profile.id == form.original.id
    assert plan.previous_name == "Prod"
    assert (plan.source_account, plan.source_in) == (OLD, SecretLocation.KEYCHAIN)
    assert (plan.obsolete_account, plan.obsolete_in) == (OLD, SecretLocation.KEYCHAIN)
    assert plan.stored_in_after is SecretLocation.KEYCHAIN


def test_store_secrets_writes_the_keychain_and_drops_a_shadowing_session_entry(
    memory: MemoryKeyring,
) -> None:
    session = SessionSecrets()
    form = saved_form()
    form.secret = SECRET
    session.set(OLD, "stale")
    outcome = store_secrets([plan_save(form, TO_KEYCHAIN)], SecretStore(), session)
    assert outcome.failed is None and len(outcome.done) == 1
    assert memory.entries == {(SERVICE, OLD): SECRET}
    assert OLD not in session


def test_store_secrets_keeps_a_session_only_secret_in_memory(memory: MemoryKeyring) -> None:
    session = SessionSecrets()
    form = ProfileForm(name="Prod", app_id="app_1", key_id="app_key_1", secret=SECRET)
    outcome = store_secrets([plan_save(form, TO_SESSION)], SecretStore(), session)
    assert outcome.failed is None
    assert session.get(OLD) == SECRET
    assert memory.entries == {}


def test_a_rename_copies_the_secret_then_removes_the_old_entry(memory: MemoryKeyring) -> None:
    memory.entries[(SERVICE, OLD)] = SECRET
    form = saved_form()
    form.name = "Renamed"
    outcome = store_secrets([plan_save(form, TO_KEYCHAIN)], SecretStore(), SessionSecrets())
    assert outcome.failed is None
    assert memory.entries == {(SERVICE, account_for("Renamed", "app_key_1")): SECRET}


def test_an_entry_a_later_plan_still_copies_from_is_not_removed(memory: MemoryKeyring) -> None:
    memory.entries[(SERVICE, OLD)] = SECRET
    renamed = saved_form()
    renamed.name = "Renamed"
    duplicate = saved_form().copy_as("Copy")
    plans = [plan_save(renamed, TO_KEYCHAIN), plan_save(duplicate, TO_KEYCHAIN)]
    outcome = store_secrets(plans, SecretStore(), SessionSecrets())
    assert outcome.failed is None and len(outcome.done) == 2
    assert memory.entries == {
        (SERVICE, account_for("Renamed", "app_key_1")): SECRET,
        (SERVICE, account_for("Copy", "app_key_1")): SECRET,
    }


def test_a_failing_keychain_stops_at_that_plan_and_says_why() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(ReadOnlyKeyring())
    try:
        form = ProfileForm(name="Prod", app_id="app_1", key_id="app_key_1", secret=SECRET)
        plan = plan_save(form, TO_KEYCHAIN)
        outcome = store_secrets([plan], SecretStore(), SessionSecrets())
    finally:
        keyring.set_keyring(previous)
    assert outcome.done == [] and outcome.failed is plan
    assert outcome.keychain_failed
    assert "read-only" in outcome.reason and SECRET not in outcome.reason


def test_a_secret_gone_from_its_store_is_reported_not_copied(memory: MemoryKeyring) -> None:
    form = saved_form(SecretLocation.SESSION)  # the session entry is not there any more
    form.name = "Renamed"
    outcome = store_secrets([plan_save(form, TO_KEYCHAIN)], SecretStore(), SessionSecrets())
    assert outcome.failed is not None and not outcome.keychain_failed
    assert outcome.reason.startswith("The saved secret for this key was not found any more")
    assert memory.entries == {}


def test_find_secret_looks_in_the_session_first(memory: MemoryKeyring) -> None:
    session = SessionSecrets()
    store = SecretStore()
    assert find_secret(OLD, store, session) is SecretLocation.NOWHERE
    memory.entries[(SERVICE, OLD)] = SECRET
    assert find_secret(OLD, store, session) is SecretLocation.KEYCHAIN
    session.set(OLD, "typed this run")
    assert find_secret(OLD, store, session) is SecretLocation.SESSION
    assert read_secret(OLD, SecretLocation.SESSION, store, session) == "typed this run"
    assert read_secret(OLD, SecretLocation.KEYCHAIN, store, session) == SECRET
