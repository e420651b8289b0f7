"""Periodic tasks of the voice room (merged into the beat schedule by cpaas/celery.py)."""

from cpaas.voice import conf

BEAT = {
    "voice-call-sweep": {"task": "cpaas.voice.tasks.call_sweep", "schedule": conf.VOICE_SWEEP_SECONDS,
                         "options": {"queue": "voice"}},
}
