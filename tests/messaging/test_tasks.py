"""The sms queue's tasks (tasks.py): a dispatch run serves a stream of sends, not one task each."""

import threading
import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from cpaas.messaging import infra, tasks
from cpaas.messaging.kicks import DISPATCH_FLAG, SMS_QUEUE
from cpaas.messaging.models import Message, Status
from tests.messaging.conftest import send


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_run_takes_sends_committed_while_it_runs_and_they_enqueue_no_task(api):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(SMS_QUEUE)
    ids = []

    def sends() -> None:
        try:
            for n in range(2):
                time.sleep(0.15)
                ids.append(send(api, body=f"m{n}").json()["id"])
        finally:
            connection.close()

    thread = threading.Thread(target=sends)
    thread.start()
    started = time.monotonic()
    assert tasks.dispatch(idle_ms=600) == 2
    thread.join()
    assert time.monotonic() - started >= 0.9  # it stayed until 0.6 s passed without a message
    assert not Message.objects.filter(pk__in=ids, status=Status.QUEUED).exists()
    time.sleep(0.2)  # the sends' kicks go from the API process's kicker thread
    assert broker.llen(SMS_QUEUE) == 0  # the run held the kick flag: no task per send
    assert infra.flag_set_once(DISPATCH_FLAG, 1)  # and let go of it when it left
    broker.delete(SMS_QUEUE)
