"""``manage.py rtc_media_server``: write a Janus configuration, register it in the placement table,
and run Janus in the foreground (its process takes this one's place, and its signals).

One command per media server: run it again with another ``--name`` and ports (or on another host,
with ``--bind`` a private address) for a second one; placement spreads new rooms over the rows.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cpaas.rtc.janus_config import JanusPorts, janus_command, write_janus_config
from cpaas.rtc.models import MediaServer


class Command(BaseCommand):
    help = "Run one Janus media server for RTC rooms and register it for placement."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="janus-1")
        parser.add_argument("--bind", default="127.0.0.1", help="Address of its HTTP/admin API (private).")
        parser.add_argument("--http-port", type=int, default=8088)
        parser.add_argument("--admin-port", type=int, default=7088)
        parser.add_argument("--rtp-ports", default="20000-20999", help="UDP range for media, min-max.")
        parser.add_argument("--interface", default="", help="The only interface/address ICE uses (default all).")
        parser.add_argument("--capacity", type=int, default=100, help="Open rooms before placement skips it.")

    def handle(self, *args, **options) -> None:
        try:
            low, high = (int(p) for p in options["rtp_ports"].split("-"))
        except ValueError:
            raise CommandError("--rtp-ports must be min-max, e.g. 20000-20999") from None
        ports = JanusPorts(options["http_port"], options["admin_port"], low, high)
        admin_key = secrets.token_hex(16)  # rooms do not outlive a Janus process: a new key per start
        workdir = Path(settings.VAR_DIR) / "rtc" / options["name"]
        write_janus_config(workdir, ports=ports, admin_secret=secrets.token_hex(16), admin_key=admin_key,
                           bind=options["bind"], interface=options["interface"])
        record_dir = workdir / "recordings"
        record_dir.mkdir(parents=True, exist_ok=True)
        MediaServer.objects.update_or_create(name=options["name"], defaults={
            "record_dir": str(record_dir),
            "api_url": f"http://{options['bind']}:{ports.http}/janus", "admin_key": admin_key, "enabled": True,
            "capacity": options["capacity"]})
        # rooms of the previous run of this server are gone with its process
        MediaServer.objects.get(name=options["name"]).rooms.filter(status="open").update(status="closed")
        self.stdout.write(f"RTC media server {options['name']} on {options['bind']}:{ports.http}")
        self.stdout.flush()
        argv = janus_command(workdir)
        os.chdir(workdir)
        os.execvp(argv[0], argv)  # noqa: S606 -- Janus takes this process's place (and its signals)
