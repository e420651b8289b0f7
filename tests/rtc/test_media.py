"""Two aiortc participants in one audio room on a real Janus, through the platform's signalling."""

from __future__ import annotations

import io
import math
import time
import wave
from array import array

import pytest

from billing.models import UsageEvent
from cpaas.rtc import services
from cpaas.rtc.janus import Janus
from cpaas.rtc.models import Participant
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for
from tests.rtc.conftest import needs_janus
from tests.support.rtc_client import RtcPeer
from webhooks.models import Event

pytestmark = needs_janus


def room(api, **overrides) -> dict:
    body = {"name": "consult", "kind": "audio", "max_participants": 2, **overrides}
    response = api.post("/v1/rtc/rooms", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def token(api, room_id: str, identity: str, privileges=("publish_audio", "subscribe"), ttl=600) -> str:
    response = api.post(f"/v1/rtc/rooms/{room_id}/tokens",
                        {"identity": identity, "privileges": list(privileges), "ttl_seconds": ttl}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def join(loop, peer: RtcPeer, tok: str):
    offer = loop.run(peer.offer())
    response = client_for(None).post("/v1/rtc/join", {"token": tok, "sdp": offer}, format="json")
    if response.status_code == 201:
        loop.run(peer.answer(response.json()["sdp"]))
    return response


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def live_api(provisioned):
    return client_for(api_key_create(app=provisioned.app, name="live", mode="live").secret)


def test_two_participants_hear_each_other_and_are_metered_on_leave(janus, loop, live_api, provisioned):
    r = room(live_api)
    alice, bob = loop.run(RtcPeer.create(440)), loop.run(RtcPeer.create(660))
    try:
        a = join(loop, alice, token(live_api, r["id"], "alice"))
        b = join(loop, bob, token(live_api, r["id"], "bob"))
        assert a.status_code == 201 and b.status_code == 201, (a.content, b.content)
        assert wait_until(lambda: alice.loud_frames > 25 and bob.loud_frames > 25, 15), \
            (alice.frames, alice.loud_frames, bob.frames, bob.loud_frames)
        assert alice.energy > 0 and bob.energy > 0
        listed = live_api.get(f"/v1/rtc/rooms/{r['id']}").json()
        assert sorted(p["identity"] for p in listed["participants"]) == ["alice", "bob"]
        assert len(Janus(janus.server.api_url, janus.server.admin_key).participants(r["id"])) == 2

        left = client_for(None).post(f"/v1/rtc/participants/{a.json()['id']}/leave",
                                     {"token": token(live_api, r["id"], "alice")}, format="json")
        assert left.status_code == 200 and left.json()["left_reason"] == "left"
        janus_api = Janus(janus.server.api_url, janus.server.admin_key)
        assert wait_until(lambda: len(janus_api.participants(r["id"])) == 1), janus_api.participants(r["id"])
    finally:
        loop.run(alice.close())
        loop.run(bob.close())
    usage = UsageEvent.objects.get(meter="rtc_participant_minutes", idempotency_key__contains=a.json()["id"])
    assert usage.quantity == 1 and usage.mode == "live"
    assert usage.dimensions == {"media": "audio", "tier": "audio", "room": r["id"]}

    # bob hung up without calling leave: Janus dropped him, the sweep notices and meters him
    assert wait_until(lambda: janus_api.participants(r["id"]) == [])
    assert services.drop_expired() == 1
    assert Participant.objects.get(pk=b.json()["id"]).left_reason == "disconnected"

    closed = live_api.delete(f"/v1/rtc/rooms/{r['id']}")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert live_api.get(f"/v1/rtc/rooms/{r['id']}").json()["participants"] == []
    types = list(Event.objects.filter(app=provisioned.app).values_list("type", flat=True))
    for t in ("rtc.room.started", "rtc.participant.joined", "rtc.participant.left", "rtc.room.ended"):
        assert t in types, types
    assert types.count("rtc.participant.left") == 2


def test_a_subscriber_only_token_is_not_heard(janus, loop, live_api):
    r = room(live_api)
    speaker, listener = loop.run(RtcPeer.create(440)), loop.run(RtcPeer.create(660))
    try:
        assert join(loop, speaker, token(live_api, r["id"], "speaker")).status_code == 201
        assert join(loop, listener, token(live_api, r["id"], "listener", privileges=["subscribe"])).status_code == 201
        assert wait_until(lambda: listener.loud_frames > 25, 15), (listener.frames, listener.loud_frames)
        time.sleep(1.0)
        # the listener's tone is never mixed into the room: the speaker hears frames, all of them silence
        assert speaker.frames > 25 and speaker.loud_frames == 0, (speaker.frames, speaker.loud_frames)
    finally:
        loop.run(speaker.close())
        loop.run(listener.close())


def test_room_full_and_expiry_drops_a_live_participant(janus, loop, live_api):
    r = room(live_api, max_participants=1)
    first, second = loop.run(RtcPeer.create()), loop.run(RtcPeer.create())
    try:
        joined = join(loop, first, token(live_api, r["id"], "first", ttl=2))
        assert joined.status_code == 201
        full = join(loop, second, token(live_api, r["id"], "second"))
        assert full.status_code == 409 and full.json()["error"]["code"] == "room_full"

        time.sleep(2.1)
        assert services.drop_expired() == 1
        assert Participant.objects.get(pk=joined.json()["id"]).left_reason == "expired"
        assert wait_until(lambda: Janus(janus.server.api_url, janus.server.admin_key).participants(r["id"]) == [])
        late = loop.run(RtcPeer.create())
        refused = join(loop, late, token(live_api, r["id"], "late", ttl=1))
        assert refused.status_code == 201  # the room has room again
        loop.run(late.close())
    finally:
        loop.run(first.close())
        loop.run(second.close())


def test_test_mode_minutes_are_recorded_as_test_usage(janus, loop, api):
    r = room(api)
    peer = loop.run(RtcPeer.create())
    try:
        joined = join(loop, peer, token(api, r["id"], "tester"))
        assert joined.status_code == 201
        api.delete(f"/v1/rtc/rooms/{r['id']}")
    finally:
        loop.run(peer.close())
    usage = UsageEvent.objects.get(meter="rtc_participant_minutes")
    assert usage.mode == "test"  # kept and shown, never invoiced (billing rates live usage only)


def test_the_app_mutes_and_kicks_a_participant(janus, loop, live_api):
    r = room(live_api)
    loud, ear = loop.run(RtcPeer.create(440)), loop.run(RtcPeer.create(660))
    try:
        speaker = join(loop, loud, token(live_api, r["id"], "loud")).json()
        assert join(loop, ear, token(live_api, r["id"], "ear")).status_code == 201
        assert wait_until(lambda: ear.loud_frames > 25, 15)
        base = f"/v1/rtc/rooms/{r['id']}/participants/{speaker['id']}"
        assert live_api.post(f"{base}/mute", {"muted": True}, format="json").status_code == 200
        time.sleep(0.5)
        ear.reset()
        time.sleep(1.0)
        assert ear.frames > 25 and ear.loud_frames == 0, (ear.frames, ear.loud_frames)

        kicked = live_api.delete(base)
        assert kicked.status_code == 200 and kicked.json()["left_reason"] == "kicked"
        janus_api = Janus(janus.server.api_url, janus.server.admin_key)
        assert wait_until(lambda: [p["display"] for p in janus_api.participants(r["id"])] == ["ear"])
        gone = live_api.post(f"{base}/mute", {"muted": False}, format="json")
        assert gone.status_code == 409 and gone.json()["error"]["code"] == "rtc_participant_left"
        other = live_api.delete(f"/v1/rtc/rooms/{r['id']}/participants/rtcp_01JD0000000000000000000000")
        assert other.status_code == 404 and other.json()["error"]["param"] == "participant_id"
    finally:
        loop.run(loud.close())
        loop.run(ear.close())


def test_a_revoked_token_drops_its_live_participant_and_cannot_join_again(janus, loop, live_api):
    r = room(live_api)
    minted = live_api.post(f"/v1/rtc/rooms/{r['id']}/tokens",
                           {"identity": "guest", "privileges": ["publish_audio", "subscribe"], "ttl_seconds": 600},
                           format="json").json()
    peer = loop.run(RtcPeer.create())
    try:
        joined = join(loop, peer, minted["token"])
        assert joined.status_code == 201
        revoked = live_api.delete(f"/v1/rtc/rooms/{r['id']}/tokens/{minted['id']}")
        assert revoked.status_code == 200 and revoked.json()["participants_dropped"] == 1
        assert Participant.objects.get(pk=joined.json()["id"]).left_reason == "revoked"
        janus_api = Janus(janus.server.api_url, janus.server.admin_key)
        assert wait_until(lambda: janus_api.participants(r["id"]) == [])
        again = join(loop, loop.run(RtcPeer.create()), minted["token"])
        assert again.status_code == 401 and again.json()["error"]["code"] == "rtc_token_revoked"
        bad = live_api.delete(f"/v1/rtc/rooms/{r['id']}/tokens/not-a-token")
        assert bad.status_code == 404 and bad.json()["error"]["param"] == "token_id"
    finally:
        loop.run(peer.close())


def test_a_recorded_room_leaves_a_downloadable_wav_of_the_mix(janus, loop, live_api, provisioned):
    r = room(live_api, record=True)
    alice, bob = loop.run(RtcPeer.create(440)), loop.run(RtcPeer.create(660))
    try:
        assert join(loop, alice, token(live_api, r["id"], "alice")).status_code == 201
        assert join(loop, bob, token(live_api, r["id"], "bob")).status_code == 201
        assert wait_until(lambda: alice.loud_frames > 50 and bob.loud_frames > 50, 15)
        missing = live_api.get(f"/v1/rtc/rooms/{r['id']}/recording")
        assert missing.status_code == 404  # stored when the room closes
        closed = live_api.delete(f"/v1/rtc/rooms/{r['id']}").json()
    finally:
        loop.run(alice.close())
        loop.run(bob.close())
    assert closed["recording"]["size_bytes"] > 44
    download = live_api.get(closed["recording"]["url"])
    assert download.status_code == 200 and download["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(b"".join(download.streaming_content))) as wav:
        assert wav.getsampwidth() == 2
        seconds = wav.getnframes() / wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    assert seconds > 1.0
    rms = math.sqrt(sum(v * v for v in samples) / len(samples))
    assert rms > 500, rms
    ready = Event.objects.get(app=provisioned.app, type="rtc.recording.ready")
    assert ready.data["room_id"] == r["id"] and ready.data["size_bytes"] == closed["recording"]["size_bytes"]
    other = client_for(provisioned.test_key.secret).get(closed["recording"]["url"])
    assert other.status_code == 404  # the test key cannot reach the live room's recording
