"""Periodic tasks of the SMS room (merged into the beat schedule by cpaas/celery.py)."""

BEAT = {
    "sms-sweep-stuck": {"task": "sms.sweep", "schedule": 15.0, "options": {"queue": "sms"}},
    "sms-release-scheduled": {"task": "sms.release_scheduled", "schedule": 10.0, "options": {"queue": "sms"}},
    "sms-dispatch": {"task": "sms.dispatch", "schedule": 30.0, "options": {"queue": "sms"}},
}
