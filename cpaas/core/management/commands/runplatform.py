"""``manage.py runplatform``: the whole platform in the foreground, as ``make run`` starts it.

Without ``DATABASE_URL`` / ``REDIS_URL`` it first starts the embedded PostgreSQL and Redis (data
under ``var/``, decision 0900) and waits until they answer. Then it applies migrations, makes sure
the demo tenant exists, and runs three more children under the same supervisor: the ASGI server
(uvicorn), a Celery worker on every queue and Celery beat, the SIP edge (Kamailio, ``manage.py
sip_edge``) when ``SIP_EDGE_ADDRESS`` is set, and the SIP worker (``manage.py sip_worker``) when
``VOICE_LIVE_CONNECTOR=sip`` and ``SIP_WORKER_ADDRESS`` are set. Their logs are streamed with a
prefix each. Ctrl-C or SIGTERM stops all of them. A child that dies is restarted after a backoff;
one that dies 5 times within 60 s (or an embedded PostgreSQL/Redis that dies) stops everything and
the command exits non-zero (decision 1403). The children share ``PROMETHEUS_MULTIPROC_DIR``
(var/prometheus unless set), so the web's /metrics sums every process.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from cpaas.core import embedded
from cpaas.core.broker import QUEUES
from cpaas.core.env import env
from cpaas.core.management.demo import demo_banner, demo_ensure
from cpaas.core.management.supervisor import Child, StartFailed, Supervisor
from cpaas.rtc import conf as rtc_conf
from cpaas.sip_edge import conf as sip_edge_conf
from cpaas.voice import conf as voice_conf


class Command(BaseCommand):
    help = "Run the web server, a Celery worker (all queues) and Celery beat until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=env.str("HOST") or "127.0.0.1",
                            help="Interface the web server binds (env HOST, default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=env.int("PORT", 8000),
                            help="Port of the web server (env PORT, default 8000).")
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (default 2).")
        parser.add_argument("--no-migrate", action="store_true", help="Do not apply migrations first.")
        parser.add_argument("--no-demo", action="store_true", help="Do not create or print the demo tenant.")

    def handle(self, *args, **options) -> None:
        host, port = options["host"], options["port"]
        if not _port_free(host, port):
            raise CommandError(f"Port {port} on {host} is in use; free it or start with PORT=<another port>.")
        demo = None

        def prepare() -> None:
            nonlocal demo
            if not options["no_migrate"]:
                supervisor.say("applying database migrations")
                call_command("migrate", interactive=False, verbosity=0)
            demo = None if options["no_demo"] else demo_ensure()
            connections.close_all()  # so the embedded PostgreSQL has no client of ours to wait for

        python = sys.executable
        try:
            services = embedded_services()
        except embedded.EmbeddedServerError as exc:
            raise CommandError(str(exc)) from exc
        children = [
            *services,
            ("web", [python, "-m", "uvicorn", "cpaas.asgi:application", "--host", host, "--port", str(port),
                     "--no-access-log", "--ws", "cpaas.im.gateway.wsproto:RawFrameProtocol",
                     # the client address is the peer's; X-Forwarded-For only from TRUSTED_PROXIES
                     # (cpaas/core/clientip.py), never uvicorn's belief of any loopback peer
                     "--no-proxy-headers"]),
            ("worker", [python, "-m", "celery", "-A", "cpaas", "worker", "-Q", ",".join(QUEUES),
                        "-c", str(options["concurrency"]), "-n", "embedded@%h", "-l", "INFO",
                        "--without-mingle", "--without-gossip"]),
            ("beat", [python, "-m", "celery", "-A", "cpaas", "beat", "-l", "INFO", "--pidfile="]),
            *sip_edge_children(python),
            *rtc_children(python),
        ]
        if voice_conf.VOICE_LIVE_CONNECTOR == "sip" and voice_conf.SIP_WORKER_ADDRESS:
            # SIP trunks are configured: the SIP worker takes their inbound calls (decision 1102)
            children.append(("sip", [python, str(Path(settings.BASE_DIR) / "manage.py"), "sip_worker"]))
        child_env = dict(os.environ)
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.BASE_DIR), child_env.get("PYTHONPATH")]))
        child_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir())
        supervisor = Supervisor(children, env=child_env, cwd=settings.VAR_DIR, out=self.stdout, restart=True)

        shown, web_up_at = False, None
        display_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "localhost") else host  # noqa: S104
        base_url = f"http://{display_host}:{port}"

        def announce_when_ready() -> None:
            nonlocal shown, web_up_at
            if shown:
                return
            now = time.monotonic()
            if web_up_at is None:
                if not _port_open(host, port):
                    return
                web_up_at = now
            # Let the start-up logs settle, so the banner is the last thing on the screen.
            if now - supervisor.last_output < 1.5 and now - web_up_at < 15:
                return
            shown = True
            lines = [f"The platform is running at {base_url}/ (Ctrl-C stops it)."]
            if demo is not None:
                lines.append(demo_banner(demo, base_url))
            supervisor.say("\n".join(lines))

        try:
            code = supervisor.run(on_tick=announce_when_ready, prepare=prepare)
        except StartFailed as exc:
            raise CommandError(str(exc)) from exc
        if code:
            raise SystemExit(code)
        supervisor.say("all processes stopped")


def rtc_children(python: str) -> list[tuple[str, list[str]]]:
    """One Janus media server (``manage.py rtc_media_server``) only when RTC is asked for."""
    if not rtc_conf.RTC_MEDIA_SERVER:
        return []
    return [("rtc-media", [python, str(Path(settings.BASE_DIR) / "manage.py"), "rtc_media_server"])]


def metrics_dir() -> Path:
    """Where the children write their metrics for /metrics to sum: ``PROMETHEUS_MULTIPROC_DIR``,
    else var/prometheus; emptied at start, as prometheus-client asks (old files would count twice)."""
    directory = Path(settings.PROMETHEUS_MULTIPROC_DIR or settings.VAR_DIR / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def sip_edge_children(python: str) -> list[tuple[str, list[str]]]:
    """The SIP edge (Kamailio, ``manage.py sip_edge``) only when SIP is configured: ``make run``
    stays free of it (decision 1121)."""
    if not sip_edge_conf.SIP_EDGE_ADDRESS:
        return []
    return [("sip-edge", [python, str(Path(settings.BASE_DIR) / "manage.py"), "sip_edge"])]


def embedded_services() -> list[Child]:
    """The embedded PostgreSQL and Redis, for whichever of DATABASE_URL / REDIS_URL is not set."""
    paths = embedded.Paths(Path(settings.VAR_DIR))
    services = []
    if settings.EMBEDDED_POSTGRES:
        # SIGINT is PostgreSQL's fast shutdown: it does not wait for a second terminal's clients.
        services.append(Child("postgres", embedded.prepare_postgres(paths),
                              ready=lambda: embedded.postgres_ready(paths),
                              stop_signal=signal.SIGINT, user=embedded.server_user(),
                              group=embedded.server_group()))
    if settings.EMBEDDED_REDIS:
        services.append(Child("redis", embedded.redis_command(paths), ready=lambda: embedded.redis_ready(paths)))
    return services


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    try:
        with socket.create_connection((target, port), timeout=0.2):
            return True
    except OSError:
        return False
