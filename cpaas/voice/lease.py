"""Engine leases: each engine renews its lease while it runs; a call whose engine's lease expired
is ended by the sweeper (``engine_lost``) instead of staying ``in-progress`` for hours."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime

from django.utils import timezone

from cpaas.voice.models import Call, VoiceEngine

_name: tuple[int, str] | None = None


def engine_name() -> str:
    """This process's engine name: host, pid and a token made at start, so a restarted process
    that gets the same pid (pid 1 in a container) never renews a dead engine's lease."""
    global _name
    pid = os.getpid()
    if _name is None or _name[0] != pid:
        _name = (pid, f"{socket.gethostname()[:70]}:{pid}:{secrets.token_hex(4)}")
    return _name[1]


def lease_renew(name: str, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if not VoiceEngine.objects.filter(pk=name).update(heartbeat_at=now):
        VoiceEngine.objects.update_or_create(pk=name, defaults={"heartbeat_at": now})


def pending_controls(call_ids: list[str]) -> list[str]:
    """Which of these calls have a control (hang up, redirect) waiting in their row."""
    return list(Call.objects.filter(pk__in=call_ids, pending_control__isnull=False).values_list("pk", flat=True))
