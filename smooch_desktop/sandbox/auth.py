"""Authentication of API calls: Basic ``keyId:secret`` and HS256 JWTs with ``kid``.

Rules (smooch-api.md §2), every failure an HTTP 401 with the v1 envelope:

* no ``Authorization`` header, or a scheme other than Basic/Bearer, or a Basic header that
  does not decode → ``unauthorized`` "Authorization is required" (the documented sample);
* Basic with an unknown key id or a wrong secret → ``unauthorized`` "Invalid key id or
  secret" (wording inferred);
* JWT without ``kid`` → ``invalid_auth`` "Invalid JWT header. Missing key id (kid)"
  (observed wording); unsigned (``alg: none``), non-HS256, unknown ``kid``, bad
  signature, expired ``exp`` → ``invalid_auth`` with a specific description (inferred
  wordings in the same "Invalid JWT header./body." style);
* ``scope: "account"`` signed with an app key → ``invalid_auth`` "Invalid JWT body. Cannot
  use account scope with app secret key" (observed wording); a missing or any other
  scope → ``invalid_auth``.

Only app keys exist in the sandbox (no account/service keys), so ``scope`` must be
``app``. No ``exp``/``iat`` is required (none is documented); if ``exp``/``nbf`` are present
PyJWT enforces them.

The secret or token never leaves this module: the log only records the scheme
(:func:`auth_kind`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from smooch_desktop.sandbox.errors import ErrorReply

#: ``key_id -> (app_id, secret)`` or None for an unknown key.
KeyLookup = Callable[[str], "tuple[str, str] | None"]

AUTH_REQUIRED = "Authorization is required"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the auth scheme used and the app key (hence the app) behind it."""

    kind: str  # "basic" | "jwt"
    key_id: str
    app_id: str


def auth_kind(header: str | None) -> str:
    """``basic``, ``jwt`` or ``none`` — what the request log may say about credentials."""
    if not header:
        return "none"
    scheme = header.strip().split(" ", 1)[0].lower()
    if scheme == "basic":
        return "basic"
    if scheme == "bearer":
        return "jwt"
    return "none"


def _unauthorized(description: str = AUTH_REQUIRED) -> ErrorReply:
    return ErrorReply(401, "unauthorized", description)


def _invalid(description: str) -> ErrorReply:
    return ErrorReply(401, "invalid_auth", description)


def authenticate(header: str | None, lookup: KeyLookup) -> Principal:
    """Check an ``Authorization`` header value; return the principal or raise ErrorReply(401)."""
    if not header or not header.strip():
        raise _unauthorized()
    parts = header.strip().split(None, 1)
    scheme = parts[0].lower()
    credentials = parts[1].strip() if len(parts) > 1 else ""
    if scheme == "basic":
        return _basic(credentials, lookup)
    if scheme == "bearer":
        return _bearer(credentials, lookup)
    raise _unauthorized()


def _basic(credentials: str, lookup: KeyLookup) -> Principal:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _unauthorized() from None
    key_id, sep, secret = decoded.partition(":")
    if not sep or not key_id:
        raise _unauthorized()
    found = lookup(key_id)
    # compare_digest even for unknown keys keeps timing independent of key existence
    expected = found[1] if found else "\x00" * max(len(secret), 1)
    if not hmac.compare_digest(expected.encode("utf-8"), secret.encode("utf-8")) or not found:
        raise _unauthorized("Invalid key id or secret")
    return Principal("basic", key_id, found[0])


def _bearer(token: str, lookup: KeyLookup) -> Principal:
    if not token:
        raise _invalid("Invalid JWT. The token is empty")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _invalid("Invalid JWT. The token could not be decoded") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise _invalid("Invalid JWT header. Unsigned tokens are not accepted")
    if alg != "HS256":
        raise _invalid(f"Invalid JWT header. Unsupported algorithm {alg}, must be HS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _invalid("Invalid JWT header. Missing key id (kid)")
    found = lookup(kid)
    if found is None:
        raise _invalid("Invalid JWT header. Unknown key id (kid)")
    app_id, secret = found
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        raise _invalid("Invalid JWT signature") from None
    except jwt.ExpiredSignatureError:
        raise _invalid("Invalid JWT body. The token has expired") from None
    except jwt.ImmatureSignatureError:
        raise _invalid("Invalid JWT body. The token is not yet valid") from None
    except jwt.PyJWTError:
        raise _invalid("Invalid JWT. The token could not be verified") from None
    scope = payload.get("scope")
    if scope is None:
        raise _invalid("Invalid JWT body. Missing scope")
    if scope == "account":
        raise _invalid("Invalid JWT body. Cannot use account scope with app secret key")
    if scope != "app":
        raise _invalid(f"Invalid JWT body. Invalid scope {scope!r} for an app key")
    return Principal("jwt", kid, app_id)
