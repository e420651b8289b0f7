"""Only workers consuming the ``sms`` queue open SMPP binds at process start (decision 0912): a
``-Q webhooks`` worker used to bind every SMPP connector too. Real Celery worker processes and the
test SMSC process; the SMSC logs each bind it accepts."""

import time

import pytest

from cpaas.messaging.connectors import connector_save
from tests.carriers.smsc import Smsc
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def smsc(tmp_path):
    server = Smsc(tmp_path).start()
    connector_save(id="smsc-binds", kind="smpp", config=server.config(), throughput=0)
    yield server
    server.stop()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_webhooks_worker_opens_no_smpp_bind(smsc):
    with celery_worker(queues="webhooks", concurrency=2):
        # Binds open in worker_process_init, before the worker answers a ping; give them time anyway.
        assert not wait_for(lambda: smsc.binds() > 0, timeout=3.0)
    assert smsc.binds() == 0


def test_an_sms_worker_opens_one_bind_per_process(smsc):
    with celery_worker(queues="sms", concurrency=2):
        assert wait_for(lambda: smsc.binds() >= 2, timeout=15.0)
    assert smsc.binds() == 2


def test_a_worker_on_several_queues_including_sms_binds(smsc):
    with celery_worker(queues="webhooks,sms", concurrency=1):
        assert wait_for(lambda: smsc.binds() >= 1, timeout=15.0)
