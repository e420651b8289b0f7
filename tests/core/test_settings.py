"""Settings read in a fresh process, as a new user's terminal or a production server reads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cpaas.core import embedded

ROOT = Path(__file__).resolve().parents[2]
PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def settings_in_a_fresh_process(var_dir: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "CPAAS_TESTING"}}
    env.update(DJANGO_SETTINGS_MODULE="cpaas.settings", CPAAS_VAR_DIR=str(var_dir), **extra)
    return subprocess.run([sys.executable, "-c", PRINT_KEY], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_embedded_default_makes_one_secret_key_in_var_and_every_command_reads_it(tmp_path):
    first = settings_in_a_fresh_process(tmp_path)
    second = settings_in_a_fresh_process(tmp_path, DEBUG="1")  # as `make run` starts
    assert first.returncode == 0, first.stderr[-2000:]
    key = first.stdout.strip()
    assert len(key) >= 50 and second.stdout.strip() == key
    stored = tmp_path / "secret_key"
    assert stored.read_text().strip() == key
    assert stored.stat().st_mode & 0o777 == 0o600


def test_an_explicit_secret_key_wins(tmp_path):
    assert settings_in_a_fresh_process(tmp_path, SECRET_KEY="k" * 50).stdout.strip() == "k" * 50


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    done = settings_in_a_fresh_process(tmp_path, DATABASE_URL="postgres://cpaas@db.example:5432/cpaas")
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr
    assert not (tmp_path / "secret_key").exists()


def test_without_urls_every_process_uses_the_embedded_servers_sockets_in_var(tmp_path):
    show = ("from django.conf import settings as s; d = s.DATABASES['default']; "
            "print(d['ENGINE'], d['NAME'], d['OPTIONS']['host']); print(s.CACHES['default']['LOCATION']); "
            "print(s.CELERY_BROKER_URL)")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="cpaas.settings", CPAAS_VAR_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr[-2000:]
    sockets = embedded.Paths(tmp_path).socket_dir
    assert done.stdout.splitlines() == [
        f"django.db.backends.postgresql cpaas {sockets}",
        f"unix://{sockets}/redis.sock?db=0",
        f"redis+socket://{sockets}/redis.sock",
    ]
