"""The Calls and Recordings API: /v1/calls, /v1/calls/callback, /v1/calls/{id}, /v1/recordings, and
the voice settings (the signing secret): /v1/voice/settings."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from cpaas.core.clientip import client_ip
from cpaas.core.errors import ApiError
from cpaas.core.pagination import paginate
from cpaas.core.views import ApiView
from cpaas.voice import selectors, services, signing, states
from cpaas.voice.models import Call, Recording
from cpaas.voice.serializers import (
    CallbackCreateIn,
    CallCreateIn,
    CallModifyIn,
    VoiceSettingsOut,
    call_out,
    recording_out,
    voice_settings_out,
)


def _calls_out(rows) -> list[dict]:
    return [call_out(call) for call in rows]


class CallListView(ApiView):
    product = "voice"

    @extend_schema(operation_id="calls_list", responses={200: dict}, parameters=[
        OpenApiParameter("status", str), OpenApiParameter("kind", str),
        OpenApiParameter("to", str), OpenApiParameter("from", str)])
    def get(self, request):
        params = request.query_params
        state = params.get("status")
        if state is not None and state not in states.STATUSES:
            raise ApiError(f"`status` must be one of {', '.join(states.STATUSES)}.", param="status")
        kind = params.get("kind")
        if kind is not None and kind not in ("call", "callback"):
            raise ApiError("`kind` must be call or callback.", param="kind")
        calls = selectors.call_list(self.scoped(Call), status=state, kind=kind,
                                    to=params.get("to"), from_number=params.get("from"))
        return Response(paginate(request, calls, _calls_out))

    @extend_schema(operation_id="calls_create", request=CallCreateIn, responses={201: dict})
    def post(self, request):
        data = CallCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        call = services.call_create(
            principal=self.principal, to=v["to"], from_=v["from"], url=v.get("url"),
            instructions=v.get("instructions"), status_callback=v.get("status_callback", ""),
            status_events=v.get("status_events"), timeout=v["timeout"], time_limit=v["time_limit"],
            record=v["record"],
        )
        return Response(call_out(services.call_get(principal=self.principal, call_id=call.id)),
                        status=status.HTTP_201_CREATED)


class CallbackCreateView(ApiView):
    product = "voice"

    @extend_schema(operation_id="calls_callback_create", request=CallbackCreateIn, responses={201: dict})
    def post(self, request):
        data = CallbackCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        call = services.callback_create(
            principal=self.principal, party_a=v["party_a"], party_b=v["party_b"],
            caller_id_a=v["caller_id_a"], caller_id_b=v["caller_id_b"], prompt=v["prompt"],
            status_callback=v.get("status_callback", ""), status_events=v.get("status_events"),
            timeout=v["timeout"], time_limit=v["time_limit"], record=v["record"],
        )
        return Response(call_out(services.call_get(principal=self.principal, call_id=call.id)),
                        status=status.HTTP_201_CREATED)


class CallDetailView(ApiView):
    product = "voice"

    @extend_schema(operation_id="calls_retrieve", responses={200: dict})
    def get(self, request, call_id: str):
        return Response(call_out(services.call_get(principal=self.principal, call_id=call_id)))

    @extend_schema(operation_id="calls_modify", request=CallModifyIn, responses={200: dict})
    def post(self, request, call_id: str):
        data = CallModifyIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        call = services.call_modify(principal=self.principal, call_id=call_id, status=v.get("status"),
                                    url=v.get("url"), instructions=v.get("instructions"))
        return Response(call_out(call))


class RecordingListView(ApiView):
    product = "voice"

    @extend_schema(operation_id="recordings_list", responses={200: dict},
                   parameters=[OpenApiParameter("call_id", str)])
    def get(self, request):
        rows = selectors.recording_list(self.scoped(Recording), call_id=request.query_params.get("call_id"))
        return Response(paginate(request, rows, lambda page: [recording_out(r) for r in page]))


class RecordingDetailView(ApiView):
    product = "voice"

    @extend_schema(operation_id="recordings_retrieve", responses={200: dict})
    def get(self, request, recording_id: str):
        return Response(recording_out(services.recording_get(principal=self.principal,
                                                             recording_id=recording_id)))

    @extend_schema(operation_id="recordings_delete", responses={200: dict})
    def delete(self, request, recording_id: str):
        recording = services.recording_delete(principal=self.principal, recording_id=recording_id)
        return Response({"id": recording.id, "object": "recording", "deleted": True})


class RecordingAudioView(ApiView):
    product = "voice"

    @extend_schema(operation_id="recordings_audio", responses={(200, "audio/wav"): bytes})
    def get(self, request, recording_id: str):
        from cpaas.voice.storage import recordings_storage

        recording = services.recording_get(principal=self.principal, recording_id=recording_id)
        handle = recordings_storage().open(recording.storage_name, "rb")
        response = FileResponse(handle, content_type=recording.content_type,
                                filename=f"{recording.id}.wav")
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, FileResponse):
            return response
        return super().finalize_response(request, response, *args, **kwargs)


def _mode(principal) -> str:
    return "test" if principal.is_test else "live"


class VoiceSettingsView(ApiView):
    """The key's mode's signing secret, as a hint only. Reading creates nothing (decision 0870)."""

    product = "management"

    @extend_schema(operation_id="voice_settings_retrieve", responses={200: VoiceSettingsOut})
    def get(self, request):
        principal = self.principal
        return Response(voice_settings_out(signing.signing_secret_hint(principal.app_id, _mode(principal))))


class VoiceSigningSecretRotateView(ApiView):
    """A new signing secret for the key's mode (the first one too), shown in this response only."""

    product = "management"

    @extend_schema(operation_id="voice_signing_secret_rotate", request=None, responses={200: VoiceSettingsOut})
    def post(self, request):
        principal = self.principal
        rotated = signing.signing_secret_rotate(tenant_id=principal.tenant_id, app_id=principal.app_id,
                                                mode=_mode(principal), actor_key_id=principal.key_id,
                                                ip=client_ip(request))
        return Response(voice_settings_out(rotated.hint, rotated.secret))
