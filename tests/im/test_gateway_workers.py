"""`uvicorn cpaas.asgi:application --workers N --ws cpaas.im.gateway.wsproto:RawFrameProtocol`, the
documented production command: uvicorn imports the ``--ws`` class in each worker process before
the ASGI app (before ``django.setup()``), so that import must not need the app registry (decision
0911). Every worker used to die with ``AppRegistryNotReady``."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cpaas.im import services
from cpaas_sdk.im import ImClient
from tests.carriers.smsc import free_port
from tests.im.conftest import terminate_other_connections
from tests.im.test_chaos import _database_url

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 40


def workers_of(pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing spawn children; not its resource tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            found.append(int(child))
    return found


def established_on(pid: int, port: int) -> int:
    """TCP connections in state ESTABLISHED on local ``port`` held by process ``pid`` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count


@pytest.fixture
def uvicorn_workers(transactional_db, settings):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL, "CPAAS_TESTING": "1",
           "DJANGO_SETTINGS_MODULE": "cpaas.settings", "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cpaas.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2", "--ws", "cpaas.im.gateway.wsproto:RawFrameProtocol", "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/im/users", timeout=1.0)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "no worker answered HTTP within 40 s"
                time.sleep(0.2)
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        terminate_other_connections()


def test_two_uvicorn_workers_serve_http_and_im_logins(uvicorn_workers, app, secret):
    process, port = uvicorn_workers
    workers = workers_of(process.pid)
    assert len(workers) == 2
    for _ in range(6):  # new connections: the kernel hands them to either worker
        response = httpx.get(f"http://127.0.0.1:{port}/v1/im/users", timeout=5.0,
                             headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200, response.text
    tokens = [services.token_create(user=services.user_create(app=app, mode="test", user_id=f"user{i}")).secret
              for i in range(SESSIONS)]

    async def scenario():
        # Logged-in sessions, held open, until each worker holds one: the kernel hands a new
        # connection to whichever worker accepts first, so a few may land on the same one.
        clients = []
        held = {}
        for token in tokens:
            client = ImClient(f"ws://127.0.0.1:{port}/v1/im/connect", token)
            await client.start()
            clients.append(client)
            held = {pid: established_on(pid, port) for pid in workers}
            if all(held.values()):
                break
            await asyncio.sleep(0.25)  # a worker still starting under load accepts nothing yet
        # the first session and the last are on different workers: a message crosses the Redis bus
        sent = await clients[0].send(to=f"user{len(clients) - 1}", content={"text": "across workers"})
        got = await clients[-1].next_message()
        await asyncio.gather(*(client.close() for client in clients))
        return held, sent, got

    held, sent, got = asyncio.run(asyncio.wait_for(scenario(), 90))
    assert all(count >= 1 for count in held.values()), held
    assert got["id"] == sent["id"]
    assert workers_of(process.pid) == workers  # no worker died and was replaced
