"""Tasks of the voice queue: hand a queued call to this worker's engine; sweep stuck calls."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.utils import timezone

from cpaas.core.tasks import BaseTask
from cpaas.voice import conf, states
from cpaas.voice.lease import engine_name
from cpaas.voice.models import Call, CallLeg, VoiceEngine
from cpaas.voice.transitions import call_transition, leg_transition


def call_claim(call_id: str) -> bool:
    """Compare-and-set: only one worker ever takes a queued call; ``claimed_by`` names its engine."""
    return bool(Call.objects.filter(pk=call_id, status=states.QUEUED, claimed_at__isnull=True)
                .update(claimed_by=engine_name(), claimed_at=timezone.now()))


@shared_task(base=BaseTask, name="cpaas.voice.tasks.call_dispatch", queue="voice")
def call_dispatch(call_id: str) -> bool:
    """Claim a queued call and start it on this process's engine (the call runs on after we return)."""
    if not call_claim(call_id):
        return False
    from cpaas.voice.runtime import get_runtime

    get_runtime().submit(call_id)
    return True


def _seconds_between(start: datetime | None, end: datetime | None) -> int:
    return max(0, int((end - start).total_seconds())) if start and end and end > start else 0


def call_fail_lost(call: Call, *, now: datetime, last_seen: datetime | None) -> bool:
    """End a call whose engine is gone: it and its open legs become ``failed`` / ``engine_lost``.

    An answered leg is billed up to ``last_seen`` (the engine's last lease renewal, when the call
    was surely still up), never beyond: the tenant is not charged for time nobody can vouch for.
    """
    for leg in CallLeg.objects.filter(call_id=call.pk).exclude(status__in=states.FINAL):
        seconds = _seconds_between(leg.answered_at, last_seen)
        leg_transition(leg.pk, states.FAILED, at=now, ended_at=now, hangup_cause="engine_lost",
                       hangup_by="platform", duration_seconds=seconds, billable_seconds=seconds,
                       livemode=call.mode == "live")
    Call.objects.filter(pk=call.pk, error_code="").update(error_code="engine_lost",
                                                          error_message="the engine running this call stopped")
    return call_transition(call.pk, states.FAILED, at=now, ended_at=now, hangup_cause="engine_lost",
                           duration_seconds=_seconds_between(call.answered_at, last_seen)) is not None


@shared_task(base=BaseTask, name="cpaas.voice.tasks.call_sweep", queue="voice")
def call_sweep() -> dict[str, int]:
    """Re-enqueue queued calls nobody claimed; fail claimed calls whose engine is gone.

    An engine renews its lease every few seconds while it runs (cpaas/voice/lease.py). A claimed
    call whose engine's lease expired (or that outlived its ring time + time limit + a margin,
    an engine bug) ends as ``failed`` with cause ``engine_lost``: a crashed engine drops its calls,
    as a crashed SIP server does on a real network.
    """
    now = timezone.now()
    requeue = list(Call.objects.filter(
        status=states.QUEUED, claimed_at__isnull=True,
        created_at__lt=now - timedelta(seconds=conf.VOICE_REQUEUE_AFTER_SECONDS),
    ).values_list("pk", flat=True)[:1000])
    for call_id in requeue:
        call_dispatch.apply_async((call_id,), queue="voice")

    expired = now - timedelta(seconds=conf.VOICE_ENGINE_LEASE_SECONDS)
    beats = dict(VoiceEngine.objects.values_list("name", "heartbeat_at"))
    alive = [name for name, beat in beats.items() if beat > expired]
    fields = ("pk", "mode", "claimed_by", "claimed_at", "answered_at", "timeout", "time_limit")
    stuck = Call.objects.exclude(status__in=states.FINAL).filter(claimed_at__isnull=False)
    # The claim's own age is the grace an engine has to renew its lease for the first time.
    lost = list(stuck.filter(claimed_at__lt=expired).exclude(claimed_by__in=alive).only(*fields)[:1000])
    margin = timedelta(seconds=conf.VOICE_SWEEP_MARGIN_SECONDS)
    lost += [call for call in stuck.filter(claimed_by__in=alive).order_by("claimed_at").only(*fields)[:1000]
             # Two ring times (callback: A then B) plus the time limit plus the margin.
             if call.claimed_at + timedelta(seconds=2 * call.timeout + call.time_limit) + margin <= now]
    failed = sum(call_fail_lost(call, now=now, last_seen=beats.get(call.claimed_by)) for call in lost)
    # Leases expired long ago, with no call left to vouch for, are forgotten.
    VoiceEngine.objects.filter(heartbeat_at__lt=now - timedelta(days=1)).delete()
    return {"requeued": len(requeue), "failed": failed}
