"""Periodic tasks of the RTC room (merged into the beat schedule by cpaas/celery.py)."""

BEAT = {
    "rtc-drop-expired": {"task": "cpaas.rtc.tasks.drop_expired", "schedule": 5.0},
}
