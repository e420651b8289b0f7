"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from billing import api

urlpatterns = [
    path("usage-events", api.UsageEventImportView.as_view(), name="usage-events"),
    path("usage-events/<str:event_id>/void", api.UsageEventVoidView.as_view(), name="usage-event-void"),
    path("usage", api.UsageView.as_view(), name="usage"),
    path("usage/active-subjects", api.ActiveSubjectsView.as_view(), name="usage-active-subjects"),
    path("invoices", api.InvoiceListView.as_view(), name="invoices"),
    path("invoices/upcoming", api.UpcomingInvoiceView.as_view(), name="invoice-upcoming"),
    path("invoices/<str:invoice_id>.pdf", api.InvoicePdfView.as_view(), name="invoice-pdf"),
    path("invoices/<str:invoice_id>.csv", api.InvoiceCsvView.as_view(), name="invoice-csv"),
    path("invoices/<str:invoice_id>", api.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("stripe/webhook", api.stripe_webhook, name="stripe-webhook"),
    path("credit-notes", api.CreditNoteListView.as_view(), name="credit-notes"),
    path("credit-notes/<str:credit_note_id>", api.CreditNoteDetailView.as_view(), name="credit-note-detail"),
]
