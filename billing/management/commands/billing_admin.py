"""Operator actions on invoices and accounts (each audited):

    manage.py billing_admin finalize|pay|void|uncollectible INVOICE_ID
    manage.py billing_admin credit INVOICE_ID --amount 10.00 --reason "outage"
    manage.py billing_admin account TENANT_ID [--mode prepaid] [--tax-rate 0.20] [--top-up 50.00]
        [--low-balance 5.00] [--legal-name ...] [--vat-id ...] [--address ...] [--email ...]
    manage.py billing_admin cap APP_ID --monthly 100.00
    manage.py billing_admin void-usage USAGE_EVENT_ID --reason "carrier refunded the batch"

Voiding platform-metered usage is an operator action only (tenants void what they reported
themselves through the API, decision 0822); it is written to the tenant's audit log.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from billing import ledger, pricing
from billing.balances import balance_top_up
from billing.invoices import account_get, credit_note_create, invoice_finalize, invoice_set_status
from billing.models import BillingAccount, Invoice, SpendCap, UsageEvent
from cpaas.core.errors import ApiError
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import App

ACTOR = "operator-cli"


class Command(BaseCommand):
    help = "Operator actions: finalize/pay/void/uncollectible/credit invoices, account settings, spend caps."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["finalize", "pay", "void", "uncollectible", "credit", "account", "cap",
                                               "void-usage"])
        parser.add_argument("target")
        parser.add_argument("--amount")
        parser.add_argument("--reason", default="")
        parser.add_argument("--mode", choices=["postpaid", "prepaid"])
        parser.add_argument("--tax-rate")
        parser.add_argument("--top-up")
        parser.add_argument("--low-balance")
        parser.add_argument("--legal-name")
        parser.add_argument("--vat-id")
        parser.add_argument("--address")
        parser.add_argument("--email")
        parser.add_argument("--monthly")

    def handle(self, *args, action: str, target: str, **o):
        try:
            if action in ("finalize", "pay", "void", "uncollectible", "credit"):
                invoice = Invoice.objects.filter(pk=target).first()
                if invoice is None:
                    raise CommandError(f"no invoice {target}")
                if action == "finalize":
                    invoice = invoice_finalize(tenant_id=invoice.tenant_id, invoice_id=invoice.pk, actor_key_id=ACTOR)
                elif action == "credit":
                    note = credit_note_create(tenant_id=invoice.tenant_id, invoice_id=invoice.pk, amount=o["amount"],
                                              reason=o["reason"], actor_key_id=ACTOR)
                    self.stdout.write(f"{note.number} issued")
                    return
                else:
                    status = {"pay": "paid"}.get(action, action)
                    invoice = invoice_set_status(tenant_id=invoice.tenant_id, invoice_id=invoice.pk, status=status,
                                                 actor_key_id=ACTOR)
                self.stdout.write(f"{invoice.pk} {invoice.number or ''} {invoice.status}")
            elif action == "account":
                self._account(target, o)
            elif action == "void-usage":
                event = UsageEvent.objects.filter(pk=target).only("tenant_id").first()
                if event is None:
                    raise CommandError(f"no usage event {target}")
                event = ledger.usage_void(tenant_id=event.tenant_id, event_id=target, reason=o["reason"],
                                          actor_key_id=ACTOR, operator=True)
                self.stdout.write(f"{event.pk} voided ({event.void_reason})")
            else:
                app = App.objects.get(pk=target)
                limit = pricing.to_minor_units(Decimal(o["monthly"]))
                SpendCap.objects.update_or_create(app=app, defaults={"tenant_id": app.tenant_id,
                                                                     "monthly_limit_minor": limit})
                audit_record(tenant_id=app.tenant_id, action="billing.spend_cap", actor_key_id=ACTOR,
                             target_type="app", target_id=app.pk, metadata={"monthly": o["monthly"]})
                self.stdout.write(f"{app.pk}: cap {o['monthly']}")
        except ApiError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _account(self, tenant_id: str, o: dict) -> None:
        account = account_get(tenant_id)
        changes = {}
        for option, field in (("mode", "mode"), ("legal_name", "legal_name"), ("vat_id", "vat_id"),
                              ("address", "address"), ("email", "email")):
            if o.get(option) is not None:
                changes[field] = o[option]
        if o.get("tax_rate") is not None:
            changes["tax_rate"] = Decimal(o["tax_rate"])
        if o.get("low_balance") is not None:
            changes["low_balance_minor"] = pricing.to_minor_units(Decimal(o["low_balance"]), account.currency)
        if changes:
            BillingAccount.objects.filter(pk=account.pk).update(**changes)
            audit_record(tenant_id=tenant_id, action="billing.account_update", actor_key_id=ACTOR,
                         target_type="tenant", target_id=tenant_id, metadata={k: str(v) for k, v in changes.items()})
        if o.get("top_up"):
            balance_top_up(tenant_id=tenant_id, amount=o["top_up"], actor_key_id=ACTOR)
        account.refresh_from_db()
        self.stdout.write(f"{tenant_id}: {account.mode}, tax {account.tax_rate}, balance "
                          f"{Decimal(account.balance_minor).scaleb(-2)} {account.currency}")
