"""The threads of an SMS worker start in one place (messaging/worker.py), never from a connector."""

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from celery.signals import worker_process_init

from cpaas.carriers.base import OutboundSms
from cpaas.carriers.smpp import SmppConfig, SmppConnector
from cpaas.messaging import tasks, worker
from cpaas.messaging.sink import MessagingSink
from tests.carriers.smsc import Smsc

ROOM_THREADS = {"sms-sink-flusher"}
ROOT = Path(__file__).resolve().parents[2]


def thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def test_an_smpp_connector_starts_none_of_the_rooms_threads(tmp_path):
    """The connector used to start the sink's flusher (``hasattr(sink, "start_flusher")``): a
    connector's only thread is its own bind."""
    assert not ROOM_THREADS & thread_names()
    server = Smsc(tmp_path).start()
    sink = MessagingSink()
    connector = SmppConnector(name="smsc-threads", config=SmppConfig.parse(server.config()), throughput=0, sink=sink)
    try:
        result, = connector.submit([OutboundSms(message_id="msg_t", to="+447700900123", sender="Acme",
                                                parts=("Hello",), encoding="GSM-7")])
        assert result.accepted
        deadline = time.monotonic() + 10
        while not sink.receipts and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sink.receipts  # the bind pushed the receipt; nobody flushed it
        names = thread_names()
        assert "smpp-smsc-threads" in names
        assert not ROOM_THREADS & names
    finally:
        connector.close()
        server.stop()


def test_the_tasks_module_hooks_worker_start_to_each_pool_process():
    assert tasks.worker is worker
    assert any(receiver() is worker.on_process_init for _, receiver in worker_process_init.receivers
               if callable(receiver))


def test_worker_start_runs_each_thread_once_per_process():
    """In a fresh process (the threads are daemons that would outlive a test here)."""
    script = textwrap.dedent("""
        import django, threading
        django.setup()
        from cpaas.messaging import worker
        worker.start(binds=False)
        worker.start(binds=False)
        names = [t.name for t in threading.enumerate()]
        print(*(names.count(name) for name in ("sms-sink-flusher", "sms-callbacks", "sms-kicker")))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0", "1"]  # no callback thread: the webhooks workers post them


@pytest.mark.django_db
def test_a_worker_process_of_another_queue_starts_nothing(monkeypatch):
    started = []
    monkeypatch.setattr(worker, "consumes_sms_queue", lambda: False)
    monkeypatch.setattr(worker, "start", lambda **kwargs: started.append(kwargs))
    worker.on_process_init()
    assert started == []
    monkeypatch.setattr(worker, "consumes_sms_queue", lambda: True)
    worker.on_process_init()
    assert started == [{"binds": True}]
