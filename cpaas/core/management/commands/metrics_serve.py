"""``manage.py metrics_serve``: ``/metrics`` for a host that runs workers but no web process.

Serves the same page as the web's ``/metrics`` (every process of the host that shares
``PROMETHEUS_MULTIPROC_DIR``, plus the scrape-time gauges) on its own port, bound to loopback
unless told otherwise; put it on a private address for Prometheus (decision 1402).
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand, CommandError
from prometheus_client import CONTENT_TYPE_LATEST

from cpaas.core.metrics_scrape import exposition, multiprocess_dir


class MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server names it
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = exposition()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # quiet: Prometheus scrapes often
        return


class Command(BaseCommand):
    help = "Serve /metrics of this host's processes (PROMETHEUS_MULTIPROC_DIR) on its own port."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9108)

    def handle(self, *args, **options) -> None:
        if not multiprocess_dir():
            raise CommandError("PROMETHEUS_MULTIPROC_DIR is not set: there is nothing of other processes to serve.")
        server = ThreadingHTTPServer((options["host"], options["port"]), MetricsHandler)
        self.stdout.write(f"serving http://{options['host']}:{server.server_address[1]}/metrics", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
