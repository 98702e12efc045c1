"""API credentials and the Authorization header they produce.

Basic auth (key id + secret) and HS256 JWTs with the key id in the ``kid`` header and
``scope: app`` in the payload (smooch-api.md §2). The secret never appears in ``repr``.
"""

from __future__ import annotations

import base64
import warnings
from dataclasses import dataclass, field
from enum import StrEnum


class AuthMethod(StrEnum):
    BASIC = "basic"
    JWT = "jwt"


@dataclass(frozen=True)
class Credentials:
    """An API key. ``repr``/``str`` mask the secret so it can't leak into logs."""

    key_id: str
    secret: str = field(repr=False)
    method: AuthMethod = AuthMethod.BASIC
    scope: str = "app"

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", AuthMethod(self.method))

    def __repr__(self) -> str:
        return f"Credentials(key_id={self.key_id!r}, secret='***', method={self.method.value!r})"

    __str__ = __repr__

    def authorization_header(self) -> str:
        """The value of the ``Authorization`` header for this key."""
        if self.method is AuthMethod.BASIC:
            raw = f"{self.key_id}:{self.secret}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return "Bearer " + make_jwt(self.key_id, self.secret, scope=self.scope)


def make_jwt(key_id: str, secret: str, *, scope: str = "app") -> str:
    """An HS256 JWT signed with ``secret``, ``kid`` = key id, payload ``{"scope": scope}``."""
    import jwt  # deferred: PyJWT pulls in cryptography, ~50 ms of start-up
    from jwt.warnings import InsecureKeyLengthWarning

    with warnings.catch_warnings():
        # The secret's length is chosen by Smooch, not by us; warning the user is pointless.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode({"scope": scope}, secret, algorithm="HS256", headers={"kid": key_id})
