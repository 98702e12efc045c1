"""The connection test: one request that checks host, app and key with unsaved values.

Runs on a worker thread (the network can always block); the dialog only shows its
result, through :func:`~smooch_desktop.ui.connection.messages.describe_connection_error`
on failure. Qt-free: no PySide6 import, directly or through another module; no widgets.
"""

from __future__ import annotations

from typing import Final

from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.errors import HttpError
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.core.secrets import SecretLocation, SecretStore, SessionSecrets
from smooch_desktop.ui.connection.secret_saver import read_secret

#: The connection test must answer quickly or say why not.
TEST_CONNECT_TIMEOUT_S: Final = 5.0
TEST_READ_TIMEOUT_S: Final = 10.0


def probe_connection(
    base_url: str,
    app_id: str,
    key_id: str,
    method: AuthMethod,
    api_version: str,
    typed_secret: str,
    stored_account: str,
    stored_in: SecretLocation,
    secrets: SecretStore,
    session: SessionSecrets,
) -> str:
    """Check host, app and key with one request; return the host (netloc) on success."""
    secret = typed_secret or read_secret(stored_account, stored_in, secrets, session)
    api = V1Api.connect(
        base_url,
        app_id,
        Credentials(key_id, secret, method),
        version=api_version,
        connect_timeout=TEST_CONNECT_TIMEOUT_S,
        read_timeout=TEST_READ_TIMEOUT_S,
    )
    try:
        api.check_connection()
    except HttpError as exc:
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
