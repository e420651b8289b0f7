"""Tasks of the voice queue: hand a queued call to this worker's engine; sweep stuck calls."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from cpaas.core.tasks import BaseTask
from cpaas.voice import conf, states
from cpaas.voice.models import Call, CallLeg
from cpaas.voice.transitions import call_transition, leg_transition


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def call_claim(call_id: str) -> bool:
    """Compare-and-set: only one worker ever takes a queued call."""
    return bool(Call.objects.filter(pk=call_id, status=states.QUEUED, claimed_at__isnull=True)
                .update(claimed_by=_worker_name(), claimed_at=timezone.now()))


@shared_task(base=BaseTask, name="cpaas.voice.tasks.call_dispatch", queue="voice")
def call_dispatch(call_id: str) -> bool:
    """Claim a queued call and start it on this process's engine (the call runs on after we return)."""
    if not call_claim(call_id):
        return False
    from cpaas.voice.runtime import get_runtime

    get_runtime().submit(call_id)
    return True


@shared_task(base=BaseTask, name="cpaas.voice.tasks.call_sweep", queue="voice")
def call_sweep() -> dict[str, int]:
    """Re-enqueue queued calls nobody claimed; fail claimed calls whose engine must be gone.

    A claimed call cannot outlive its ring time + time limit; past that plus a margin, the
    process running it died (a crashed engine drops its calls on a real network too), so the
    call and its open legs end as ``failed`` with cause ``engine_lost``.
    """
    now = timezone.now()
    requeue = list(Call.objects.filter(
        status=states.QUEUED, claimed_at__isnull=True,
        created_at__lt=now - timedelta(seconds=conf.VOICE_REQUEUE_AFTER_SECONDS),
    ).values_list("pk", flat=True)[:1000])
    for call_id in requeue:
        call_dispatch.apply_async((call_id,), queue="voice")
    margin = timedelta(seconds=conf.VOICE_SWEEP_MARGIN_SECONDS)
    stuck = Call.objects.exclude(status__in=states.FINAL).filter(claimed_at__isnull=False)
    failed = 0
    for call in stuck.only("pk", "mode", "claimed_at", "timeout", "time_limit")[:1000]:
        # Two ring times (callback: A then B) plus the time limit plus the margin.
        if call.claimed_at + timedelta(seconds=2 * call.timeout + call.time_limit) + margin > now:
            continue
        for leg in CallLeg.objects.filter(call_id=call.pk).exclude(status__in=states.FINAL):
            leg_transition(leg.pk, states.FAILED, at=now, ended_at=now, hangup_cause="engine_lost",
                           hangup_by="platform", livemode=call.mode == "live")
        Call.objects.filter(pk=call.pk, error_code="").update(error_code="engine_lost",
                                                              error_message="the engine running this call stopped")
        if call_transition(call.pk, states.FAILED, at=now, ended_at=now, hangup_cause="engine_lost"):
            failed += 1
    return {"requeued": len(requeue), "failed": failed}

