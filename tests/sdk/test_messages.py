from datetime import UTC, datetime, timedelta

import pytest

from cpaas_sdk import InvalidRequest, NotFound


@pytest.fixture
def sender(client):
    return client.numbers.create()


def test_send_fetch_list_and_cancel_a_message(client, sender):
    sent = client.messages.send(from_=sender.number, to="+15005550000", body="Hello from the SDK")
    assert sent.id.startswith("msg_")
    assert sent.status == "queued"
    assert client.messages.retrieve(sent.id)["body"] == "Hello from the SDK"
    assert sent.id in [m.id for m in client.messages.list(to="+15005550000")]

    scheduled = client.messages.send(from_=sender.number, to="+15005550000", body="later",
                                     send_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert client.messages.cancel(scheduled.id).status == "canceled"


def test_batch_and_estimate(client, sender):
    batch = client.messages.batch([{"from_": sender.number, "to": "+15005550000", "body": f"n{i}"} for i in range(3)])
    assert len(batch.data) == 3
    estimate = client.messages.estimate(body="你" * 80, to="+15005550000")
    assert estimate.segments == 2
    assert estimate.encoding == "UCS-2"


def test_a_bad_number_is_a_typed_error_with_its_param_and_request_id(client, sender):
    with pytest.raises(InvalidRequest) as caught:
        client.messages.send(from_=sender.number, to="not a number", body="x")
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "invalid_phone_number", "to")
    assert error.request_id.startswith("req_")
    assert error.retryable is False


def test_an_unknown_message_is_not_found(client):
    with pytest.raises(NotFound) as caught:
        client.messages.retrieve("msg_01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert caught.value.code == "not_found"


def test_numbers_and_sender_pools(client, sender):
    assert client.numbers.retrieve(sender.id).number == sender.number
    assert sender.id in [n.id for n in client.numbers.list()]
    pool = client.sender_pools.create(name="main", numbers=[sender.number])
    assert pool.id in [p.id for p in client.sender_pools.list()]


def test_sms_settings(client, live_client):
    assert "allowed_countries" in client.sms_settings.retrieve()
    assert live_client.sms_settings.update(daily_cap=500).daily_cap == 500
    before = client.sms_settings.retrieve()
    assert client.sms_settings.rotate_callback_secret() != before
