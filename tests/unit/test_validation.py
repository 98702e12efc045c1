"""Every input rule: empty, whitespace, huge, control characters, unicode, hostile URLs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smooch_desktop.core import validation as v
from smooch_desktop.core.validation import CleanText, ValidationError

HUNDRED_KB = "x" * 100_000
RTL = "مرحبا بالعالم"  # Arabic, right to left
EMOJI = "🙂👍🏽"


def error_of(func: Callable[[str | None], object], raw: str | None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        func(raw)
    return info.value


# --- ValidationError ---------------------------------------------------------------


def test_validation_error_is_a_value_error_with_field_and_message() -> None:
    err = ValidationError("user_id", "A user ID is needed.")
    assert isinstance(err, ValueError)
    assert err.field == "user_id"
    assert err.message == "A user ID is needed."
    assert str(err) == "A user ID is needed."
    assert "user_id" in repr(err)


# --- user ID -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "c7f6e6d6c3a637261bd9656f",
        "a/../b",
        "../etc/passwd",
        "user?x=1#frag",
        "100%",
        "name with spaces",
        RTL,
        EMOJI,
        "👨‍👩‍👧",  # joined with U+200D, which must stay allowed
        "x" * 256,
    ],
)
def test_user_id_accepts_any_printable_id_literally(raw: str) -> None:
    assert v.clean_user_id(raw) == raw


def test_user_id_is_trimmed() -> None:
    assert v.clean_user_id("  \tabc123\n ") == "abc123"


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n", "\u3000"])
def test_user_id_empty_is_an_error(raw: str | None) -> None:
    err = error_of(v.clean_user_id, raw)
    assert err.field == "user_id"
    assert "user" in err.message.lower()


@pytest.mark.parametrize("raw", ["x" * 257, HUNDRED_KB])
def test_user_id_too_long_says_the_limit_and_length(raw: str) -> None:
    err = error_of(v.clean_user_id, raw)
    assert err.field == "user_id"
    assert "256" in err.message
    assert f"{len(raw):,}" in err.message


def test_user_id_nul_names_the_code_point() -> None:
    err = error_of(v.clean_user_id, "abc\x00def")
    assert err.message == "A user ID can't contain control characters (found U+0000)."


@pytest.mark.parametrize(
    ("raw", "code"),
    [("a\x1bb", "U+001B"), ("a\x7fb", "U+007F"), ("a\x85b", "U+0085"), ("a\nb", "U+000A")],
)
def test_user_id_control_characters(raw: str, code: str) -> None:
    assert code in error_of(v.clean_user_id, raw).message


@pytest.mark.parametrize("char", ["\u200b", "\ufeff", "\u200e", "\u202e"])
def test_user_id_invisible_formatting_characters(char: str) -> None:
    err = error_of(v.clean_user_id, f"abc{char}def")
    assert f"U+{ord(char):04X}" in err.message
    assert "invisible" in err.message


def test_user_id_lone_surrogate() -> None:
    assert "U+D800" in error_of(v.clean_user_id, "ab\ud800").message


@pytest.mark.parametrize("raw", [".", "..", " .. "])
def test_user_id_dot_segments_are_refused(raw: str) -> None:
    assert error_of(v.clean_user_id, raw).field == "user_id"


# --- sender name -------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_sender_name_is_optional(raw: str | None) -> None:
    assert v.clean_sender_name(raw) == ""


@pytest.mark.parametrize("raw", ["Alice (Support)", RTL, f"Bob {EMOJI}", "Zoë O'Brien-Łukasz"])
def test_sender_name_unicode(raw: str) -> None:
    assert v.clean_sender_name(f"  {raw} ") == raw


def test_sender_name_limit_is_128() -> None:
    assert v.clean_sender_name("n" * 128) == "n" * 128
    err = error_of(v.clean_sender_name, "n" * 129)
    assert err.field == "sender_name"
    assert "128" in err.message and "129" in err.message
    assert "100,000" in error_of(v.clean_sender_name, HUNDRED_KB).message


@pytest.mark.parametrize("raw", ["Ali\x00ce", "Ali\nce", "Ali\tce"])
def test_sender_name_control_characters(raw: str) -> None:
    err = error_of(v.clean_sender_name, raw)
    assert err.field == "sender_name"
    assert "control characters" in err.message


# --- email -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "alice@example.com",
        "Alice.Smith+support@Example.CO.uk",
        "o'brien@example.ie",
        "用户@例子.广告",
        "x@sub-domain.example",
    ],
)
def test_email_accepts_plausible_addresses(raw: str) -> None:
    assert v.clean_email(f" {raw} ") == raw
    assert v.is_plausible_email(raw)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_email_is_optional(raw: str | None) -> None:
    assert v.clean_email(raw) == ""
    assert not v.is_plausible_email(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "needs an @"),
        ("alice@@example.com", "exactly one @ (this one has 2)"),
        ("a@b@example.com", "exactly one @"),
        ("@example.com", "before the @"),
        ("alice@", "domain after the @"),
        ("alice@localhost", "needs a dot"),
        ("alice@example.com.", "start or end with a dot"),
        ("alice@.example.com", "start or end with a dot"),
        ("alice@example..com", "two dots in a row"),
        ("alice smith@example.com", "spaces"),
        ("alice@exa\tmple.com", "invisible characters (found U+0009)"),
        ("alice\x00@example.com", "invisible characters (found U+0000)"),
        ("alice\u200b@example.com", "invisible characters (found U+200B)"),
        ("l" * 65 + "@example.com", "at most 64"),
        ("a@" + "d" * 250 + ".com", "at most 254"),
        (HUNDRED_KB, "at most 254"),
    ],
)
def test_email_problems_say_what_is_wrong(raw: str, expected: str) -> None:
    err = error_of(v.clean_email, raw)
    assert err.field == "sender_email"
    assert expected in err.message
    assert not v.is_plausible_email(raw)


def test_is_plausible_email_never_raises_on_junk() -> None:
    for raw in ["\ud800@x.com", "\x00", "@", "@@", "a@b.", EMOJI, HUNDRED_KB + "@x.com"]:
        assert v.is_plausible_email(raw) is False


# --- avatar URL --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "https://example.com/alice.png",
        "http://cdn.example.com:8080/a/b.jpg?size=200#x",
        "HTTPS://EXAMPLE.COM/A.PNG",
        "https://[2001:db8::1]/a.png",
        "https://例子.广告/头像.png",
    ],
)
def test_avatar_url_accepts_http_and_https(raw: str) -> None:
    assert v.clean_avatar_url(f"  {raw}\n") == raw


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_avatar_url_is_optional(raw: str | None) -> None:
    assert v.clean_avatar_url(raw) == ""


@pytest.mark.parametrize(
    ("raw", "scheme"),
    [
        ("javascript:alert(1)", "javascript:"),
        ("JavaScript:alert(document.cookie)", "javascript:"),
        ("data:image/png;base64,iVBORw0KGgo=", "data:"),
        ("file:///etc/passwd", "file:"),
        ("ftp://example.com/a.png", "ftp:"),
        ("vbscript:msgbox", "vbscript:"),
    ],
)
def test_avatar_url_other_schemes_are_named(raw: str, scheme: str) -> None:
    err = error_of(v.clean_avatar_url, raw)
    assert err.field == "avatar_url"
    assert f'"{scheme}"' in err.message
    assert "https" in err.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com/a.png", "must start with https://"),
        ("//example.com/a.png", "must start with https://"),
        ("https:///a.png", "no host name"),
        ("https://user:pass@example.com/a.png", "user name or password"),
        ("https://example.com/a b.png", "spaces"),
        ("https://example.com/a\x00.png", "invisible"),
        ("https://example.com:99999/a.png", "not a valid web address"),
        ("https://[::1/a.png", "not a valid web address"),
        ("https://example.com/" + "a" * 2100, "at most 2,048"),
    ],
)
def test_avatar_url_problems(raw: str, expected: str) -> None:
    err = error_of(v.clean_avatar_url, raw)
    assert err.field == "avatar_url"
    assert expected in err.message


# --- message text ------------------------------------------------------------------


def test_text_plain_is_unchanged() -> None:
    assert v.clean_message_text("Hi, how can I help?") == CleanText("Hi, how can I help?", 0)


def test_text_unicode_is_kept() -> None:
    text = f"{RTL}\n{EMOJI} 👨‍👩‍👧 Ünïcödé\u200b"
    assert v.clean_message_text(text).text == text


def test_text_line_endings_become_lf() -> None:
    result = v.clean_message_text("one\r\ntwo\rthree\nfour")
    assert result == CleanText("one\ntwo\nthree\nfour", 0)


def test_text_tabs_and_inner_newlines_stay() -> None:
    assert v.clean_message_text("a\tb\n\n\nc").text == "a\tb\n\n\nc"


def test_text_control_characters_are_removed_and_counted() -> None:
    result = v.clean_message_text("he\x00llo\x1b w\x7forld\x85\x9f")
    assert result == CleanText("hello world", 5)


def test_text_lone_surrogates_are_removed_and_counted() -> None:
    assert v.clean_message_text("a\ud800b\udfffc") == CleanText("abc", 2)


def test_text_edges_are_tidied_but_indentation_kept() -> None:
    result = v.clean_message_text("\n \n    indented code\nline  \n\n  ")
    assert result.text == "    indented code\nline"


@pytest.mark.parametrize("raw", [None, "", "   ", "\n\n", "\t \r\n", "\x00\x01", "\u3000"])
def test_text_empty_or_blank(raw: str | None) -> None:
    err = error_of(v.clean_message_text, raw)
    assert err.field == "text"
    assert err.message == "Type a message first."


def test_text_limit_is_inclusive() -> None:
    assert v.TEXT_WARN_AT == 3800 < v.TEXT_LIMIT == 4096
    assert len(v.clean_message_text("y" * 4096).text) == 4096


def test_text_limit_error_says_by_how_much() -> None:
    err = error_of(v.clean_message_text, "y" * 4100)
    assert err.field == "text"
    assert "4,100" in err.message and "4,096" in err.message
    assert "Remove 4 characters" in err.message
    assert "Remove 1 character." in error_of(v.clean_message_text, "y" * 4097).message


def test_text_limit_counts_after_cleaning() -> None:
    # 4096 visible characters plus junk that is removed: fits.
    result = v.clean_message_text("\x00" * 50 + "y" * 4096 + "\n" * 50)
    assert result == CleanText("y" * 4096, 50)


def test_text_limit_counts_emoji_as_one() -> None:
    assert len(v.clean_message_text("🙂" * 4096).text) == 4096


def test_text_hundred_kb() -> None:
    err = error_of(v.clean_message_text, HUNDRED_KB)
    assert "100,000" in err.message
    assert "95,904" in err.message


# --- credentials and profile -------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "field", "good"),
    [
        (v.clean_app_id, "app_id", "5963c0d619a30a2e00de36b8"),
        (v.clean_key_id, "key_id", "app_5963c0d619a30a2e00de36b8"),
    ],
)
class TestCredentialIds:
    def test_valid_and_trimmed(
        self, func: Callable[[str | None], str], field: str, good: str
    ) -> None:
        assert func(f"  {good}\n") == good

    @pytest.mark.parametrize("raw", [None, "", "  "])
    def test_empty(
        self, func: Callable[[str | None], str], field: str, good: str, raw: str | None
    ) -> None:
        err = error_of(func, raw)
        assert err.field == field
        assert err.message.startswith("Enter the")

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("abc def", "spaces"),
            ("abc\u00a0def", "spaces"),
            ("abc\x00def", "U+0000"),
            ("abcé", "U+00E9"),
            (f"app_{EMOJI}", "U+1F642"),
            ("x" * 129, "at most 128"),
            (HUNDRED_KB, "at most 128"),
        ],
    )
    def test_problems(
        self,
        func: Callable[[str | None], str],
        field: str,
        good: str,
        raw: str,
        expected: str,
    ) -> None:
        err = error_of(func, raw)
        assert err.field == field
        assert expected in err.message


SECRET = "5XJ85yjUtRgfrP7Q_nnK-IPgv9JSKIFH-OgzQhdZn1nnhHSHaSJVjNuU_3T8aHtDZYgGgP3FHsFNDXlFAK"


def test_secret_is_returned_exactly() -> None:
    assert v.clean_secret(SECRET) == SECRET


@pytest.mark.parametrize("raw", [None, "", "   ", "\n"])
def test_secret_empty(raw: str | None) -> None:
    err = error_of(v.clean_secret, raw)
    assert err.field == "secret"
    assert err.message == "Enter the secret of the API key."


@pytest.mark.parametrize("raw", [f" {SECRET}", f"{SECRET}\n", f"\t{SECRET} "])
def test_secret_surrounding_whitespace_is_reported_not_trimmed(raw: str) -> None:
    err = error_of(v.clean_secret, raw)
    assert "starts or ends with a space" in err.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (SECRET[:10] + "\x00" + SECRET[10:], "invisible character"),
        (SECRET[:10] + " " + SECRET[10:], "space"),
        (SECRET[:10] + "…", "not plain ASCII"),
        (SECRET[:10] + "é", "not plain ASCII"),
        ("s" * 1025, "longer than 1,024"),
        (HUNDRED_KB, "longer than 1,024"),
    ],
)
def test_secret_problems_never_quote_the_secret(raw: str, expected: str) -> None:
    err = error_of(v.clean_secret, raw)
    assert err.field == "secret"
    assert expected in err.message
    for text in (err.message, str(err), repr(err)):
        assert SECRET[:10] not in text
        assert "sss" not in text and "xxx" not in text


def test_profile_name() -> None:
    assert v.clean_profile_name("  Production (EU) ") == "Production (EU)"
    assert v.clean_profile_name(f"{RTL} {EMOJI}") == f"{RTL} {EMOJI}"
    assert error_of(v.clean_profile_name, None).message == "Give this connection a name."
    assert error_of(v.clean_profile_name, "  ").field == "profile_name"
    assert "at most 64" in error_of(v.clean_profile_name, "p" * 65).message
    assert "at most 64" in error_of(v.clean_profile_name, HUNDRED_KB).message
    assert "U+0000" in error_of(v.clean_profile_name, "a\x00b").message
    assert "U+200B" in error_of(v.clean_profile_name, "a\u200bb").message


# --- shared URL helper -------------------------------------------------------------


def test_http_url_problem_uses_the_given_noun() -> None:
    assert v.http_url_problem("https://example.com", "A link") is None
    problem = v.http_url_problem("javascript:alert(1)", "The link of the button")
    assert problem is not None
    assert problem.startswith("The link of the button must use https or http")
