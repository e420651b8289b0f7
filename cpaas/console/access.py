"""Who may see which console page: a logged-in member of the current tenant whose role holds the
page's permission in the one permission table (cpaas/tenants/permissions.py, decision 1300).

A user with a second factor is logged in only through the code step, so their session is always
verified; a session that is not (the factor was added in another session) is ended. A tenant that
requires a second factor sends its members without one to the enrol page first (decision 0851).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, resolve_url

from cpaas.console.twofactor import has_two_factor
from cpaas.tenants.models import Membership, Role
from cpaas.tenants.permissions import Perm, role_allows, roles_with

SESSION_TENANT = "console_tenant_id"
ALL_ROLES = tuple(Role.values)
# Role sets for pages that still name roles; derived from the table, so they cannot drift from it.
TECH_ROLES = roles_with(Perm.CHANNELS_WRITE)
BILLING_ROLES = roles_with(Perm.BILLING_WRITE)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def current_membership(request) -> Membership | None:
    """The member's row for the tenant chosen in the session (or their first tenant)."""
    if not request.user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=request.user).select_related("tenant")
    chosen = request.session.get(SESSION_TENANT)
    membership = memberships.filter(tenant_id=chosen).first() if chosen else None
    membership = membership or memberships.order_by("created_at").first()
    if membership is not None:
        request.session[SESSION_TENANT] = membership.tenant_id
    return membership


def _to(request, url: str) -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        # htmx would swap the target page into a table row: send the whole page there.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def signed_in_refusal(request) -> HttpResponse | None:
    """None if the request carries a usable console session, else the response that sends it away."""
    if not request.user.is_authenticated:
        if request.headers.get("HX-Request") == "true":
            return _to(request, resolve_url(settings.LOGIN_URL))
        return redirect_to_login(request.get_full_path())
    if not request.user.is_verified() and has_two_factor(request.user):
        logout(request)
        return redirect_to_login(request.get_full_path())
    return None


def two_factor_missing(request, membership: Membership) -> bool:
    return membership.tenant.require_two_factor and not request.user.is_verified()


def account_view(view):
    """Decorate a page about the signed-in user rather than a tenant (two-factor set-up).

    It stays reachable when the tenant requires a second factor the user lacks, so it is where
    ``console_view`` sends them; the tenant's sidebar is shown only once nothing is missing.
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        refusal = signed_in_refusal(request)
        if refusal is not None:
            return refusal
        membership = current_membership(request)
        if membership is not None and not two_factor_missing(request, membership):
            request.console_membership = membership
            request.console_tenant = membership.tenant
        return view(request, *args, **kwargs)

    return wrapped


def console_view(roles: Iterable[str] | None = None, *, permission: str | None = None,
                 read: str = Perm.CHANNELS_READ, write: str = Perm.CHANNELS_WRITE) -> Callable:
    """Decorate a console view: sets ``request.console_tenant`` and ``request.console_membership``.

    Anonymous → login page (htmx requests get an ``HX-Redirect`` there); a member of a tenant that
    requires a second factor, without one → the enrol page; a member whose role lacks the page's
    permission → 403. The permission is ``permission`` for every method, else ``read`` for GET and
    HEAD and ``write`` for the rest (by default the channel pages': viewers read, developers act).
    ``roles`` (a set of roles) is the older form, still honoured.
    """
    allowed = set(roles) if roles is not None else None

    def permitted(request, role: str) -> bool:
        if allowed is not None:
            return role in allowed
        needed = permission or (read if request.method in _SAFE_METHODS else write)
        return role_allows(role, needed)

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            refusal = signed_in_refusal(request)
            if refusal is not None:
                return refusal
            membership = current_membership(request)
            if membership is None:
                return redirect("console:no-tenant")
            if two_factor_missing(request, membership):
                return _to(request, resolve_url("console:two-factor"))
            if not permitted(request, membership.role):
                raise PermissionDenied("Your role cannot see this page or do this.")
            request.console_membership = membership
            request.console_tenant = membership.tenant
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
