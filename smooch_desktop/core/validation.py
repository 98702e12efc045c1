"""Checks for everything the user types into the app.

Every ``clean_*`` function returns the value the rest of the app should use, or raises
:class:`ValidationError` whose ``field`` names the input and whose ``message`` is one
sentence the UI shows next to that input. Catching problems here, before anything is
queued or sent, means the server never has to reject what the user could have fixed
while typing, and nothing malformed ever reaches the outbox, a URL path or the keychain.

Rules shared by all checks:

* ``None`` is treated like an empty string, so a UI can pass an unset value straight in.
* Lengths are counted in Unicode code points (what Python's ``len`` returns), so an
  emoji counts as one character, as the user would count it.
* Control characters (Unicode category ``Cc``: C0, DEL and C1) and lone surrogates are
  never accepted in single-line fields: they are invisible, cannot be typed on purpose
  and (surrogates) cannot even be encoded as UTF-8 for the request body.
* Messages about the API secret never quote the secret or any part of it.
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from typing import Final, Literal, NamedTuple

Field = Literal[
    "user_id",
    "sender_name",
    "sender_email",
    "avatar_url",
    "text",
    "app_id",
    "key_id",
    "secret",
    "profile_name",
]

#: Longest message text accepted; longer text is refused rather than split or cut.
TEXT_LIMIT: Final = 4096
#: From this length on the composer shows a "characters left" counter.
TEXT_WARN_AT: Final = 3800

USER_ID_LIMIT: Final = 256
#: The v2 profile limit for names; v1.1 documents none, so the stricter one is used.
SENDER_NAME_LIMIT: Final = 128
#: RFC 5321 path limit; also the largest address mail systems accept.
EMAIL_LIMIT: Final = 254
EMAIL_LOCAL_LIMIT: Final = 64
AVATAR_URL_LIMIT: Final = 2048
CREDENTIAL_ID_LIMIT: Final = 128
#: Smooch secrets are under 100 characters; 1024 leaves room for any JWT secret.
SECRET_LIMIT: Final = 1024
PROFILE_NAME_LIMIT: Final = 64

_ZERO_WIDTH_JOINER: Final = "\u200d"


class ValidationError(ValueError):
    """A user input cannot be used as typed.

    ``field`` names the input (one of :data:`Field`), so the UI can put ``message`` next
    to the right widget; ``message`` is a complete sentence meant for the user.
    """

    def __init__(self, field: Field, message: str) -> None:
        super().__init__(message)
        self.field: Field = field
        self.message = message

    def __repr__(self) -> str:
        return f"ValidationError(field={self.field!r}, message={self.message!r})"


class CleanText(NamedTuple):
    """Message text ready to send.

    ``removed_control_chars`` counts the invisible characters that were dropped so the
    UI can tell the user ("2 invisible control characters were removed") instead of
    silently sending something different from what was pasted.
    """

    text: str
    removed_control_chars: int


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def _is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def _first_bad_char(value: str, *, allow_format: bool = True) -> tuple[str, str] | None:
    """Return ``(kind, char)`` for the first character a single-line field must not hold.

    ``kind`` is "control", "invalid" (lone surrogate) or "format" (an invisible
    formatting character such as a zero-width space, only when ``allow_format`` is
    false; the zero-width joiner stays allowed because emoji sequences need it).
    """
    for char in value:
        if _is_control(char):
            return "control", char
        if _is_surrogate(char):
            return "invalid", char
        if not allow_format and unicodedata.category(char) == "Cf" and char != _ZERO_WIDTH_JOINER:
            return "format", char
    return None


def _reject_bad_chars(field: Field, noun: str, value: str, *, allow_format: bool = True) -> None:
    found = _first_bad_char(value, allow_format=allow_format)
    if found is None:
        return
    kind, char = found
    if kind == "control":
        raise ValidationError(
            field, f"{noun} can't contain control characters (found {_code_point(char)})."
        )
    if kind == "format":
        raise ValidationError(
            field,
            f"{noun} can't contain invisible formatting characters "
            f"(found {_code_point(char)}); it was probably pasted along with the text.",
        )
    raise ValidationError(
        field, f"{noun} contains a broken character ({_code_point(char)}); type it again."
    )


def _check_length(field: Field, noun: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValidationError(
            field,
            f"{noun} can be at most {limit:,} characters long (this one has {len(value):,}).",
        )


def _trimmed(raw: str | None) -> str:
    return "" if raw is None else raw.strip()


def clean_user_id(raw: str | None) -> str:
    """Return the user ID (trimmed) of the person being replied to.

    The ID is kept literally, including ``/``, ``?``, ``%`` or ``..`` inside it: the API
    layer percent-encodes it as one path segment. Only an ID that is exactly ``.`` or
    ``..`` is refused, because clients and proxies resolve those as path steps even when
    they are encoded, so the request would go to a different resource.
    """
    value = _trimmed(raw)
    if not value:
        raise ValidationError("user_id", "Enter the ID of the user you are replying to.")
    _check_length("user_id", "A user ID", value, USER_ID_LIMIT)
    _reject_bad_chars("user_id", "A user ID", value, allow_format=False)
    if value in {".", ".."}:
        raise ValidationError(
            "user_id", f'A user ID can\'t be just "{value}"; check that the ID is complete.'
        )
    return value


def clean_sender_name(raw: str | None) -> str:
    """Return the optional display name the user will see next to the reply ("" = none)."""
    value = _trimmed(raw)
    _check_length("sender_name", "A sender name", value, SENDER_NAME_LIMIT)
    _reject_bad_chars("sender_name", "A sender name", value)
    return value


def _email_problem(value: str) -> str | None:
    """Say what is wrong with a trimmed, non-empty email address, or return None.

    This is deliberately pragmatic, not RFC 5322: it catches the mistakes people make
    (missing @, missing domain, spaces, a trailing dot) and accepts international
    addresses, because the address is only used for the avatar and the author line.
    """
    if len(value) > EMAIL_LIMIT:
        return (
            f"An email address can be at most {EMAIL_LIMIT} characters long "
            f"(this one has {len(value):,})."
        )
    found = _first_bad_char(value, allow_format=False)
    if found is not None:
        return (
            f"An email address can't contain invisible characters (found {_code_point(found[1])})."
        )
    if any(char.isspace() for char in value):
        return "An email address can't contain spaces."
    at_count = value.count("@")
    if at_count == 0:
        return "An email address needs an @, as in name@example.com."
    if at_count > 1:
        return f"An email address has exactly one @ (this one has {at_count})."
    local, domain = value.split("@")
    if not local:
        return "Add the part before the @, as in name@example.com."
    if len(local) > EMAIL_LOCAL_LIMIT:
        return f"The part before the @ can be at most {EMAIL_LOCAL_LIMIT} characters long."
    if not domain:
        return "Add the domain after the @, as in name@example.com."
    if "." not in domain:
        return f'The domain "{domain}" needs a dot, as in example.com.'
    if domain.startswith(".") or domain.endswith("."):
        return f'The domain "{domain}" can\'t start or end with a dot.'
    if ".." in domain:
        return f'The domain "{domain}" has two dots in a row.'
    return None


def clean_email(raw: str | None) -> str:
    """Return the optional sender email (trimmed; "" = none).

    Case is kept as typed (the Gravatar module lowercases for hashing) so the user sees
    their own spelling in the sent message.
    """
    value = _trimmed(raw)
    if not value:
        return ""
    problem = _email_problem(value)
    if problem is not None:
        raise ValidationError("sender_email", problem)
    return value


def is_plausible_email(raw: str | None) -> bool:
    """True if ``raw`` is a non-empty address :func:`clean_email` would accept.

    Used on every keystroke to decide whether an avatar lookup is worth a request, so
    it never raises and treats an empty field as "not an email".
    """
    value = _trimmed(raw)
    return bool(value) and _email_problem(value) is None


def http_url_problem(url: str, noun: str) -> str | None:
    """Say why ``url`` is not an absolute http(s) URL with a host, or return None.

    ``noun`` starts the sentence ("An avatar URL", "A link button's URL"). Shared by the
    avatar field and the shorthand parser so both refuse ``javascript:``, ``data:`` and
    ``file:`` the same way: such URLs would run script or read files on the end user's
    device instead of showing a picture or a page.
    """
    if any(char.isspace() for char in url) or _first_bad_char(url) is not None:
        return f"{noun} can't contain spaces or invisible characters."
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return f"{noun} is not a valid web address."
    scheme = parts.scheme.lower()
    if not scheme:
        return f"{noun} must start with https:// (or http://)."
    if scheme not in {"http", "https"}:
        return f'{noun} must use https or http; "{scheme}:" addresses are not allowed.'
    if not parts.hostname:
        return f"{noun} has no host name after {scheme}://."
    if parts.username is not None or parts.password is not None:
        return f"{noun} can't contain a user name or password; the end user would see it."
    return None


def clean_avatar_url(raw: str | None) -> str:
    """Return the optional avatar URL that overrides the Gravatar ("" = none)."""
    value = _trimmed(raw)
    if not value:
        return ""
    _check_length("avatar_url", "An avatar URL", value, AVATAR_URL_LIMIT)
    problem = http_url_problem(value, "An avatar URL")
    if problem is not None:
        raise ValidationError("avatar_url", problem)
    return value


def _strip_blank_edges(text: str) -> str:
    """Drop blank lines before the first line of text and all trailing whitespace.

    Leading spaces on the first line are kept: they may be deliberate indentation
    (a pasted code block); trailing whitespace and empty lines never are.
    """
    text = text.rstrip()
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def clean_message_text(raw: str | None) -> CleanText:
    """Return the message text to send, with invisible junk removed and counted.

    Line endings become ``\\n``; NUL, other C0/C1 control characters and lone surrogates
    are removed (tab and newline stay); leading blank lines and trailing whitespace are
    dropped. The limit is checked after cleaning, on what would really be sent.
    """
    source = "" if raw is None else raw.replace("\r\n", "\n").replace("\r", "\n")
    kept: list[str] = []
    removed = 0
    for char in source:
        if char in "\n\t":
            kept.append(char)
        elif _is_control(char) or _is_surrogate(char):
            removed += 1
        else:
            kept.append(char)
    text = _strip_blank_edges("".join(kept))
    if not text.strip():
        raise ValidationError("text", "Type a message first.")
    if len(text) > TEXT_LIMIT:
        excess = len(text) - TEXT_LIMIT
        raise ValidationError(
            "text",
            f"This message is {len(text):,} characters long; the limit is {TEXT_LIMIT:,}. "
            f"Remove {excess:,} character{'s' if excess != 1 else ''}.",
        )
    return CleanText(text=text, removed_control_chars=removed)


def _clean_credential_id(field: Field, noun: str, label: str, raw: str | None) -> str:
    value = _trimmed(raw)
    if not value:
        raise ValidationError(field, f"Enter the {label} from the Smooch dashboard.")
    _check_length(field, noun, value, CREDENTIAL_ID_LIMIT)
    for char in value:
        if char.isspace():
            raise ValidationError(field, f"{noun} can't contain spaces.")
        if not ("!" <= char <= "~"):
            raise ValidationError(
                field,
                f"{noun} only contains plain ASCII letters, digits and punctuation "
                f"(found {_code_point(char)}); copy it again from the dashboard.",
            )
    return value


def clean_app_id(raw: str | None) -> str:
    """Return the Smooch app ID; surrounding whitespace from a paste is trimmed."""
    return _clean_credential_id("app_id", "An app ID", "app ID", raw)


def clean_key_id(raw: str | None) -> str:
    """Return the API key ID (``app_…`` or ``act_…``); surrounding whitespace is trimmed."""
    return _clean_credential_id("key_id", "A key ID", "key ID", raw)


def clean_secret(raw: str | None) -> str:
    """Return the API key secret exactly as given, or explain why it can't be right.

    Unlike the IDs, surrounding whitespace is reported instead of trimmed: a secret is
    compared byte for byte, and the user should know their copy was not clean rather
    than have the app guess. No message ever contains the secret or any part of it.
    """
    value = "" if raw is None else raw
    if not value.strip():
        raise ValidationError("secret", "Enter the secret of the API key.")
    if value != value.strip():
        raise ValidationError(
            "secret",
            "The secret starts or ends with a space or line break; "
            "remove it (secrets never contain one).",
        )
    if len(value) > SECRET_LIMIT:
        raise ValidationError(
            "secret", f"The secret is longer than {SECRET_LIMIT:,} characters; copy it again."
        )
    for char in value:
        if _is_control(char) or _is_surrogate(char) or char.isspace():
            raise ValidationError(
                "secret",
                "The secret contains a space or an invisible character; copy it again.",
            )
        if not ("!" <= char <= "~"):
            raise ValidationError(
                "secret",
                "The secret contains a character that is not plain ASCII (for example "
                "an ellipsis from a shortened copy); copy the whole secret again.",
            )
    return value


def clean_profile_name(raw: str | None) -> str:
    """Return the name of a connection profile (shown in menus, used in keychain entries)."""
    value = _trimmed(raw)
    if not value:
        raise ValidationError("profile_name", "Give this connection a name.")
    _check_length("profile_name", "A connection name", value, PROFILE_NAME_LIMIT)
    _reject_bad_chars("profile_name", "A connection name", value, allow_format=False)
    return value
