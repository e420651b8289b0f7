"""Reads, always scoped by tenant first."""

from __future__ import annotations

from django.db.models import QuerySet

from cpaas.core.errors import NotFound
from cpaas.tenants.models import ApiKey, App


def app_list(*, tenant_id: str) -> QuerySet[App]:
    return App.objects.filter(tenant_id=tenant_id)


def app_get(*, tenant_id: str, app_id: str) -> App:
    app = App.objects.filter(tenant_id=tenant_id, pk=app_id).first()
    if app is None:
        raise NotFound(f"No such app: {app_id}", param="id")
    return app


def api_key_list(*, tenant_id: str, app_id: str | None = None) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(tenant_id=tenant_id)
    return keys.filter(app_id=app_id) if app_id else keys


def api_key_get(*, tenant_id: str, key_id: str) -> ApiKey:
    key = ApiKey.objects.filter(tenant_id=tenant_id, pk=key_id).first()
    if key is None:
        raise NotFound(f"No such API key: {key_id}", param="id")
    return key
