"""The SMS benchmark's app under uvicorn (``bench/sms.py --web uvicorn``), served the way
docs/configuration.md runs production: ``cpaas.asgi.application`` (single sends on the lean send
path, everything else Django's ASGI handler, all behind the body limit), each worker with the
bounded PostgreSQL pool (decision 0913), and ``bench.sms``'s URLconf so the bare baseline view sits
beside the real API. ``SMS_LEAN_ACCEPT=0`` serves single sends with the Django view instead (the
"before" of decision 1010). HTTP only: uvicorn runs it with ``--lifespan off``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("DB_POOL_MAX_SIZE", "16")  # what cpaas.asgi sets for a server process

import django

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = "bench.sms"

from cpaas.asgi import application  # noqa: E402, F401  (production's routing, with the bench URLconf)
