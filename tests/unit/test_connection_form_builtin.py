"""The built-in (``--sandbox``) connection in the dialog's form model (Qt-free).

Only its API version can change: it is dirty when the version differs from the one in
use, it has no problem but an unusable version, its name takes no other profile's, and
its secret is never in a repr.
"""

from __future__ import annotations

import pytest

from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.hosts import Region
from smooch_desktop.ui.connection.form import (
    BuiltinConnection,
    ProfileForm,
    SecretStorage,
    form_problems,
)

SECRET = "sandbox-secret-for-this-test-only"
NO_KEYCHAIN = SecretStorage(keychain_ok=False, keychain_reason="No keychain.", session_only=False)


def builtin(version: ApiVersion = ApiVersion.V1_1) -> BuiltinConnection:
    return BuiltinConnection(
        "Sandbox", "http://127.0.0.1:5999", "app1", "key1", SECRET, AuthMethod.BASIC, version
    )


def test_the_form_shows_the_sandbox_values_and_keeps_the_secret_out_of_it() -> None:
    form = ProfileForm.from_builtin(builtin())
    assert (form.name, form.region, form.custom_url) == (
        "Sandbox",
        Region.CUSTOM,
        "http://127.0.0.1:5999",
    )
    assert (form.app_id, form.key_id, form.api_version) == ("app1", "key1", ApiVersion.V1_1)
    assert form.secret == ""
    assert SECRET not in repr(form) and SECRET not in repr(form.builtin)


@pytest.mark.parametrize("running", list(ApiVersion))
def test_it_is_changed_only_when_another_version_is_chosen(running: ApiVersion) -> None:
    form = ProfileForm.from_builtin(builtin(running))
    assert not form.is_dirty()
    form.api_version = next(v for v in ApiVersion if v is not running)
    assert form.is_dirty()
    form.api_version = running
    assert not form.is_dirty()


def test_no_problem_even_without_a_keychain_or_with_a_taken_name() -> None:
    form = ProfileForm.from_builtin(builtin())
    assert form_problems(form, {"sandbox"}, NO_KEYCHAIN) == {}
    form.api_version = ApiVersion.V2
    assert form_problems(form, {"sandbox"}, NO_KEYCHAIN) == {}
