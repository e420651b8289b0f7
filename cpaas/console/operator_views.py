"""The operator's console section (platform staff, ``User.is_staff``; not a tenant role): tenants,
searched by name or id, suspended and resumed. A tenant member who is not staff gets 403, whatever
their role. Writes go through cpaas/tenants/suspension.py, audited with the operator as actor.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from cpaas.console.access import account_view
from cpaas.tenants.models import Tenant
from cpaas.tenants.suspension import tenant_resume, tenant_suspend

PAGE_SIZE = 50


def _staff_only(request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only the platform operator sees this page.")


@require_GET
@account_view
def tenants(request):
    _staff_only(request)
    query = request.GET.get("q", "").strip()[:200]
    rows = Tenant.objects.annotate(members=Count("memberships", distinct=True)).order_by("name", "id")
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(pk=query))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "console/operator_tenants.html", {"page": page, "q": query})


def _tenant_or_404(tenant_id: str) -> Tenant:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


@require_POST
@account_view
def tenant_suspend_view(request, tenant_id: str):
    _staff_only(request)
    tenant = _tenant_or_404(tenant_id)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "Say why the tenant is suspended: the reason goes to its audit log.")
        return redirect("console:operator-tenants")
    tenant_suspend(tenant=tenant, reason=reason, actor=f"console {request.user.get_username()}",
                   actor_user_id=request.user.pk)
    messages.success(request, f"{tenant.name} is suspended: its API keys are refused.")
    return redirect("console:operator-tenants")


@require_POST
@account_view
def tenant_resume_view(request, tenant_id: str):
    _staff_only(request)
    tenant = _tenant_or_404(tenant_id)
    tenant_resume(tenant=tenant, actor=f"console {request.user.get_username()}", actor_user_id=request.user.pk)
    messages.success(request, f"{tenant.name} is resumed: its API keys work again.")
    return redirect("console:operator-tenants")
