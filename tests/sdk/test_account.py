import pytest

from cpaas_sdk import AuthenticationError, Client, NotFound


def test_me_apps_and_api_keys(client, live_client, app):
    me = client.me.retrieve()
    assert (me.app, me.livemode, me.key.mode) == (app.pk, False, "test")
    assert app.pk in [a.id for a in client.apps.list()]
    assert client.apps.retrieve(app.pk).id == app.pk
    second = live_client.apps.create(name="Second")
    assert live_client.apps.retrieve(second.id).name == "Second"
    key = client.api_keys.create(name="ci", mode="test")
    assert key.secret.startswith("sk_test_")
    assert key.id in [k.id for k in client.api_keys.list()]
    assert client.api_keys.retrieve(key.id).name == "ci"
    client.api_keys.revoke(key.id)
    with pytest.raises(AuthenticationError) as caught:
        Client(key.secret, base_url=client._requester.base_url, max_retries=0).me.retrieve()
    assert caught.value.status == 401 and caught.value.request_id.startswith("req_")


def test_another_tenants_object_is_not_found(client, other_provisioned, live):
    other = Client(other_provisioned.test_key.secret, base_url=live.url, max_retries=0)
    mine = client.im.users.create(user_id="zed")
    with pytest.raises(NotFound):
        other.im.users.retrieve(mine.user_id)
