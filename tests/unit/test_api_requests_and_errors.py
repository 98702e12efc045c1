"""Pure tests of the API layer: auth headers, paths, base URLs, error parsing."""

from __future__ import annotations

import base64

import jwt
import pytest

from smooch_desktop.api.auth import AuthMethod, Credentials, make_jwt
from smooch_desktop.api.client import (
    PathBuilder,
    encode_segment,
    prepare_activity,
    prepare_get_messages,
    prepare_post_message,
    prepare_upload,
)
from smooch_desktop.api.errors import (
    ConfigError,
    HttpError,
    parse_error_envelope,
    parse_retry_after,
)
from smooch_desktop.api.hosts import (
    EU_BASE_URL,
    US_BASE_URL,
    Region,
    base_url_for,
    validate_base_url,
)
from smooch_desktop.api.models import AppUser, Message, OutgoingMessage, Sender
from smooch_desktop.api.v1 import outgoing_to_v1

SECRET = "s3cr3t-value-never-shown-0123456789abcdef"


def test_basic_header_is_key_id_and_secret() -> None:
    header = Credentials("app_123", SECRET).authorization_header()
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == f"app_123:{SECRET}"


def test_jwt_has_kid_hs256_and_app_scope() -> None:
    token = Credentials("app_123", SECRET, AuthMethod.JWT).authorization_header()[7:]
    headers = jwt.get_unverified_header(token)
    assert headers["kid"] == "app_123"
    assert headers["alg"] == "HS256"
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == {"scope": "app"}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "other-secret-that-is-long-enough-for-hs256", algorithms=["HS256"])
    assert make_jwt("k", SECRET).count(".") == 2


def test_secret_never_in_repr_or_str() -> None:
    # The method may also be given as its string value: __post_init__ makes it an AuthMethod.
    creds = Credentials("app_1", SECRET, "jwt")  # type: ignore[arg-type]
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)
    assert SECRET not in f"{creds}"
    assert creds.method is AuthMethod.JWT


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("abc", "abc"),
        ("a/../b", "a%2F..%2Fb"),
        ("with space", "with%20space"),
        ("é✓", "%C3%A9%E2%9C%93"),
        ("q?x#y", "q%3Fx%23y"),
        ("100%", "100%25"),
        ("user@example.com", "user%40example.com"),
    ],
)
def test_path_segments_are_percent_encoded(raw: str, encoded: str) -> None:
    assert encode_segment(raw) == encoded
    path = PathBuilder("app1").user(raw, "messages")
    assert path == f"/v1.1/apps/app1/appusers/{encoded}/messages"


@pytest.mark.parametrize("raw", [".", "..", "..."])
def test_dot_only_user_ids_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        encode_segment(raw)
    assert info.value.field == "user_id"


def test_short_form_and_v1_paths() -> None:
    assert PathBuilder("a", short_form=True).user("u") == "/v1.1/appusers/u"
    assert PathBuilder("a", version="v1").app("attachments") == "/v1/apps/a/attachments"


def test_prepare_bodies() -> None:
    paths = PathBuilder("app")
    msg = prepare_post_message(paths, "u", {"text": "hi"})
    assert msg.json_body == {"text": "hi", "role": "appMaker", "type": "text"}
    assert not msg.idempotent
    act = prepare_activity(paths, "u", "typing:start", name="Ann", avatar_url="https://x/a.png")
    assert act.path.endswith("/appusers/u/conversation/activity")
    assert act.json_body == {
        "role": "appMaker",
        "type": "typing:start",
        "name": "Ann",
        "avatarUrl": "https://x/a.png",
    }
    with pytest.raises(ValueError, match="unknown activity"):
        prepare_activity(paths, "u", "typing:maybe")
    assert prepare_get_messages(paths, "u", before=1.5).params == {"before": "1.5"}
    with pytest.raises(ValueError):
        prepare_get_messages(paths, "u", before=1, after=2)
    up = prepare_upload(paths, "f.pdf", b"x", "application/pdf", for_user="u")
    assert up.params == {"access": "public", "for": "message", "userId": "u"}
    assert up.upload is not None and b'name="source"; filename="f.pdf"' in up.upload.read()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://api.smooch.io", "https://api.smooch.io"),
        ("https://api.smooch.io/", "https://api.smooch.io"),
        ("  https://example.zendesk.com/sc/ ", "https://example.zendesk.com/sc"),
        ("http://127.0.0.1:8808", "http://127.0.0.1:8808"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_valid_base_urls(raw: str, expected: str) -> None:
    assert validate_base_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "Enter the API base URL"),
        ("http://api.smooch.io", "only allowed for this computer"),
        ("ftp://api.smooch.io", "must start with https"),
        ("javascript:alert(1)", "must start with https"),
        ("api.smooch.io", "must start with https"),
        ("https://", "no host"),
        ("https://api.smooch.io/?x=1", "query"),
        ("https://user:pw@api.smooch.io", "credentials"),
        ("https://api.smooch.io:99999", "not valid"),
        ("https://api.smooch.io/a b", "spaces"),
    ],
)
def test_invalid_base_urls_say_why(raw: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_base_url(raw)
    assert words in info.value.message


def test_regions() -> None:
    assert base_url_for(Region.US) == US_BASE_URL
    assert base_url_for("eu") == EU_BASE_URL
    assert base_url_for("custom", "http://127.0.0.1:5/") == "http://127.0.0.1:5"


def test_error_envelopes() -> None:
    v1 = {"error": {"code": "unauthorized", "description": "Authorization is required"}}
    assert parse_error_envelope(v1) == ("unauthorized", "Authorization is required")
    v2 = {"errors": [{"code": "bad_request", "title": "a"}, {"code": "x", "title": "b"}]}
    assert parse_error_envelope(v2) == ("bad_request", "a; b")
    assert parse_error_envelope("nope") == (None, None)
    assert parse_error_envelope({"error": "flat"}) == (None, None)


def test_http_error_words_and_flags() -> None:
    err = HttpError(429, code="too_many_requests", description="Slow down", retry_after=3)
    assert "Rate limited" in err.user_message and "Slow down" in err.user_message
    assert err.is_retryable and err.retry_after == 3 and not err.may_have_reached_server
    assert HttpError(500, code=None, description=None).may_have_reached_server
    # a proxy may answer 503 after the API stored the message
    assert HttpError(503, code=None, description=None).may_have_reached_server
    assert not HttpError(400, code="bad_request", description="x").is_retryable


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("5", 5.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date_in_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_models_are_lenient() -> None:
    msg = Message.from_v1({"_id": "m", "role": "appMaker", "received": "bad", "metadata": 3})
    assert msg.is_business and msg.received == 0.0 and msg.metadata == {}
    assert Message.from_v1(None).id == ""
    user = AppUser.from_v1(
        {
            "_id": "u1",
            "givenName": "Ann",
            "surname": "Lee",
            "clients": [
                {"platform": "web", "lastSeen": "2024-01-01T00:00:00.000Z", "active": True},
                {"platform": "ios", "status": "blocked"},
                "junk",
            ],
        }
    )
    assert user.display_name == "Ann Lee"
    assert [c.platform for c in user.reachable_clients] == ["web", "unknown"]
    assert user.last_seen > 1.7e9


def test_outgoing_body_shape() -> None:
    body = outgoing_to_v1(
        OutgoingMessage(
            "Hello",
            Sender("Alice (Support)", "alice@example.com"),
            metadata={"k": "v"},
        )
    )
    assert body == {
        "role": "appMaker",
        "type": "text",
        "text": "Hello",
        "name": "Alice (Support)",
        "email": "alice@example.com",
        "metadata": {"k": "v"},
    }
