"""The connection test: one request that checks host, app and key with unsaved values.

Runs on a worker thread (the network can always block); the dialog only shows its
result, through :func:`~smooch_desktop.ui.connection.messages.describe_connection_error`
on failure. Qt-free: no PySide6 import, directly or through another module; no widgets.
"""

from __future__ import annotations

from typing import Final

from smooch_desktop.api import factory
from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.errors import HttpError
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.core.secrets import SecretLocation, SecretStore, SessionSecrets
from smooch_desktop.ui.connection.secret_saver import read_secret

#: The connection test must answer quickly or say why not.
TEST_CONNECT_TIMEOUT_S: Final = 5.0
TEST_READ_TIMEOUT_S: Final = 10.0

#: The error envelope each version answers with (``HttpError.envelope``).
_ENVELOPE_OF: Final = {ApiVersion.V1_1: "v1", ApiVersion.V2: "v2"}


class VersionMismatch(Exception):
    """The host answered the test in another API version's format than the one chosen.

    ``tested`` is the version the profile asked for, ``answered`` the one whose error
    envelope came back, ``error`` the server's answer (its status, code and text).
    """

    def __init__(self, tested: ApiVersion, answered: ApiVersion, error: HttpError) -> None:
        super().__init__(f"the host answers API {answered}, not {tested}")
        self.tested = tested
        self.answered = answered
        self.error = error


def version_mismatch(tested: ApiVersion, exc: HttpError) -> VersionMismatch | None:
    """The mismatch ``exc`` proves, if any: an error answer in the other version's envelope.

    A v1.1 request to a v2-only host (or the other way round) reaches no route of that
    version; the host's 404 then comes in its own version's envelope, which says which
    version it speaks. Only a 404 counts: another status in the other envelope (a 401
    from a gateway shared by both versions, say) says nothing about the path, and an
    answer without a Smooch envelope proves nothing.
    """
    if exc.status != 404:
        return None
    for version, envelope in _ENVELOPE_OF.items():
        if version is not tested and exc.envelope == envelope:
            return VersionMismatch(tested, version, exc)
    return None


def probe_connection(
    base_url: str,
    app_id: str,
    key_id: str,
    method: AuthMethod,
    api_version: ApiVersion,
    typed_secret: str,
    stored_account: str,
    stored_in: SecretLocation,
    secrets: SecretStore,
    session: SessionSecrets,
) -> str:
    """Check host, app and key with one request; return the host (netloc) on success.

    Raises :class:`VersionMismatch` when the host answers in the other API version's
    format (before any conclusion about the key: the request reached no route of the
    chosen version, so it says nothing about the credentials).
    """
    secret = typed_secret or read_secret(stored_account, stored_in, secrets, session)
    api = factory.connect(
        api_version,
        base_url,
        app_id,
        Credentials(key_id, secret, method),
        connect_timeout=TEST_CONNECT_TIMEOUT_S,
        read_timeout=TEST_READ_TIMEOUT_S,
    )
    try:
        api.check_connection()
    except HttpError as exc:
        mismatch = version_mismatch(ApiVersion(api_version), exc)
        if mismatch is not None:
            raise mismatch from None
        if not _is_unknown_probe_user(exc):
            raise
    finally:
        api.close()
    return api.host


def _is_unknown_probe_user(exc: HttpError) -> bool:
    """True for the 404 "App user not found" that proves host, app and key all work.

    ``V1Api.check_connection`` already accepts a 404 that has a Smooch error code and
    does not say "app not found". This also accepts one whose error envelope carries
    only the description ("App user not found", "User not found") and no code.
    """
    description = (exc.server_description or "").strip().lower().rstrip(".")
    return exc.status == 404 and (
        exc.code == "user_not_found" or description in ("app user not found", "user not found")
    )
