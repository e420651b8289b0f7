"""Stripe sync with the real ``stripe`` library; Stripe's HTTP answers are recorded responses
replayed at the transport (httpx.MockTransport under stripe.HTTPXClient)."""

import json
import time
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import stripe

from billing import conf, stripe_sync
from billing.invoices import invoice_finalize, invoice_refresh
from billing.models import BillingAccount, Invoice, Payment
from webhooks.models import Event

from .conftest import at, make_plan, use

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

RECORDINGS = Path(__file__).parent / "stripe_recordings"
SECRET = "whsec_test_secret"


class RecordedStripe:
    """Answers Stripe API calls from recordings and keeps every request it saw."""

    def __init__(self, invoice_id: str = "", tenant_id: str = "", fail_first: int = 0):
        self.requests: list[httpx.Request] = []
        self.invoice_id, self.tenant_id, self.fail_first = invoice_id, tenant_id, fail_first
        self.seen_keys: dict[str, dict] = {}

    def recording(self, name: str) -> dict:
        text = (RECORDINGS / f"{name}.json").read_text()
        return json.loads(text.replace("__INVOICE__", self.invoice_id).replace("__TENANT__", self.tenant_id))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_first:
            self.fail_first -= 1
            return httpx.Response(503, json={"error": {"type": "api_error", "message": "try again"}})
        key = request.headers.get("Idempotency-Key")
        if key in self.seen_keys:  # Stripe replays the first response for a reused key
            return httpx.Response(200, json=self.seen_keys[key])
        path = request.url.path
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if path == "/v1/customers":
            body = self.recording("customer_create")
        elif path == "/v1/invoices":
            body = self.recording("invoice_create")
        elif path == "/v1/invoiceitems":
            body = {**self.recording("invoiceitem_create"), "amount": int(form["amount"]),
                    "description": form["description"]}
        elif path.endswith("/finalize"):
            body = self.recording("invoice_finalize")
        else:
            return httpx.Response(404, json={"error": {"type": "invalid_request_error", "message": path}})
        if key:
            self.seen_keys[key] = body
        return httpx.Response(200, json=body)

    def forms(self, path_suffix: str) -> list[dict]:
        return [{k: v[0] for k, v in parse_qs(r.content.decode()).items()} for r in self.requests
                if r.url.path.endswith(path_suffix)]


@pytest.fixture
def recorded(monkeypatch):
    def install(**kwargs):
        fake = RecordedStripe(**kwargs)
        http = stripe.HTTPXClient(allow_sync_methods=True)
        http._client = httpx.Client(transport=httpx.MockTransport(fake))
        monkeypatch.setattr(stripe_sync, "_http_client", http)
        return fake

    monkeypatch.setattr(conf, "STRIPE_API_KEY", "sk_test_recorded")
    monkeypatch.setattr(conf, "STRIPE_WEBHOOK_SECRET", SECRET)
    return install


@pytest.fixture
def finalized(tenant, app, django_capture_on_commit_callbacks):
    BillingAccount.objects.update_or_create(tenant=tenant, defaults={"tax_rate": D("0.20")})
    make_plan(tenant, fixed_fee="10", charges=[{"meter": "sms_segments", "model": "per_unit", "unit_price": "0.05"}])
    use(app, "sms_segments", 140, at(2026, 10, 3))
    invoice = invoice_refresh(tenant_id=tenant.pk, period_start=date(2026, 10, 1))
    return invoice_finalize(tenant_id=tenant.pk, invoice_id=invoice.pk, now=at(2026, 11, 1, 13))


def test_a_finalized_invoice_is_pushed_with_our_amounts_and_number(recorded, finalized, tenant):
    fake = recorded(invoice_id=finalized.pk, tenant_id=tenant.pk)
    stripe_id = stripe_sync.invoice_push(invoice_id=finalized.pk)
    assert stripe_id == "in_1R8xZa2eZvKYlo2C0aBcDeFg"
    created = fake.forms("/v1/invoices")[0]
    assert (created["number"], created["metadata[cpaas_invoice_id]"]) == ("INV-2026-000001", finalized.pk)
    items = fake.forms("/v1/invoiceitems")
    assert [int(i["amount"]) for i in items] == [1000, 700, 340]  # fee, usage, VAT 20 %
    assert sum(int(i["amount"]) for i in items) == finalized.total_minor == 2040
    assert {r.headers["Idempotency-Key"] for r in fake.requests} >= {f"cpaas-invoice-{finalized.pk}",
                                                                      f"cpaas-customer-{tenant.pk}"}
    assert BillingAccount.objects.get(tenant=tenant).stripe_customer_id == "cus_R8xYz0AbCdEf12"
    assert Invoice.objects.get(pk=finalized.pk).stripe_invoice_id == stripe_id


def test_a_retry_never_duplicates(recorded, finalized, tenant):
    fake = recorded(invoice_id=finalized.pk, tenant_id=tenant.pk)
    stripe_sync.invoice_push(invoice_id=finalized.pk)
    Invoice.objects.filter(pk=finalized.pk).update(stripe_invoice_id="")  # as if we crashed before saving
    stripe_sync.invoice_push(invoice_id=finalized.pk)
    keys = [r.headers["Idempotency-Key"] for r in fake.requests]
    assert len(keys) == 11  # customer once (its id is stored), then invoice, 3 items, finalize twice
    assert len(set(keys)) == 6  # ... but the second push reused every key: Stripe created nothing new


def test_a_stripe_outage_is_transient(recorded, finalized, tenant):
    recorded(invoice_id=finalized.pk, tenant_id=tenant.pk, fail_first=1)
    with pytest.raises(stripe_sync.TransientStripeError):
        stripe_sync.invoice_push(invoice_id=finalized.pk)


def signed(payload: dict, secret: str = SECRET) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body.decode()}", secret)
    return body, f"t={timestamp},v1={signature}"


def stripe_event(kind: str, invoice: Invoice) -> dict:
    return {"id": "evt_1R8y0c2eZvKYlo2C", "object": "event", "type": kind, "api_version": "2025-09-30.clover",
            "data": {"object": {"id": "in_1R8xZa2eZvKYlo2C0aBcDeFg", "object": "invoice",
                                "metadata": {"cpaas_invoice_id": invoice.pk}, "status": "paid"}}}


def test_a_verified_stripe_webhook_marks_the_invoice_paid(recorded, finalized, client):
    recorded()
    body, header = signed(stripe_event("invoice.paid", finalized))
    response = client.post("/v1/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200, response.content
    finalized.refresh_from_db()
    assert finalized.status == "paid"
    assert Payment.objects.get(invoice=finalized).method == "stripe"
    again = client.post("/v1/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert again.status_code == 200
    assert Payment.objects.filter(invoice=finalized).count() == 1


def test_a_failed_payment_is_published(recorded, finalized, client):
    recorded()
    body, header = signed(stripe_event("invoice.payment_failed", finalized))
    client.post("/v1/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert Event.objects.filter(type="invoice.payment_failed").exists()
    finalized.refresh_from_db()
    assert finalized.status == "open"


def test_a_forged_stripe_webhook_is_refused(recorded, finalized, client):
    recorded()
    body, header = signed(stripe_event("invoice.paid", finalized), secret="whsec_wrong")
    response = client.post("/v1/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    finalized.refresh_from_db()
    assert finalized.status == "open"


def test_without_a_key_nothing_is_pushed(finalized, monkeypatch):
    monkeypatch.setattr(conf, "STRIPE_API_KEY", "")
    assert stripe_sync.invoice_push(invoice_id=finalized.pk) == ""


def test_finalize_enqueues_the_push_on_commit_and_the_task_pushes(recorded, tenant, app, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    from billing import tasks

    make_plan(tenant, fixed_fee="10")
    draft = invoice_refresh(tenant_id=tenant.pk, period_start=date(2026, 10, 1))
    queued = []
    monkeypatch.setattr(tasks.stripe_push_invoice, "delay", lambda invoice_id: queued.append(invoice_id))
    with django_capture_on_commit_callbacks(execute=True):
        invoice_finalize(tenant_id=tenant.pk, invoice_id=draft.pk, now=at(2026, 11, 1, 13))
    assert queued == [draft.pk]
    recorded(invoice_id=draft.pk, tenant_id=tenant.pk)
    assert tasks.stripe_push_invoice.run(draft.pk) == "in_1R8xZa2eZvKYlo2C0aBcDeFg"
    assert tasks.stripe_push_invoice.run(draft.pk) == "in_1R8xZa2eZvKYlo2C0aBcDeFg"  # twice, one effect
