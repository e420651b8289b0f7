"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from cpaas.rtc import api

urlpatterns = [
    path("rtc/rooms", api.RoomListView.as_view(), name="rtc-rooms"),
    path("rtc/rooms/<str:rtc_room_id>", api.RoomDetailView.as_view(), name="rtc-room-detail"),
    path("rtc/rooms/<str:rtc_room_id>/recording", api.RecordingView.as_view(), name="rtc-room-recording"),
    path("rtc/rooms/<str:rtc_room_id>/tokens", api.TokenCreateView.as_view(), name="rtc-room-tokens"),
    path("rtc/rooms/<str:rtc_room_id>/tokens/<str:rtc_token_id>", api.TokenRevokeView.as_view(),
         name="rtc-room-token"),
    path("rtc/rooms/<str:rtc_room_id>/participants/<str:participant_id>", api.ParticipantView.as_view(),
         name="rtc-room-participant"),
    path("rtc/rooms/<str:rtc_room_id>/participants/<str:participant_id>/mute", api.ParticipantMuteView.as_view(),
         name="rtc-room-participant-mute"),
    path("rtc/join", api.JoinView.as_view(), name="rtc-join"),
    path("rtc/participants/<str:participant_id>/leave", api.LeaveView.as_view(), name="rtc-leave"),
]
