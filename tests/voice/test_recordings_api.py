"""The Recordings API: metadata, the WAV audio, deletion, isolation; a configurable storage backend."""

from __future__ import annotations

import io
import wave

import pytest

from cpaas.voice import conf
from cpaas.voice.models import Recording
from cpaas.voice.storage import recordings_storage


@pytest.fixture
def recording_id(api, voice) -> str:
    response = api.post("/v1/calls", {"to": "+12025550123", "from": "+15005559000", "record": True,
                                      "instructions": '<Response><Pause length="7"/></Response>'}, format="json")
    voice.run(response.json()["id"])
    return Recording.objects.get().id


def test_it_returns_recording_metadata(api, recording_id):
    body = api.get(f"/v1/recordings/{recording_id}").json()
    assert body["object"] == "recording" and body["duration"] == 7 and body["content_type"] == "audio/wav"
    assert body["audio_url"] == f"/v1/recordings/{recording_id}/audio"
    assert body["size"] == 44 + 7 * 8000 * 2


def test_it_returns_the_audio_as_wav(api, recording_id):
    response = api.get(f"/v1/recordings/{recording_id}/audio")
    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(b"".join(response.streaming_content))) as w:
        assert w.getnframes() == 7 * 8000


def test_it_lists_recordings_by_call(api, recording_id):
    call_id = Recording.objects.get().call_id
    assert [r["id"] for r in api.get(f"/v1/recordings?call_id={call_id}").json()["data"]] == [recording_id]
    assert api.get("/v1/recordings?call_id=call_other").json()["data"] == []


def test_it_deletes_a_recording_and_its_audio(api, recording_id, django_capture_on_commit_callbacks):
    name = Recording.objects.get().storage_name
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/v1/recordings/{recording_id}")
    assert response.json() == {"id": recording_id, "object": "recording", "deleted": True}
    assert not recordings_storage().exists(name)
    assert api.get(f"/v1/recordings/{recording_id}").status_code == 404
    assert api.get(f"/v1/recordings/{recording_id}/audio").status_code == 404
    assert api.delete(f"/v1/recordings/{recording_id}").status_code == 404


def test_it_hides_another_tenants_recording(api, other_api, recording_id):
    assert other_api.get(f"/v1/recordings/{recording_id}").status_code == 404
    assert other_api.get(f"/v1/recordings/{recording_id}/audio").status_code == 404
    assert other_api.delete(f"/v1/recordings/{recording_id}").status_code == 404
    assert other_api.get("/v1/recordings").json()["data"] == []
    assert api.get(f"/v1/recordings/{recording_id}").status_code == 200


def test_it_answers_404_for_an_unknown_recording(api):
    response = api.get("/v1/recordings/rec_01J0000000000000000000000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_storage_backend_is_configurable(api, voice, monkeypatch):
    monkeypatch.setattr(conf, "VOICE_RECORDINGS_STORAGE", "django.core.files.storage.InMemoryStorage")
    monkeypatch.setattr(conf, "VOICE_RECORDINGS_STORAGE_OPTIONS", {})
    recordings_storage.cache_clear()
    response = api.post("/v1/calls", {"to": "+12025550123", "from": "+15005559000", "record": True,
                                      "instructions": '<Response><Pause length="2"/></Response>'}, format="json")
    voice.run(response.json()["id"])
    recording = Recording.objects.get()
    assert type(recordings_storage()).__name__ == "InMemoryStorage"
    assert recordings_storage().size(recording.storage_name) == recording.size_bytes
    audio = api.get(f"/v1/recordings/{recording.id}/audio")
    assert audio.status_code == 200


def test_it_lists_recordings_in_a_fixed_number_of_queries(api, app, recording_id):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    recording = Recording.objects.get()
    api.get("/v1/recordings")
    with CaptureQueriesContext(connection) as one:
        api.get("/v1/recordings")
    for _ in range(4):
        Recording.objects.create(app=app, call_id=recording.call_id, source="verb", storage_name="x.wav")
    with CaptureQueriesContext(connection) as five:
        assert len(api.get("/v1/recordings").json()["data"]) == 5
    assert len(five) == len(one)
