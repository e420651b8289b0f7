"""Settings for the test suite: the real ones, with test defaults for the environment.

Real PostgreSQL and Redis (``make test`` makes sure both are up); override with DATABASE_URL and
REDIS_URL.
"""

import os

os.environ.setdefault("CPAAS_TESTING", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cpaas")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ACCESS_LOG_LEVEL", "WARNING")

from cpaas.settings import *  # noqa: F403

