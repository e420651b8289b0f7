"""Periodic tasks of the voice room (merged into the beat schedule by cpaas/celery.py)."""

BEAT = {
    "voice-call-sweep": {"task": "cpaas.voice.tasks.call_sweep", "schedule": 60.0, "options": {"queue": "voice"}},
}
