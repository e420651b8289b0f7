"""The SDK's team and RTC namespaces against the live server: invitations and members with a live
key (the API's admin), test keys refused; RTC rooms listed, and an unavailable media server
surfaced as a typed, retryable error (this server runs no Janus; tests/rtc has the media)."""

import pytest

from cpaas_sdk import Client, Conflict, PermissionDenied, ServiceUnavailable


def test_invitations_and_members_with_a_live_key(live_client, client):
    invitation = live_client.invitations.create(email="dev@example.com", role="developer")
    assert (invitation.email, invitation.role) == ("dev@example.com", "developer")
    assert invitation.id in [i.id for i in live_client.invitations.list()]
    assert live_client.invitations.retrieve(invitation.id).id == invitation.id
    live_client.invitations.revoke(invitation.id)
    again = live_client.members.invite(email="fin@example.com", role="finance")
    assert again.role == "finance"
    owners = [m for m in live_client.members.list() if m.role == "owner"]
    assert owners and live_client.members.retrieve(owners[0].id).id == owners[0].id
    with pytest.raises(PermissionDenied) as caught:  # no API key may change an owner
        live_client.members.update(owners[0].id, role="viewer")
    assert caught.value.code == "insufficient_role"
    with pytest.raises(PermissionDenied) as caught:  # a test key manages no team
        list(client.members.list())
    assert caught.value.code == "live_key_required"


def test_inviting_the_same_member_twice_is_a_conflict(live_client, provisioned):
    owner_email = next(m.email for m in live_client.members.list() if m.role == "owner")
    with pytest.raises(Conflict) as caught:
        live_client.members.invite(email=owner_email, role="viewer")
    assert caught.value.code == "already_member"


def test_rtc_rooms_list_and_an_unavailable_media_server(live, provisioned):
    sdk = Client(provisioned.test_key.secret, base_url=live.url, max_retries=0)
    assert list(sdk.rtc_rooms.list()) == []
    with pytest.raises(ServiceUnavailable) as caught:
        sdk.rtc_rooms.create(name="standup", kind="audio", max_participants=4)
    assert (caught.value.code, caught.value.retryable) == ("rtc_unavailable", True)
    assert caught.value.request_id.startswith("req_")
