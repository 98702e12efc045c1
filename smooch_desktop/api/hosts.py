"""API hosts: the US and EU regions, a Zendesk subdomain, or a custom base URL.

Holds :class:`Region`, the base URL each region gives (:func:`base_url_for`) and the
checks of what the agent types for it (:func:`validate_base_url`: https only, except
loopback; :func:`validate_zendesk_subdomain`). Nothing here sends a request or resolves a
name: the checks run on the GUI thread as the agent types.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from urllib.parse import urlsplit

from smooch_desktop.api.errors import ConfigError

US_BASE_URL = "https://api.smooch.io"
EU_BASE_URL = "https://api.eu-1.smooch.io"
#: Licensed Zendesk accounts use their own host for all requests (the API reference's
#: "Regions"); the profile stores only the subdomain.
ZENDESK_BASE_URL = "https://{subdomain}.zendesk.com/sc"
_ZENDESK_DOMAIN = ".zendesk.com"
_SUBDOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class Region(StrEnum):
    US = "us"
    EU = "eu"
    ZENDESK = "zendesk"
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


def base_url_for(region: Region | str, custom_url: str = "", zendesk_subdomain: str = "") -> str:
    """The base URL for a region, validating a custom URL or a Zendesk subdomain."""
    region = Region(region)
    if region is Region.US:
        return US_BASE_URL
    if region is Region.EU:
        return EU_BASE_URL
    if region is Region.ZENDESK:
        return zendesk_base_url(validate_zendesk_subdomain(zendesk_subdomain))
    return validate_base_url(custom_url)


def zendesk_base_url(subdomain: str) -> str:
    """``https://{subdomain}.zendesk.com/sc`` for a subdomain already validated."""
    return ZENDESK_BASE_URL.format(subdomain=subdomain)


def validate_zendesk_subdomain(raw: str) -> str:
    """The Zendesk subdomain in ``raw``, e.g. ``acme``; ConfigError saying what is wrong.

    Takes the subdomain itself or a pasted address of it (``acme.zendesk.com``,
    ``https://acme.zendesk.com/sc``, with or without a trailing slash) and returns just
    the subdomain, in lower case (host names ignore case). A subdomain is one DNS label:
    1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
    """
    text = (raw or "").strip()
    if not text:
        raise ConfigError(
            "zendesk_subdomain",
            "Enter your Zendesk subdomain: acme for acme.zendesk.com.",
        )
    if len(text) > 300:
        raise ConfigError(
            "zendesk_subdomain",
            f"A Zendesk subdomain can be at most 63 characters long (this one has {len(text):,}).",
        )
    label = _subdomain_of(text).lower()
    if "." in label:
        raise ConfigError(
            "zendesk_subdomain",
            "A Zendesk subdomain is one name without dots: acme for acme.zendesk.com.",
        )
    for char in label:
        if char not in _SUBDOMAIN_CHARS:
            printable = char.isprintable() and not char.isspace()
            shown = f"“{char}”" if printable else f"U+{ord(char):04X}"
            raise ConfigError(
                "zendesk_subdomain",
                f"A Zendesk subdomain has only letters, digits and hyphens (found {shown}); "
                "enter just the part before .zendesk.com.",
            )
    if not label:
        raise ConfigError("zendesk_subdomain", "The address has no subdomain before .zendesk.com.")
    if len(label) > 63:
        raise ConfigError(
            "zendesk_subdomain",
            f"A Zendesk subdomain can be at most 63 characters long (this one has {len(label)}).",
        )
    if label.startswith("-") or label.endswith("-"):
        raise ConfigError(
            "zendesk_subdomain", "A Zendesk subdomain can't start or end with a hyphen."
        )
    return label


def _subdomain_of(text: str) -> str:
    """The label a pasted Zendesk address names (``text`` itself when it is no address)."""
    rest = text
    scheme, sep, after = text.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise ConfigError(
                "zendesk_subdomain",
                "Enter just the subdomain (acme for acme.zendesk.com), not an address "
                f"starting with {scheme[:20]}://.",
            )
        rest = after
    host, slash, path = rest.partition("/")
    if "@" in host:
        raise ConfigError(
            "zendesk_subdomain", "Put credentials in the key fields, not in the address."
        )
    if slash and path.rstrip("/").lower() not in ("", "sc"):
        raise ConfigError(
            "zendesk_subdomain",
            "Enter just the subdomain (acme for acme.zendesk.com); the address can end "
            "at most in /sc.",
        )
    if not sep and not slash and "." not in host:
        return host
    lowered = host.lower().removesuffix(".")
    if not lowered.endswith(_ZENDESK_DOMAIN):
        raise ConfigError(
            "zendesk_subdomain",
            "That is not a zendesk.com address; enter just your Zendesk subdomain (acme "
            "for acme.zendesk.com), or choose Custom URL for another host.",
        )
    return host[: len(lowered) - len(_ZENDESK_DOMAIN)]


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
