"""Writes of the SIP edge room: create, change and delete SIP endpoints.

Registrations are Kamailio's rows (usrloc in DB-only mode): deleting them here takes effect at the
edge at once, so a disabled or deleted endpoint, or one whose password changed, is unreachable and
must register again (and cannot, when disabled or deleted: the credentials view drops it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from cpaas.core.errors import ApiError
from cpaas.core.scoping import Principal, scoped
from cpaas.sip_edge import conf
from cpaas.sip_edge.credentials import domain_for, ha1, password_generate, password_valid, realm_for, username_valid
from cpaas.sip_edge.models import SipEndpoint, SipRegistration
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import App
from cpaas.voice.numbers import caller_id_owned, normalize_e164


@dataclass(frozen=True)
class EndpointWithPassword:
    endpoint: SipEndpoint
    password: str | None  # only when just set or generated: shown once


def _caller_id(principal: Principal, value: str | None) -> str:
    if not value:
        return ""
    number = normalize_e164(value, param="caller_id")
    if not caller_id_owned(principal.app_id, number, is_test=principal.mode == "test"):
        raise ApiError(f"`caller_id` {number} is not a voice number of this app.", code="caller_id_not_owned",
                       param="caller_id")
    return number


def endpoint_create(*, principal: Principal, username: str, password: str | None = None,
                    display_name: str = "", caller_id: str | None = None,
                    actor_key_id: str = "") -> EndpointWithPassword:
    """A new endpoint in the (app, mode)'s SIP domain; ``password`` generated when not given.

    409 ``sip_username_taken`` when the username exists in that domain (the unique constraint
    decides, so two concurrent creates cannot both win).
    """
    username = username_valid(username)
    password = password_generate() if password is None else password_valid(password)
    number = _caller_id(principal, caller_id)
    realm = realm_for(principal.app_id, principal.mode)
    try:
        with transaction.atomic():
            # The app's row locked: concurrent creates count one after another, so the cap holds.
            App.objects.select_for_update().only("pk").get(pk=principal.app_id)
            count = scoped(SipEndpoint, principal).count()
            if count >= conf.SIP_ENDPOINTS_PER_APP:
                raise ApiError(f"This app has {count} SIP endpoints in this mode, the most it may have.",
                               code="too_many_sip_endpoints")
            endpoint = SipEndpoint.objects.create(
                tenant_id=principal.tenant_id, app_id=principal.app_id, mode=principal.mode, username=username,
                realm=realm, ha1=ha1(username, realm, password), display_name=display_name, caller_id=number)
    except IntegrityError:
        raise ApiError(f"`{username}` is already an endpoint of {domain_for(realm)}.", code="sip_username_taken",
                       param="username") from None
    audit_record(tenant_id=principal.tenant_id, action="sip_endpoint.created", actor_key_id=actor_key_id,
                 target_type="sip_endpoint", target_id=endpoint.id, metadata={"username": username})
    return EndpointWithPassword(endpoint, password)


def endpoint_update(*, principal: Principal, endpoint: SipEndpoint, changes: dict[str, Any],
                    actor_key_id: str = "") -> EndpointWithPassword:
    """Apply ``changes`` (display_name, caller_id, enabled, password, rotate_password).

    A new password (given or rotated) or disabling drops the endpoint's registrations.
    """
    changes = dict(changes)
    new_password: str | None = None
    if changes.pop("rotate_password", False):
        if "password" in changes:
            raise ApiError("Give `password` or `rotate_password`, not both.", param="rotate_password")
        new_password = password_generate()
    elif "password" in changes:
        new_password = password_valid(changes.pop("password"))
    fields = []
    if "caller_id" in changes:
        endpoint.caller_id = _caller_id(principal, changes.pop("caller_id"))
        fields.append("caller_id")
    for name in ("display_name", "enabled"):
        if name in changes:
            setattr(endpoint, name, changes.pop(name))
            fields.append(name)
    if new_password is not None:
        endpoint.ha1 = ha1(endpoint.username, endpoint.realm, new_password)
        fields.append("ha1")
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=[*fields, "updated_at"])
    if new_password is not None or not endpoint.enabled:
        _registrations_drop(endpoint)
    if new_password is not None:
        audit_record(tenant_id=endpoint.tenant_id, action="sip_endpoint.password_changed", actor_key_id=actor_key_id,
                     target_type="sip_endpoint", target_id=endpoint.id)
    return EndpointWithPassword(endpoint, new_password)


def endpoint_delete(*, endpoint: SipEndpoint, actor_key_id: str = "") -> None:
    """The endpoint and its registrations, in one transaction."""
    endpoint_id = endpoint.id  # delete() clears the instance's pk
    with transaction.atomic():
        _registrations_drop(endpoint)
        endpoint.delete()
        audit_record(tenant_id=endpoint.tenant_id, action="sip_endpoint.deleted", actor_key_id=actor_key_id,
                     target_type="sip_endpoint", target_id=endpoint_id, metadata={"username": endpoint.username})


def _registrations_drop(endpoint: SipEndpoint) -> int:
    deleted, _ = SipRegistration.objects.filter(username=endpoint.username, domain=endpoint.realm).delete()
    return deleted
