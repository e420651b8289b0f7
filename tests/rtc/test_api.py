"""The RTC API without media: validation, scoping, tokens refused, a media server that is down."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cpaas.core.errors import ApiError
from cpaas.rtc import services
from cpaas.rtc.janus import Janus, JanusError
from cpaas.rtc.models import MediaServer, Room
from cpaas.rtc.tokens import Grant, token_sign, token_verify
from tests.conftest import client_for
from tests.rtc.conftest import free_port, needs_janus
from webhooks.models import Event


def error(response, status: int, code: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code, body
    if param is not None:
        assert body["param"] == param, body
    return body


@pytest.fixture
def down_server(db):
    return MediaServer.objects.create(name="down", api_url=f"http://127.0.0.1:{free_port()}/janus", admin_key="k")


def test_a_media_server_that_is_down_is_503_and_leaves_no_room(api, down_server):
    response = api.post("/v1/rtc/rooms", {"name": "x", "kind": "audio", "max_participants": 2}, format="json")
    error(response, 503, "rtc_unavailable")
    assert response.json()["error"]["retryable"] is True
    assert not Room.objects.exists()


def test_no_media_server_at_all_is_503(api, db):
    error(api.post("/v1/rtc/rooms", {"name": "x", "kind": "audio", "max_participants": 2}, format="json"),
          503, "rtc_unavailable")


@pytest.mark.parametrize(("body", "param"), [
    ({"kind": "audio", "max_participants": 2}, "name"),
    ({"name": "x", "kind": "hologram", "max_participants": 2}, "kind"),
    ({"name": "x", "kind": "audio", "max_participants": 0}, "max_participants"),
    ({"name": "x", "kind": "audio", "max_participants": 10_000}, "max_participants"),
])
def test_bad_room_bodies_name_the_param(api, down_server, body, param):
    response = api.post("/v1/rtc/rooms", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.content


def test_video_is_refused_as_not_built_and_recording_needs_a_server_that_records(api, down_server):
    error(api.post("/v1/rtc/rooms", {"name": "x", "kind": "video", "max_participants": 2}, format="json"),
          400, "rtc_kind_unsupported", "kind")
    error(api.post("/v1/rtc/rooms", {"name": "x", "kind": "audio", "max_participants": 2, "record": True},
                   format="json"), 503, "rtc_unavailable")  # the only server has no record_dir


def test_unknown_room_is_404(api, db):
    error(api.get("/v1/rtc/rooms/rtcr_01JD0000000000000000000000"), 404, "not_found")
    error(api.post("/v1/rtc/rooms/rtcr_01JD0000000000000000000000/tokens",
                   {"identity": "a", "privileges": ["subscribe"], "ttl_seconds": 60}, format="json"), 404, "not_found")


def test_tampered_expired_and_foreign_tokens_are_refused_at_join(db):
    grant = Grant("rtcr_x", "app_x", "live", "alice", ("publish_audio",), int(time.time()) + 60)
    good = token_sign(grant)
    assert token_verify(good) == grant
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    anon = client_for(None)
    error(anon.post("/v1/rtc/join", {"token": tampered, "sdp": "v=0"}, format="json"), 401, "rtc_token_invalid",
          "token")
    error(anon.post("/v1/rtc/join", {"token": "sk_test_nope", "sdp": "v=0"}, format="json"), 401,
          "rtc_token_invalid", "token")
    expired = token_sign(Grant("rtcr_x", "app_x", "live", "alice", ("publish_audio",), int(time.time()) - 1))
    error(anon.post("/v1/rtc/join", {"token": expired, "sdp": "v=0"}, format="json"), 401, "rtc_token_expired",
          "token")
    # a valid signature for a room that is not that app's (or does not exist): not found
    error(anon.post("/v1/rtc/join", {"token": good, "sdp": "v=0"}, format="json"), 404, "not_found", "token")
    with pytest.raises(ApiError):
        token_verify(good, now=time.time() + 61)


@needs_janus
def test_rooms_are_scoped_by_app_and_mode(janus, api, other_api, provisioned):
    created = api.post("/v1/rtc/rooms", {"name": "mine", "kind": "audio", "max_participants": 2}, format="json")
    assert created.status_code == 201, created.content
    room_id = created.json()["id"]
    assert created.json()["livemode"] is False
    for client in (other_api,):
        error(client.get(f"/v1/rtc/rooms/{room_id}"), 404, "not_found")
        error(client.post(f"/v1/rtc/rooms/{room_id}/tokens",
                          {"identity": "x", "privileges": ["subscribe"], "ttl_seconds": 60}, format="json"),
              404, "not_found")
        error(client.delete(f"/v1/rtc/rooms/{room_id}"), 404, "not_found")
        assert client.get("/v1/rtc/rooms").json()["data"] == []
    token = api.post(f"/v1/rtc/rooms/{room_id}/tokens", {"identity": "a", "privileges": ["bogus"], "ttl_seconds": 60},
                     format="json")
    assert token.status_code == 400 and token.json()["error"]["param"].startswith("privileges"), token.content
    assert api.delete(f"/v1/rtc/rooms/{room_id}").json()["status"] == "closed"
    error(api.post(f"/v1/rtc/rooms/{room_id}/tokens", {"identity": "a", "privileges": ["subscribe"],
                                                       "ttl_seconds": 60}, format="json"), 409, "rtc_room_closed")


def test_the_rtc_events_are_in_the_catalog(api):
    types = {t["type"] for t in api.get("/v1/event-types").json()["data"]}
    assert {"rtc.room.started", "rtc.room.ended", "rtc.participant.joined", "rtc.participant.left"} <= types


def test_ends_at_must_be_in_the_future(api, down_server):
    response = api.post("/v1/rtc/rooms", {"name": "x", "kind": "audio", "max_participants": 2,
                                          "ends_at": "2020-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["param"] == "ends_at"


@needs_janus
def test_a_room_past_its_end_time_is_closed_by_the_sweep(janus, api, provisioned):
    ends = timezone.now() + timedelta(hours=1)
    created = api.post("/v1/rtc/rooms", {"name": "class", "kind": "audio", "max_participants": 2,
                                         "ends_at": ends.isoformat()}, format="json")
    assert created.status_code == 201, created.content
    services.drop_expired(now=ends - timedelta(seconds=1))
    assert api.get(f"/v1/rtc/rooms/{created.json()['id']}").json()["status"] == "open"
    services.drop_expired(now=ends + timedelta(seconds=1))
    assert api.get(f"/v1/rtc/rooms/{created.json()['id']}").json()["status"] == "closed"
    ended = Event.objects.get(app=provisioned.app, type="rtc.room.ended")
    assert ended.data["reason"] == "ended_at" and ended.data["livemode"] is False
    with pytest.raises(JanusError):  # gone from the media server too
        Janus(janus.server.api_url, janus.server.admin_key).participants(created.json()["id"])
