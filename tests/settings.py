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

# Under pytest-xdist each worker process gets its own database (pytest-django adds a suffix) and
# its own Redis database, so one worker's Celery broker never hands tasks to another's.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist.startswith("gw") and _xdist[2:].isdigit():
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    if _db.isdigit():
        os.environ["REDIS_URL"] = f"{_base}/{(int(_db) - int(_xdist[2:])) % 16}"

from cpaas.settings import *  # noqa: E402, F403

# Nearly every test provisions an owner with a console password; Argon2 would dominate the suite's
# time. Production's hashers still verify; `production_password_hashing` (tests/conftest.py) puts
# them back for the tests about password storage.
PRODUCTION_PASSWORD_HASHERS = PASSWORD_HASHERS  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PRODUCTION_PASSWORD_HASHERS]
