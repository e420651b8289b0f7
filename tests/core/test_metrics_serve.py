"""``manage.py metrics_serve``: a worker-only host's /metrics sums its processes' counters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_make_run import free_port
from tests.im.test_chaos import _database_url

ROOT = Path(__file__).resolve().parents[2]
COUNT = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()
from cpaas.core.metrics import count_sms_submitted
count_sms_submitted({"m1": ("smpp-a", "c1"), "m2": ("smpp-a", "c2")}, {})
"""


@pytest.mark.django_db(transaction=True)
def test_the_counters_of_processes_that_exited_are_served_summed(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.settings",
           "DATABASE_URL": _database_url()}
    for _ in range(2):  # two worker processes, each submitting a batch of two
        subprocess.run([sys.executable, "-c", COUNT], cwd=ROOT, env=env, check=True, timeout=60)
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "metrics_serve", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "serving" in server.stdout.readline()
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200
        samples = [s for family in text_string_to_metric_families(response.text) for s in family.samples]
        assert [s.value for s in samples if s.name == "cpaas_sms_submitted_total"
                and s.labels == {"connector": "smpp-a", "outcome": "accepted"}] == [4]
        assert any(s.name == "cpaas_celery_queue_depth" for s in samples)
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=10)
