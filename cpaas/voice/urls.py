"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from cpaas.voice import api

urlpatterns = [
    path("calls", api.CallListView.as_view(), name="calls"),
    path("calls/callback", api.CallbackCreateView.as_view(), name="calls-callback"),
    path("calls/<str:call_id>", api.CallDetailView.as_view(), name="call-detail"),
    path("recordings", api.RecordingListView.as_view(), name="recordings"),
    path("recordings/<str:recording_id>", api.RecordingDetailView.as_view(), name="recording-detail"),
    path("recordings/<str:recording_id>/audio", api.RecordingAudioView.as_view(), name="recording-audio"),
    path("voice/settings", api.VoiceSettingsView.as_view(), name="voice-settings"),
    path("voice/settings/rotate-signing-secret", api.VoiceSigningSecretRotateView.as_view(),
         name="voice-signing-secret-rotate"),
]
