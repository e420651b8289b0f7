"""A submitted message's price, rated by billing's plan in effect (like Twilio's ``price``).

Billing owns the plans and their rating; this module only asks it, once per distinct
(tenant, app, country, segments) in a settled batch, and never fails a settle for it: a message
whose price cannot be rated keeps ``price``/``currency`` null (docs/decisions/0407).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial

from django.db import transaction

from billing.balances import estimate_cost, plan_in_effect
from cpaas.core.ttlcache import TtlCache
from cpaas.messaging.models import Message

log = logging.getLogger(__name__)

METER = "sms_segments"
_PLACES = Decimal("0.000001")  # Message.price has 6 decimal places
# Prices are informative (billing rates the usage ledger on its own), so a rating is reused for a
# few seconds per process: looking the plan up cost 5 ms per settled batch, 7 % of a worker.
CACHE_SECONDS = 5.0
cache: TtlCache[tuple[str, str, str, int], tuple[Decimal, str] | None] = TtlCache(lambda: CACHE_SECONDS)


def rate(tenant_id: str, app_id: str, country: str, segments: int, direction: str = "outbound"
         ) -> tuple[Decimal, str] | None:
    """(price, currency) of ``segments`` SMS segments to ``country`` under the plan in effect,
    or None when the tenant has no plan (nothing is billed)."""
    version = plan_in_effect(tenant_id, app_id)
    if version is None:
        return None
    cost = estimate_cost(tenant_id=tenant_id, app_id=app_id, meter=METER, quantity=Decimal(segments),
                         dimensions={"country": country, "direction": direction}, version=version)
    return cost.quantize(_PLACES), version.currency


def price_rows(rows: list[Message]) -> None:
    """Set ``price``/``currency`` on submitted messages (in memory; the caller writes them)."""
    for row in rows:
        key = (row.tenant_id, row.app_id, row.country, row.segments)
        price = cache.get_or_load(key, partial(_rate_safely, *key))
        if price is not None:
            row.price, row.currency = price


def _rate_safely(tenant_id: str, app_id: str, country: str, segments: int) -> tuple[Decimal, str] | None:
    try:
        with transaction.atomic():  # a savepoint: a failed query must not break the settle's transaction
            return rate(tenant_id, app_id, country, segments)
    except Exception:  # pricing is informative: never lose a settle over it
        log.exception("could not rate an SMS price")
        return None
