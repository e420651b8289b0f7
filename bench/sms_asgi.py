"""The SMS benchmark's app under uvicorn (``bench/sms.py --web uvicorn``), served the way
docs/configuration.md runs production: Django's ASGI handler behind the body limit, each worker
with the bounded PostgreSQL pool (decision 0913), and ``bench.sms``'s URLconf so the bare
baseline view sits beside the real API. HTTP only: uvicorn runs it with ``--lifespan off``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("DB_POOL_MAX_SIZE", "16")  # what cpaas.asgi sets for a server process

import django

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

from cpaas.core.bodylimit import asgi_body_limit  # noqa: E402

settings.ROOT_URLCONF = "bench.sms"
application = asgi_body_limit(get_asgi_application())
