"""Billing's webhook event types (discovered by the webhooks catalog)."""

_INVOICE = {
    "type": "object",
    "required": ["id", "number", "status", "currency", "period_start", "period_end", "total"],
    "properties": {
        "id": {"type": "string"}, "number": {"type": ["string", "null"]}, "status": {"type": "string"},
        "currency": {"type": "string"}, "period_start": {"type": "string", "format": "date"},
        "period_end": {"type": "string", "format": "date"}, "total": {"type": "string"},
    },
}

EVENT_TYPES = [
    {"type": "invoice.finalized", "version": 1, "description": "An invoice was finalized and numbered.",
     "schema": _INVOICE},
    {"type": "invoice.paid", "version": 1, "description": "An invoice was paid (Stripe, balance or manually).",
     "schema": _INVOICE},
    {"type": "invoice.payment_failed", "version": 1, "description": "Stripe reported a failed payment attempt.",
     "schema": _INVOICE},
    {"type": "invoice.voided", "version": 1, "description": "A finalized invoice was voided.", "schema": _INVOICE},
    {"type": "invoice.marked_uncollectible", "version": 1, "description": "An invoice was marked uncollectible.",
     "schema": _INVOICE},
    {"type": "credit_note.created", "version": 1, "description": "A credit note was issued against an invoice.",
     "schema": {"type": "object", "required": ["id", "number", "invoice", "total"],
                "properties": {"id": {"type": "string"}, "number": {"type": "string"},
                               "invoice": {"type": "string"}, "total": {"type": "string"}}}},
    {"type": "billing.balance_low", "version": 1,
     "description": "A prepaid tenant's available balance fell below its low-balance threshold.",
     "schema": {"type": "object", "required": ["tenant", "available", "currency"],
                "properties": {"tenant": {"type": "string"}, "available": {"type": "string"},
                               "currency": {"type": "string"}}}},
]
