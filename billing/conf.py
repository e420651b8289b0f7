"""Billing settings, read from the environment with safe defaults."""

from __future__ import annotations

import os
from datetime import timedelta

# Drafts stay open this long after their period ends so late usage still lands in its period.
GRACE = timedelta(hours=int(os.environ.get("BILLING_GRACE_HOURS", "12")))
# Rows per multi-row INSERT when flushing the usage buffer.
FLUSH_CHUNK = int(os.environ.get("BILLING_FLUSH_CHUNK", "2000"))
DEFAULT_CURRENCY = os.environ.get("BILLING_CURRENCY", "EUR")
# The default issuer (the platform operator's legal entity) for tenants without one.
ISSUER_NAME = os.environ.get("BILLING_ISSUER_NAME", "CPaaS Operator")
ISSUER_ADDRESS = os.environ.get("BILLING_ISSUER_ADDRESS", "")
ISSUER_VAT_ID = os.environ.get("BILLING_ISSUER_VAT_ID", "")
PAYMENT_TERMS_DAYS = int(os.environ.get("BILLING_PAYMENT_TERMS_DAYS", "14"))
STRIPE_API_KEY = os.environ.get("STRIPE_API_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
# How long a DAU mark stays in Redis (a day plus the grace window, rounded up).
DAU_MARK_TTL = int(os.environ.get("BILLING_DAU_MARK_TTL", str(3 * 86400)))
