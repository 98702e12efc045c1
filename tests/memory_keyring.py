"""An in-memory keyring backend shared by the tests that must not touch a real keychain.

Importable from any test module: ``tests/`` is on ``sys.path`` because
``tests/conftest.py`` lives there. It has no ``priority``, so keyring never picks it on
its own; tests install it with ``keyring.set_keyring`` and restore the old one after.
"""

from __future__ import annotations

import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Secrets in a dict of ``(service, username) -> password`` for this process only."""

    def __init__(self) -> None:
        # keyring's KeyringBackend.__init__ has no annotations.
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such entry")


class ReadOnlyKeyring(MemoryKeyring):
    """Reads work, storing fails, like a keychain that locked itself mid-session."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("the collection is read-only")
