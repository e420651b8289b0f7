"""Settings for the benchmarks: the real platform settings plus a bare baseline view.

Everything the product does per request stays on (middleware, the JSON access log, the
rate-limit gate), so the ratio measures what a real deployment pays. Only ``ROOT_URLCONF`` changes,
to add ``/bench/bare`` in front of ``cpaas.urls``. Logs still go through the JSON formatter; the
bench script sends the server's output to a file instead of the terminal.
"""

from cpaas.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
