"""The ASGI server keeps its PostgreSQL connections bounded (decision 0913): Django runs each
request's sync code in a thread of its own, and a persistent connection per thread was never
reused, so a burst of requests opened connections until PostgreSQL refused more. A real uvicorn
process serves bursts of concurrent API requests while pg_stat_activity is sampled."""

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.carriers.smsc import free_port
from tests.im.conftest import terminate_other_connections

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
APPLICATION_NAME = "cpaas-asgi-bound-test"
BOUND = 4
LEAN_CONNECTIONS = 2  # the lean send path's group commit (SMS_ACCEPT_DB_CONNECTIONS), decision 1010
CONCURRENT = 40


def server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND (application_name = %s OR application_name = %s)",
                       [APPLICATION_NAME, f"{APPLICATION_NAME}/sms-accept"])
        return cursor.fetchone()[0]


@pytest.fixture
def server(settings):
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = (f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
           f"?application_name={APPLICATION_NAME}")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "CPAAS_TESTING": "1",
           "DJANGO_SETTINGS_MODULE": "cpaas.settings", "LOG_LEVEL": "WARNING", "DB_POOL_MAX_SIZE": str(BOUND),
           "RATE_LIMIT_TEST_PER_SECOND": "100000", "RATE_LIMIT_TENANT_TEST_PER_SECOND": "100000",
           "SMS_ACCEPT_DB_CONNECTIONS": str(LEAN_CONNECTIONS)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cpaas.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "uvicorn exited"
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/", timeout=1.0)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "uvicorn did not answer within 30 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)
        terminate_other_connections()


def terminate_server_connections() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name LIKE %s", [f"{APPLICATION_NAME}%"])


def test_concurrent_requests_keep_the_server_within_its_connection_bound(server, secret):
    seen: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            seen.append(server_connections())
            time.sleep(0.02)

    async def burst(client: httpx.AsyncClient) -> list[int]:
        # reads (the ORM) and single sends (the prepared INSERT on pg_cursor, decision 0420)
        requests = [client.get("/v1/messages") if i % 2 else
                    client.post("/v1/messages", json={"to": "+15005550000", "from": "Acme", "body": f"hi {i}"})
                    for i in range(CONCURRENT)]
        return [response.status_code for response in await asyncio.gather(*requests)]

    async def bursts() -> list[int]:
        limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
        async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {secret}"},
                                     limits=limits, timeout=30.0) as client:
            statuses = []
            for round in range(4):
                if round == 2:  # PostgreSQL ends the pooled connections (a restart, an idle timeout)
                    await asyncio.to_thread(terminate_server_connections)
                statuses += await burst(client)
            return statuses

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        statuses = asyncio.run(bursts())
        time.sleep(0.3)
    finally:
        stop.set()
        sampler.join(5)
    assert set(statuses) == {200, 201}, sorted(set(statuses))
    bound = BOUND + LEAN_CONNECTIONS
    assert max(seen) <= bound, f"the server held up to {max(seen)} connections (bound {bound})"
    assert max(seen) >= 1  # the sampler saw the server's connections at all


def test_the_asgi_entry_point_turns_the_pool_on_by_default_and_workers_do_not(settings):
    env = {k: v for k, v in os.environ.items() if k != "DB_POOL_MAX_SIZE"}
    env.update(DJANGO_SETTINGS_MODULE="cpaas.settings", CPAAS_TESTING="1",
               DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused")
    show = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS', {}).get('pool'))"
    server = subprocess.run([sys.executable, "-c", f"import cpaas.asgi; {show}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    assert "'max_size': 16" in server.stdout
    worker = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {show}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    assert worker.stdout.strip() == "None"
