"""Billing's console pages, under /console/billing/."""

from django.urls import path, re_path

from billing import console

app_name = "billing"

urlpatterns = [
    path("", console.usage, name="usage"),
    path("invoices", console.invoices, name="invoices"),
    re_path(r"^invoices/(?P<invoice_id>[A-Za-z0-9_]+)\.(?P<fmt>pdf|csv)$", console.invoice_download,
            name="invoice-download"),
    path("plans", console.plan_editor, name="plans"),
]
