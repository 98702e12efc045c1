"""Conversation activity (typing, read) and the Web Messenger typing-indicator rules."""

from __future__ import annotations

import pytest
from sandbox_helpers import Api, FakeClock

from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_APP_ID, TYPING_TIMEOUT


def typing_state(api: Api, user_ref: str = DEMO_ALICE_ID) -> dict[str, object]:
    from urllib.parse import quote

    url = f"{api.srv.base_url}/_sandbox/typing/{DEMO_APP_ID}/{quote(user_ref, safe='')}"
    resp = api.session.get(url, timeout=10)
    assert resp.status_code == 200
    return dict(resp.json())


def test_seed_call_without_role_is_accepted(api: Api) -> None:
    resp = api.activity(DEMO_ALICE_ID, {"type": "typing:start"})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"conversation"}
    assert set(body["conversation"]) == {"_id", "unreadCount"}
    stored = api.srv.store.activities(DEMO_APP_ID, DEMO_ALICE_ID)
    assert stored[-1]["type"] == "typing:start" and stored[-1]["role"] == "appMaker"
    assert isinstance(stored[-1]["received"], float)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "appUser", "type": "typing:start"}, '"role"'),
        ({"role": "appMaker"}, '"type"'),
        ({"role": "appMaker", "type": "typing"}, '"type"'),
        ({"role": "appMaker", "type": "typing:start", "name": 3}, '"name"'),
    ],
)
def test_activity_validation(api: Api, body: dict[str, object], field: str) -> None:
    resp = api.activity(DEMO_ALICE_ID, body)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "bad_request"
    assert field in resp.json()["error"]["description"]


def test_conversation_read_activity_is_recorded(api: Api) -> None:
    resp = api.activity(DEMO_ALICE_ID, {"role": "appMaker", "type": "conversation:read"})
    assert resp.status_code == 200
    assert api.srv.store.activities(DEMO_APP_ID, DEMO_ALICE_ID)[-1]["type"] == "conversation:read"


def test_activity_unknown_user_or_no_conversation(api: Api) -> None:
    assert api.activity("ghost", {"type": "typing:start"}).status_code == 404
    api.srv.store.create_user(DEMO_APP_ID, {"userId": "new-user"})
    resp = api.activity("new-user", {"type": "typing:start"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_typing_shows_with_name_and_avatar(clocked_api: Api) -> None:
    body = {
        "role": "appMaker",
        "type": "typing:start",
        "name": "Sam",
        "avatarUrl": "https://a/b.png",
    }
    assert clocked_api.activity(DEMO_ALICE_ID, body).status_code == 200
    assert typing_state(clocked_api) == {
        "typing": True,
        "name": "Sam",
        "avatarUrl": "https://a/b.png",
    }


def test_typing_expires_10s_after_the_last_start(clocked_api: Api, clock: FakeClock) -> None:
    clocked_api.activity(DEMO_ALICE_ID, {"type": "typing:start"})
    clock.advance(TYPING_TIMEOUT - 1)
    assert typing_state(clocked_api)["typing"] is True
    clocked_api.activity(DEMO_ALICE_ID, {"type": "typing:start"})  # heartbeat extends it
    clock.advance(TYPING_TIMEOUT - 1)
    assert typing_state(clocked_api)["typing"] is True
    clock.advance(1)
    assert typing_state(clocked_api) == {"typing": False, "name": None, "avatarUrl": None}


def test_typing_stop_ends_it(clocked_api: Api) -> None:
    clocked_api.activity(DEMO_ALICE_ID, {"type": "typing:start"})
    clocked_api.activity(DEMO_ALICE_ID, {"role": "appMaker", "type": "typing:stop"})
    assert typing_state(clocked_api)["typing"] is False


def test_app_maker_message_ends_it_but_user_message_does_not(clocked_api: Api) -> None:
    clocked_api.activity(DEMO_ALICE_ID, {"type": "typing:start"})
    clocked_api.post_message(DEMO_ALICE_ID, {"role": "appUser", "text": "still there?"})
    assert typing_state(clocked_api)["typing"] is True
    clocked_api.post_message(DEMO_ALICE_ID, {"role": "appMaker", "text": "yes!"})
    assert typing_state(clocked_api)["typing"] is False


def test_typing_state_for_unknown_user_is_404(api: Api) -> None:
    resp = api.session.get(f"{api.srv.base_url}/_sandbox/typing/{DEMO_APP_ID}/ghost", timeout=10)
    assert resp.status_code == 404
