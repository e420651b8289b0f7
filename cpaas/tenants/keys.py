"""API keys: minting, hashing, resolving a presented secret, revoking.

A secret is ``sk_<mode>_`` + 32 base62 characters (190 bits). Only its SHA-256 is stored: the
secret is high-entropy, so a slow password hash would add latency and no safety. Resolution is
cached per process; revocation is pushed to every process at once through the rate-limit gate's
deny flag (see cpaas.core.ratelimit). Limits are the operator's: a key's own limit and its tenant's
aggregate limit are set with management commands, never through the tenant API (decision 0840).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cpaas.core.errors import ApiError
from cpaas.core.ratelimit import TenantBucket, gate
from cpaas.core.ttlcache import TtlCache
from cpaas.tenants import errors as _errors  # noqa: F401  (registers the room's error codes)
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import PRODUCTS, ApiKey, App, KeyAccess, KeyMode, Tenant

_ALPHABET = string.ascii_letters + string.digits
SECRET_BODY_LENGTH = 32


def generate_secret(mode: str) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_BODY_LENGTH))
    return f"sk_{mode}_{body}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """What a request knows about the key that authenticated it (immutable, cacheable)."""

    key_id: str
    app_id: str
    tenant_id: str
    mode: str
    access: str
    products: tuple[str, ...]
    rate: int
    burst: int
    expires_at: datetime | None
    tenant_rate: int = 0
    tenant_burst: int = 0
    suspended: bool = False  # the tenant was suspended when the key was read (decision 1302)

    is_authenticated = True

    @property
    def is_test(self) -> bool:
        return self.mode == KeyMode.TEST

    @property
    def unrestricted(self) -> bool:
        return self.access == KeyAccess.FULL and not self.products

    def allows_product(self, product: str) -> bool:
        return not self.products or product in self.products

    @property
    def rate_bucket(self) -> str:
        return f"cpaas:rl:{self.tenant_id}:{self.key_id}"

    @property
    def deny_flag(self) -> str:
        return revoked_flag(self.tenant_id, self.key_id)

    @property
    def tenant_bucket(self) -> TenantBucket | None:
        if not self.tenant_rate:
            return None
        return TenantBucket(f"cpaas:rlt:{self.tenant_id}:{self.mode}", self.tenant_rate, self.tenant_burst)


def revoked_flag(tenant_id: str, key_id: str) -> str:
    return f"cpaas:revoked:{tenant_id}:{key_id}"


def default_rate(mode: str) -> int:
    if mode == KeyMode.LIVE:
        return settings.RATE_LIMIT_LIVE_PER_SECOND
    return settings.RATE_LIMIT_TEST_PER_SECOND


def tenant_rate(tenant: Tenant, mode: str) -> int:
    """The tenant's aggregate requests/second over all its keys of ``mode``."""
    if mode == KeyMode.LIVE:
        return tenant.rate_limit_live or settings.RATE_LIMIT_TENANT_LIVE_PER_SECOND
    return tenant.rate_limit_test or settings.RATE_LIMIT_TENANT_TEST_PER_SECOND


def principal_for(key: ApiKey) -> KeyPrincipal:
    rate = key.rate_limit or default_rate(key.mode)
    aggregate = tenant_rate(key.tenant, key.mode)
    return KeyPrincipal(
        key_id=key.id,
        app_id=key.app_id,
        tenant_id=key.tenant_id,
        mode=key.mode,
        access=key.access,
        products=tuple(key.products or ()),
        rate=rate,
        burst=max(1, rate * settings.RATE_LIMIT_BURST_SECONDS),
        expires_at=key.expires_at,
        tenant_rate=aggregate,
        tenant_burst=max(1, aggregate * settings.RATE_LIMIT_BURST_SECONDS),
        suspended=key.tenant.suspended_at is not None,
    )


# hash → principal, for API_KEY_CACHE_SECONDS; revocation drops a key's entries at once.
principal_cache: TtlCache[str, KeyPrincipal] = TtlCache(lambda: settings.API_KEY_CACHE_SECONDS)


def key_is_cached(secret: str) -> bool:
    """Whether resolving ``secret`` is answered from memory (no database lookup)."""
    return principal_cache.get(hash_secret(secret)) is not None


def key_resolve(secret: str) -> KeyPrincipal | None:
    """The principal for a presented secret, or None when it is unknown, revoked or expired."""
    if not secret.startswith(("sk_test_", "sk_live_")) or len(secret) > 100:
        return None
    digest = hash_secret(secret)
    principal = principal_cache.get(digest)
    if principal is None:
        key = ApiKey.objects.select_related("tenant").filter(secret_hash=digest, revoked_at__isnull=True).first()
        if key is None:
            return None
        principal = principal_for(key)
        principal_cache.put(digest, principal)
    if principal.expires_at is not None and principal.expires_at <= timezone.now():
        return None
    return principal


def active_key_count(*, app_id: str, mode: str) -> int:
    now = timezone.now()
    return (ApiKey.objects.filter(app_id=app_id, mode=mode, revoked_at__isnull=True)
            .exclude(expires_at__lte=now).count())


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def api_key_create(
    *,
    app: App,
    name: str = "",
    mode: str = KeyMode.TEST,
    access: str = KeyAccess.FULL,
    products: list[str] | None = None,
    expires_at: datetime | None = None,
    rate_limit: int | None = None,
    actor_user_id: int | None = None,
    actor_key_id: str = "",
    ip: str | None = None,
) -> CreatedKey:
    """Mint a key for ``app``. The secret is returned once and only its hash is kept.

    At most ``API_KEYS_PER_APP`` active keys per app and mode (409 ``too_many_keys``; per mode, so
    test keys can never use up the live keys' places): the app row is locked
    while counting, so two concurrent creations cannot both take the last place. ``rate_limit`` is
    for operators and the platform's own tools; the tenant API refuses it (decision 0840).
    """
    products = sorted(set(products or []))
    unknown = [p for p in products if p not in PRODUCTS]
    if unknown:
        raise ApiError(f"Unknown product scope: {unknown[0]}.", param="products")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiError("`expires_at` must be in the future.", param="expires_at")
    secret = generate_secret(mode)
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).first()
        active = active_key_count(app_id=app.pk, mode=mode)
        if active >= settings.API_KEYS_PER_APP:
            raise ApiError(f"This app already has {active} active {mode} API keys, the most it may hold. "
                           "Revoke keys you no longer use.", code="too_many_keys")
        key = ApiKey.objects.create(
            app=app,
            tenant_id=app.tenant_id,
            name=name,
            mode=mode,
            access=access,
            products=products,
            secret_hash=hash_secret(secret),
            prefix=secret[:12],
            last4=secret[-4:],
            rate_limit=rate_limit,
            expires_at=expires_at,
            created_by_id=actor_user_id,
        )
        audit_record(
            tenant_id=app.tenant_id,
            action="api_key.created",
            actor_user_id=actor_user_id,
            actor_key_id=actor_key_id,
            target_type="api_key",
            target_id=key.id,
            ip=ip,
            metadata={"name": name, "mode": mode, "access": access, "products": products},
        )
    return CreatedKey(key=key, secret=secret)


def api_key_revoke(
    *, key: ApiKey, actor_user_id: int | None = None, actor_key_id: str = "", ip: str | None = None
) -> ApiKey:
    """Revoke at once: the row, this process's cache, and every other process via the deny flag."""
    now = timezone.now()
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
        key.refresh_from_db()
        if changed:
            audit_record(
                tenant_id=key.tenant_id,
                action="api_key.revoked",
                actor_user_id=actor_user_id,
                actor_key_id=actor_key_id,
                target_type="api_key",
                target_id=key.id,
                ip=ip,
                metadata={"name": key.name},
            )
    # The flag must outlive any process cache entry; after that the database says "revoked".
    gate().deny(revoked_flag(key.tenant_id, key.id), settings.API_KEY_CACHE_SECONDS * 10 + 60)
    principal_cache.forget_where(lambda _digest, principal: principal.key_id == key.id)
    return key


def api_key_set_limit(*, key: ApiKey, rate_limit: int | None, actor: str = "operator") -> ApiKey:
    """Operator only: a key's own requests/second (None: the mode's default), audited.

    Other processes see it when their cached copy of the key expires (``API_KEY_CACHE_SECONDS``).
    """
    if rate_limit is not None and rate_limit < 1:
        raise ValueError("the rate limit must be a positive number of requests per second")
    with transaction.atomic():
        before = ApiKey.objects.select_for_update().values_list("rate_limit", flat=True).get(pk=key.pk)
        ApiKey.objects.filter(pk=key.pk).update(rate_limit=rate_limit)
        key.rate_limit = rate_limit
        audit_record(tenant_id=key.tenant_id, action="api_key.rate_limit_set", actor_key_id="",
                     target_type="api_key", target_id=key.id,
                     metadata={"from": before, "to": rate_limit, "by": actor})
    principal_cache.forget_where(lambda _digest, principal: principal.key_id == key.id)
    return key


def tenant_set_limit(*, tenant: Tenant, live: int | None, test: int | None,
                     actor: str = "operator") -> Tenant:
    """Operator only: the tenant's aggregate requests/second per mode (None: the default), audited."""
    for value in (live, test):
        if value is not None and value < 1:
            raise ValueError("a rate limit must be a positive number of requests per second")
    with transaction.atomic():
        before = Tenant.objects.select_for_update().values("rate_limit_live", "rate_limit_test").get(pk=tenant.pk)
        Tenant.objects.filter(pk=tenant.pk).update(rate_limit_live=live, rate_limit_test=test)
        tenant.rate_limit_live, tenant.rate_limit_test = live, test
        audit_record(tenant_id=tenant.id, action="tenant.rate_limit_set", target_type="tenant",
                     target_id=tenant.id,
                     metadata={"from": before, "to": {"rate_limit_live": live, "rate_limit_test": test},
                               "by": actor})
    principal_cache.clear()
    return tenant
