"""Billing's event types and error codes are declared and documented."""

from pathlib import Path

from billing.events import EVENT_TYPES
from cpaas.core.errors import ERROR_CODES

BILLING_CODES = ["unknown_meter", "invalid_quantity", "invalid_tiers", "invalid_plan", "invalid_rate_deck",
                 "usage_key_conflict", "invoice_finalized", "invalid_transition",
                 "grace_period_open", "credit_exceeds_invoice", "insufficient_funds", "spend_cap_exceeded"]


def test_event_types_are_unique_and_carry_a_schema():
    types = [entry["type"] for entry in EVENT_TYPES]
    assert len(types) == len(set(types))
    assert {"invoice.finalized", "invoice.paid", "billing.balance_low", "credit_note.created"} <= set(types)
    for entry in EVENT_TYPES:
        assert entry["version"] == 1 and entry["description"] and entry["schema"]["type"] == "object"


def test_billing_error_codes_are_registered_with_their_status():
    assert ERROR_CODES["insufficient_funds"][0] == 402
    assert ERROR_CODES["usage_key_conflict"][0] == 409
    assert ERROR_CODES["invoice_finalized"][0] == 409
    assert all(code in ERROR_CODES for code in BILLING_CODES)


def test_every_billing_error_code_is_in_the_billing_docs():
    text = (Path(__file__).resolve().parents[2] / "docs" / "billing.md").read_text()
    missing = [code for code in BILLING_CODES if f"`{code}`" not in text]
    assert not missing, missing
