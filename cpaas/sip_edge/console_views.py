"""Console pages of SIP endpoints (in the voice section): the list with registrations, and a form
that creates one and shows its password once."""

from __future__ import annotations

from django import forms
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from cpaas.console.access import console_view
from cpaas.core.errors import ApiError
from cpaas.core.scoping import Scope
from cpaas.sip_edge import selectors, services
from cpaas.sip_edge.credentials import domain_for
from cpaas.sip_edge.models import SipEndpoint
from cpaas.tenants.models import App, KeyMode

PAGE = 200


class EndpointForm(forms.Form):
    app = forms.ChoiceField()
    mode = forms.ChoiceField(choices=KeyMode.choices, initial=KeyMode.TEST, widget=forms.RadioSelect,
                             help_text="Test endpoints call only endpoints of their test domain.")
    username = forms.CharField(max_length=32, strip=True, help_text="a-z 0-9 . _ -, e.g. “frontdesk” or “101”.")
    display_name = forms.CharField(max_length=100, required=False)
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput,
                               help_text="Leave empty to have one generated (shown once).")

    def __init__(self, *args, apps: list[App], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [(app.id, f"{app.name} ({app.id})") for app in apps]


def _apps(request) -> list[App]:
    return list(App.objects.filter(tenant=request.console_tenant).order_by("created_at"))


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
    endpoints = list(SipEndpoint.objects.filter(tenant=request.console_tenant).select_related("app")
                     .order_by("-pk")[:PAGE])
    registrations = selectors.registrations_by_endpoint(endpoints)
    rows = [{"endpoint": e, "domain": domain_for(e.realm), "registrations": registrations.get(e.id, [])}
            for e in endpoints]
    return render(request, "sip_edge/endpoint_list.html", {"rows": rows, "form": form},
                  status=400 if form.is_bound else 200)
