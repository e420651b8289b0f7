"""Start a real Celery worker process against the test database and Redis broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import connection


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        LOG_LEVEL="WARNING",
    )
    return env


@contextlib.contextmanager
def celery_worker(queues: str = "default", concurrency: int = 1, pool: str = "prefork") -> Iterator[subprocess.Popen]:
    """A worker subprocess; yields once it answers a ping, terminated (TERM, then KILL) on exit."""
    from cpaas.celery import app

    name = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cpaas", "worker", "-Q", queues, "-c", str(concurrency),
         "-P", pool, "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        env=worker_env(), cwd=settings.BASE_DIR,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {process.returncode}")
            if app.control.ping(destination=[name], timeout=0.5):
                break
        else:
            raise RuntimeError("celery worker did not answer a ping within 30 s")
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
