"""Billing settings, read through ``cpaas.core.env`` with safe defaults (documented in docs/configuration.md).

Read as module attributes at the moment of use (``conf.GRACE``), so tests can monkeypatch them.
"""

from __future__ import annotations

from datetime import timedelta

from cpaas.core.env import env

# Drafts stay open this long after their period ends so late usage still lands in its period.
GRACE = timedelta(hours=env.int("BILLING_GRACE_HOURS", 12))
# Rows per multi-row INSERT when flushing the usage buffer.
FLUSH_CHUNK = env.int("BILLING_FLUSH_CHUNK", 2000)
DEFAULT_CURRENCY = env.str("BILLING_CURRENCY", "EUR")
# The default issuer (the platform operator's legal entity) for tenants without one.
ISSUER_NAME = env.str("BILLING_ISSUER_NAME", "CPaaS Operator")
ISSUER_ADDRESS = env.str("BILLING_ISSUER_ADDRESS", "")
ISSUER_VAT_ID = env.str("BILLING_ISSUER_VAT_ID", "")
PAYMENT_TERMS_DAYS = env.int("BILLING_PAYMENT_TERMS_DAYS", 14)
STRIPE_API_KEY = env.str("STRIPE_API_KEY", "")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", "")
# How long a DAU mark stays in Redis (a day plus the grace window, rounded up).
DAU_MARK_TTL = env.int("BILLING_DAU_MARK_TTL", 3 * 86400)
