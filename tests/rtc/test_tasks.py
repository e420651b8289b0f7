"""The RTC sweep is on beat's schedule, every few seconds (token expiry drops within that)."""

from cpaas.celery import app
from cpaas.rtc.tasks import drop_expired


def test_the_sweep_is_on_the_beat_schedule_every_few_seconds():
    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == drop_expired.name]
    assert len(entries) == 1 and float(entries[0]["schedule"]) <= 5


def test_the_sweep_with_nothing_to_do_drops_nobody(db):
    assert drop_expired() == 0
