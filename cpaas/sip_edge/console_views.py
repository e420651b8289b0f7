"""Console pages of SIP endpoints (in the voice section): the list with registrations, and a form
that creates one and shows its password once."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from cpaas.console.access import console_view
from cpaas.core.errors import ApiError
from cpaas.core.scoping import Scope, scoped_both_modes
from cpaas.sip_edge import selectors, services
from cpaas.sip_edge.credentials import domain_for
from cpaas.sip_edge.forms import EndpointForm
from cpaas.sip_edge.models import SipEndpoint
from cpaas.tenants.models import App

PAGE = 200


def _apps(request) -> list[App]:
    return list(App.objects.filter(tenant=request.console_tenant).order_by("created_at"))


def _endpoints_of(request, apps: list[App]) -> QuerySet[SipEndpoint]:
    """The member's endpoints: both modes of each of the tenant's apps, through core.scoping."""
    tenant_id = request.console_tenant.id
    rows = SipEndpoint.objects.none()
    for app in apps:
        rows = rows | scoped_both_modes(SipEndpoint, tenant_id=tenant_id, app_id=app.id)
    return rows


@never_cache
@console_view()
def endpoint_list(request):
    """Every endpoint of the tenant (both modes: a member sees both), with its registrations; the
    form posts here, and a created endpoint's page is the only one that shows its password."""
    apps = _apps(request)
    form = EndpointForm(request.POST or None, apps=apps)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        scope = Scope(tenant_id=request.console_tenant.id, app_id=data["app"], mode=data["mode"])
        try:
            created = services.endpoint_create(principal=scope, username=data["username"],
                                               password=data["password"] or None,
                                               display_name=data["display_name"])
        except ApiError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            endpoint = created.endpoint
            return render(request, "sip_edge/endpoint_created.html", {
                "endpoint": endpoint, "domain": domain_for(endpoint.realm), "password": created.password,
            }, status=201)
    endpoints = list(_endpoints_of(request, apps).select_related("app").order_by("-pk")[:PAGE])
    registrations = selectors.registrations_by_endpoint(endpoints)
    rows = [{"endpoint": e, "domain": domain_for(e.realm), "registrations": registrations.get(e.id, [])}
            for e in endpoints]
    return render(request, "sip_edge/endpoint_list.html", {"rows": rows, "form": form},
                  status=400 if form.is_bound else 200)
