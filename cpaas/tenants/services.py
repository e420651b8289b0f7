"""Writes on tenants and apps (the team's are in team.py); each owns its transaction and audits what is sensitive."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from cpaas.core.errors import ApiError
from cpaas.tenants.audit import audit_record
from cpaas.tenants.keys import CreatedKey, api_key_create
from cpaas.tenants.models import App, KeyMode, Role, Tenant
from cpaas.tenants.team import member_add


def app_create(*, tenant_id: str, name: str, actor_user_id: int | None = None,
               actor_key_id: str = "", ip: str | None = None) -> App:
    """A new app; at most ``APPS_PER_TENANT`` (409 ``too_many_apps``), since the keys cap is per
    app and would otherwise be lifted by making apps."""
    if App.objects.filter(tenant_id=tenant_id).count() >= settings.APPS_PER_TENANT:
        raise ApiError(f"This tenant already has {settings.APPS_PER_TENANT} apps, the most it may.",
                       code="too_many_apps")
    with transaction.atomic():
        app = App.objects.create(tenant_id=tenant_id, name=name)
        audit_record(tenant_id=tenant_id, action="app.created", actor_user_id=actor_user_id,
                     actor_key_id=actor_key_id, target_type="app", target_id=app.id, ip=ip,
                     metadata={"name": name})
    return app


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: Tenant
    app: App
    test_key: CreatedKey
    user: object | None


def tenant_provision(*, name: str, app_name: str = "Default app", owner_email: str | None = None,
                     owner_password: str | None = None) -> ProvisionedTenant:
    """A tenant with one app, a test key and (optionally) an owner who can log into the console."""
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name)
        user = None
        if owner_email:
            users = get_user_model()
            user = users.objects.filter(username=owner_email).first()
            if user is None:
                user = users.objects.create_user(
                    username=owner_email, email=owner_email, password=owner_password
                )
            member_add(tenant=tenant, user=user, role=Role.OWNER)
        app = app_create(tenant_id=tenant.id, name=app_name,
                         actor_user_id=user.pk if user else None)
        key = api_key_create(app=app, name="Default test key", mode=KeyMode.TEST,
                             actor_user_id=user.pk if user else None)
    return ProvisionedTenant(tenant=tenant, app=app, test_key=key, user=user)
