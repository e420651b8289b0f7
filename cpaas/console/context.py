"""Template context for console pages: the tenant switcher's choices and the nav.

Only pages decorated with ``console_view`` (which sets ``request.console_membership``) get it, so
the API and the docs pay nothing.
"""

from __future__ import annotations

from cpaas.console.nav import nav_items
from cpaas.tenants.models import Membership
from cpaas.tenants.permissions import permissions_of


def console(request):
    membership = getattr(request, "console_membership", None)
    if membership is None:
        return {}
    tenants = [
        m.tenant
        for m in Membership.objects.filter(user_id=membership.user_id)
        .select_related("tenant")
        .order_by("tenant__name", "tenant_id")
    ]
    return {
        "console_tenant": membership.tenant,
        "console_role": membership.role,
        "console_role_label": membership.get_role_display(),
        "console_tenants": tenants,
        "console_nav": nav_items(role=membership.role, path=request.path),
        "console_can": permissions_of(membership.role),
    }
