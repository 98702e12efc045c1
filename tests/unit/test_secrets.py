"""SecretStore against in-memory and failing keyring backends; secrets never leak."""

from __future__ import annotations

import copy
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest

from smooch_desktop import appinfo
from smooch_desktop.core.secrets import (
    KeychainStatus,
    KeychainUnavailable,
    SecretStore,
    SessionSecrets,
    account_for,
)

SECRET = "s3cr3t-Value_that-must-never-leak-9f8e7d"


from memory_keyring import MemoryKeyring as _SharedMemoryKeyring  # noqa: E402


class MemoryKeyring(_SharedMemoryKeyring):
    """The shared in-memory backend, with a priority like a real one."""

    priority = 1


class BrokenKeyring(keyring.backend.KeyringBackend):
    """Fails the way real backends do: a chosen exception on every call."""

    priority = 1

    def __init__(self, error: BaseException) -> None:
        # keyring's KeyringBackend.__init__ has no annotations.
        super().__init__()  # type: ignore[no-untyped-call]
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


class EchoingKeyring(BrokenKeyring):
    """A badly behaved backend whose error on set quotes the password it was given."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"could not store {password!r} for {username}")


class DBusError(Exception):
    """Stands in for jeepney/secretstorage errors, which are not KeyringErrors."""


Install = Callable[[keyring.backend.KeyringBackend], keyring.backend.KeyringBackend]


@pytest.fixture
def use_backend() -> Iterator[Install]:
    """Install a backend for one test and put the previous one back afterwards."""
    previous = keyring.get_keyring()

    def install(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def memory(use_backend: Install) -> MemoryKeyring:
    backend = MemoryKeyring()
    use_backend(backend)
    return backend


def fail_backend() -> keyring.backend.KeyringBackend:
    """keyring's fallback when no keychain exists: raises NoKeyringError on every call."""
    # keyring's KeyringBackend.__init__ has no annotations.
    return keyring.backends.fail.Keyring()  # type: ignore[no-untyped-call]


def null_backend() -> keyring.backend.KeyringBackend:
    """keyring's "store nothing" backend."""
    # keyring's KeyringBackend.__init__ has no annotations.
    return keyring.backends.null.Keyring()  # type: ignore[no-untyped-call]


def chain_backend() -> keyring.backend.KeyringBackend:
    # keyring's KeyringBackend.__init__ has no annotations.
    return keyring.backends.chainer.ChainerBackend()  # type: ignore[no-untyped-call]


def assert_no_leak(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text)
        assert SECRET[:12] not in str(text)


def unavailable_error(call: Callable[[], object]) -> KeychainUnavailable:
    with pytest.raises(KeychainUnavailable) as info:
        call()
    err = info.value
    formatted = "".join(traceback.format_exception(err))
    assert_no_leak(err, repr(err), err.reason, formatted)
    assert err.__cause__ is None and err.__context__ is None
    return err


# --- with a working keychain -------------------------------------------------------


def test_default_service_name() -> None:
    assert SecretStore().service == appinfo.KEYRING_SERVICE


def test_set_get_delete(memory: MemoryKeyring) -> None:
    store = SecretStore("test-service")
    assert store.get("prod:app_1") is None
    store.set("prod:app_1", SECRET)
    assert store.get("prod:app_1") == SECRET
    assert memory.entries == {("test-service", "prod:app_1"): SECRET}
    store.set("prod:app_1", "replaced")
    assert store.get("prod:app_1") == "replaced"
    store.delete("prod:app_1")
    assert store.get("prod:app_1") is None


def test_delete_missing_is_fine(memory: MemoryKeyring) -> None:
    SecretStore("test-service").delete("never-stored")


def test_unicode_secret_roundtrip(memory: MemoryKeyring) -> None:
    store = SecretStore("test-service")
    store.set("a", "pässwörd 🙂")
    assert store.get("a") == "pässwörd 🙂"


def test_empty_secret_is_refused_without_touching_the_keychain(memory: MemoryKeyring) -> None:
    with pytest.raises(ValueError):
        SecretStore("test-service").set("a", "")
    assert memory.entries == {}


def test_available_with_a_working_backend(memory: MemoryKeyring) -> None:
    status = SecretStore().available()
    assert status == KeychainStatus(ok=True, backend=f"{__name__}.MemoryKeyring", reason="")
    assert SecretStore().available(probe=True).ok


def test_services_are_separate(memory: MemoryKeyring) -> None:
    SecretStore("one").set("acct", "1")
    SecretStore("two").set("acct", "2")
    assert SecretStore("one").get("acct") == "1"


def test_repr_shows_no_secret(memory: MemoryKeyring) -> None:
    store = SecretStore("svc")
    store.set("acct", SECRET)
    assert_no_leak(repr(store), str(store), vars(store))


def test_empty_service_is_refused() -> None:
    with pytest.raises(ValueError):
        SecretStore("")


# --- without a usable keychain -----------------------------------------------------


def test_fail_backend_is_unavailable(use_backend: Install) -> None:
    use_backend(fail_backend())
    store = SecretStore()
    status = store.available()
    assert not status.ok
    assert status.backend == "keyring.backends.fail.Keyring"
    assert status.reason.startswith("No keychain")
    assert status.reason.endswith(".")
    for call in (
        lambda: store.get("a"),
        lambda: store.set("a", SECRET),
        lambda: store.delete("a"),
    ):
        err = unavailable_error(call)
        assert err.reason == status.reason


def test_null_backend_is_unavailable_not_a_silent_sink(use_backend: Install) -> None:
    use_backend(null_backend())
    store = SecretStore()
    assert not store.available().ok
    assert "null" in store.available().reason
    unavailable_error(lambda: store.set("a", SECRET))
    unavailable_error(lambda: store.get("a"))


def test_empty_chain_is_unavailable(use_backend: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = chain_backend()
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [])
    use_backend(chain)
    store = SecretStore()
    status = store.available()
    assert not status.ok and status.reason.startswith("No keychain service is running")
    unavailable_error(lambda: store.set("a", SECRET))


def test_chain_of_only_null_backends_is_unavailable(
    use_backend: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        keyring.backends.chainer.ChainerBackend,
        "backends",
        [null_backend(), fail_backend()],
    )
    use_backend(chain_backend())
    assert not SecretStore().available().ok


def test_chain_with_a_real_member_is_available(
    use_backend: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = MemoryKeyring()
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [member])
    use_backend(chain_backend())
    store = SecretStore("svc")
    assert store.available().ok
    store.set("a", SECRET)
    assert member.entries == {("svc", "a"): SECRET}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            keyring.errors.KeyringLocked("locked"),
            "The keychain is locked. Unlock it and try again.",
        ),
        (keyring.errors.NoKeyringError("none"), "No keychain service is running"),
        (keyring.errors.InitError("init"), "(init)"),
        (DBusError("org.freedesktop.DBus.Error.ServiceUnknown"), "ServiceUnknown"),
        (OSError(5, "I/O error"), "I/O error"),
        (RuntimeError(""), "(RuntimeError)"),
    ],
)
def test_backend_errors_become_keychain_unavailable(
    use_backend: Install, error: BaseException, expected: str
) -> None:
    use_backend(BrokenKeyring(error))
    store = SecretStore()
    for call in (
        lambda: store.get("a"),
        lambda: store.set("a", SECRET),
        lambda: store.delete("a"),
    ):
        err = unavailable_error(call)
        assert expected in err.reason


def test_password_set_error(use_backend: Install) -> None:
    use_backend(BrokenKeyring(keyring.errors.PasswordSetError("Failed to unlock the item!")))
    err = unavailable_error(lambda: SecretStore().set("a", SECRET))
    assert err.reason == "The keychain could not store the secret (Failed to unlock the item!)."


def test_backend_error_quoting_the_secret_is_not_repeated(
    use_backend: Install, caplog: pytest.LogCaptureFixture
) -> None:
    use_backend(EchoingKeyring(RuntimeError("x")))
    with caplog.at_level(logging.DEBUG):
        err = unavailable_error(lambda: SecretStore().set("prod:app_1", SECRET))
    assert err.reason == "The keychain could not store the secret (RuntimeError)."
    assert_no_leak(caplog.text)
    assert "prod:app_1" in caplog.text


def test_probe_finds_a_locked_keychain(use_backend: Install) -> None:
    use_backend(BrokenKeyring(keyring.errors.KeyringLocked("locked")))
    store = SecretStore()
    assert store.available().ok  # type check only: looks fine
    status = store.available(probe=True)
    assert not status.ok
    assert status.reason == "The keychain is locked. Unlock it and try again."


def test_available_never_raises_even_if_keyring_itself_breaks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode() -> None:
        raise RuntimeError("bad PYTHON_KEYRING_BACKEND")

    monkeypatch.setattr(keyring, "get_keyring", explode)
    store = SecretStore()
    status = store.available()
    assert not status.ok and status.backend == "unknown"
    unavailable_error(lambda: store.set("a", SECRET))


def test_keychain_unavailable_carries_the_reason() -> None:
    err = KeychainUnavailable("The keychain is locked.")
    assert err.reason == str(err) == "The keychain is locked."


# --- account names -----------------------------------------------------------------


def test_account_for_is_readable() -> None:
    assert account_for("Production", "app_5963c0d6") == "Production:app_5963c0d6"


def test_account_for_is_unambiguous() -> None:
    pairs = [("a:b", "c"), ("a", "b:c"), ("a%3Ab", "c"), ("a", "b%3Ac"), ("a", "b:c%")]
    accounts = {account_for(profile, key) for profile, key in pairs}
    assert len(accounts) == len(pairs)


def test_account_for_rejects_empty_parts() -> None:
    with pytest.raises(ValueError):
        account_for("", "key")
    with pytest.raises(ValueError):
        account_for("profile", "")


# --- session-only secrets ----------------------------------------------------------


def test_session_secrets_roundtrip() -> None:
    session = SessionSecrets()
    assert session.get("a") is None
    session.set("a", SECRET)
    assert session.get("a") == SECRET
    assert "a" in session and len(session) == 1
    session.delete("a")
    session.delete("a")
    assert session.get("a") is None
    session.set("b", "x")
    session.clear()
    assert len(session) == 0


def test_session_secrets_never_show_or_serialize_the_value() -> None:
    session = SessionSecrets()
    session.set("prod:app_1", SECRET)
    assert_no_leak(repr(session), str(session), f"{session}")
    assert "1 secret" in repr(session)
    with pytest.raises(TypeError):
        pickle.dumps(session)
    with pytest.raises(TypeError):
        copy.copy(session)


def test_session_secrets_touch_no_keychain(memory: MemoryKeyring) -> None:
    SessionSecrets().set("a", SECRET)
    assert memory.entries == {}
