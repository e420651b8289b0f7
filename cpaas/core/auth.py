"""Bearer API-key authentication (with the rate-limit gate) and per-view key scopes."""

from __future__ import annotations

from typing import NoReturn

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from cpaas.core import authfail
from cpaas.core.clientip import client_ip
from cpaas.core.context import app_id_var, key_id_var
from cpaas.core.errors import AuthenticationFailed, PermissionDenied, RateLimited
from cpaas.core.ratelimit import gate
from cpaas.tenants import suspension
from cpaas.tenants.keys import KeyPrincipal, hash_secret, key_is_cached, key_resolve, principal_cache

# A view's ``product``: one of the key product scopes, ANY_PRODUCT (any key may call it), or
# MANAGEMENT (needs a full-access key without product restriction).
ANY_PRODUCT = "any"
MANAGEMENT = "management"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer sk_…``. Every failure is the same 401, with no hint of the cause.

    A suspended tenant's key gets 403 ``tenant_suspended`` instead (cpaas/tenants/suspension.py).
    A client address that failed ``AUTH_FAILURES_PER_WINDOW`` times in the window gets 429 for the
    rest of it, asked before any database lookup; a key already resolved in this process (the hot
    path) never pays for that check (decision 0843).
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AuthenticationFailed()
        address = None
        if not key_is_cached(secret):
            address = client_ip(request) or "unknown"
            throttle = authfail.throttled(address)
            if throttle.blocked:
                raise authfail.refusal(throttle.retry_after)
        principal = key_resolve(secret)
        if principal is None:
            _failed(request, address)
        if principal.suspended:
            if suspension.is_suspended(principal.tenant_id):
                raise suspension.refusal()
            principal_cache.forget(hash_secret(secret))  # resumed since this copy was read
            principal = key_resolve(secret) or _failed(request, address)
        admission = gate().admit(principal.rate_bucket, principal.deny_flag, principal.rate, principal.burst,
                                 tenant=principal.tenant_bucket)
        if admission.denied:
            if suspension.is_suspended(principal.tenant_id):  # a suspended tenant's flag, not a revoked key
                raise suspension.refusal()
            _failed(request, address)
        request.rate_limit = admission
        app_id_var.set(principal.app_id)
        key_id_var.set(principal.key_id)
        if not admission.allowed:
            raise RateLimited(headers=admission.headers())
        return principal, principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="cpaas"'


def _failed(request, address: str | None) -> NoReturn:
    """Count the failure against the client's address, then answer the one 401."""
    address = address or client_ip(request) or "unknown"
    authfail.failed(address)
    raise AuthenticationFailed()


class KeyScopePermission(BasePermission):
    """Read-only keys may only read; product-scoped keys only reach their products."""

    def has_permission(self, request, view) -> bool:
        principal: KeyPrincipal | None = request.auth
        if principal is None:
            raise AuthenticationFailed()
        product = getattr(view, "product", MANAGEMENT)
        writes = request.method not in SAFE_METHODS
        if product == MANAGEMENT:
            if not principal.unrestricted:
                raise PermissionDenied("This endpoint needs a full-access key with no product restriction.")
            return True
        if writes and principal.access != "full":
            raise PermissionDenied("This API key is read-only.")
        if product != ANY_PRODUCT and not principal.allows_product(product):
            raise PermissionDenied(f"This API key is not allowed to use the `{product}` product.")
        return True
