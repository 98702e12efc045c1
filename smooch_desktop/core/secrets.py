"""The only module that talks to the OS keychain (through ``keyring``).

Secrets live only in the OS keychain (docs/architecture.md#secrets). Everything that can go wrong
there — no Secret Service running, a locked collection, a D-Bus error, keyring's
"fail" or "null" backend chosen because nothing better exists — becomes one exception,
:class:`KeychainUnavailable`, whose ``reason`` is a sentence the UI can show. The UI
then offers :class:`SessionSecrets` ("use this secret for this session only"); there is
no plain-text fallback anywhere.

No message, log line or ``repr`` produced here contains a secret: errors raised by a
backend are never chained (their arguments could hold the value), and their text is
only quoted when it demonstrably does not contain the secret.

Keychain calls can block (an unlock prompt, a slow D-Bus), so the UI calls them from a
worker thread.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors

from smooch_desktop import appinfo

_log = logging.getLogger(__name__)

_DETAIL_LIMIT: Final = 160


class SecretLocation(StrEnum):
    """Where a secret is kept: the one answer to "is there a secret, and where?"."""

    #: The OS keychain, through :class:`SecretStore` (survives a restart).
    KEYCHAIN = "keychain"
    #: :class:`SessionSecrets`: in memory until the app quits, never written anywhere.
    SESSION = "session"
    #: Neither: the agent has to enter it.
    NOWHERE = "none"


class KeychainUnavailable(Exception):
    """The keychain can't be used right now; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeychainStatus:
    """Whether secrets can be stored; ``reason`` is a user-facing sentence when not ``ok``."""

    ok: bool
    backend: str
    reason: str = ""


def account_for(profile_name: str, key_id: str) -> str:
    """Return the keychain account name for a profile's API key: ``profile:key_id``.

    ``%`` and ``:`` inside either part are percent-encoded so two different pairs can
    never share an entry; ordinary names stay readable in keychain managers.
    """
    if not profile_name or not key_id:
        raise ValueError("profile_name and key_id must not be empty")

    def escape(part: str) -> str:
        return part.replace("%", "%25").replace(":", "%3A")

    return f"{escape(profile_name)}:{escape(key_id)}"


def _unusable_backend_reason(backend: keyring.backend.KeyringBackend) -> str | None:
    """Return why ``backend`` cannot store secrets, or None if it looks usable.

    keyring falls back to ``fail.Keyring`` (raises on every call) when no backend is
    viable, and ``null.Keyring`` or an empty chain silently store nothing: with the
    latter a "saved" secret would vanish, so both count as unavailable.
    """
    if isinstance(backend, keyring.backends.fail.Keyring):
        if sys.platform.startswith("linux") or "bsd" in sys.platform:
            return "No keychain service is running (Secret Service not found)."
        return "No keychain is available on this system."
    if isinstance(backend, keyring.backends.null.Keyring):
        return "The keychain is switched off (keyring is set to its null backend)."
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        members = [
            member for member in backend.backends if _unusable_backend_reason(member) is None
        ]
        if not members:
            return "No keychain service is running (no usable keyring backend found)."
    return None


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def _reason_for(exc: BaseException, action: str, secret: str | None) -> str:
    """A user-facing sentence for a backend failure, never containing ``secret``."""
    if isinstance(exc, keyring.errors.KeyringLocked):
        return "The keychain is locked. Unlock it and try again."
    if isinstance(exc, keyring.errors.NoKeyringError):
        return "No keychain service is running (Secret Service not found)."
    detail = " ".join(str(exc).split())[:_DETAIL_LIMIT]
    leaked = secret is not None and secret in f"{detail}{exc!r}{exc.args!r}"
    if not detail or leaked:
        detail = type(exc).__name__
    return f"The keychain could not {action} the secret ({detail})."


class SecretStore:
    """API key secrets in the OS keychain under one service name.

    The backend is looked up on every call (``keyring.get_keyring()``), so a keychain
    that starts or unlocks while the app runs is picked up, and tests can install an
    in-memory backend with ``keyring.set_keyring``.
    """

    def __init__(self, service: str = appinfo.KEYRING_SERVICE) -> None:
        if not service:
            raise ValueError("service must not be empty")
        self._service = service

    @property
    def service(self) -> str:
        return self._service

    def __repr__(self) -> str:
        return f"SecretStore(service={self._service!r})"

    def available(self, *, probe: bool = False) -> KeychainStatus:
        """Report whether secrets can be stored, without raising.

        By default only the backend type is checked, which never shows an unlock prompt
        but is not free: the first call makes keyring pick its backend (importing and
        asking each candidate, D-Bus included), about 50 ms; later calls are quick.
        ``probe=True`` also reads a non-existent entry, which finds a locked or broken
        keychain but may block on (or trigger) an unlock prompt. Call it from a worker
        thread (the connection dialog runs it on the keychain queue).
        """
        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # a broken keyring configuration must not crash startup
            return KeychainStatus(False, "unknown", _reason_for(exc, "load", None))
        name = _backend_name(backend)
        reason = _unusable_backend_reason(backend)
        if reason is not None:
            return KeychainStatus(False, name, reason)
        if probe:
            try:
                backend.get_password(self._service, "smooch-desktop-availability-probe")
            except Exception as exc:
                return KeychainStatus(False, name, _reason_for(exc, "read", None))
        return KeychainStatus(True, name)

    def get(self, account: str) -> str | None:
        """Return the stored secret, or None if there is none for ``account``."""
        backend = self._usable_backend()
        failure: str | None = None
        try:
            value = backend.get_password(self._service, account)
        except Exception as exc:
            failure = _reason_for(exc, "read", None)
        if failure is not None:
            raise self._unavailable(failure, "get", account)
        return value

    def set(self, account: str, secret: str) -> None:
        """Store ``secret`` for ``account``, replacing any previous one."""
        if not secret:
            raise ValueError("refusing to store an empty secret; use delete() instead")
        backend = self._usable_backend()
        failure: str | None = None
        try:
            backend.set_password(self._service, account, secret)
        except Exception as exc:
            failure = _reason_for(exc, "store", secret)
        if failure is not None:
            raise self._unavailable(failure, "set", account)

    def delete(self, account: str) -> None:
        """Remove the secret for ``account``; a missing entry is not an error."""
        backend = self._usable_backend()
        failure: str | None = None
        try:
            backend.delete_password(self._service, account)
        except keyring.errors.PasswordDeleteError:
            # Raised by every bundled backend when the entry does not exist.
            return
        except Exception as exc:
            failure = _reason_for(exc, "delete", None)
        if failure is not None:
            raise self._unavailable(failure, "delete", account)

    def _usable_backend(self) -> keyring.backend.KeyringBackend:
        failure: str | None = None
        try:
            backend = keyring.get_keyring()
        except Exception as exc:
            failure = _reason_for(exc, "load", None)
        if failure is not None:
            raise KeychainUnavailable(failure)
        reason = _unusable_backend_reason(backend)
        if reason is not None:
            raise KeychainUnavailable(reason)
        return backend

    def _unavailable(self, reason: str, operation: str, account: str) -> KeychainUnavailable:
        # Raised outside the except block on purpose: no __context__ pointing at the
        # backend's exception, whose args or traceback locals could include the secret.
        _log.warning("keychain %s failed for account %r: %s", operation, account, reason)
        return KeychainUnavailable(reason)


class SessionSecrets:
    """Secrets kept in memory for this run only, when the user chose not to (or can't) save.

    Never written anywhere; gone when the app quits. ``repr`` shows only how many secrets
    are held. Thread-safe, like the keychain it stands in for.
    """

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, account: str) -> str | None:
        with self._lock:
            return self._secrets.get(account)

    def set(self, account: str, secret: str) -> None:
        with self._lock:
            self._secrets[account] = secret

    def delete(self, account: str) -> None:
        with self._lock:
            self._secrets.pop(account, None)

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()

    def __contains__(self, account: object) -> bool:
        with self._lock:
            return account in self._secrets

    def __len__(self) -> int:
        with self._lock:
            return len(self._secrets)

    def __repr__(self) -> str:
        return f"<SessionSecrets: {len(self)} secret(s) held in memory>"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the secrets somewhere; refuse instead.
        raise TypeError("SessionSecrets cannot be pickled")
