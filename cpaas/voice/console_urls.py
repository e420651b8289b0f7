"""Console pages of the voice room, under /console/voice/."""

from django.urls import path

from cpaas.sip_edge import console_views as sip_console_views
from cpaas.voice import console_views

app_name = "voice"

urlpatterns = [
    path("", console_views.call_list, name="calls"),
    path("calls/<str:call_id>", console_views.call_detail, name="call"),
    path("recordings/<str:recording_id>/audio", console_views.recording_audio, name="recording-audio"),
    path("debugger", console_views.debugger, name="debugger"),
    path("sip-endpoints", sip_console_views.endpoint_list, name="sip-endpoints"),
    path("apps/<str:app_id>/signing-secret/<str:mode>/rotate", console_views.signing_secret_rotate_view,
         name="signing-secret-rotate"),
]
