"""Both API versions for the API tests: one way to build the adapter a test runs through.

The window talks to a :class:`~smooch_desktop.api.protocol.ConversationApi` built by
:func:`smooch_desktop.api.factory.connect`, and everything it relies on (sending with a
name, email and avatar, typing, history paging, uploads, errors mapped onto the same typed
errors and the "may have reached the server" rule, exactly-once through faults, kills and
skewed clocks, hostile answers) must hold for v1.1 and for v2 alike. So the API tests take
the version as a parameter (:data:`API_VERSIONS`, the ``api_version`` fixture of
``tests/api/conftest.py``) and build the adapter here, the way a session does
(``ui/controller.py``'s ``connect_api``): v2 is given the avatar Smooch derives from an
email (Gravatar's, or the sandbox's copy under ``/avatar`` on loopback). Expectations
differ by version only where the wire format does (v1.1 sends ``email``, v2 an
``avatarUrl``; v1.1 ``/appusers/…`` paths, v2 ``/users/…`` and ``/conversations/…``).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from smooch_desktop.api import factory
from smooch_desktop.api.auth import AuthMethod, Credentials
from smooch_desktop.api.hosts import is_loopback_host
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.core.gravatar import GRAVATAR_BASE, smooch_avatar_url

#: Every version the window speaks, oldest first; also the test ids.
API_VERSIONS: Final = ("v1.1", "v2")


def avatar_base(base_url: str) -> str:
    """Where avatars come from for ``base_url``: the sandbox's copy on loopback, else Gravatar."""
    host = urlsplit(base_url).hostname or ""
    return base_url.rstrip("/") + "/avatar" if is_loopback_host(host) else GRAVATAR_BASE


def avatar_for(base_url: str, email: str) -> str:
    """The avatar URL the v2 adapter sends for ``email`` (what Smooch shows for v1.1's)."""
    return smooch_avatar_url(email, avatar_base(base_url))


def connect_api(
    version: str, base_url: str, app_id: str, credentials: Credentials, **options: Any
) -> V1Api | V2Api:
    """The adapter for ``version`` through :func:`factory.connect`, as a session builds it."""
    if version == "v2":
        base = avatar_base(base_url)
        options.setdefault("avatar_for_email", lambda email: smooch_avatar_url(email, base))
    api = factory.connect(version, base_url, app_id, credentials, **options)
    assert isinstance(api, V1Api | V2Api), api
    return api


def sandbox_api(sandbox: Any, version: str, **options: Any) -> V1Api | V2Api:
    """The adapter for ``version`` on the test's sandbox, with its key (Basic auth)."""
    credentials = Credentials(
        sandbox.key_id,
        options.pop("secret", sandbox.secret),
        options.pop("method", AuthMethod.BASIC),
    )
    app_id = options.pop("app_id", sandbox.app_id)
    base_url = options.pop("base_url", sandbox.base_url)
    if version == "v2":
        # The sandbox serves its avatars at its root, whatever API path form is used.
        root = avatar_base(sandbox.base_url)
        options.setdefault("avatar_for_email", lambda email: smooch_avatar_url(email, root))
    return connect_api(version, base_url, app_id, credentials, **options)


def users_path(version: str) -> str:
    """The path segment the user lookups of ``version`` go through."""
    return "/appusers/" if version == "v1.1" else "/users/"
