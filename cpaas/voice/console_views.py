"""Console pages of the voice room: call log, call detail (legs, timeline, recordings), debugger."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

import webhooks
from cpaas.console.access import console_view
from cpaas.core import crypto
from cpaas.core.clientip import client_ip
from cpaas.tenants.models import App
from cpaas.voice import states
from cpaas.voice.models import Call, CallLogEntry, Recording, VoiceSettings
from cpaas.voice.signing import MODES, signing_secret_rotate
from cpaas.voice.storage import recordings_storage
from cpaas.voice.transitions import status_callback_key

PAGE = 50


def _tenant_calls(request):
    return Call.objects.filter(tenant=request.console_tenant)


@console_view()
def call_list(request):
    calls = _tenant_calls(request).select_related("app").prefetch_related("legs")
    status = request.GET.get("status")
    if status in states.STATUSES:
        calls = calls.filter(status=status)
    before = request.GET.get("before")
    if before:
        calls = calls.filter(pk__lt=before)
    rows = list(calls.order_by("-pk")[: PAGE + 1])
    return render(request, "voice/call_list.html", {
        "calls": rows[:PAGE], "next_before": rows[PAGE - 1].pk if len(rows) > PAGE else None,
        "statuses": states.STATUSES, "status": status, "secrets": _secret_hints(request),
    })


def _secret_hints(request) -> list[tuple[App, list[tuple[str, str | None]]]]:
    """Each app with its signing secrets' hints per mode: never the secrets (decision 0870)."""
    apps = list(App.objects.filter(tenant=request.console_tenant).order_by("created_at"))
    stored = dict(VoiceSettings.objects.filter(app__in=apps).values_list("app_id", "signing_secrets"))
    return [(app, [(mode, crypto.mode_secret_hint(stored.get(app.id, {}), mode)) for mode in MODES])
            for app in apps]


@never_cache
@require_POST
@console_view()
def signing_secret_rotate_view(request, app_id: str, mode: str):
    """Create or rotate one app's signing secret of ``mode``: the only page that shows it."""
    app = App.objects.filter(tenant=request.console_tenant, pk=app_id).first()
    if app is None or mode not in MODES:
        raise Http404("No such app.")
    rotated = signing_secret_rotate(tenant_id=app.tenant_id, app_id=app.id, mode=mode,
                                    actor_user_id=request.user.pk, ip=client_ip(request))
    return render(request, "voice/signing_secret_created.html", {"app": app, "mode": mode, "secret": rotated.secret})


def _timeline(call: Call, legs, log) -> list[dict]:
    """Status changes from the CDR timestamps, merged with the call's log (verbs, fetches, errors)."""
    items = [{"at": call.created_at, "what": "call accepted (queued)", "level": "info"}]
    for leg in legs:
        for field, label in (("initiated_at", "dialling"), ("ringing_at", "ringing"),
                             ("answered_at", "answered"), ("ended_at", "ended")):
            value = getattr(leg, field)
            if value is not None:
                extra = f" ({leg.status}, {leg.hangup_cause}, SIP {leg.sip_code})" if field == "ended_at" else ""
                items.append({"at": value, "what": f"leg {leg.role} {leg.to}: {label}{extra}", "level": "info"})
    for entry in log:
        items.append({"at": entry.at, "what": entry.message, "level": entry.level})
    if call.ended_at:
        items.append({"at": call.ended_at, "what": f"call {call.status} ({call.hangup_cause})", "level": "info"})
    return sorted(items, key=lambda item: item["at"])


@console_view()
def call_detail(request, call_id: str):
    call = _tenant_calls(request).filter(pk=call_id).select_related("app").first()
    if call is None:
        raise Http404("No such call.")
    legs = list(call.legs.order_by("position"))
    log = list(call.log.order_by("id"))
    recordings = list(call.recordings.filter(deleted_at__isnull=True).order_by("pk"))
    callbacks = webhooks.callbacks_with_keys(
        call.app_id, [status_callback_key(call.id, status) for status in states.EVENT_FOR_STATUS]
    ) if call.status_callback else []
    return render(request, "voice/call_detail.html", {
        "call": call, "legs": legs, "timeline": _timeline(call, legs, log), "recordings": recordings,
        "errors": [entry for entry in log if entry.level == "error"], "callbacks": callbacks,
    })


@console_view()
def recording_audio(request, recording_id: str):
    recording = Recording.objects.filter(pk=recording_id, app__tenant=request.console_tenant,
                                         deleted_at__isnull=True).first()
    if recording is None:
        raise Http404("No such recording.")
    return FileResponse(recordings_storage().open(recording.storage_name, "rb"),
                        content_type=recording.content_type)


@console_view()
def debugger(request):
    entries = (CallLogEntry.objects.filter(app__tenant=request.console_tenant, level="error")
               .select_related("call").order_by("-id")[:PAGE])
    return render(request, "voice/debugger.html", {"entries": entries})
