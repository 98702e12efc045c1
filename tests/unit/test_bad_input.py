"""Bad input, everywhere: one test per row of docs/bad-input.md that needs no server.

Each row is an input the app takes (user ID, sender name, email, avatar URL, message
text, base URL, app ID, key ID, secret, connection name, shorthand, settings file,
command-line flags, environment, data files) and a bad value for it. The test checks the
clear message the app shows and, where it matters, that nothing is lost or leaked. Where
the behaviour is in a widget, the pure function that makes the message is what is
tested; the table names the widget.

Rows where the app is wrong today are ``xfail(strict=True)`` with the file, function and
fix in the reason, so they turn red (XPASS) once fixed and the marker can go.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from smooch_desktop import app as app_module
from smooch_desktop.api.auth import AuthMethod
from smooch_desktop.api.client import encode_segment
from smooch_desktop.api.errors import ConfigError
from smooch_desktop.api.hosts import (
    is_loopback_host,
    validate_base_url,
    validate_zendesk_subdomain,
)
from smooch_desktop.core import validation as v
from smooch_desktop.core.drafts import DraftStore
from smooch_desktop.core.outbox import Outbox, OutboxTooNew
from smooch_desktop.core.shorthand import parse_shorthand
from smooch_desktop.core.validation import ValidationError

HUNDRED_KB = "x" * (100 * 1024)
N_100KB = f"{100 * 1024:,}"  # "102,400", as the messages write it
SECRET = "Zk3-q9_SECRET-value-7Hx"


def problem(func: Callable[[Any], object], raw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        func(raw)
    return info.value


def one_sentence(text: str) -> None:
    assert text and "\n" not in text and text[0].isupper() and text.endswith("."), text
    assert "Traceback" not in text and len(text) < 300, text


# --- user ID (UserPanel: userIdEdit, error label under it) ------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the ID of the user you are replying to."),
        ("   \t ", "Enter the ID of the user you are replying to."),
        (HUNDRED_KB, f"A user ID can be at most 256 characters long (this one has {N_100KB})."),
        ("abc\x00def", "A user ID can't contain control characters (found U+0000)."),
        ("abc\x1bdef", "A user ID can't contain control characters (found U+001B)."),
        ("abc\u200bdef", "A user ID can't contain invisible formatting characters (found U+200B)"),
        ("..", 'A user ID can\'t be just ".."; check that the ID is complete.'),
        (" . ", 'A user ID can\'t be just "."; check that the ID is complete.'),
        ("ab\ud800", "A user ID contains a broken character (U+D800); type it again."),
    ],
)
def test_user_id_bad_values(raw: str, message: str) -> None:
    err = problem(v.clean_user_id, raw)
    assert err.field == "user_id"
    assert err.message.startswith(message)
    one_sentence(err.message.split("; it was")[0] + ".")


@pytest.mark.parametrize("raw", ["a/../b", "../../admin", "a?b#c", "%2e%2e", "<b>vip</b>"])
def test_path_like_user_id_is_kept_literally_and_encoded_as_one_segment(raw: str) -> None:
    assert v.clean_user_id(f"  {raw}\n") == raw
    segment = encode_segment(raw)
    assert "/" not in segment and "?" not in segment and "#" not in segment


def test_dot_only_user_id_is_refused_by_the_api_layer_too() -> None:
    with pytest.raises(ConfigError) as info:
        encode_segment("...")
    assert info.value.field == "user_id"
    one_sentence(info.value.message)


# --- sender name, email, avatar URL (SenderPanel: senderName / senderEmail / avatarOverride) ---


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x" * 129, "A sender name can be at most 128 characters long (this one has 129)."),
        (HUNDRED_KB, f"A sender name can be at most 128 characters long (this one has {N_100KB})."),
        ("Ann\x00", "A sender name can't contain control characters (found U+0000)."),
        ("Ann\nSupport", "A sender name can't contain control characters (found U+000A)."),
        ("Ann\x07", "A sender name can't contain control characters (found U+0007)."),
        ("Ann\x9b", "A sender name can't contain control characters (found U+009B)."),
    ],
)
def test_sender_name_bad_values(raw: str, message: str) -> None:
    err = problem(v.clean_sender_name, raw)
    assert (err.field, err.message) == ("sender_name", message)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_sender_name_empty_means_none(raw: str | None) -> None:
    assert v.clean_sender_name(raw) == ""


def test_sender_name_unicode_is_kept() -> None:
    assert v.clean_sender_name("  فريق الدعم 🛟  ") == "فريق الدعم 🛟"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("alice", "An email address needs an @, as in name@example.com."),
        ("alice@", "Add the domain after the @, as in name@example.com."),
        ("@example.com", "Add the part before the @, as in name@example.com."),
        ("alice@example", 'The domain "example" needs a dot, as in example.com.'),
        ("a@@example.com", "An email address has exactly one @ (this one has 2)."),
        ("al ice@example.com", "An email address can't contain spaces."),
        ("alice@example..com", 'The domain "example..com" has two dots in a row.'),
        ("alice\x00@example.com", "An email address can't contain invisible characters"),
        (
            HUNDRED_KB + "@example.com",
            f"An email address can be at most 254 characters long (this one has {102_412:,}).",
        ),
    ],
)
def test_email_bad_values(raw: str, message: str) -> None:
    err = problem(v.clean_email, raw)
    assert err.field == "sender_email" and err.message.startswith(message)
    assert v.is_plausible_email(raw) is False  # no avatar request for it either


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_email_empty_means_none(raw: str | None) -> None:
    assert v.clean_email(raw) == "" and v.is_plausible_email(raw) is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("javascript:alert(1)", '"javascript:" addresses are not allowed.'),
        ("JavaScript:alert(document.cookie)", '"javascript:" addresses are not allowed.'),
        ("data:image/png;base64,iVBORw0KGgo=", '"data:" addresses are not allowed.'),
        ("file:///etc/passwd", '"file:" addresses are not allowed.'),
        ("ftp://example.com/me.png", '"ftp:" addresses are not allowed.'),
        ("https://", "An avatar URL has no host name after https://."),
        ("http:///me.png", "An avatar URL has no host name after http://."),
        ("//example.com/me.png", "An avatar URL must start with https:// (or http://)."),
        ("example.com/me.png", "An avatar URL must start with https:// (or http://)."),
        ("https://u:pw@example.com/me.png", "can't contain a user name or password"),
        ("https://example.com/my face.png", "can't contain spaces or invisible characters."),
        ("java\tscript:alert(1)", "can't contain spaces or invisible characters."),
        ("https://example.com:99999/a.png", "An avatar URL is not a valid web address."),
        ("https://example.com/" + HUNDRED_KB, "An avatar URL can be at most 2,048 characters"),
    ],
)
def test_avatar_url_bad_values(raw: str, message: str) -> None:
    err = problem(v.clean_avatar_url, raw)
    assert err.field == "avatar_url" and message in err.message
    assert "pw" not in err.message.replace("password", "")
    one_sentence(err.message)


# --- message text (Composer: composerEdit; error and note labels under it) --------------------


@pytest.mark.parametrize("raw", [None, "", "   ", "\n\n\t \r\n", "\x00\x00", "\u0007 \x1b"])
def test_text_empty_or_blank(raw: str | None) -> None:
    err = problem(v.clean_message_text, raw)
    assert (err.field, err.message) == ("text", "Type a message first.")


def test_text_100_kb_says_by_how_much() -> None:
    err = problem(v.clean_message_text, HUNDRED_KB)
    assert err.message == (
        f"This message is {N_100KB} characters long; the limit is 4,096. "
        f"Remove {100 * 1024 - 4096:,} characters."
    )


def test_text_one_over_the_limit_is_singular() -> None:
    assert problem(v.clean_message_text, "y" * 4097).message.endswith("Remove 1 character.")
    assert v.clean_message_text("y" * 4096).text == "y" * 4096


def test_text_nul_and_control_characters_are_removed_and_counted() -> None:
    clean = v.clean_message_text("Hel\x00lo\x07 wo\x1brld\x7f\x85!")
    assert clean.text == "Hello world!"
    assert clean.removed_control_chars == 5


def test_text_crlf_and_cr_become_lf_and_tabs_stay() -> None:
    clean = v.clean_message_text("line 1\r\nline 2\rline\t3\r\n")
    assert clean.text == "line 1\nline 2\nline\t3"
    assert clean.removed_control_chars == 0


def test_text_emoji_rtl_and_bidi_marks_are_kept() -> None:
    raw = "مرحبا \u200f\u05e9\u05dc\u05d5\u05dd\u200e 👨\u200d👩\u200d👧 👍🏽 🇫🇷"
    clean = v.clean_message_text(raw)
    assert clean.text == raw and clean.removed_control_chars == 0


def test_text_lone_surrogate_is_removed_and_counted() -> None:
    clean = v.clean_message_text("broken \ud83d paste")
    assert clean.text == "broken  paste" and clean.removed_control_chars == 1


# --- shorthand in the message text (parse_shorthand; see the table about the composer) --------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Click %[here](javascript:alert(1))", '"javascript:" addresses are not allowed.'),
        ("%[Open](JAVASCRIPT:void(0))", '"javascript:" addresses are not allowed.'),
        ("%[Doc](file:///C:/secret.txt)", '"file:" addresses are not allowed.'),
        ("%[Get](ftp://example.com/a)", '"ftp:" addresses are not allowed.'),
        ("%[Go](https://)", "has no host name after https://."),
        ("%[Go](//example.com)", "must start with https:// (or http://)."),
        ("![](data:image/png;base64,AAAA)", 'The image address must use https or http; "data:"'),
        ("![](file:///etc/passwd)", 'The image address must use https or http; "file:"'),
        ("%[](https://example.com)", "A button needs a label"),
        ("%[Yes](reply:)", 'The "Yes" reply button needs a payload after "reply:".'),
        ("$[Buy](49,99)", "with a dot for cents"),
        ("$[Buy](free)", "must be a number like 25.00"),
    ],
)
def test_shorthand_problems_are_named(text: str, words: str) -> None:
    parsed = parse_shorthand(text)
    assert parsed.problems, parsed
    assert any(words in p for p in parsed.problems), parsed.problems
    assert all("javascript:" not in str(a.get("uri", "")).lower() for a in parsed.actions)
    assert parsed.media_url is None or parsed.media_url.startswith(("http://", "https://"))


def test_shorthand_link_shown_literally_is_fine() -> None:
    assert parse_shorthand("see javascript:alert(1) (not a button)").problems == []


# --- base URL (ConnectionDialog: Base URL field; --base-url flag) ------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "Enter the API base URL, e.g. https://api.smooch.io."),
        ("   ", "Enter the API base URL, e.g. https://api.smooch.io."),
        ("http://api.smooch.io", "Plain http:// is only allowed for this computer (localhost)"),
        ("http://10.0.0.5:8080", "Plain http:// is only allowed for this computer (localhost)"),
        ("http://127.1:8080", "Plain http:// is only allowed for this computer (localhost)"),
        ("http://0.0.0.0:8080", "Plain http:// is only allowed for this computer (localhost)"),
        ("http://[::ffff:10.0.0.5]", "Plain http:// is only allowed for this computer"),
        ("http://localhost.example.com", "Plain http:// is only allowed for this computer"),
        (
            "http://dev.localhost:8080",
            "Plain http:// is only allowed for localhost, 127.0.0.1 or [::1]; “dev.localhost” "
            "is a name that may not be this computer, so the API key could travel in clear "
            "text. Use http://localhost or https://.",
        ),
        ("http://a.b.LOCALHOST./", "“a.b.localhost.” is a name that may not be this computer"),
        ("https://", "The base URL has no host name."),
        ("https:///v1", "The base URL has no host name."),
        ("api.smooch.io", "The base URL must start with https:// (scheme given: none)."),
        ("javascript:alert(1)", "must start with https:// (scheme given: javascript)."),
        ("file:///etc", "must start with https:// (scheme given: file)."),
        ("https://api.smooch.io/?region=eu", "can't have a query (?…) or fragment (#…)."),
        ("https://api.smooch.io/#x", "can't have a query (?…) or fragment (#…)."),
        (f"https://app_1:{SECRET}@api.smooch.io", "Put credentials in the key fields"),
        ("https://api smooch.io", "can't contain spaces or control characters."),
        ("https://api.smooch.io/\x00", "can't contain spaces or control characters."),
        ("https://api.smooch.io:99999", "The base URL is not valid"),
    ],
)
def test_base_url_bad_values(raw: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_base_url(raw)
    assert info.value.field == "base_url" and words in info.value.message
    assert SECRET not in info.value.message


LONG_HOSTS = ["a" * 64 + ".example.com", HUNDRED_KB]


@pytest.mark.parametrize("host", LONG_HOSTS, ids=["64-char-label", "100kb"])
def test_base_url_with_an_impossible_host_name_is_refused(host: str) -> None:
    with pytest.raises(ConfigError):
        validate_base_url(f"https://{host}")


@pytest.mark.parametrize("host", LONG_HOSTS, ids=["64-char-label", "100kb"])
def test_client_with_an_impossible_host_name_raises_a_typed_error(host: str) -> None:
    from smooch_desktop.api.auth import Credentials
    from smooch_desktop.api.client import SmoochClient
    from smooch_desktop.api.errors import ApiError

    with pytest.raises((ApiError, ConfigError)) as info:
        client = SmoochClient(f"https://{host}", "5e1f", Credentials("app_1", SECRET))
        try:
            client.get_app_user("u")
        finally:
            client.close()
    assert len(str(info.value)) < 300


def test_an_impossible_host_is_refused_before_any_message_is_queued() -> None:
    """The profile can't be used at all, so no message is ever queued against it."""
    from smooch_desktop.api.auth import Credentials
    from smooch_desktop.api.v1 import V1Api

    with pytest.raises(ConfigError) as info:
        V1Api.connect(f"https://{LONG_HOSTS[0]}", "5e1f", Credentials("app_1", SECRET))
    assert info.value.field == "base_url" and "too long" in info.value.message


# --- Zendesk subdomain (api.hosts; connection dialog, --zendesk-subdomain) -------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme", "acme"),
        ("  acme\n", "acme"),
        ("Acme-Support2", "acme-support2"),  # host names ignore case
        ("acme.zendesk.com", "acme"),
        ("ACME.Zendesk.COM.", "acme"),
        ("https://acme.zendesk.com/sc", "acme"),
        ("https://acme.zendesk.com/sc/", "acme"),
        ("http://acme.zendesk.com/", "acme"),  # only the label is kept; https is always used
        ("acme.zendesk.com/sc", "acme"),
        ("a", "a"),
        ("a" * 63, "a" * 63),
        ("xn--bcher-kva", "xn--bcher-kva"),  # an IDN label in its ASCII form
    ],
)
def test_zendesk_subdomain_good_values_are_reduced_to_the_label(raw: str, expected: str) -> None:
    assert validate_zendesk_subdomain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter your Zendesk subdomain: acme for acme.zendesk.com."),
        ("   ", "Enter your Zendesk subdomain: acme for acme.zendesk.com."),
        ("a" * 64, "A Zendesk subdomain can be at most 63 characters long (this one has 64)."),
        (
            HUNDRED_KB,
            f"A Zendesk subdomain can be at most 63 characters long (this one has {N_100KB}).",
        ),
        ("-acme", "A Zendesk subdomain can't start or end with a hyphen."),
        ("acme-", "A Zendesk subdomain can't start or end with a hyphen."),
        (
            "ac_me",
            "A Zendesk subdomain has only letters, digits and hyphens (found “_”); "
            "enter just the part before .zendesk.com.",
        ),
        ("ac me", "A Zendesk subdomain has only letters, digits and hyphens (found U+0020)"),
        ("ac\x00me", "(found U+0000)"),
        ("acmé", "(found “é”)"),
        ("eu.acme", "That is not a zendesk.com address"),
        (
            "a.b.zendesk.com",
            "A Zendesk subdomain is one name without dots: acme for acme.zendesk.com.",
        ),
        (".zendesk.com", "The address has no subdomain before .zendesk.com."),
        (
            "acme.zendesk.co",
            "That is not a zendesk.com address; enter just your Zendesk subdomain (acme for "
            "acme.zendesk.com), or choose Custom URL for another host.",
        ),
        ("https://api.smooch.io", "That is not a zendesk.com address"),
        ("https://acme.zendesk.com.evil.io/sc", "That is not a zendesk.com address"),
        ("acme.zendesk.com:8443", "That is not a zendesk.com address"),
        (
            f"https://app_1:{SECRET}@acme.zendesk.com/sc",
            "Put credentials in the key fields, not in the address.",
        ),
        (
            "https://acme.zendesk.com/sc/v2/apps",
            "Enter just the subdomain (acme for acme.zendesk.com); the address can end at "
            "most in /sc.",
        ),
        ("https://acme.zendesk.com/sc?x=1", "the address can end at most in /sc."),
        (
            "javascript://acme.zendesk.com",
            "Enter just the subdomain (acme for acme.zendesk.com), not an address starting "
            "with javascript://.",
        ),
    ],
)
def test_zendesk_subdomain_bad_values(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_zendesk_subdomain(raw)
    assert info.value.field == "zendesk_subdomain"
    assert message in info.value.message
    assert SECRET not in info.value.message
    one_sentence(info.value.message)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  https://api.smooch.io/  ", "https://api.smooch.io"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:9/sc/", "http://[::1]:9/sc"),
        ("http://LocalHost.:8080/", "http://localhost:8080"),
        ("http://127.45.0.9:1", "http://127.45.0.9:1"),
        ("http://[::ffff:127.0.0.1]:9", "http://[::ffff:127.0.0.1]:9"),
        ("https://dev.localhost", "https://dev.localhost"),
    ],
)
def test_base_url_good_values_are_normalised(raw: str, expected: str) -> None:
    assert validate_base_url(raw) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost.", False),  # validate_base_url writes it "localhost"
        ("dev.localhost", False),
        ("localhost.localdomain", False),
        ("127.1", False),
        ("0.0.0.0", False),
        ("::ffff:10.0.0.1", False),
        ("128.0.0.1", False),
    ],
)
def test_loopback_is_decided_by_spelling_alone(host: str, loopback: bool) -> None:
    """Runs as the user types (GUI thread): no name is ever resolved."""
    assert is_loopback_host(host) is loopback


# --- app ID, key ID, secret, connection name (ConnectionDialog fields) ------------------------


@pytest.mark.parametrize(
    ("func", "field", "noun", "label"),
    [
        (v.clean_app_id, "app_id", "An app ID", "app ID"),
        (v.clean_key_id, "key_id", "A key ID", "key ID"),
    ],
)
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the {label} from the Smooch dashboard."),
        ("  \t", "Enter the {label} from the Smooch dashboard."),
        ("5e1f 0a", "{noun} can't contain spaces."),
        (
            "5e1f\x00",
            "{noun} only contains plain ASCII letters, digits and punctuation (found U+0000)",
        ),
        (
            "5e1f\x7f",
            "{noun} only contains plain ASCII letters, digits and punctuation (found U+007F)",
        ),
        (
            "5e1f…",
            "{noun} only contains plain ASCII letters, digits and punctuation (found U+2026)",
        ),
        ("x" * 129, "{noun} can be at most 128 characters long (this one has 129)."),
    ],
)
def test_credential_ids_bad_values(
    func: Callable[[str], str], field: str, noun: str, label: str, raw: str, message: str
) -> None:
    err = problem(func, raw)
    assert err.field == field
    assert err.message.startswith(message.format(noun=noun, label=label))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "Enter the secret of the API key."),
        ("   ", "Enter the secret of the API key."),
        (f" {SECRET}", "starts or ends with a space or line break"),
        (f"{SECRET}\n", "starts or ends with a space or line break"),
        (f"{SECRET[:5]}\x00{SECRET[5:]}", "contains a space or an invisible character"),
        (f"{SECRET[:5]}\x1b{SECRET[5:]}", "contains a space or an invisible character"),
        (f"{SECRET[:5]} {SECRET[5:]}", "contains a space or an invisible character"),
        (f"{SECRET[:10]}…", "not plain ASCII (for example an ellipsis from a shortened copy)"),
        (f"{SECRET}é", "not plain ASCII"),
        (SECRET * 100, "longer than 1,024 characters"),
    ],
)
def test_secret_bad_values_never_quote_it(raw: str, words: str) -> None:
    err = problem(v.clean_secret, raw)
    assert err.field == "secret" and words in err.message
    for part in (SECRET, SECRET[:5], SECRET[5:], SECRET[-6:]):
        assert part not in err.message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Give this connection a name."),
        ("  ", "Give this connection a name."),
        ("n" * 65, "A connection name can be at most 64 characters long (this one has 65)."),
        ("Prod\x00", "A connection name can't contain control characters (found U+0000)."),
        ("Prod\ttest", "A connection name can't contain control characters (found U+0009)."),
        ("Prod\u2066x", "A connection name can't contain invisible formatting characters"),
    ],
)
def test_profile_name_bad_values(raw: str, message: str) -> None:
    err = problem(v.clean_profile_name, raw)
    assert err.field == "profile_name" and err.message.startswith(message)


# --- the settings file (AppSettings over QSettings) -------------------------------------------


def settings_file() -> Path:
    from smooch_desktop.ui.settings import settings_path

    path = settings_path()
    assert path is not None  # the autouse fixture points it at a temporary directory
    return path


def _read_everything(settings: Any) -> None:
    """Every getter the app calls at start-up; none may raise on a damaged file."""
    settings.profiles()
    settings.active_profile_name()
    settings.identities()
    settings.current_identity()
    settings.recent_users("Prod")
    settings.send_with_ctrl_enter()
    settings.bytes_value("window/geometry")


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff\xfe garbage \x80\x81\n[[[\n=\n\x00",
        pytest.param(
            b"[connection]\nprofiles=not json {{{\nactive=@Variant(\\0\\0\\0\\x7f\\0\\xff)\n",
            # Qt itself warns about the broken @Variant; the app just reads the default.
            marks=pytest.mark.qt_log_ignore("QVariant::load"),
        ),
        b"[connection]\nprofiles=@ByteArray(\\xff\\xfe)\n[sender]\ncurrent=12\n"
        b"identities=true\n[composer]\nctrlEnter=maybe\n",
        b"[recent]\n" + b"x" * 100_000 + b"=" + b"y" * 100_000 + b"\n",
        b"[connection]\nprofiles=\xc3\x28\xa0\xa1\n",
    ],
    ids=["binary", "non-json", "wrong-types", "100kb-key", "invalid-utf8"],
)
def test_damaged_settings_file_loads_defaults(content: bytes) -> None:
    from smooch_desktop.ui.settings import AppSettings

    path = settings_file()
    path.write_bytes(content)
    settings = AppSettings()
    _read_everything(settings)
    assert settings.profiles() == []
    assert settings.current_identity().label == ""
    assert settings.send_with_ctrl_enter() is False


def test_profiles_with_wrong_shapes_keep_only_usable_entries() -> None:
    from PySide6.QtCore import QSettings

    from smooch_desktop.ui.settings import AppSettings

    raw = QSettings(str(settings_file()), QSettings.Format.IniFormat)
    raw.setValue(
        "connection/profiles",
        '[1, "x", null, [], {"name": 5}, {"region": "eu"},'
        ' {"name": "ok", "app_id": 7, "bogus": "y", "region": "eu"}]',
    )
    raw.setValue("sender/identities", '{"label": "not a list"}')
    raw.setValue("recent/50726f64", '["alice", 5, null, "bob"]')
    raw.sync()
    settings = AppSettings()
    _read_everything(settings)
    [profile] = settings.profiles()
    assert (profile.name, profile.app_id, profile.region) == ("ok", "7", "eu")
    assert settings.identities() == []
    # Kept under "Prod"'s name before ids; now under the id a profile of that name gets.
    from smooch_desktop.core.profiles import legacy_profile_id

    assert settings.recent_users(legacy_profile_id("Prod")) == ["alice", "bob"]


def test_settings_path_that_is_a_directory_loads_defaults() -> None:
    from smooch_desktop.ui.settings import AppSettings

    settings_file().mkdir()
    _read_everything(AppSettings())
    assert AppSettings().profiles() == []


def test_settings_that_cannot_be_written_say_so() -> None:
    from smooch_desktop.core.profiles import Profile
    from smooch_desktop.ui.settings import AppSettings

    settings_file().mkdir()  # not writable as a file, even for root
    settings = AppSettings()
    settings.save_profiles([Profile(name="Prod", app_id="5e1f")])
    with pytest.raises(OSError):
        settings.sync()


# --- command-line flags (app.main / build_parser) ---------------------------------------------


def recorder(started: list[argparse.Namespace]) -> Callable[[argparse.Namespace], int]:
    """A stand-in for ``run_gui`` that only notes that the GUI would have started."""

    def run_gui(args: argparse.Namespace) -> int:
        started.append(args)
        return 0

    return run_gui


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "smooch_desktop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--sandbox-port", "abc"], "argument --sandbox-port: not a port number: 'abc'"),
        (
            ["--base-url", "http://api.smooch.io", "--app-id", "a", "--key-id", "k"],
            "--base-url: Plain http:// is only allowed for this computer (localhost); use "
            "https:// so the API key is not sent in clear text.",
        ),
        (
            ["--zendesk-subdomain", "acme.zendesk.co", "--app-id", "a", "--key-id", "k"],
            "--zendesk-subdomain: That is not a zendesk.com address; enter just your Zendesk "
            "subdomain (acme for acme.zendesk.com), or choose Custom URL for another host.",
        ),
    ],
)
def test_bad_flags_in_a_real_process(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"smooch-desktop: error: {message}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sandbox-port", "70000"], "argument --sandbox-port: port must be 0-65535, not 70000"),
        (["--sandbox-port", "-1"], "argument --sandbox-port: port must be 0-65535, not -1"),
        (["--sandbox-port", ""], "argument --sandbox-port: not a port number: ''"),
        (["--auth", "oauth"], "argument --auth: invalid choice: 'oauth'"),
        (["--profile"], "argument --profile: expected one argument"),
        (["--base-url", "https://api.smooch.io"], "--base-url, --app-id and --key-id go together"),
        (["--app-id", "5e1f", "--key-id", "k"], "--base-url, --app-id and --key-id go together"),
        (
            ["--sandbox", "--base-url", "https://x.io", "--app-id", "a", "--key-id", "k"],
            "--sandbox can't be combined with --base-url/--app-id/--key-id",
        ),
        (
            ["--base-url", "https://", "--app-id", "a", "--key-id", "k"],
            "--base-url: The base URL has no host name.",
        ),
        (
            ["--base-url", "javascript:alert(1)", "--app-id", "a", "--key-id", "k"],
            "--base-url: The base URL must start with https:// (scheme given: javascript).",
        ),
        (
            ["--base-url", f"https://k:{SECRET}@x.io", "--app-id", "a", "--key-id", "k"],
            "--base-url: Put credentials in the key fields, not in the URL.",
        ),
        (
            ["--base-url", "https://x.io/\x01", "--app-id", "a", "--key-id", "k"],
            "--base-url: The base URL can't contain spaces or control characters.",
        ),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[argparse.Namespace] = []
    monkeypatch.setattr(app_module, "run_gui", recorder(started))
    with pytest.raises(SystemExit) as info:
        app_module.main(args)
    assert info.value.code == 2 and started == []
    err = capsys.readouterr().err
    assert err.startswith("usage: smooch-desktop")
    assert err.strip().splitlines()[-1].startswith(f"smooch-desktop: error: {message}")
    assert SECRET not in err


ZD = ["--app-id", "5e1f", "--key-id", "app_5e1f"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-version", "v3"], "argument --api-version: invalid choice: 'v3'"),
        (
            ["--api-version", "v2"],
            "--api-version v2: API v2 comes in a later version of Smooch Desktop; choose v1.1.",
        ),
        (
            ["--profile", "Shop", "--api-version", "v2"],
            "--api-version v2: API v2 comes in a later version of Smooch Desktop; choose v1.1.",
        ),
        (["--zendesk-subdomain", "acme"], "--zendesk-subdomain, --app-id and --key-id go together"),
        (
            ["--zendesk-subdomain", "acme", "--base-url", "https://api.smooch.io", *ZD],
            "argument --base-url: not allowed with argument --zendesk-subdomain",
        ),
        (
            ["--sandbox", "--zendesk-subdomain", "acme", *ZD],
            "--sandbox can't be combined with --zendesk-subdomain",
        ),
        (
            ["--zendesk-subdomain", "ac_me", *ZD],
            "--zendesk-subdomain: A Zendesk subdomain has only letters, digits and hyphens "
            "(found “_”)",
        ),
        (["--zendesk-subdomain", "", *ZD], "--zendesk-subdomain: Enter your Zendesk subdomain"),
        (
            ["--zendesk-subdomain", "acme", *ZD],
            "--zendesk-subdomain: Zendesk-hosted accounts use API v2, which comes in a later "
            "version of Smooch Desktop.",
        ),
    ],
)
def test_version_and_zendesk_flags_before_v2_exits_2_naming_the_flag(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import v2_stand_in

    v2_stand_in.hide_v2(monkeypatch)
    started: list[argparse.Namespace] = []
    monkeypatch.setattr(app_module, "run_gui", recorder(started))
    with pytest.raises(SystemExit) as info:
        app_module.main(args)
    assert info.value.code == 2 and started == []
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"smooch-desktop: error: {message}")


def test_once_v2_exists_a_zendesk_host_takes_v2_and_refuses_v1_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import v2_stand_in

    v2_stand_in.offer_v2(monkeypatch)
    started: list[argparse.Namespace] = []
    monkeypatch.setattr(app_module, "run_gui", recorder(started))
    assert app_module.main(["--zendesk-subdomain", "https://Acme.zendesk.com/sc/", *ZD]) == 0
    assert started[0].zendesk_subdomain == "acme" and started[0].api_version is None
    assert app_module.main(["--api-version", "v2", "--profile", "Shop"]) == 0
    assert started[1].api_version == "v2"

    with pytest.raises(SystemExit) as info:
        app_module.main(["--zendesk-subdomain", "acme", "--api-version", "v1.1", *ZD])
    assert info.value.code == 2 and len(started) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "smooch-desktop: error: --zendesk-subdomain: A Zendesk host speaks API v2 only; choose v2."
    )


def test_api_version_v1_1_is_the_same_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[argparse.Namespace] = []
    monkeypatch.setattr(app_module, "run_gui", recorder(started))
    base = ["--base-url", "https://api.smooch.io", *ZD]
    assert app_module.main([*base, "--api-version", "v1.1"]) == 0
    assert app_module.main(base) == 0
    assert [a.api_version for a in started] == ["v1.1", None]
    assert [a.zendesk_subdomain for a in started] == [None, None]


def test_good_flags_reach_the_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[argparse.Namespace] = []
    monkeypatch.setattr(app_module, "run_gui", recorder(started))
    args = ["--base-url", "https://api.smooch.io/", "--app-id", "5e1f", "--key-id", "app_5e1f"]
    assert app_module.main(args) == 0
    assert started and started[0].app_id == "5e1f"


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--app-id", "5e1f 00"), ("--key-id", "app_\x01"), ("--key-id", "app_…"), ("--app-id", "  ")],
)
def test_bad_app_or_key_id_flag_exits_2(
    flag: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "run_gui", lambda ns: 0)
    args = {"--base-url": "https://api.smooch.io", "--app-id": "5e1f", "--key-id": "app_5e1f"}
    args[flag] = value
    with pytest.raises(SystemExit) as info:
        app_module.main([item for pair in args.items() for item in pair])
    assert info.value.code == 2


# --- environment: SMOOCH_KEY_SECRET (AppController, status bar + connection dialog) -----------


@pytest.mark.parametrize("value", [f"{SECRET}\n", f" {SECRET}", f"{SECRET[:8]}…"])
def test_bad_secret_in_the_environment_is_named(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smooch_desktop.ui.controller import AppController

    monkeypatch.setenv("SMOOCH_KEY_SECRET", value)
    args = argparse.Namespace(
        base_url="https://api.smooch.io",
        zendesk_subdomain=None,
        api_version=None,
        app_id="5e1f",
        key_id="app_5e1f",
        auth=None,
        profile=None,
        user_id=None,
        sandbox=False,
        sandbox_port=0,
    )
    stand_in = SimpleNamespace(
        args=args,
        sandbox=None,
        settings=None,
        _env_secret=AppController._env_secret,
        _env_secret_problem=AppController._env_secret_problem,
        _keychain_secret=lambda profile, key_id: None,
    )
    # A stand-in with only what _resolve_session reads, not a whole AppController.
    session, message = AppController._resolve_session(stand_in)  # type: ignore[arg-type]
    if session is not None:
        session.api.close()
    assert session is None and "SMOOCH_KEY_SECRET" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("stored", "method", "named"),
    [
        ({"region": "EU"}, None, "region “EU”"),  # hand-edited: not "eu"
        ({"region": "apac"}, AuthMethod.BASIC, "region “apac”"),  # a later version's
        ({"region": "eu", "auth": "JWT"}, None, "authentication method “JWT”"),
        ({"api_version": "V2"}, None, "API version “V2”"),  # hand-edited: not "v2"
    ],
)
def test_a_profile_with_an_unknown_region_or_auth_is_not_used_to_connect(
    stored: dict[str, str],
    method: AuthMethod | None,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading it as US/Basic would send the secret to a host (and in a form) the agent
    # never chose; the profile is refused and the connection dialog opens instead.
    from smooch_desktop.core.profiles import Profile
    from smooch_desktop.ui.controller import AppController

    monkeypatch.setenv("SMOOCH_KEY_SECRET", SECRET)
    profile = Profile.from_dict({"name": "Shop", "app_id": "5e1f", "key_id": "app_5e1f", **stored})
    assert profile is not None
    stand_in = SimpleNamespace(
        _env_secret=AppController._env_secret,
        _env_secret_problem=AppController._env_secret_problem,
        _keychain_secret=lambda profile, key_id: None,
    )
    # A stand-in with only what _session_for_profile reads, not a whole AppController.
    session, message = AppController._session_for_profile(stand_in, profile, method)  # type: ignore[arg-type]
    if session is not None:
        session.api.close()
    assert session is None
    assert message.startswith("Profile “Shop” is not usable:") and named in message


def test_an_unknown_auth_is_not_needed_when_the_command_line_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smooch_desktop.core.profiles import Profile
    from smooch_desktop.ui.controller import AppController

    monkeypatch.setenv("SMOOCH_KEY_SECRET", SECRET)
    profile = Profile.from_dict(
        {"name": "Shop", "region": "eu", "app_id": "5e1f", "key_id": "app_5e1f", "auth": "JWT"}
    )
    assert profile is not None
    stand_in = SimpleNamespace(
        _env_secret=AppController._env_secret,
        _env_secret_problem=AppController._env_secret_problem,
        _keychain_secret=lambda profile, key_id: None,
    )
    session, message = AppController._session_for_profile(stand_in, profile, AuthMethod.JWT)  # type: ignore[arg-type]
    assert session is not None, message
    try:
        assert session.host == "api.eu-1.smooch.io"
    finally:
        session.api.close()


def session_for(
    stored: dict[str, str], monkeypatch: pytest.MonkeyPatch, version: str | None = None
) -> tuple[Any, str]:
    """``AppController._session_for_profile`` for a profile stored as ``stored``."""
    from smooch_desktop.api.factory import ApiVersion
    from smooch_desktop.core.profiles import Profile
    from smooch_desktop.ui.controller import AppController

    monkeypatch.setenv("SMOOCH_KEY_SECRET", SECRET)
    profile = Profile.from_dict({"name": "Shop", "app_id": "5e1f", "key_id": "app_5e1f", **stored})
    assert profile is not None
    stand_in = SimpleNamespace(
        _env_secret=AppController._env_secret,
        _env_secret_problem=AppController._env_secret_problem,
        _keychain_secret=lambda profile, key_id: None,
    )
    given = ApiVersion(version) if version else None
    return AppController._session_for_profile(stand_in, profile, None, given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (
            {"api_version": "v2"},
            "Profile “Shop” is not usable: API v2 comes in a later version of Smooch Desktop; "
            "choose v1.1.",
        ),
        (
            {"region": "zendesk", "zendesk_subdomain": "acme", "api_version": "v2"},
            "Profile “Shop” is not usable: Zendesk-hosted accounts use API v2, which comes in "
            "a later version of Smooch Desktop.",
        ),
    ],
)
def test_a_v2_or_zendesk_profile_is_not_used_before_this_build_speaks_v2(
    stored: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import v2_stand_in

    v2_stand_in.hide_v2(monkeypatch)
    session, text = session_for(stored, monkeypatch)
    assert session is None and text == message


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ({"region": "zendesk", "api_version": "v1.1", "zendesk_subdomain": "acme"}, "v2 only"),
        ({"region": "zendesk", "api_version": "v2", "zendesk_subdomain": "a_b"}, "found “_”"),
        ({"region": "zendesk", "api_version": "v2"}, "Enter your Zendesk subdomain"),
    ],
)
def test_a_zendesk_profile_with_v1_1_or_a_bad_subdomain_is_not_used(
    stored: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import v2_stand_in

    v2_stand_in.offer_v2(monkeypatch)
    session, text = session_for(stored, monkeypatch)
    assert session is None and text.startswith("Profile “Shop” is not usable:") and named in text
    assert v2_stand_in.CONNECTED == []  # nothing was built, so the key went nowhere


def test_a_zendesk_profile_connects_to_its_host_with_v2_once_v2_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import v2_stand_in

    v2_stand_in.offer_v2(monkeypatch)
    stored = {"region": "zendesk", "zendesk_subdomain": "acme", "api_version": "v2"}
    session, text = session_for(stored, monkeypatch)
    assert session is not None, text
    assert (session.host, session.protocol) == ("acme.zendesk.com", "v2")
    assert [c[:2] for c in v2_stand_in.CONNECTED] == [("https://acme.zendesk.com/sc", "5e1f")]


def test_api_version_from_the_command_line_replaces_the_profiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An API version this build can't read is no obstacle when --api-version names one.
    session, text = session_for({"region": "eu", "api_version": "v9"}, monkeypatch, "v1.1")
    assert session is not None, text
    try:
        assert (session.host, session.protocol) == ("api.eu-1.smooch.io", "v1.1")
    finally:
        session.api.close()


# --- data files: outbox and drafts (core.outbox / core.drafts; AppController at start-up) -----


@pytest.mark.parametrize("store", [Outbox, DraftStore])
@pytest.mark.parametrize(
    "content", [b"this is not a database\n" * 100, b"", b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_damaged_data_file_is_moved_aside_not_lost(
    tmp_path: Path, store: Callable[[Path], Any], content: bytes
) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(content)
    opened = store(path)
    try:
        if content:
            assert opened.recovered_from is not None
            assert opened.recovered_from.read_bytes() == content  # kept, byte for byte
        else:
            assert opened.recovered_from is None  # an empty file is a fresh database
    finally:
        opened.close()


def test_outbox_from_a_newer_version_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(OutboxTooNew) as info:
        Outbox(path)
    assert "newer Smooch Desktop" in str(info.value)
    assert path.exists()  # left untouched


def _data_dir_is_a_file(root: Path) -> dict[str, str]:
    data = root / "data-file"
    data.write_text("not a directory")
    return {"SMOOCH_DESKTOP_DATA_DIR": str(data)}


def _outbox_from_the_future(root: Path) -> dict[str, str]:
    data = root / "data-future"
    data.mkdir()
    with sqlite3.connect(data / "outbox.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    return {"SMOOCH_DESKTOP_DATA_DIR": str(data)}


@pytest.mark.parametrize("make_env", [_data_dir_is_a_file, _outbox_from_the_future])
def test_unusable_data_dir_gives_a_message_not_a_traceback(
    tmp_path: Path, make_env: Callable[[Path], dict[str, str]]
) -> None:
    env = {
        "SMOOCH_DESKTOP_CONFIG_DIR": str(tmp_path / "config"),
        "SMOOCH_DESKTOP_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        **make_env(tmp_path),
    }
    try:
        result = run_cli(env=env, timeout=10)
    except subprocess.TimeoutExpired as exc:  # fixed and kept running: also fine
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        assert "Traceback" not in stderr
        return
    assert "Traceback" not in result.stderr, result.stderr[-500:]
    assert result.returncode != 0 and result.stderr.strip()


# --- widget text format for messages that quote user input ------------------------------------


def test_error_labels_show_markup_literally(qapp: Any) -> None:
    from PySide6.QtCore import Qt

    from smooch_desktop.ui.sender_panel import error_label, show_error

    label = error_label()
    show_error(label, "No user with ID “<b>vip</b>” in this app (404 not_found).")
    assert label.textFormat() == Qt.TextFormat.PlainText
    label.deleteLater()
