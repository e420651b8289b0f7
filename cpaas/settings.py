"""Settings, read only from environment variables (documented in docs/configuration.md).

Defaults are safe for production (DEBUG off, secure cookies, no secret key) except where the
embedded default needs a value to start with nothing installed: without ``DATABASE_URL`` /
``REDIS_URL`` the platform uses the embedded PostgreSQL and Redis that ``make run`` starts, with
their data and unix sockets under ``var/`` (cpaas/core/embedded.py, decision 0900).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cpaas.core.embedded import Paths as EmbeddedPaths
from cpaas.core.env import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("CPAAS_VAR_DIR") or BASE_DIR / "var")


DEBUG = env.bool("DEBUG", False)
TESTING = env.bool("CPAAS_TESTING", False)

# The embedded default is the one running without DATABASE_URL: PostgreSQL (and Redis, without
# REDIS_URL) started by `make run` with their data in var/.
EMBEDDED_POSTGRES = not env.url("DATABASE_URL")
EMBEDDED_REDIS = not env.url("REDIS_URL")
EMBEDDED = EMBEDDED_POSTGRES
VAR_DIR.mkdir(parents=True, exist_ok=True)
EMBEDDED_PATHS = EmbeddedPaths(VAR_DIR)


def embedded_secret_key(var_dir: Path) -> str:
    """The embedded default's key: made once into ``var/secret_key`` (git-ignored, mode 0600), so
    ``make run`` and a ``manage.py`` command in a second terminal sign with the same key.

    Written to a temporary file and linked into place, so the web server, worker and beat starting
    together all end up with the first one's key.
    """
    path = var_dir / "secret_key"
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=var_dir, prefix=".secret_key.")
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY")
if not SECRET_KEY:
    if EMBEDDED:
        SECRET_KEY = embedded_secret_key(VAR_DIR)
    elif DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-never-use-in-production"
    else:
        # Production (a DATABASE_URL is set): refuse to start rather than sign with a made-up key.
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set and DEBUG is off")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")
# The URL users reach the platform at (links in error bodies and printed banners). Unset, links
# are built from each request's own scheme and host.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # django-otp's framework only: its TOTP and static plugins store secrets in plain text, so the
    # console has its own devices with sealed seeds and hashed recovery codes (decision 0880).
    "django_otp",
    "csp",
    "cpaas.core",
    "cpaas.tenants",
    "cpaas.carriers",
    "cpaas.messaging",
    "cpaas.im",
    "cpaas.voice",
    "cpaas.twilio",
    "cpaas.sip_edge",
    "cpaas.rtc",
    "cpaas.console",
    "billing",
    "webhooks",
]

MIDDLEWARE = [
    # Outermost: counts every request by route, method and final status (cpaas/core/metrics.py).
    "cpaas.core.metrics.MetricsMiddleware",
    "cpaas.core.middleware.RequestIdMiddleware",
    "cpaas.core.middleware.ApiBoundaryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cpaas.core.csp.SiteCSPMiddleware",
    # Last: turns a login that django-axes flagged as locked out into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cpaas.urls"
WSGI_APPLICATION = "cpaas.wsgi.application"
ASGI_APPLICATION = "cpaas.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cpaas.console.context.console",
            ]
        },
    }
]

# --- Databases -------------------------------------------------------------------------------
DATABASE_URL = env.url("DATABASE_URL") or EMBEDDED_PATHS.database_url()
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env.int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Under ASGI, Django runs each request's sync code in a thread of its own, so a persistent connection
# per thread (CONN_MAX_AGE) is never reused: they piled up until "too many clients". A process with
# DB_POOL_MAX_SIZE > 0 (cpaas.asgi sets 16 unless told otherwise) takes its connections from
# psycopg's pool instead, at most that many; Celery workers keep theirs per process (decision 0913).
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", 0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django gives each back per request
    # With CONN_HEALTH_CHECKS (on) Django has the pool check each connection it hands out (an empty
    # query): a server restart or a terminated backend never reaches a request.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_MAX_SIZE), "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.int("DB_POOL_TIMEOUT_SECONDS", 3), "max_idle": 300}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, broker, rate limits ---------------------------------------------------------
REDIS_URL = env.url("REDIS_URL") or EMBEDDED_PATHS.redis_url()
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cpaas",
    }
}

# --- Metrics (docs/operations.md) ----------------------------------------------------------------
# Where every process of this host writes its counters for /metrics to sum (prometheus-client reads
# the same variable itself at import; runplatform sets var/prometheus for its children).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", "")
# Who may scrape /metrics: these networks, or anyone with this bearer token (decision 1402).
METRICS_ALLOWED_NETWORKS = tuple(ipaddress.ip_network(entry, strict=False)
                                 for entry in env.list("METRICS_ALLOWED_CIDRS", "127.0.0.0/8,::1/128"))
METRICS_TOKEN = env.str("METRICS_TOKEN", "")

CELERY_BROKER_URL = env.url("CELERY_BROKER_URL") or (EMBEDDED_PATHS.broker_url() if EMBEDDED_REDIS else REDIS_URL)
# Longer than the longest task, so a late-acked task is not redelivered while it still runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth, sessions, security -------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"

SECURE_COOKIES = env.bool("SECURE_COOKIES", not DEBUG and not TESTING)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env.str("SECURE_PROXY_SSL_HEADER") == "x-forwarded-proto":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Console sign-in (decisions 0850-0853). django-axes checks every password login first: after
# CONSOLE_LOGIN_FAILURE_LIMIT failures (wrong passwords and wrong two-factor codes alike) from one
# address for one username, that pair is refused for CONSOLE_LOCKOUT_MINUTES, counted from the
# failure that locked it; attempts during the lockout neither count nor extend it. Attempts are rows
# in the database, so every web process (and the embedded default) sees the same counts.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("CONSOLE_LOCKOUT_ENABLED", True)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("CONSOLE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("CONSOLE_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "cpaas.console.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "cpaas.console.signin.client_ip"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# TOTP (RFC 6238, 30 s steps, 6 digits) through django-otp; the issuer is what authenticator apps show.
OTP_TOTP_ISSUER = env.str("CONSOLE_TOTP_ISSUER", "CPaaS console")
# Seconds between the password and the code step before the password must be entered again.
CONSOLE_CODE_STEP_SECONDS = env.int("CONSOLE_CODE_STEP_SECONDS", 300)

# Content-Security-Policy on every response (django-csp): the console and the docs load scripts,
# styles and images from this origin only, nothing inline, no eval, and cannot be framed.
# /v1/reference (Redoc) widens style-src and worker-src for itself (cpaas/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Request bodies above 1 MiB are refused with 413 (see cpaas.core.middleware).
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- REST framework and OpenAPI ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["cpaas.core.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["cpaas.core.auth.KeyScopePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cpaas.core.parsers.ApiJsonParser"],
    "EXCEPTION_HANDLER": "cpaas.core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_VERSIONING_CLASS": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CPaaS API",
    "DESCRIPTION": "SMS, IM and voice over one REST API. Authenticate with `Authorization: Bearer sk_…`.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cpaas.core.openapi.add_error_responses",
        "cpaas.core.openapi.document_list_envelopes",
    ],
    "ENUM_NAME_OVERRIDES": {
        "KeyModeEnum": "cpaas.tenants.models.KeyMode",
        "KeyAccessEnum": "cpaas.tenants.models.KeyAccess",
    },
}

# --- Platform -----------------------------------------------------------------------------------
# Seconds an idempotency key is kept; a key older than this may be reused.
IDEMPOTENCY_TTL_SECONDS = env.int("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
# A request holding its key longer than this is assumed dead (crashed worker) and may be retaken.
IDEMPOTENCY_LOCK_SECONDS = env.int("IDEMPOTENCY_LOCK_SECONDS", 300)
# Default per-key token bucket: sustained requests/second and burst size.
RATE_LIMIT_LIVE_PER_SECOND = env.int("RATE_LIMIT_LIVE_PER_SECOND", 100)
RATE_LIMIT_TEST_PER_SECOND = env.int("RATE_LIMIT_TEST_PER_SECOND", 25)
RATE_LIMIT_BURST_SECONDS = env.int("RATE_LIMIT_BURST_SECONDS", 2)
# Default aggregate bucket of a tenant, over all its keys of one mode (an operator may override it
# per tenant with `manage.py tenant_limit`); a key's own limit never lifts it.
RATE_LIMIT_TENANT_LIVE_PER_SECOND = env.int("RATE_LIMIT_TENANT_LIVE_PER_SECOND", 1000)
RATE_LIMIT_TENANT_TEST_PER_SECOND = env.int("RATE_LIMIT_TENANT_TEST_PER_SECOND", 100)
# Active (not revoked, not expired) API keys an app may hold; one more answers 409 too_many_keys.
API_KEYS_PER_APP = env.int("API_KEYS_PER_APP", 50)
# Apps a tenant may hold; one more answers 409 too_many_apps (the keys cap is per app, so without
# this a tenant could hold any number of keys by making apps).
APPS_PER_TENANT = env.int("APPS_PER_TENANT", 100)
# Sandbox numbers a tenant may hold (both its test keys' apps together): the sandbox range has 9,000
# numbers for every tenant, so one must not take them all. One more answers 409 too_many_numbers.
SANDBOX_NUMBERS_PER_TENANT = env.int("SANDBOX_NUMBERS_PER_TENANT", 100)
# Failed authentications (unknown, revoked or expired keys) one client address may make per window
# before it gets 429 rate_limited for the rest of the window, without any database lookup.
AUTH_FAILURES_PER_WINDOW = env.int("AUTH_FAILURES_PER_WINDOW", 20)
AUTH_FAILURE_WINDOW_SECONDS = env.int("AUTH_FAILURE_WINDOW_SECONDS", 60)
# Proxies (addresses or CIDRs) whose X-Forwarded-For is believed; the client address is then the
# right-most address in that header that is not a trusted proxy. Empty: REMOTE_ADDR, always.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES")
# Seconds a process keeps a resolved API key in memory; revocation is pushed through Redis at once.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", 60)
# Fernet keys (urlsafe base64, comma-separated, newest first) of the keyring that encrypts secrets
# at rest (cpaas/core/crypto.py). Empty: one key derived from SECRET_KEY.
SECRET_ENCRYPTION_KEYS = env.list("SECRET_ENCRYPTION_KEYS", old="WEBHOOK_SECRET_KEYS")
# Base of error bodies' `doc_url`; unset: PUBLIC_BASE_URL/docs, else the request's host (core.errors).
DOCS_URL = env.str("DOCS_URL").rstrip("/")

# --- Logging: one JSON object per line ---------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "cpaas.core.logging.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "cpaas.access": {"level": env.str("ACCESS_LOG_LEVEL", "INFO")},
        # One line per task received/succeeded and per beat tick drowns everything else; failures
        # are still logged at WARNING and above.
        "celery.worker.strategy": {"level": env.str("CELERY_TASK_LOG_LEVEL", "WARNING")},
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", "WARNING")},
        "celery.beat": {"level": env.str("CELERY_TASK_LOG_LEVEL", "WARNING")},
    },
}
