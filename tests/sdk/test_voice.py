import io
import wave

import pytest
from django.utils import timezone

from cpaas.carriers.clock import VirtualClock
from cpaas.carriers.sandbox import SandboxVoiceConnector
from cpaas_sdk import InvalidRequest, NotFound
from cpaas_sdk.voice import VoiceResponse
from tests.voice.conftest import Voice

FROM = "+15005559000"  # test keys own +15005559000 to +15005559999


@pytest.fixture
def voice(live) -> Voice:
    """The voice engine on a virtual clock, run in the test (as tests/voice do)."""
    clock = VirtualClock(start=timezone.now().replace(microsecond=0))
    return Voice(clock=clock, network=SandboxVoiceConnector(clock=clock))


def test_create_a_call_from_a_builder_document_fetch_list_and_hang_up(client):
    document = VoiceResponse().say("Your code is 1 2 3 4.").pause(length=30)
    call = client.calls.create(to="+12025550123", from_=FROM, instructions=document)
    assert call.id.startswith("call_")
    assert client.calls.retrieve(call.id).to == "+12025550123"
    assert call.id in [c.id for c in client.calls.list(kind="call")]
    assert client.calls.hangup(call.id).status in {"completed", "canceled"}


def test_a_callback_call(client):
    call = client.calls.create_callback(party_a="+12025550123", party_b="+12025550124",
                                        caller_id_a=FROM, caller_id_b=FROM)
    assert call.kind == "callback"
    assert call.id in [c.id for c in client.calls.list(kind="callback")]


def test_a_bad_document_is_a_typed_error(client):
    with pytest.raises(InvalidRequest) as caught:
        client.calls.create(to="+12025550123", from_=FROM, instructions="<Response><Dance/></Response>")
    assert (caught.value.code, caught.value.param) == ("invalid_instructions", "instructions")


def test_recordings_list_fetch_download_and_delete(client, voice):
    call = client.calls.create(to="+12025550123", from_=FROM, record=True,
                               instructions='<Response><Pause length="3"/></Response>')
    voice.run(call.id)
    (recording,) = client.recordings.list(call_id=call.id)
    assert client.recordings.retrieve(recording.id).duration == 3
    with wave.open(io.BytesIO(client.recordings.audio(recording.id))) as audio:
        assert audio.getnframes() == 3 * 8000
    client.recordings.delete(recording.id)
    with pytest.raises(NotFound):
        client.recordings.retrieve(recording.id)


def test_sip_endpoints(client):
    endpoint = client.sip_endpoints.create(username="desk-1", display_name="Desk")
    assert endpoint.password
    assert endpoint.id in [e.id for e in client.sip_endpoints.list()]
    assert client.sip_endpoints.update(endpoint.id, display_name="Front desk").display_name == "Front desk"
    assert client.sip_endpoints.retrieve(endpoint.id).username == "desk-1"
    client.sip_endpoints.delete(endpoint.id)
    with pytest.raises(NotFound):
        client.sip_endpoints.retrieve(endpoint.id)


def test_voice_settings(client):
    before = client.voice_settings.retrieve()
    after = client.voice_settings.rotate_signing_secret()
    assert after != before
