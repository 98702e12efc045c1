"""API hosts: the US and EU regions or a custom base URL (https only, except loopback)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from urllib.parse import urlsplit

from smooch_desktop.api.errors import ConfigError

US_BASE_URL = "https://api.smooch.io"
EU_BASE_URL = "https://api.eu-1.smooch.io"


class Region(StrEnum):
    US = "us"
    EU = "eu"
    CUSTOM = "custom"


def is_loopback_host(host: str) -> bool:
    """True only for a host that is this computer by its very spelling, without a lookup.

    That is ``localhost`` (any case), an IPv4 address in 127.0.0.0/8, ``::1``, or an
    IPv4-mapped IPv6 address of 127.0.0.0/8 (``::ffff:127.0.0.1``, which the system
    routes to the IPv4 loopback). Nothing is resolved (this runs on the GUI thread as the
    user types), so a name such as ``dev.localhost`` is not loopback even where the
    resolver maps it there, nor is ``localhost.`` (:func:`validate_base_url` turns that
    one into ``localhost``), nor shorthand such as ``127.1``.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def base_url_for(region: Region | str, custom_url: str = "") -> str:
    """The base URL for a region, validating a custom one."""
    region = Region(region)
    if region is Region.US:
        return US_BASE_URL
    if region is Region.EU:
        return EU_BASE_URL
    return validate_base_url(custom_url)


def validate_base_url(raw: str) -> str:
    """Check a custom base URL and return it without a trailing slash.

    Only ``https://`` is accepted, except for loopback hosts (the local sandbox, see
    :func:`is_loopback_host`), where ``http://`` is fine; ``localhost.`` is written
    ``localhost``. Paths are allowed (a reverse proxy such as ``/sc``), query and fragment
    are not.
    """
    url = (raw or "").strip()
    if not url:
        raise ConfigError("base_url", "Enter the API base URL, e.g. https://api.smooch.io.")
    if any(ord(c) < 32 or c.isspace() for c in url):
        raise ConfigError("base_url", "The base URL can't contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("base_url", f"The base URL is not valid ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = scheme or "none"
        raise ConfigError(
            "base_url", f"The base URL must start with https:// (scheme given: {shown})."
        )
    host = parts.hostname or ""
    if not host:
        raise ConfigError("base_url", "The base URL has no host name.")
    labels = host.strip("[]").split(".")
    if len(host) > 253 or any(len(label) > 63 for label in labels):
        raise ConfigError("base_url", "The host name is too long to exist (check the base URL).")
    if host.lower() == "localhost.":
        host = "localhost"  # the same name, written absolute; one spelling is trusted
    if scheme == "http" and host.lower().endswith((".localhost", ".localhost.")):
        raise ConfigError(
            "base_url",
            f"Plain http:// is only allowed for localhost, 127.0.0.1 or [::1]; "
            f"“{host[:80]}” is a name that may not be this computer, so the API key could "
            "travel in clear text. Use http://localhost or https://.",
        )
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            "base_url",
            "Plain http:// is only allowed for this computer (localhost); use https:// "
            "so the API key is not sent in clear text.",
        )
    if parts.query or parts.fragment:
        raise ConfigError("base_url", "The base URL can't have a query (?…) or fragment (#…).")
    if parts.username or parts.password:
        raise ConfigError("base_url", "Put credentials in the key fields, not in the URL.")
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{netloc}{path}"
