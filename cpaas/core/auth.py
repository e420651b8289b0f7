"""Bearer API-key authentication (with the rate-limit gate) and per-view key scopes."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from cpaas.core import authfail
from cpaas.core.clientip import client_ip
from cpaas.core.context import app_id_var, key_id_var, tenant_id_var
from cpaas.core.errors import AuthenticationFailed, PermissionDenied, RateLimited
from cpaas.core.ratelimit import Admission, gate
from cpaas.tenants import suspension
from cpaas.tenants.keys import KeyPrincipal, hash_secret, key_is_cached, key_resolve, principal_cache

# A view's ``product``: one of the key product scopes, ANY_PRODUCT (any key may call it), or
# MANAGEMENT (needs a full-access key without product restriction).
ANY_PRODUCT = "any"
#: The challenge of every 401 of the API (Django's views and the lean send path).
WWW_AUTHENTICATE = 'Bearer realm="cpaas"'
MANAGEMENT = "management"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer sk_…``. Every failure is the same 401, with no hint of the cause.

    A client address that failed ``AUTH_FAILURES_PER_WINDOW`` times in the window gets 429 for the
    rest of it, asked before any database lookup; a key already resolved in this process (the hot
    path) never pays for that check (decision 0843).
    """

    def authenticate(self, request):
        principal = key_authenticate(request, bearer_secret(request.META.get("HTTP_AUTHORIZATION", "")))
        return principal, principal

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


def bearer_secret(header: str) -> str:
    """The secret of an ``Authorization: Bearer …`` header; the one 401 for anything else."""
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationFailed()
    return secret


def key_authenticate(request, secret: str) -> KeyPrincipal:
    """Resolve a presented key secret and admit it through the rate-limit gate, for a DRF request:
    the path every key-authenticated view takes (Bearer here, HTTP Basic on the Twilio-compatible
    API), so the failed-auth throttle and the limits are the same on each."""
    principal, admission = key_admission(secret, lambda: client_ip(request))
    request.rate_limit = admission
    if not admission.allowed:
        raise RateLimited(headers=admission.headers())
    return principal


def key_admission(secret: str, address: Callable[[], str | None]) -> tuple[KeyPrincipal, Admission]:
    """The key of ``secret`` and its admission by the rate-limit gate: what :func:`key_authenticate`
    runs for Django's views and the lean send path (cpaas/messaging/accept/) runs without a DRF
    request.

    Raises the one 401 (counted against the client's address), the failed-auth 429, or a suspended
    tenant's 403 ``tenant_suspended`` (cpaas/tenants/suspension.py); a key over
    its limit is returned with an admission that is not ``allowed`` (the caller answers 429 with
    the admission's headers). ``address`` is asked only when needed: a cached key never pays for it.
    """
    where = None
    if not key_is_cached(secret):
        where = address() or "unknown"
        throttle = authfail.throttled(where)
        if throttle.blocked:
            raise authfail.refusal(throttle.retry_after)
    principal = key_resolve(secret)
    if principal is None:
        _failed(where, address)
    if principal.suspended:
        if suspension.is_suspended(principal.tenant_id):
            raise suspension.refusal()
        principal_cache.forget(hash_secret(secret))  # resumed since this copy was read
        principal = key_resolve(secret) or _failed(where, address)
    admission = gate().admit(principal.rate_bucket, principal.deny_flag, principal.rate, principal.burst,
                             tenant=principal.tenant_bucket)
    if admission.denied:
        if suspension.is_suspended(principal.tenant_id):  # a suspended tenant's flag, not a revoked key
            raise suspension.refusal()
        _failed(where, address)
    app_id_var.set(principal.app_id)
    key_id_var.set(principal.key_id)
    tenant_id_var.set(principal.tenant_id)
    return principal, admission


def authentication_failed(request, address: str | None = None) -> NoReturn:
    """Count the failure against the client's address, then answer the one 401."""
    _failed(address, lambda: client_ip(request))


def _failed(where: str | None, address: Callable[[], str | None]) -> NoReturn:
    authfail.failed(where or address() or "unknown")
    raise AuthenticationFailed()


def key_allows(principal: KeyPrincipal | None, product: str, method: str) -> None:
    """Raise unless ``principal`` may call an endpoint of ``product`` with ``method``: read-only
    keys may only read; product-scoped keys only reach their products."""
    if principal is None:
        raise AuthenticationFailed()
    if product == MANAGEMENT:
        if not principal.unrestricted:
            raise PermissionDenied("This endpoint needs a full-access key with no product restriction.")
        return
    if method not in SAFE_METHODS and principal.access != "full":
        raise PermissionDenied("This API key is read-only.")
    if product != ANY_PRODUCT and not principal.allows_product(product):
        raise PermissionDenied(f"This API key is not allowed to use the `{product}` product.")


class KeyScopePermission(BasePermission):
    """Read-only keys may only read; product-scoped keys only reach their products."""

    def has_permission(self, request, view) -> bool:
        key_allows(request.auth, getattr(view, "product", MANAGEMENT), request.method)
        return True


@dataclass(frozen=True)
class OperatorPrincipal:
    """The platform's operator, authenticated by one of ``OPERATOR_API_TOKENS`` (decision 1303)."""

    token_hint: str  # the token's last 4 characters, for the audit log
    is_authenticated = True


class OperatorAuthentication(BaseAuthentication):
    """``Authorization: Bearer <operator token>`` on /v1/operator/. A valid tenant API key gets
    403 ``operator_only`` (it is a real key, just not the operator's); anything else the one 401,
    counted against the client's address like a wrong API key."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AuthenticationFailed()
        if any(hmac.compare_digest(secret.encode(), token.encode()) for token in settings.OPERATOR_API_TOKENS):
            return OperatorPrincipal(token_hint=secret[-4:]), None
        address = client_ip(request) or "unknown"
        throttle = authfail.throttled(address)
        if throttle.blocked:
            raise authfail.refusal(throttle.retry_after)
        if key_resolve(secret) is not None:
            raise PermissionDenied("This endpoint is for the platform operator: a tenant's API key cannot call it.",
                                   code="operator_only")
        authentication_failed(request, address)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="cpaas-operator"'


class IsOperator(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, OperatorPrincipal):
            raise AuthenticationFailed()
        return True
