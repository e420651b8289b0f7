"""Starting Kamailio: the configuration from our settings, the command line, the environment.

``manage.py sip_edge`` runs it in the foreground (``runplatform`` starts that as a child when
``SIP_EDGE_ADDRESS`` is set); tests start it with :func:`start` on a free loopback port.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from django.conf import settings

from cpaas.carriers.sip.trust import trust_secret_from
from cpaas.sip_edge import conf
from cpaas.sip_edge.kamailio import EdgeConfig, db_url_of, nonce_secret_from, render, split_address

KAMAILIO = "kamailio"


class EdgeError(RuntimeError):
    """Kamailio is missing, misconfigured, or did not start listening."""


def edge_config(**overrides) -> EdgeConfig:
    """The edge's configuration from the settings; ``overrides`` replace fields (tests)."""
    try:
        host, port = split_address(conf.SIP_EDGE_ADDRESS or "127.0.0.1:5060", name="SIP_EDGE_ADDRESS")
        worker = split_address(conf.SIP_WORKER_ADDRESS, name="SIP_WORKER_ADDRESS") if conf.SIP_WORKER_ADDRESS else None
        database = db_url_of(settings.DATABASES["default"])
        networks = trusted_networks(conf.SIP_TRUSTED_NETWORKS, worker)
    except ValueError as exc:
        raise EdgeError(str(exc)) from None
    config = EdgeConfig(
        listen_host=host, listen_port=port, db_url=database.url, db_env=database.libpq_env, sip_domain=conf.SIP_DOMAIN,
        nonce_secret=nonce_secret_from(settings.SECRET_KEY), worker=worker,
        trusted_networks=networks, trust_secret=trust_secret_from(settings.SECRET_KEY),
        failures_per_address=conf.SIP_AUTH_FAILURES_PER_ADDRESS,
        failures_per_username=conf.SIP_AUTH_FAILURES_PER_USERNAME,
        failure_window_seconds=conf.SIP_AUTH_FAILURE_WINDOW_SECONDS, max_expires=conf.SIP_REGISTER_MAX_EXPIRES,
    )
    return replace(config, **overrides)


def trusted_networks(value: str, worker: tuple[str, int] | None) -> tuple[str, ...]:
    """``SIP_TRUSTED_NETWORKS`` as CIDRs, the worker's host when empty; ValueError naming the setting."""
    items = [item.strip() for item in value.split(",") if item.strip()] or ([worker[0]] if worker else [])
    try:
        return tuple(str(ipaddress.ip_network(item, strict=False)) for item in items)
    except ValueError:
        raise ValueError(f"SIP_TRUSTED_NETWORKS={value or worker!r} is not a list of IP networks") from None


def write_config(config: EdgeConfig, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "kamailio.cfg"
    # It holds the database password and the nonce secret: created 0600, never readable by others
    # even for a moment; a file left by an older run is narrowed before the secrets go in.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(render(config))
    return path


def command(config: EdgeConfig, config_path: Path, workdir: Path) -> list[str]:
    if not shutil.which(KAMAILIO):
        raise EdgeError("kamailio is not installed (apt-get install kamailio kamailio-postgres-modules)")
    # Kamailio writes registration times in local time and libpq uses the session's zone: both
    # UTC, so the naive timestamps in ``sip_location`` are UTC (models.SipRegistration). A unix
    # socket's directory goes to libpq as PGHOST (kamailio.db_url_of).
    libpq = [f"{name}={value}" for name, value in sorted(config.db_env.items())]
    return ["env", "TZ=UTC", "PGTZ=UTC", *libpq, KAMAILIO, "-f", str(config_path), "-DD", "-E", "-m", "64", "-M", "8",
            "-Y", str(workdir), "-P", str(workdir / "kamailio.pid")]


def _udp_bound(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def start(config: EdgeConfig, workdir: Path, *, timeout: float = 15.0) -> Iterator[subprocess.Popen]:
    """A running Kamailio with ``config`` (logging to ``workdir/kamailio.log``), stopped on exit."""
    path = write_config(config, workdir)
    log = workdir / "kamailio.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command(config, path, workdir), stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not _udp_bound(config.listen_host, config.listen_port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise EdgeError(f"kamailio did not listen on {config.listen_port}:\n"
                                f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
