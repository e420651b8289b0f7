"""Prepaid balances and spend caps, reserved before a billable action and settled after.

The ledger stays the truth. Redis holds, per prepaid tenant, the *available* amount (balance
minus the current period's rated usage so far) and, per capped app, the month's spend; both are
recomputed from the ledger when their key expires (every ``STATE_TTL`` seconds) and moved in
between by each action's estimated cost — so balances follow usage close to real time without
rating on the hot path. Amounts in Redis are integer micro-units (1e-6).

Reserve, then settle (decision 0820): a channel reserves an action's estimate before accepting
it (one Lua script: check balance and cap, take the estimate, record the hold by id), and
settles the hold when the real charge is known (a message sent: as reserved; failed or canceled:
released; a call leg: its real cost). Held amounts are counted apart (``billing:held:*``), so a
recompute from the ledger subtracts what is reserved but not yet in the ledger.

A process sending steadily reserves from a slice of the money it leased in that same script
call, with no Redis call per send (``billing/leases.py``, decision 1000); the Lua scripts and
key names are in ``billing/reserve_scripts.py``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from redis.exceptions import RedisError

from billing import Hold, leases, pricing
from billing.ledger import _tenant_id, open_period, parse_quantity
from billing.meters import meter_get
from billing.models import BalanceTransaction, BillingAccount, BillingMode, SpendCap
from billing.rating import assignments_for
from billing.reserve_scripts import HOLD_TTL, RESERVE, SETTLE, TOMBSTONE_TTL, keys_for, script
from cpaas.core.errors import ApiError
from cpaas.core.redis_client import redis_client
from cpaas.core.ttlcache import TtlCache

log = logging.getLogger(__name__)

MICRO = Decimal(1_000_000)
STATE_TTL = 60


def _micro(amount: Decimal) -> int:
    return int((amount * MICRO).to_integral_value(rounding=ROUND_CEILING))


def balance_apply(*, tenant_id: str, amount_minor: int, kind: str, reference: str = "", currency: str = "EUR") -> bool:
    """Credit (positive) or debit (negative) a tenant's balance once per (kind, reference)."""
    from billing.invoices import account_get

    account_get(tenant_id)
    with transaction.atomic():
        txs = BalanceTransaction.objects.filter(tenant_id=tenant_id, kind=kind, reference=reference)
        if reference and txs.exists():
            return False
        BalanceTransaction.objects.create(tenant_id=tenant_id, amount_minor=amount_minor, kind=kind,
                                          reference=reference, currency=currency)
        BillingAccount.objects.filter(tenant_id=tenant_id).update(balance_minor=F("balance_minor") + amount_minor)
        account = BillingAccount.objects.get(tenant_id=tenant_id)
        if account.balance_minor > account.low_balance_minor and account.low_balance_notified:
            BillingAccount.objects.filter(tenant_id=tenant_id).update(low_balance_notified=False)
    _forget(tenant_id)
    return True


def balance_top_up(*, tenant_id: str, amount, reference: str = "", actor_key_id: str = "", actor_user_id=None) -> None:
    from cpaas.tenants.audit import audit_record

    value = parse_quantity(amount, "amount")
    account = BillingAccount.objects.filter(tenant_id=tenant_id).first()
    currency = account.currency if account else "EUR"
    with transaction.atomic():
        balance_apply(tenant_id=tenant_id, amount_minor=pricing.to_minor_units(value, currency), kind="top_up",
                      reference=reference, currency=currency)
        audit_record(tenant_id=tenant_id, action="balance.top_up", actor_key_id=actor_key_id,
                     actor_user_id=actor_user_id, target_type="tenant", target_id=tenant_id,
                     metadata={"amount": str(value), "reference": reference})


def _forget(tenant_id: str) -> None:
    with contextlib.suppress(Exception):
        redis_client().delete(f"billing:avail:{tenant_id}")


def period_usage_amount(tenant_id: str, *, app_id: str | None = None) -> Decimal:
    """What the open period has cost so far (tax included), from the ledger."""
    from billing.invoices import account_get
    from billing.rating import UsageSource, rate_segment

    period = open_period(_now())
    segments, app_versions = assignments_for(tenant_id, period)
    total = Decimal(0)
    for version, start, end in segments:
        if app_id and app_id in app_versions:
            continue
        source = UsageSource(tenant_id=tenant_id, bill_periods=[period], start=start, end=end,
                             apps_in=[app_id] if app_id else None, apps_not_in=list(app_versions))
        total += sum((line.amount for line in rate_segment(version, source, period_start=period,
                                                           include_fixed=not app_id)), Decimal(0))
    for other_app, version in app_versions.items():
        if app_id and other_app != app_id:
            continue
        source = UsageSource(tenant_id=tenant_id, bill_periods=[period], start=period, end=end_of(period),
                             apps_in=[other_app])
        total += sum((line.amount for line in rate_segment(version, source, period_start=period,
                                                           include_fixed=not app_id)), Decimal(0))
    return total * (1 + account_get(tenant_id).tax_rate)


def end_of(period):
    from billing.ledger import period_after

    return period_after(period)


def _now():
    from django.utils import timezone

    return timezone.now()


def plan_in_effect(tenant_id: str, app_id: str):
    """The plan version rating ``app_id``'s usage now (the app's own, else the tenant's latest
    assignment in the open period), or None when the tenant has no plan."""
    segments, app_versions = assignments_for(tenant_id, open_period(_now()))
    return app_versions.get(app_id) or (segments[-1][0] if segments else None)


def estimate_cost(*, tenant_id: str, app_id: str, meter: str, quantity: Decimal, dimensions: dict,
                  version=None) -> Decimal:
    """A send's upper-bound cost under the plan in effect (monthly flat bands are left to the
    per-minute recompute). ``version``: that plan when the caller already looked it up."""
    version = version or plan_in_effect(tenant_id, app_id)
    if version is None:
        return Decimal(0)
    cost = Decimal(0)
    definition = meter_get(meter)
    for charge in version.charges:
        filt = charge.get("filter") or {}
        if charge["meter"] != meter or not all(str(dimensions.get(k)) == v for k, v in filt.items()):
            continue
        qty = quantity
        if charge.get("increments"):
            first, subsequent = charge["increments"]
            qty = Decimal(pricing.billable_seconds(quantity, first, subsequent)) / 60
        model = charge["model"]
        if definition and definition.aggregation == "unique_count":
            continue
        if model == "per_unit":
            cost += qty * Decimal(charge["unit_price"])
        elif model == "rate_deck":
            hit = pricing.RateDeck.from_mapping(charge["rates"]).lookup(
                destination=str(dimensions.get("destination", "")), country=str(dimensions.get("country", "")))
            cost += qty * (hit[1] if hit else Decimal(0))
        elif model in ("graduated", "volume"):
            cost += qty * max(Decimal(t["unit_price"]) for t in charge["tiers"])
        elif model == "package":
            cost += qty * Decimal(charge["package_price"]) / Decimal(charge["package_size"])
    return cost


# --- the gate: reserve before a billable action is accepted, settle when its charge is known ---------

GATE_SECONDS = 5.0  # how long a process trusts its copy of an app's money settings (decision 0820)


@dataclass
class Gate:
    """What a process knows about an app's money controls, cached ``GATE_SECONDS``.

    ``open``: a postpaid account without a spend cap — nothing to check, so no Redis call at all.
    """

    tenant_id: str
    app_id: str
    prepaid: bool
    cap_micro: int | None
    tax_rate: Decimal
    currency: str
    low_micro: int
    low_notified: bool
    version: Any  # the PlanVersion in effect, or None
    estimates: dict = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return not self.prepaid and self.cap_micro is None


_gates: TtlCache[str, Gate] = TtlCache(GATE_SECONDS, max_entries=100_000)


def gate_for(*, app_id: str, tenant_id: str) -> Gate:
    """The app's money settings: from this process's cache (``GATE_SECONDS``), else two or three
    small queries. Every process reloads on its own, so a change made anywhere (an account turned
    prepaid, a cap set) holds everywhere within ``GATE_SECONDS``."""
    gate = _gates.get(app_id)
    if gate is not None:
        return gate
    account = (BillingAccount.objects.filter(tenant_id=tenant_id)
               .values_list("mode", "tax_rate", "currency", "low_balance_minor", "low_balance_notified").first())
    mode, tax_rate, currency, low_minor, notified = account or (BillingMode.POSTPAID, Decimal(0), "EUR", 0, False)
    cap_minor = SpendCap.objects.filter(app_id=app_id).values_list("monthly_limit_minor", flat=True).first()
    prepaid = mode == BillingMode.PREPAID
    exponent = pricing.CURRENCY_EXPONENT.get(currency, 2)
    version = plan_in_effect(tenant_id, app_id) if prepaid or cap_minor is not None else None
    gate = Gate(tenant_id=tenant_id, app_id=app_id, prepaid=prepaid,
                cap_micro=None if cap_minor is None else _micro(Decimal(cap_minor).scaleb(-exponent)),
                tax_rate=tax_rate, currency=currency, low_micro=_micro(Decimal(low_minor).scaleb(-exponent)),
                low_notified=notified, version=version)
    return _gates.put(app_id, gate)


def gates_clear() -> None:
    """Forget this process's money settings (tests; an operator change in this process)."""
    _gates.clear()


def cost_micro(gate: Gate, meter: str, quantity, dimensions: dict | None) -> int:
    """The upper-bound cost of this usage, tax included, in micro-units (memoised per gate)."""
    key = (meter, str(quantity), tuple(sorted((dimensions or {}).items())))
    hit = gate.estimates.get(key)
    if hit is None:
        if gate.version is None:
            hit = 0
        else:
            cost = estimate_cost(tenant_id=gate.tenant_id, app_id=gate.app_id, meter=meter,
                                 quantity=parse_quantity(quantity), dimensions=dimensions or {},
                                 version=gate.version)
            hit = _micro(cost * (1 + gate.tax_rate))
        if len(gate.estimates) < 10_000:
            gate.estimates[key] = hit
    return hit


def spend_reserve(*, tenant_id: str, app_id: str, mode: str, holds: list[Hold]) -> list[ApiError | None]:
    """Reserve each action's estimated cost against the prepaid balance and the app's cap.

    One entry per hold: None (reserved) or the 402 error that refuses it. Test mode and open
    apps (postpaid, no cap) cost nothing: no Redis call. Otherwise the sends are reserved from
    this process's slice of the money when it covers them (no I/O; decision 1000), else with one
    Redis round trip that also returns the slice and may take a new one (two, plus the ledger
    read, once per ``STATE_TTL`` when the state keys expired)."""
    if mode != "live" or not holds:
        return [None] * len(holds)
    gate = gate_for(app_id=app_id, tenant_id=tenant_id)
    if gate.open:
        return [None] * len(holds)
    costs = [cost_micro(gate, h.meter, h.quantity, h.dimensions) for h in holds]
    ids = [hold.id for hold in holds]
    if leases.take_local(gate.app_id, ids, costs, sum(costs)):
        return [None] * len(holds)
    return _reserve_remote(gate, ids, costs)


def _reserve_remote(gate: Gate, ids: list[str], costs: list[int]) -> list[ApiError | None]:
    client = redis_client()
    keys = keys_for(gate.tenant_id, gate.app_id)
    head = ["1" if gate.prepaid else "0", -1 if gate.cap_micro is None else gate.cap_micro, STATE_TTL]
    renewal = leases.renewal(gate.app_id, keys, head, max(costs))
    pairs = [value for cost, hold_id in zip(costs, ids, strict=True) for value in (cost, hold_id)]
    try:
        answer = _run_reserve(client, gate, keys, head, [*renewal.args(keys), len(ids), *pairs])
    except RedisError:
        leases.renewal_failed(gate.app_id, renewal)
        raise ApiError("Balances cannot be checked right now; retry shortly.",
                       code="service_unavailable") from None
    except BaseException:
        leases.renewal_failed(gate.app_id, renewal)
        raise
    leases.renewed(gate.app_id, renewal, int(answer[2]), keys, head)
    verdicts = [int(v) for v in answer[4:]]
    if any(verdicts) and int(answer[3]) > 0:
        verdicts = _wait_for_slices(gate, keys, head, ids, costs, verdicts)
    if gate.prepaid and not gate.low_notified and int(answer[1]) < gate.low_micro:
        gate.low_notified = True
        _notify_low(gate.tenant_id, int(answer[1]), gate.currency)
    return [None if v == 0 else _refusal(v) for v in verdicts]


def _run_reserve(client, gate: Gate, keys: list[str], head: list, tail: list) -> list:
    """The reserve script; once more with the ledger's figures when the state keys expired."""
    reserve = script(client, "reserve", RESERVE)
    answer = reserve(keys=keys, args=[*head, "", "", HOLD_TTL, *tail])
    if answer[0] == -1:
        answer = reserve(keys=keys, args=[*head, *_bases(gate), HOLD_TTL, *tail])
    return answer


def _wait_for_slices(gate: Gate, keys: list[str], head: list, ids: list[str], costs: list[int],
                     verdicts: list[int]) -> list[int]:
    """Refused while other processes hold slices of this money: call them back (their returner
    threads give them back within ``leases.RETURN_EVERY``), ask again until they are back, and only
    then refuse, so a balance that covers the send is never refused for money leased elsewhere.
    The wait is bounded by ``leases.REFUSAL_WAIT`` (0.3 s): pooled callers (the lean path, the IM
    gateway) must not stall their pool for long (decision 1030)."""
    deadline = time.monotonic() + leases.REFUSAL_WAIT
    client = redis_client()
    try:
        leases.recall(keys[0])
    except RedisError:
        return verdicts
    while time.monotonic() < deadline:
        time.sleep(0.03)
        again = [i for i, v in enumerate(verdicts) if v]
        pairs = [value for i in again for value in (costs[i], ids[i])]
        try:
            answer = _run_reserve(client, gate, keys, head,
                                  ["", "", 0, 0, leases.LEASE_FRACTION, 0, "", 0, len(again), *pairs])
        except RedisError:
            break
        for i, verdict in zip(again, answer[4:], strict=True):
            verdicts[i] = int(verdict)
        if not any(verdicts) or int(answer[3]) == 0:
            break
    return verdicts


def _refusal(verdict: int) -> ApiError:
    if verdict == 1:
        return ApiError("The prepaid balance is too low for this; top up to continue.",
                        code="insufficient_funds", param=None)
    return ApiError("This app reached its monthly spend cap.", code="spend_cap_exceeded", param=None)


def _bases(gate: Gate) -> tuple[Any, Any]:
    """From the ledger: the balance less this period's usage, and the app's usage this period."""
    avail = spent = ""
    if gate.prepaid:
        balance = BillingAccount.objects.filter(tenant_id=gate.tenant_id).values_list("balance_minor", flat=True)
        exponent = pricing.CURRENCY_EXPONENT.get(gate.currency, 2)
        avail = _micro(Decimal(balance.first() or 0).scaleb(-exponent) - period_usage_amount(gate.tenant_id))
    if gate.cap_micro is not None:
        spent = _micro(period_usage_amount(gate.tenant_id, app_id=gate.app_id))
    return avail, spent


def spend_settle(entries: list[tuple[str, str, str, int | None]]) -> None:
    """Settle holds once the real charge is known: ``(tenant_id, app_id, hold_id, real_micro)``,
    ``real_micro`` None = as reserved (sent), 0 = release (failed, canceled). One pipelined round
    trip for any number of apps; ids that hold nothing only charge their real cost. Call after
    the commit that made the outcome true; a Redis failure here is logged, and the next recompute
    from the ledger (``STATE_TTL``) corrects the balance."""
    if not entries:
        return
    client = redis_client()
    by_app: dict[tuple[str, str], list] = {}
    for tenant_id, app_id, hold_id, real in entries:
        by_app.setdefault((tenant_id, app_id), []).extend((hold_id, "" if real is None else int(real)))
    try:
        settle = script(client, "settle", SETTLE)
        pipe = client.pipeline(transaction=False)
        for (tenant_id, app_id), pairs in by_app.items():
            settle(keys=keys_for(tenant_id, app_id), args=[len(pairs) // 2, *pairs, TOMBSTONE_TTL], client=pipe)
        pipe.execute()
    except RedisError:
        log.warning("could not settle %d spend holds; the ledger recompute will correct it", len(entries))


def spend_settle_usage(app, *, hold_id: str, meter: str, quantity, dimensions: dict | None = None) -> None:
    """:func:`spend_settle` of one hold at the cost of ``quantity`` of ``meter`` (billing.spend_settle_usage)."""
    app_id, tenant_id = _tenant_id(app)
    gate = gate_for(app_id=app_id, tenant_id=tenant_id)
    if gate.open:
        return
    spend_settle([(tenant_id, app_id, hold_id, cost_micro(gate, meter, quantity, dimensions))])


def _notify_low(tenant_id: str, left_micro: int, currency: str) -> None:
    from billing.invoices import _publish

    with transaction.atomic():
        claimed = BillingAccount.objects.filter(tenant_id=tenant_id, low_balance_notified=False).update(
            low_balance_notified=True)
        if claimed:
            _publish(tenant_id, "billing.balance_low",
                     {"tenant": tenant_id, "available": str(pricing.round_money(Decimal(left_micro) / MICRO, currency)),
                      "currency": currency},
                     f"billing.balance_low:{tenant_id}:{open_period(_now()).isoformat()}:{left_micro}")
