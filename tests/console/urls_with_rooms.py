"""A URL conf where the SMS and billing rooms have console pages, to test the nav's room slots."""

from django.urls import include, path

from cpaas.console.access import BILLING_ROLES, TECH_ROLES, console_view
from cpaas.console.views import render


@console_view(roles=TECH_ROLES)
def sms_home(request):
    return render(request, "console/home_finance.html")


@console_view(roles=BILLING_ROLES)
def billing_home(request):
    return render(request, "console/home_finance.html")


urlpatterns = [
    path("", include("cpaas.console.urls")),
    path("console/sms/", sms_home),
    path("console/billing/", billing_home),
]
