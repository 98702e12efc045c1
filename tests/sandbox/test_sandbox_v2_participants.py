"""``GET /v2/apps/{appId}/conversations/{conversationId}/participants``: who is in a
personal conversation, and through which channels (primary first, as the spec orders
``clientAssociations``) — read by the vendor's own client and by the app's v2 adapter,
which marks the primary channel the same way v1.1 does."""

from __future__ import annotations

from sunshine_conversations_client.api.participants_api import ParticipantsApi
from sunshine_conversations_client.api_client import ApiClient
from sunshine_conversations_client.configuration import Configuration

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.v1 import V1Api
from smooch_desktop.api.v2 import V2Api
from smooch_desktop.sandbox import DEMO_ALICE_ID, SandboxServer
from smooch_desktop.sandbox.demo import DEMO_NO_CLIENTS_USER_ID


def main_conversation(srv: SandboxServer, user_ref: str) -> str:
    [main] = [c for c in srv.store.conversations(srv.app_id, user_ref) if c["isDefault"]]
    return str(main["id"])


def test_the_official_client_lists_the_participant_with_the_primary_client_first(
    srv: SandboxServer,
) -> None:
    alice = srv.store.get_user(srv.app_id, DEMO_ALICE_ID)
    primary = next(c for c in alice["clients"] if c.get("primary"))
    config = Configuration(host=srv.base_url + "/sc", username=srv.key_id, password=srv.secret)
    with ApiClient(config) as client:
        listed = ParticipantsApi(client).list_participants(
            srv.app_id, main_conversation(srv, DEMO_ALICE_ID)
        )
    [participant] = listed.participants or []
    assert participant.user_id == alice["_id"]
    assert participant.user_external_id == DEMO_ALICE_ID
    associations = participant.client_associations or []
    assert associations[0].client_id == primary["id"]
    assert {a.client_id for a in associations} == {c["id"] for c in alice["clients"]}
    assert listed.meta is not None and listed.meta.has_more is False


def test_an_unknown_conversation_is_404_in_the_v2_envelope(srv: SandboxServer) -> None:
    import requests

    answer = requests.get(
        f"{srv.base_url}/v2/apps/{srv.app_id}/conversations/5e1f000c0000000000009999/participants",
        auth=(srv.key_id, srv.secret),
        timeout=5,
    )
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "conversation_not_found"


def test_v2_marks_the_same_primary_channel_as_v1_1(srv: SandboxServer) -> None:
    creds = Credentials(srv.key_id, srv.secret)
    v1 = V1Api.connect(srv.base_url, srv.app_id, creds)
    v2 = V2Api.connect(srv.base_url, srv.app_id, creds)
    try:
        for user_ref in (DEMO_ALICE_ID, DEMO_NO_CLIENTS_USER_ID):
            one, two = v1.get_user(user_ref), v2.get_user(user_ref)
            assert [(c.id, c.primary) for c in one.clients] == [
                (c.id, c.primary) for c in two.clients
            ]
        assert any(c.primary for c in v2.get_user(DEMO_ALICE_ID).clients)
    finally:
        v1.close()
        v2.close()


def test_sdk_clients_have_devices_naming_their_platform(srv: SandboxServer) -> None:
    from sunshine_conversations_client.api.clients_api import ClientsApi
    from sunshine_conversations_client.api.devices_api import DevicesApi

    config = Configuration(host=srv.base_url, username=srv.key_id, password=srv.secret)
    with ApiClient(config) as client:
        clients = ClientsApi(client).list_clients(srv.app_id, DEMO_ALICE_ID).clients or []
        devices = DevicesApi(client).list_devices(srv.app_id, DEMO_ALICE_ID).devices or []
    kinds = {str(getattr(c.type, "value", c.type)): c for c in clients}
    assert sorted(kinds) == ["messenger", "sdk"]
    [device] = devices
    assert device.client_id == kinds["sdk"].id
    assert (device.type, device.status) == ("web", "active")


def test_v2_names_the_same_channels_as_v1_1(srv: SandboxServer) -> None:
    from smooch_desktop.sandbox.demo import DEMO_PAGING_USER_ID

    creds = Credentials(srv.key_id, srv.secret)
    v1 = V1Api.connect(srv.base_url, srv.app_id, creds)
    v2 = V2Api.connect(srv.base_url, srv.app_id, creds)
    try:
        for user_ref in (DEMO_ALICE_ID, DEMO_PAGING_USER_ID):
            assert [c.platform for c in v1.get_user(user_ref).clients] == [
                c.platform for c in v2.get_user(user_ref).clients
            ]
    finally:
        v1.close()
        v2.close()
