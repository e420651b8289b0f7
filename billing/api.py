"""Billing's /v1 API: usage import and charts, invoices (JSON/PDF/CSV), credit notes, upcoming."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import stripe
from django.db.models import Count, Max, Sum
from django.http import HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from billing import exports, ledger, pricing
from billing.invoices import invoice_upcoming, minor_to_decimal
from billing.meters import METERS
from billing.models import CreditNote, DauMark, Invoice, UsageDaily
from cpaas.core.errors import ApiError
from cpaas.core.pagination import paginate
from cpaas.core.params import query_date
from cpaas.core.scoping import MODES, scoped_get
from cpaas.core.views import ApiView

MAX_IMPORT = 10_000
EVENT_FIELDS = {"meter", "quantity", "subject", "dimensions", "occurred_at", "idempotency_key"}


def money(amount_minor: int, currency: str) -> str:
    return str(minor_to_decimal(amount_minor, currency))


def invoice_out(invoice: Invoice, *, with_lines: bool = False) -> dict:
    cur = invoice.currency
    body = {
        "id": invoice.pk, "object": "invoice", "number": invoice.number, "status": invoice.status, "currency": cur,
        "period_start": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
        "subtotal": money(invoice.subtotal_minor, cur), "tax_rate": str(invoice.tax_rate),
        "tax": money(invoice.tax_minor, cur), "total": money(invoice.total_minor, cur),
        "credited": money(invoice.credited_minor, cur),
        "finalized_at": invoice.finalized_at.isoformat() if invoice.finalized_at else None,
        "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "customer": invoice.customer, "seller": invoice.seller,
    }
    if with_lines:
        body["lines"] = [{
            "position": line.position, "kind": line.kind, "meter": line.meter or None, "app": line.app_id or None,
            "description": line.description, "dimensions": line.dimensions, "quantity": pricing.plain(line.quantity),
            "unit_price": None if line.unit_price is None else pricing.plain(line.unit_price),
            "tiers": line.tiers, "amount_precise": format(line.amount_precise, ".6f"),
            "amount": money(line.amount_minor, cur),
            "service_start": line.service_start.isoformat(), "service_end": line.service_end.isoformat(),
            "appendix": line.appendix,
        } for line in invoice.lines.all()]
    return body


def credit_note_out(note: CreditNote) -> dict:
    cur = note.currency
    return {"id": note.pk, "object": "credit_note", "number": note.number, "invoice": note.invoice_id,
            "reason": note.reason, "currency": cur, "subtotal": money(note.subtotal_minor, cur),
            "tax": money(note.tax_minor, cur), "total": money(note.total_minor, cur),
            "created_at": note.created_at.isoformat()}


class BillingView(ApiView):
    """Base of the room's API views: every one needs the `billing` product scope."""

    product = "billing"


class UsageEventImportView(BillingView):
    """Import up to 10,000 usage events into the calling app's ledger (deduplicated by key)."""

    @extend_schema(operation_id="usage_events_import", request=dict, responses={200: dict})
    def post(self, request):
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not events:
            raise ApiError("`events` must be a non-empty list.", param="events")
        if len(events) > MAX_IMPORT:
            raise ApiError(f"At most {MAX_IMPORT} events per request.", param="events")
        unknown = sorted(set(request.data) - {"events"})
        if unknown:
            raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
        now = datetime.now(UTC)
        pending = []
        for i, raw in enumerate(events):
            prefix = f"events[{i}]."
            if not isinstance(raw, dict):
                raise ApiError("An event is an object.", param=f"events[{i}]")
            extra = sorted(set(raw) - EVENT_FIELDS)
            if extra:
                raise ApiError(f"Unknown parameter `{extra[0]}`.", code="invalid_request", param=prefix + extra[0])
            for name in ("meter", "quantity", "occurred_at", "idempotency_key"):
                if raw.get(name) in (None, ""):
                    raise ApiError(f"`{name}` is required.", code="invalid_request", param=prefix + name)
            occurred = parse_datetime(str(raw["occurred_at"])) if isinstance(raw["occurred_at"], str) else None
            if occurred is None or occurred.tzinfo is None:
                raise ApiError("`occurred_at` must be an ISO 8601 time with a timezone.", param=prefix + "occurred_at")
            if occurred > now.replace(microsecond=0) + timedelta(minutes=5):
                raise ApiError("`occurred_at` is in the future.", param=prefix + "occurred_at")
            dims = raw.get("dimensions") or {}
            if not isinstance(dims, dict) or not all(isinstance(v, str | int) for v in dims.values()):
                raise ApiError("`dimensions` maps names to strings.", param=prefix + "dimensions")
            for name in ("meter", "subject"):
                if raw.get(name) is not None and not isinstance(raw[name], str):
                    raise ApiError(f"`{name}` must be a string.", param=prefix + name)
            if not isinstance(raw["quantity"], str | int) or isinstance(raw["quantity"], bool):
                raise ApiError("`quantity` must be a decimal string or an integer.", code="invalid_quantity",
                               param=prefix + "quantity")
            pending.append(ledger.usage_prepare(
                app=self.principal.app_id, meter=str(raw["meter"]), quantity=raw["quantity"],
                subject=raw.get("subject"), dimensions=dims, occurred_at=occurred,
                idempotency_key=_tenant_key(raw["idempotency_key"], prefix), received_at=now, param_prefix=prefix,
                mode=self.principal.mode, origin="tenant"))
        inserted = ledger.usage_flush(pending)
        return Response({"object": "usage_import", "received": len(pending), "inserted": inserted,
                         "duplicates": len(pending) - inserted}, status=status.HTTP_200_OK)


# Keys a tenant imports live apart from the platform's own (``sms:{message}``, ``dau:{user}:{day}``…):
# the index is unique per app and mode, so a tenant that took the key of a message it was about to
# send could keep it off the bill (then void its own event) or make the dispatcher's write conflict.
TENANT_KEY_PREFIX = "t:"


def _tenant_key(value, prefix: str) -> str:
    key = str(value)
    if len(key) > 200 - len(TENANT_KEY_PREFIX):
        raise ApiError(f"`idempotency_key` must be 1 to {200 - len(TENANT_KEY_PREFIX)} characters.",
                       param=prefix + "idempotency_key")
    return TENANT_KEY_PREFIX + key


class UsageEventVoidView(BillingView):
    """Void usage the app reported itself (platform-metered usage: 403 ``usage_not_voidable``)."""

    @extend_schema(operation_id="usage_events_void", request=dict, responses={200: dict})
    def post(self, request, event_id: str):
        reason = request.data.get("reason") if isinstance(request.data, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            raise ApiError("`reason` is required.", code="invalid_request", param="reason")
        event = ledger.usage_void(tenant_id=self.principal.tenant_id, event_id=event_id, reason=reason,
                                  actor_key_id=self.principal.key_id, mode=self.principal.mode)
        return Response({"id": event.pk, "object": "usage_event", "voided_at": event.voided_at.isoformat(),
                         "void_reason": event.void_reason})


def _mode_param(principal, params) -> str:
    """``?mode=test|live`` (default: the key's own mode). Test usage is never invoiced but is
    shown; a test key sees only test usage, as it sees only test objects."""
    mode = params.get("mode") or principal.mode
    if mode not in MODES:
        raise ApiError("`mode` is test or live.", param="mode")
    if mode != principal.mode and principal.mode != "live":
        raise ApiError("A test key reads test usage only; use a live key for live usage.",
                       code="permission_denied", param="mode")
    return mode


class UsageView(BillingView):
    """Usage for charts: ``?meter=&from=&to=&granularity=day|month&group_by=<dimension>&mode=test|live``."""

    @extend_schema(operation_id="usage_retrieve", responses={200: dict})
    def get(self, request):
        params = request.query_params
        meter = params.get("meter")
        if not meter:
            raise ApiError("`meter` is required.", code="invalid_request", param="meter")
        definition = METERS.get(meter)
        if definition is None:
            raise ApiError(f"Unknown meter {meter!r}.", code="unknown_meter", param="meter")
        today = datetime.now(UTC).date()
        start = query_date(params, "from", ledger.period_of(today))
        end = query_date(params, "to", today)
        if end < start or (end - start).days > 366:
            raise ApiError("`to` must be on or after `from`, at most 366 days later.", param="to")
        granularity = params.get("granularity", "day")
        if granularity not in ("day", "month"):
            raise ApiError("`granularity` is day or month.", param="granularity")
        group_by = params.get("group_by") or None
        if group_by and definition.aggregation == "unique_count":
            raise ApiError("Unique-count meters cannot be grouped by a dimension.", param="group_by")
        tenant_id = self.principal.tenant_id
        mode = _mode_param(self.principal, params)
        buckets: dict[tuple, Decimal] = defaultdict(Decimal)

        def bucket(day: date) -> str:
            return (day if granularity == "day" else day.replace(day=1)).isoformat()

        if definition.aggregation == "unique_count":
            qs = DauMark.objects.filter(tenant_id=tenant_id, mode=mode, meter=meter, day__gte=start, day__lte=end)
            daily = qs.values("day").annotate(n=Count("id"))
            for row in daily:
                key = (bucket(row["day"]), None)
                buckets[key] = max(buckets[key], Decimal(row["n"])) if granularity == "month" else Decimal(row["n"])
        else:
            qs = UsageDaily.objects.filter(tenant_id=tenant_id, mode=mode, meter=meter, day__gte=start, day__lte=end)
            rows = qs.values("day", "dimensions").annotate(q=Sum("quantity"), n=Sum("events"), m=Max("max_quantity"))
            for row in rows:
                group = str(row["dimensions"].get(group_by, "")) if group_by else None
                key = (bucket(row["day"]), group)
                if definition.aggregation == "count":
                    buckets[key] += row["n"]
                elif definition.aggregation == "max":
                    buckets[key] = max(buckets[key], row["m"])
                else:
                    buckets[key] += row["q"]
        data = [{"period": period, **({"group": group} if group_by else {}), "quantity": pricing.plain(q)}
                for (period, group), q in sorted(buckets.items(), key=lambda item: (item[0][0], item[0][1] or ""))]
        return Response({"object": "usage", "meter": meter, "mode": mode, "aggregation": definition.aggregation,
                         "granularity": granularity, "from": start.isoformat(), "to": end.isoformat(),
                         "group_by": group_by, "data": data})


def _invoice_for(principal, invoice_id: str) -> Invoice:
    return scoped_get(Invoice, principal, invoice_id, message="No such invoice.")  # live keys only


def _download(invoice, body, content_type: str, extension: str, disposition: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'{disposition}; filename="{invoice.number or invoice.pk}.{extension}"'
    return response


class InvoiceListView(BillingView):
    @extend_schema(operation_id="invoices_list", responses={200: dict})
    def get(self, request):
        qs = self.scoped(Invoice)  # invoices are live money: a test key lists none
        state = request.query_params.get("status")
        if state:
            qs = qs.filter(status=state)
        return Response(paginate(request, qs, lambda rows: [invoice_out(r) for r in rows]))


class InvoiceDetailView(BillingView):
    @extend_schema(operation_id="invoices_retrieve", responses={200: dict})
    def get(self, request, invoice_id: str):
        return Response(invoice_out(_invoice_for(self.principal, invoice_id), with_lines=True))


class InvoicePdfView(BillingView):
    @extend_schema(operation_id="invoices_pdf", responses={(200, "application/pdf"): bytes})
    def get(self, request, invoice_id: str):
        invoice = _invoice_for(self.principal, invoice_id)
        return _download(invoice, exports.invoice_pdf(invoice), "application/pdf", "pdf", "inline")


class InvoiceCsvView(BillingView):
    @extend_schema(operation_id="invoices_csv", responses={(200, "text/csv"): str})
    def get(self, request, invoice_id: str):
        invoice = _invoice_for(self.principal, invoice_id)
        return _download(invoice, exports.invoice_csv(invoice), "text/csv; charset=utf-8", "csv", "attachment")


class UpcomingInvoiceView(BillingView):
    @extend_schema(operation_id="invoices_upcoming", responses={200: dict})
    def get(self, request):
        body = None if self.principal.is_test else invoice_upcoming(tenant_id=self.principal.tenant_id)
        if body is None:
            raise ApiError("No plan is assigned, so there is no upcoming invoice.", code="not_found")
        return Response(body)


class CreditNoteListView(BillingView):
    @extend_schema(operation_id="credit_notes_list", responses={200: dict})
    def get(self, request):
        qs = self.scoped(CreditNote)
        invoice = request.query_params.get("invoice")
        if invoice:
            qs = qs.filter(invoice_id=invoice)
        return Response(paginate(request, qs, lambda rows: [credit_note_out(r) for r in rows]))


class CreditNoteDetailView(BillingView):
    @extend_schema(operation_id="credit_notes_retrieve", responses={200: dict})
    def get(self, request, credit_note_id: str):
        note = self.get_scoped(CreditNote, credit_note_id, message="No such credit note.")
        return Response(credit_note_out(note))


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe → us. No API key: the Stripe-Signature header (stripe library check) authenticates."""
    from billing import conf, stripe_sync

    if not conf.STRIPE_WEBHOOK_SECRET:
        return JsonResponse(ApiError(code="not_found").body(), status=404)
    try:
        outcome = stripe_sync.webhook_handle(payload=request.body,
                                             signature=request.META.get("HTTP_STRIPE_SIGNATURE", ""))
    except (ValueError, stripe.SignatureVerificationError):
        error = ApiError("The Stripe signature does not verify.", code="authentication_failed")
        return JsonResponse(error.body(), status=400)
    return JsonResponse({"received": True, "outcome": outcome})


class ActiveSubjectsView(BillingView):
    """DAU drill-down: who was active on a day. ``?meter=im_dau&day=YYYY-MM-DD&limit=&starting_after=``."""

    @extend_schema(operation_id="usage_active_subjects", responses={200: dict})
    def get(self, request):
        params = request.query_params
        meter = params.get("meter", "im_dau")
        definition = METERS.get(meter)
        if definition is None or definition.aggregation != "unique_count":
            raise ApiError("`meter` must be a unique-count meter.", code="unknown_meter", param="meter")
        if not params.get("day"):
            raise ApiError("`day` is required.", code="invalid_request", param="day")
        day = query_date(params, "day", None)
        from cpaas.core.pagination import parse_limit

        limit = parse_limit(params)
        qs = DauMark.objects.filter(tenant_id=self.principal.tenant_id, mode=_mode_param(self.principal, params),
                                    meter=meter, day=day)
        after = params.get("starting_after")
        if after:
            qs = qs.filter(subject__gt=after)
        rows = list(qs.order_by("subject").values_list("subject", "app_id")[: limit + 1])
        return Response({"object": "list", "meter": meter, "day": day.isoformat(), "has_more": len(rows) > limit,
                         "data": [{"subject": s, "app": a} for s, a in rows[:limit]]})
