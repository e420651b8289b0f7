"""Billing's console pages (roles with ``billing.read`` in cpaas/tenants/permissions.py): usage
charts, upcoming invoice, invoices with PDF/CSV downloads, credit notes; and the operator's plan
editor (staff only)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import render

from billing import exports
from billing.invoices import invoice_upcoming, minor_to_decimal
from billing.ledger import period_after, period_of
from billing.models import CreditNote, DauMark, Invoice, Plan, UsageDaily
from billing.plans import charges_validate, plan_assign, plan_create
from cpaas.console.access import BILLING_ROLES, console_view
from cpaas.core.errors import ApiError
from cpaas.tenants.models import Tenant
from cpaas.tenants.permissions import Perm


def _bars(series: dict, days: list) -> list[dict]:
    top = max(series.values(), default=0) or 1
    return [{"day": d.isoformat(), "value": series.get(d, 0), "pct": int(Decimal(series.get(d, 0)) * 100 / top)}
            for d in days]


@console_view(permission=Perm.BILLING_READ)
def usage(request):
    tenant_id = request.console_tenant.pk
    start = period_of(datetime.now(UTC).date())
    end = period_after(start)
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    dau = {r["day"]: r["n"] for r in DauMark.objects.filter(tenant_id=tenant_id, mode="live", meter="im_dau",
                                                             day__gte=start, day__lt=end)
           .values("day").annotate(n=Count("id"))}
    sums = defaultdict(dict)
    rows = (UsageDaily.objects.filter(tenant_id=tenant_id, mode="live", meter__in=["voice_seconds", "sms_segments"],
                                      day__gte=start, day__lt=end).values("meter", "day").annotate(q=Sum("quantity")))
    for row in rows:
        value = row["q"] / 60 if row["meter"] == "voice_seconds" else row["q"]
        sums[row["meter"]][row["day"]] = value.quantize(Decimal("0.1")) if row["meter"] == "voice_seconds" else value
    charts = [("Daily active IM users", _bars(dau, days)),
              ("Call minutes", _bars(sums["voice_seconds"], days)),
              ("SMS segments", _bars(sums["sms_segments"], days))]
    return render(request, "billing/console/usage.html", {"charts": charts, "period": start,
                                                           "upcoming": invoice_upcoming(tenant_id=tenant_id)})


@console_view(permission=Perm.BILLING_READ)
def invoices(request):
    tenant_id = request.console_tenant.pk
    rows = [{"invoice": i, "total": minor_to_decimal(i.total_minor, i.currency)}
            for i in Invoice.objects.filter(tenant_id=tenant_id).order_by("-period_start", "-id")[:100]]
    notes = [{"note": n, "total": minor_to_decimal(n.total_minor, n.currency)}
             for n in CreditNote.objects.filter(tenant_id=tenant_id).select_related("invoice").order_by("-id")[:100]]
    return render(request, "billing/console/invoices.html", {"rows": rows, "notes": notes})


@console_view(permission=Perm.BILLING_READ)
def invoice_download(request, invoice_id: str, fmt: str):
    invoice = Invoice.objects.filter(tenant_id=request.console_tenant.pk, pk=invoice_id).first()
    if invoice is None:
        raise Http404
    name = invoice.number or invoice.pk
    if fmt == "pdf":
        response = HttpResponse(exports.invoice_pdf(invoice), content_type="application/pdf")
    else:
        response = HttpResponse(exports.invoice_csv(invoice), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@console_view(roles=BILLING_ROLES)
def plan_editor(request):
    """The operator's plan editor: staff only. Validates charges, warns about volume cliffs."""
    if not request.user.is_staff:
        raise PermissionDenied("Only the platform operator edits plans.")
    context = {"plans": Plan.objects.prefetch_related("versions").order_by("code"),
               "tenants": Tenant.objects.order_by("name")[:500], "form": request.POST or {}}
    if request.method == "POST":
        try:
            charges = json.loads(request.POST.get("charges") or "[]")
        except json.JSONDecodeError as exc:
            context["error"] = {"message": f"Charges are not valid JSON: {exc}", "param": "charges"}
            return render(request, "billing/console/plans.html", context, status=400)
        try:
            _, warnings = charges_validate(charges)
            context["warnings"] = warnings
            if request.POST.get("action") == "save":
                version = plan_create(code=request.POST["code"], name=request.POST.get("name") or request.POST["code"],
                                      currency=request.POST.get("currency") or "EUR",
                                      fixed_fee=request.POST.get("fixed_fee") or "0",
                                      minimum_commitment=request.POST.get("minimum_commitment") or "0",
                                      charges=charges, tenant_id_for_audit=request.console_tenant.pk,
                                      actor_user_id=request.user.pk)
                context["saved"] = version
                tenant_id = request.POST.get("tenant")
                if tenant_id:
                    plan_assign(tenant_id=tenant_id, version=version, prorate=False, actor_user_id=request.user.pk)
        except ApiError as exc:
            context["error"] = {"message": exc.message, "param": exc.param, "code": exc.code}
            return render(request, "billing/console/plans.html", context, status=400)
    return render(request, "billing/console/plans.html", context)
