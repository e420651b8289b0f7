"""What ``make run`` starts, end to end: ``manage.py runplatform`` on the embedded default.

A subprocess against a fresh var/ directory (SQLite and the filesystem broker, no DATABASE_URL or
REDIS_URL), until the printed key answers /v1/me, a task round-trips through the real worker, and
SIGINT stops every process it started.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CPAAS_TESTING", "SECRET_KEY"}}
    env.update(DJANGO_SETTINGS_MODULE="cpaas.settings", CPAAS_VAR_DIR=str(var_dir), DEBUG="1", PORT=str(port),
               LOG_LEVEL="INFO", CELERY_TASK_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    return env


def processes_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


class Output:
    """Collects a process's output in a thread, so the test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.text = ""
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            with self._lock:
                self.text += line

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                match = re.search(pattern, self.text)
            if match:
                return match
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout}s in:\n{self.text[-4000:]}")


def test_runplatform_serves_the_printed_key_runs_tasks_and_stops_every_child_on_sigint(tmp_path):
    var_dir, port = tmp_path / "var", free_port()
    env = embedded_env(var_dir, port)
    marker = f"CPAAS_VAR_DIR={var_dir}\0"
    platform = subprocess.Popen([sys.executable, "manage.py", "runplatform"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Output(platform)
    try:
        secret = output.wait_for(r'curl -H "Authorization: Bearer (sk_test_\w+)"', timeout=60).group(1)
        response = httpx.get(f"http://127.0.0.1:{port}/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200
        assert response.json()["livemode"] is False
        assert (var_dir / "demo_key").read_text().strip() == secret

        sent = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "cpaas", "call", "cpaas.core.tasks.ping", "--args", '["e2e"]'],
            cwd=var_dir, env=env, capture_output=True, text=True, timeout=30, check=True,
        )
        task_id = sent.stdout.strip().splitlines()[-1]
        output.wait_for(rf"cpaas\.core\.tasks\.ping\[{task_id}\] succeeded", timeout=20)
        output.wait_for(r"beat: Starting", timeout=10)
        children = {m.group(1) for m in re.finditer(r"started (\w+) \(pid \d+\)", output.text)}
        assert children == {"web", "worker", "beat"}

        platform.send_signal(signal.SIGINT)
        assert platform.wait(timeout=15) == 0
        assert processes_with(marker) == []
    finally:
        if platform.poll() is None:
            platform.kill()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
