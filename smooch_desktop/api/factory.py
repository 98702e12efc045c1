"""Which adapter speaks to a profile's API: the one place that turns a version into a
:class:`~smooch_desktop.api.protocol.ConversationApi`.

Holds :class:`ApiVersion`, :func:`available_versions` (what this build can speak),
:func:`version_problem` (why a version or a version/host pair can't be used) and
:func:`connect`. Everything that builds an API for a profile, a command-line connection,
the sandbox or the connection test goes through :func:`connect`, so a new adapter is
added here and nowhere else.

The v2 adapter lives in ``smooch_desktop.api.v2`` (``V2Api.connect(base_url, app_id,
credentials, **options)``, the same call as ``V1Api.connect``). Until that module exists
v2 is not offered: :func:`available_versions` looks for the module (without importing
it), so the day it is added v2 is offered everywhere without another edit here.

Nothing here sends a request; the adapters are imported only when one is built (neither
is needed to paint the first window).
"""

from __future__ import annotations

import importlib
import importlib.util
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, cast

from smooch_desktop.api.errors import ConfigError
from smooch_desktop.api.hosts import Region

if TYPE_CHECKING:
    from smooch_desktop.api.auth import Credentials
    from smooch_desktop.api.protocol import ConversationApi


class ApiVersion(StrEnum):
    """The API version a profile speaks; the value is the path prefix (``/v1.1/…``)."""

    V1_1 = "v1.1"
    V2 = "v2"


#: The module that holds ``V2Api``.
V2_MODULE: Final = "smooch_desktop.api.v2"


def available_versions() -> tuple[ApiVersion, ...]:
    """The versions this build can speak, oldest first (v1.1 always)."""
    try:
        has_v2 = importlib.util.find_spec(V2_MODULE) is not None
    except (ImportError, ValueError):
        has_v2 = False
    return (ApiVersion.V1_1, ApiVersion.V2) if has_v2 else (ApiVersion.V1_1,)


def version_problem(version: ApiVersion | str, region: Region | str | None = None) -> str:
    """Why ``version`` can't be used (with ``region``, when given), as one sentence; "" if
    it can.

    A Zendesk host serves API v2 only: the reference documents only ``/v2`` paths under
    ``https://{subdomain}.zendesk.com/sc``, and no source says that host answers v1.1.
    """
    version = ApiVersion(version)
    zendesk = region is not None and Region(region) is Region.ZENDESK
    available = available_versions()
    if zendesk and ApiVersion.V2 not in available:
        return (
            "Zendesk-hosted accounts use API v2, which comes in a later version of Smooch Desktop."
        )
    if version not in available:
        return f"API {version} comes in a later version of Smooch Desktop; choose v1.1."
    if zendesk and version is not ApiVersion.V2:
        return "A Zendesk host speaks API v2 only; choose v2."
    return ""


def connect(
    version: ApiVersion | str,
    base_url: str,
    app_id: str,
    credentials: Credentials,
    **options: Any,
) -> ConversationApi:
    """The adapter for ``version``, connected to ``base_url`` (no request is sent).

    ``options`` go to the adapter's client (timeouts, ``short_form``…). Raises
    :class:`ConfigError` (field ``api_version``) for a version this build can't speak,
    before anything is built.
    """
    version = ApiVersion(version)
    problem = version_problem(version)
    if problem:
        raise ConfigError("api_version", problem)
    if version is ApiVersion.V1_1:
        from smooch_desktop.api.v1 import V1Api

        return V1Api.connect(base_url, app_id, credentials, version=version.value, **options)
    module = importlib.import_module(V2_MODULE)
    return cast("ConversationApi", module.V2Api.connect(base_url, app_id, credentials, **options))
