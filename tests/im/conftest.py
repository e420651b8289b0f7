from __future__ import annotations

import threading
import time

import pytest

from cpaas.im import metering
from cpaas.im.moderation import _cache
from cpaas.im.state import state


def _flush_im_redis():
    st = state()
    if hasattr(st, "r"):
        keys = list(st.r.scan_iter("cpaas:im:*", count=1000))
        if keys:
            st.r.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_im_caches():
    _flush_im_redis()
    metering.reset_local_cache()
    _cache.clear()
    yield
    metering.reset_local_cache()
    _cache.clear()


@pytest.fixture
def users(api):
    for uid in ("alice", "bob", "carol"):
        assert api.post("/v1/im/users", {"user_id": uid, "name": uid.title()}, format="json").status_code == 201
    return ["alice", "bob", "carol"]


class Gateway:
    """A real uvicorn serving cpaas.asgi in a thread of the test process, on a free port."""

    def __init__(self) -> None:
        import socket

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config("cpaas.asgi:application", lifespan="on", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/im/connect"

    def start(self) -> Gateway:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def gateway(transactional_db):
    from cpaas.im.gateway import db as gateway_db

    gw = Gateway().start()
    yield gw
    gw.stop()
    gateway_db.shutdown_executor()
    terminate_other_connections()


def terminate_other_connections() -> None:
    """Threads that touched the database (the gateway's pool, run_in_executor) leave connections
    open; the test database cannot be flushed or dropped while they live."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def token_for(api):
    def make(user_id: str, **body) -> str:
        if api.get(f"/v1/im/users/{user_id}").status_code == 404:
            assert api.post("/v1/im/users", {"user_id": user_id}, format="json").status_code == 201
        r = api.post(f"/v1/im/users/{user_id}/tokens", body, format="json")
        assert r.status_code == 201, r.json()
        return r.json()["token"]

    return make
