"""Billing services. The ledger lives in billing/ledger.py; this module keeps the foundation's
``usage_record`` name importable from here."""

from __future__ import annotations

from billing.ledger import usage_batch, usage_record, usage_void

__all__ = ["usage_batch", "usage_record", "usage_void"]
