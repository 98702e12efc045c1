"""What Save does with secrets: the plan made on the GUI thread, run on the keychain thread.

:func:`plan_save` turns a valid :class:`~smooch_desktop.ui.connection.form.ProfileForm`
into a :class:`SavePlan` (the profile to write, where its secret goes, which old entry
to copy from or remove); :func:`store_secrets` carries the plans out against the
keychain and the session store and returns a :class:`SaveOutcome`. The secret only ever
goes to the system keychain or, when the agent chose it, :class:`SessionSecrets`
(docs/architecture.md#secrets). The functions that touch a store block (an unlock
prompt, D-Bus), so they run on the app's keychain :class:`TaskQueue`, never on the GUI
thread. Qt-free: no PySide6 import, directly or through another module; no widgets.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from smooch_desktop.api.hosts import Region, validate_base_url, validate_zendesk_subdomain
from smooch_desktop.core.profiles import Profile, new_profile_id
from smooch_desktop.core.secrets import (
    KeychainUnavailable,
    SecretLocation,
    SecretStore,
    SessionSecrets,
    account_for,
)
from smooch_desktop.core.validation import (
    ValidationError,
    clean_app_id,
    clean_key_id,
    clean_profile_name,
    clean_secret,
)
from smooch_desktop.ui.connection.form import ProfileForm, SecretStorage


@dataclass(frozen=True)
class SavePlan:
    """What saving one profile form does; the worker only reads it."""

    form: ProfileForm = field(repr=False)
    profile: Profile
    previous_name: str | None
    account: str
    target: SecretLocation
    secret: str = field(default="", repr=False)
    #: Copy the secret from here when none was typed and the account changes.
    source_account: str = ""
    source_in: SecretLocation = SecretLocation.NOWHERE
    #: This profile's old entry, removed once the new one is stored.
    obsolete_account: str = ""
    obsolete_in: SecretLocation = SecretLocation.NOWHERE

    @property
    def stored_in_after(self) -> SecretLocation:
        if self.secret:
            return self.target
        return self.source_in


@dataclass(frozen=True)
class SaveOutcome:
    """What :func:`store_secrets` did: the plans carried out, and the one that failed."""

    done: list[SavePlan]
    failed: SavePlan | None = None
    reason: str = ""
    keychain_failed: bool = False


def plan_save(form: ProfileForm, storage: SecretStorage) -> SavePlan:
    """The plan for saving ``form``, which must be valid (``form_problems`` found nothing)."""
    region = form.region
    base_url = validate_base_url(form.custom_url) if region is Region.CUSTOM else ""
    subdomain = (
        validate_zendesk_subdomain(form.zendesk_subdomain) if region is Region.ZENDESK else ""
    )
    profile = Profile(
        name=clean_profile_name(form.name),
        region=region,
        base_url=base_url,
        app_id=clean_app_id(form.app_id),
        key_id=clean_key_id(form.key_id),
        auth=form.auth,
        api_version=form.api_version,
        zendesk_subdomain=subdomain,
        # A rename keeps the id: its messages, drafts and recent users go with it.
        id=form.original.id if form.original is not None else new_profile_id(),
    )
    account = account_for(profile.name, profile.key_id)
    secret = clean_secret(form.secret) if form.secret else ""
    # Not looked up yet counts as nowhere; the entry is still removed from the keychain.
    stored_in = form.stored_in or SecretLocation.NOWHERE
    source_account, source_in = "", SecretLocation.NOWHERE
    if not secret and form.has_stored_secret():
        source_account, source_in = form.stored_account, stored_in
    obsolete_account, obsolete_in = "", SecretLocation.NOWHERE
    if form.owns_stored and form.stored_account and form.stored_account != account:
        obsolete_account, obsolete_in = form.stored_account, stored_in
    return SavePlan(
        form=form,
        profile=profile,
        previous_name=form.original.name if form.original is not None else None,
        account=account,
        target=storage.target,
        secret=secret,
        source_account=source_account,
        source_in=source_in,
        obsolete_account=obsolete_account,
        obsolete_in=obsolete_in,
    )


def read_secret(
    account: str, where: SecretLocation, secrets: SecretStore, session: SessionSecrets
) -> str:
    """The secret stored for ``account`` in ``where``; ValidationError if it is gone."""
    value = session.get(account) if where is SecretLocation.SESSION else secrets.get(account)
    if not value:
        raise ValidationError(
            "secret", "The saved secret for this key was not found any more; enter it again."
        )
    return value


def find_secret(account: str, secrets: SecretStore, session: SessionSecrets) -> SecretLocation:
    """Where a secret is stored for ``account``: session, keychain or nowhere."""
    if account in session:
        return SecretLocation.SESSION
    if secrets.get(account) is not None:
        return SecretLocation.KEYCHAIN
    return SecretLocation.NOWHERE


def store_secrets(
    plans: list[SavePlan], secrets: SecretStore, session: SessionSecrets
) -> SaveOutcome:
    """Store the secret of every plan in order, stopping at the first failure.

    Entries a plan made obsolete (a rename moves the secret) are removed last, and only
    when no plan still copies from them.
    """
    done: list[SavePlan] = []
    failure: SaveOutcome | None = None
    for plan in plans:
        try:
            value = plan.secret
            if not value and plan.source_account and plan.source_account != plan.account:
                value = read_secret(plan.source_account, plan.source_in, secrets, session)
                target = plan.source_in
            else:
                target = plan.target
            if value:
                if target is SecretLocation.SESSION:
                    session.set(plan.account, value)
                else:
                    secrets.set(plan.account, value)
                    # A session entry would shadow the one just saved.
                    session.delete(plan.account)
        except KeychainUnavailable as exc:
            failure = SaveOutcome(done, plan, exc.reason, keychain_failed=True)
            break
        except ValidationError as exc:
            failure = SaveOutcome(done, plan, exc.message)
            break
        done.append(plan)
    # Old entries go last: another plan (a duplicate) may have copied from one of them.
    finished = {id(plan) for plan in done}
    still_used = {p.account for p in done} | {
        p.source_account for p in plans if id(p) not in finished
    }
    for plan in done:
        obsolete = plan.obsolete_account
        if not obsolete or obsolete in still_used:
            continue
        if plan.obsolete_in is SecretLocation.SESSION:
            session.delete(obsolete)
        else:
            _delete_quietly(obsolete, secrets)
    return failure or SaveOutcome(done)


def _delete_quietly(account: str, secrets: SecretStore) -> None:
    """Remove an obsolete entry; a leftover is logged (by the store), never fatal."""
    with contextlib.suppress(KeychainUnavailable):
        secrets.delete(account)


def delete_secret(account: str, secrets: SecretStore) -> None:
    """Remove a deleted profile's keychain entry (raises KeychainUnavailable)."""
    secrets.delete(account)
