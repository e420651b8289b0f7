"""``manage.py sip_edge``: render the Kamailio configuration and run Kamailio in the foreground.

``runplatform`` starts this as a child when ``SIP_EDGE_ADDRESS`` is set. ``--print-config`` shows
the configuration instead (the database password and the nonce secret in it are masked).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cpaas.sip_edge.kamailio import render
from cpaas.sip_edge.process import EdgeError, command, edge_config, write_config


class Command(BaseCommand):
    help = "Run the SIP edge (Kamailio: registrar and proxy for SIP endpoints) in the foreground."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--print-config", action="store_true", help="Print the configuration and exit.")

    def handle(self, *args, **options) -> None:
        try:
            config = edge_config()
            if options["print_config"]:
                masked_url = re.sub(r"(postgres://[^:@/]+:)[^@]*@", r"\1***@", config.db_url)
                self.stdout.write(render(replace(config, db_url=masked_url, nonce_secret="***")))
                return
            workdir = Path(settings.VAR_DIR) / "sip_edge"
            path = write_config(config, workdir)
            argv = command(config, path, workdir)
        except EdgeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"SIP edge on {config.listen_host}:{config.listen_port} (udp, tcp), "
                          f"domains *.{config.sip_domain}")
        self.stdout.flush()
        os.execvp(argv[0], argv)  # noqa: S606 -- Kamailio takes this process's place (and its signals)
