"""Recording sensitive actions. Call inside the same transaction as the action itself."""

from __future__ import annotations

from typing import Any

from cpaas.tenants.models import AuditLogEntry


def audit_record(
    *,
    tenant_id: str,
    action: str,
    actor_user_id: int | None = None,
    actor_key_id: str = "",
    target_type: str = "",
    target_id: str = "",
    ip: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        tenant_id=tenant_id,
        action=action,
        actor_user_id=actor_user_id,
        actor_key_id=actor_key_id,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        metadata=metadata or {},
    )
