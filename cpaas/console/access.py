"""Who may see which console page: a logged-in member of the current tenant with an allowed role."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, resolve_url

from cpaas.tenants.models import Membership, Role

SESSION_TENANT = "console_tenant_id"
ALL_ROLES = tuple(Role.values)
TECH_ROLES = (Role.OWNER, Role.DEVELOPER)
BILLING_ROLES = (Role.OWNER, Role.FINANCE)


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


def console_view(roles: Iterable[str] = TECH_ROLES) -> Callable:
    """Decorate a console view: sets ``request.console_tenant`` and ``request.console_membership``.

    Anonymous → login page (htmx requests get an ``HX-Redirect`` there); a member whose role is not
    in ``roles`` → 403.
    """
    allowed = set(roles)

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.headers.get("HX-Request") == "true":
                    # htmx would swap the login page into a table row: send the whole page there.
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                    return response
                return redirect_to_login(request.get_full_path())
            membership = current_membership(request)
            if membership is None:
                return redirect("console:no-tenant")
            if membership.role not in allowed:
                raise PermissionDenied("Your role cannot see this page.")
            request.console_membership = membership
            request.console_tenant = membership.tenant
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
