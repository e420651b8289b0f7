"""Suspending a tenant (operator only): every API key of the tenant answers 403 ``tenant_suspended``
on every call, within a second on every process, until the operator resumes it (decision 1302).

Fast path: suspending raises the deny flag of each of the tenant's active keys (the flag revocation
uses, pushed to every process over Redis pub/sub), so no process serves another request from its
cached key; resuming lifts them the same way. Durable truth: ``Tenant.suspended_at``, read into the
key's principal, so a process that starts later, or a key read after the flags expired, is refused
too. A denied key is told apart from a revoked one by ``is_suspended``, a per-process answer kept
``SUSPENSION_CACHE_SECONDS``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cpaas.core.errors import PermissionDenied
from cpaas.core.ratelimit import gate
from cpaas.core.ttlcache import TtlCache
from cpaas.tenants.audit import audit_record
from cpaas.tenants.keys import principal_cache, revoked_flag
from cpaas.tenants.models import ApiKey, Tenant

SUSPENSION_CACHE_SECONDS = 2.0
#: Long enough that a suspension outlives any cached key; the database says "suspended" after it.
FLAG_SECONDS = 30 * 24 * 3600

_suspended: TtlCache[str, bool] = TtlCache(SUSPENSION_CACHE_SECONDS)


def is_suspended(tenant_id: str) -> bool:
    """Whether the tenant is suspended now (asked only for denied or suspended-looking keys)."""
    return bool(_suspended.get_or_load(
        tenant_id, lambda: Tenant.objects.filter(pk=tenant_id, suspended_at__isnull=False).exists()))


def refusal() -> PermissionDenied:
    return PermissionDenied("This tenant is suspended: its API keys are refused until the platform operator "
                            "resumes it.", code="tenant_suspended")


def _active_flags(tenant_id: str) -> list[str]:
    return [revoked_flag(tenant_id, key_id) for key_id in
            ApiKey.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True).values_list("pk", flat=True)]


def tenant_suspend(*, tenant: Tenant, reason: str, actor: str, actor_user_id: int | None = None) -> bool:
    """Suspend ``tenant`` (audited as ``tenant.suspended``). False if it already was."""
    with transaction.atomic():
        changed = Tenant.objects.filter(pk=tenant.pk, suspended_at__isnull=True).update(
            suspended_at=timezone.now(), suspended_reason=reason[:500])
        if changed:
            audit_record(tenant_id=tenant.pk, action="tenant.suspended", target_type="tenant", target_id=tenant.pk,
                         actor_user_id=actor_user_id, metadata={"reason": reason, "by": actor})
    tenant.refresh_from_db()
    if tenant.suspended_at is not None:  # raise the flags again even if it already was (idempotent)
        for flag in _active_flags(tenant.pk):
            gate().deny(flag, FLAG_SECONDS)
        principal_cache.forget_where(lambda _digest, principal: principal.tenant_id == tenant.pk)
        _suspended.put(tenant.pk, True)
    return bool(changed)


def tenant_resume(*, tenant: Tenant, actor: str, actor_user_id: int | None = None) -> bool:
    """Resume ``tenant`` (audited as ``tenant.resumed``). False if it was not suspended."""
    with transaction.atomic():
        changed = Tenant.objects.filter(pk=tenant.pk, suspended_at__isnull=False).update(
            suspended_at=None, suspended_reason="")
        if changed:
            audit_record(tenant_id=tenant.pk, action="tenant.resumed", target_type="tenant", target_id=tenant.pk,
                         actor_user_id=actor_user_id, metadata={"by": actor})
    tenant.refresh_from_db()
    if tenant.suspended_at is None:
        for flag in _active_flags(tenant.pk):  # revoked keys keep their flags
            gate().undeny(flag)
        principal_cache.forget_where(lambda _digest, principal: principal.tenant_id == tenant.pk)
        _suspended.put(tenant.pk, False)
    return bool(changed)


def suspension_cache_clear() -> None:
    _suspended.clear()


