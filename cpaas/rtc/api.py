"""The RTC API: rooms and tokens (API key), and the signalling endpoints (RTC token).

``/v1/rtc/join`` and ``/v1/rtc/leave`` are authenticated by the RTC token in the body, not by an
API key: a browser or app holds the token, never a key (decision 1501).
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from cpaas.core.errors import ApiError
from cpaas.core.pagination import paginate
from cpaas.core.views import ApiView
from cpaas.rtc import services
from cpaas.rtc.models import Participant, Room
from cpaas.rtc.serializers import JoinIn, LeaveIn, MuteIn, RoomCreateIn, TokenCreateIn, participant_out, room_out
from cpaas.voice.storage import recordings_storage


def _parse(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _rooms_out(rows) -> list[dict]:
    present = services.live_participants(list(rows))
    return [room_out(r, present[r.id]) for r in rows]


class RoomListView(ApiView):
    product = "rtc"

    @extend_schema(operation_id="rtc_rooms_list", responses={200: dict})
    def get(self, request):
        return Response(paginate(request, self.scoped(Room), _rooms_out))

    @extend_schema(operation_id="rtc_rooms_create", request=RoomCreateIn, responses={201: dict})
    def post(self, request):
        room = services.room_create(principal=self.principal, **_parse(RoomCreateIn, request.data))
        return Response(_rooms_out([room])[0], status=status.HTTP_201_CREATED)


class RoomDetailView(ApiView):
    product = "rtc"

    def room(self, rtc_room_id: str) -> Room:
        return self.get_scoped(Room, rtc_room_id, message=f"No such RTC room: {rtc_room_id}")

    @extend_schema(operation_id="rtc_rooms_retrieve", responses={200: dict})
    def get(self, request, rtc_room_id: str):
        return Response(_rooms_out([self.room(rtc_room_id)])[0])

    @extend_schema(operation_id="rtc_rooms_close", responses={200: dict})
    def delete(self, request, rtc_room_id: str):
        room = services.room_close(self.room(rtc_room_id))
        return Response(_rooms_out([room])[0])


class RecordingView(ApiView):
    product = "rtc"

    @extend_schema(operation_id="rtc_rooms_recording", responses={(200, "audio/wav"): bytes})
    def get(self, request, rtc_room_id: str):
        room = self.get_scoped(Room, rtc_room_id, message=f"No such RTC room: {rtc_room_id}")
        if not room.recording_name:
            raise ApiError("This room has no recording (yet: it is stored when the room closes).",
                           code="not_found", param="rtc_room_id", status=404)
        return FileResponse(recordings_storage().open(room.recording_name, "rb"), content_type="audio/wav",
                            filename=f"{room.id}.wav")

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, FileResponse):
            return response
        return super().finalize_response(request, response, *args, **kwargs)


class TokenCreateView(ApiView):
    product = "rtc"

    @extend_schema(operation_id="rtc_tokens_create", request=TokenCreateIn, responses={201: dict})
    def post(self, request, rtc_room_id: str):
        room = self.get_scoped(Room, rtc_room_id, message=f"No such RTC room: {rtc_room_id}")
        token = services.token_create(room=room, **_parse(TokenCreateIn, request.data))
        return Response(token, status=status.HTTP_201_CREATED)


class TokenRevokeView(ApiView):
    product = "rtc"

    @extend_schema(operation_id="rtc_tokens_revoke", responses={200: dict})
    def delete(self, request, rtc_room_id: str, rtc_token_id: str):
        room = self.get_scoped(Room, rtc_room_id, message=f"No such RTC room: {rtc_room_id}")
        dropped = services.token_revoke(room=room, token_id=rtc_token_id)
        return Response({"id": rtc_token_id, "object": "rtc_token", "revoked": True, "participants_dropped": dropped})


class _ParticipantBase(ApiView):
    """Moderation of one participant of one room: kick (DELETE) and mute (POST .../mute)."""

    product = "rtc"

    def participant(self, rtc_room_id: str, participant_id: str) -> Participant:
        room = self.get_scoped(Room, rtc_room_id, message=f"No such RTC room: {rtc_room_id}")
        return self.get_scoped(Participant, participant_id, param="participant_id",
                               queryset=Participant.objects.select_related("room__media_server").filter(room=room),
                               message=f"No such participant in this room: {participant_id}")


class ParticipantView(_ParticipantBase):
    @extend_schema(operation_id="rtc_participants_kick", responses={200: dict})
    def delete(self, request, rtc_room_id: str, participant_id: str):
        return Response(participant_out(services.kick(self.participant(rtc_room_id, participant_id))))


class ParticipantMuteView(_ParticipantBase):
    @extend_schema(operation_id="rtc_participants_mute", request=MuteIn, responses={200: dict})
    def post(self, request, rtc_room_id: str, participant_id: str):
        muted = _parse(MuteIn, request.data)["muted"]
        participant = services.mute(self.participant(rtc_room_id, participant_id), muted=muted)
        return Response({**participant_out(participant), "muted": muted})


class JoinView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(operation_id="rtc_join", request=JoinIn, responses={201: dict})
    def post(self, request):
        data = _parse(JoinIn, request.data)
        participant, answer = services.join(token=data["token"], offer_sdp=data["sdp"])
        return Response({**participant_out(participant), "room_id": participant.room_id,
                         "sdp": answer, "type": "answer"}, status=status.HTTP_201_CREATED)


class LeaveView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(operation_id="rtc_leave", request=LeaveIn, responses={200: dict})
    def post(self, request, participant_id: str):
        data = _parse(LeaveIn, request.data)
        return Response(participant_out(services.leave(token=data["token"], participant_id=participant_id)))
