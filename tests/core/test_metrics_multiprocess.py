"""Multiprocess mode: two real uvicorn processes share PROMETHEUS_MULTIPROC_DIR and either one's
/metrics sums both (requests counted, IM sockets online); a process that dies stops counting its
sockets."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from cpaas.im import services as im_services
from tests.im.conftest import terminate_other_connections
from tests.im.processes import GatewayProcess
from tests.im.test_chaos import _database_url


@pytest.fixture
def two_processes(transactional_db, tmp_path):
    processes = [GatewayProcess(_database_url(), settings.REDIS_URL,
                                {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) for _ in range(2)]
    for process in processes:
        process.start()
    yield processes
    for process in processes:
        process.stop()
    terminate_other_connections()


def sample(base: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_either_process_reports_the_sum_of_both(two_processes, app):
    first, second = two_processes
    for _ in range(3):
        assert httpx.get(f"{first.http}/healthz", timeout=10).status_code == 200
    for _ in range(2):
        assert httpx.get(f"{second.http}/healthz", timeout=10).status_code == 200
    for process in two_processes:
        assert sample(process.http, "cpaas_http_requests_total", route="healthz", status="200") == 5

    token = im_services.token_create(user=im_services.user_create(app=app, mode="test", user_id="alice")).secret

    async def hold_sockets() -> tuple[float, float]:
        async with connect(f"{first.url}?token={token}", open_timeout=15) as a, \
                connect(f"{second.url}?token={token}", open_timeout=15) as b:
            await asyncio.wait_for(a.recv(), 10), await asyncio.wait_for(b.recv(), 10)  # the hello frames
            both = sample(first.http, "cpaas_im_sockets_online")
            second.kill()  # SIGKILL: no goodbye, its gauge file stays behind
            await asyncio.sleep(0.5)
            return both, sample(first.http, "cpaas_im_sockets_online")

    both, after_kill = asyncio.run(hold_sockets())
    assert (both, after_kill) == (2, 1)
