"""Rating: from the ledger's rollups and a plan version to invoice lines (precise, unrounded).

Reads only; writes nothing. ``rate_period`` is deterministic for a given ledger state, so the
billing run can repeat it (refresh) and get the same lines. Only live usage is rated: test-mode
usage is kept and shown (``/v1/usage?mode=test``) but never reaches an invoice (design.md §7).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Ceil

from billing import pricing
from billing.ledger import period_after
from billing.meters import METERS
from billing.models import DauMark, PlanAssignment, PlanVersion, UsageDaily, UsageEvent
from billing.pricing import ZERO, dec

SECONDS_PER_MINUTE = Decimal(60)
RATED_MODE = "live"


@dataclass
class LineDraft:
    kind: str
    description: str
    amount: Decimal
    meter: str = ""
    app_id: str = ""
    quantity: Decimal = ZERO
    unit_price: Decimal | None = None
    dimensions: dict = field(default_factory=dict)
    tiers: list = field(default_factory=list)
    service_start: date | None = None
    service_end: date | None = None
    appendix: dict = field(default_factory=dict)


@dataclass
class Rated:
    currency: str
    lines: list[LineDraft]
    plan_version_id: str | None = None


def _day(d: datetime | date) -> date:
    return d if isinstance(d, date) and not isinstance(d, datetime) else d.astimezone(UTC).date()


class RunCache:
    """Reads of the billing run done once per chunk of tenants instead of once per tenant:
    plan assignments, rollups, DAU counts and which tenants have late usage."""

    def __init__(self, tenant_ids: list[str], period_start: date) -> None:
        end = period_after(period_start)
        self.period = period_start
        self.assignments: dict[str, list] = defaultdict(list)
        for row in (PlanAssignment.objects.filter(tenant_id__in=tenant_ids, effective_from__lt=end)
                    .select_related("plan_version__plan").order_by("effective_from", "created_at")):
            self.assignments[row.tenant_id].append(row)
        self.rollups: dict[tuple[str, str], list] = defaultdict(list)
        for tenant_id, app_id, meter, day, dims, qty, events, top in UsageDaily.objects.filter(
                tenant_id__in=tenant_ids, mode=RATED_MODE, bill_period=period_start, day__gte=period_start,
                day__lt=end).values_list(
                "tenant_id", "app_id", "meter", "day", "dimensions", "quantity", "events", "max_quantity"):
            self.rollups[(tenant_id, meter)].append((app_id, day, dims, qty, events, top))
        self.dau: dict[tuple[str, str], list] = defaultdict(list)
        for row in (DauMark.objects.filter(tenant_id__in=tenant_ids, mode=RATED_MODE, bill_period=period_start,
                                           day__gte=period_start, day__lt=end)
                    .values("tenant_id", "app_id", "meter", "day").annotate(n=Count("id")).order_by()):
            self.dau[(row["tenant_id"], row["meter"])].append((row["app_id"], row["day"], row["n"]))
        late = set(UsageDaily.objects.filter(tenant_id__in=tenant_ids, mode=RATED_MODE, bill_period=period_start,
                                             day__lt=period_start).values_list("tenant_id", flat=True).distinct())
        late |= set(DauMark.objects.filter(tenant_id__in=tenant_ids, mode=RATED_MODE, bill_period=period_start,
                                           day__lt=period_start).values_list("tenant_id", flat=True).distinct())
        self.late_tenants = late


class UsageSource:
    """The usage of one tenant's apps for days ``[start, end)`` charged in ``bill_periods``."""

    def __init__(self, *, tenant_id: str, bill_periods: Iterable[date], start: date, end: date,
                 apps_in: Iterable[str] | None = None, apps_not_in: Iterable[str] = (),
                 cache: RunCache | None = None) -> None:
        self.tenant_id, self.bill_periods, self.start, self.end = tenant_id, list(bill_periods), start, end
        self.apps_in = None if apps_in is None else list(apps_in)
        self.apps_not_in = list(apps_not_in)
        self._rows: dict[str, list] = {}
        self.cache = cache if cache is not None and self.bill_periods == [cache.period] else None

    def _app_ok(self, app_id: str) -> bool:
        return (self.apps_in is None or app_id in self.apps_in) and app_id not in self.apps_not_in

    def _scope(self, qs):
        qs = qs.filter(tenant_id=self.tenant_id, mode=RATED_MODE, bill_period__in=self.bill_periods)
        if self.apps_in is not None:
            qs = qs.filter(app_id__in=self.apps_in)
        if self.apps_not_in:
            qs = qs.exclude(app_id__in=self.apps_not_in)
        return qs

    def rows(self, meter: str) -> list[tuple[dict, Decimal, int, Decimal]]:
        if meter not in self._rows and self.cache is not None:
            self._rows[meter] = [(dims, qty, events, top) for app_id, day, dims, qty, events, top
                                 in self.cache.rollups.get((self.tenant_id, meter), ())
                                 if self.start <= day < self.end and self._app_ok(app_id)]
        if meter not in self._rows:
            qs = self._scope(UsageDaily.objects.filter(meter=meter, day__gte=self.start, day__lt=self.end))
            self._rows[meter] = list(qs.values_list("dimensions", "quantity", "events", "max_quantity"))
        return self._rows[meter]

    def dau_daily(self, meter: str) -> dict[date, int]:
        if self.cache is not None:
            daily: dict[date, int] = defaultdict(int)
            for app_id, day, n in self.cache.dau.get((self.tenant_id, meter), ()):
                if self.start <= day < self.end and self._app_ok(app_id):
                    daily[day] += n
            return dict(sorted(daily.items()))
        qs = self._scope(DauMark.objects.filter(meter=meter, day__gte=self.start, day__lt=self.end))
        return {row["day"]: row["n"] for row in qs.values("day").annotate(n=Count("id")).order_by("day")}

    def billed_seconds(self, meter: str, first: int, subsequent: int, filt: dict | None,
                       by_destination: bool) -> list[tuple[str, str, int]]:
        """Per-call increments computed by the database: (destination, country, billed seconds).

        Each call is rounded up (``pricing.billable_seconds`` in SQL) before summing, so only one
        row per destination leaves the database (or one row in all without a deck)."""
        lo = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        hi = datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC)
        qs = self._scope(UsageEvent.objects.filter(meter=meter, occurred_at__gte=lo, occurred_at__lt=hi,
                                                   voided_at__isnull=True))
        for key, value in (filt or {}).items():
            qs = qs.filter(**{f"dimensions__{key}": str(value)})
        billed = Case(
            When(quantity__lte=0, then=Value(0)),
            When(quantity__lte=first, then=Value(first)),
            default=Value(first) + Ceil((F("quantity") - Value(first)) / Value(subsequent)) * Value(subsequent),
            output_field=DecimalField(max_digits=24, decimal_places=0),
        )
        if not by_destination:
            total = qs.aggregate(s=Sum(billed))["s"] or 0
            return [("", "", int(total))]
        rows = (qs.values(dest=KT("dimensions__destination"), country=KT("dimensions__country"))
                .annotate(s=Sum(billed)).order_by())
        return [(r["dest"] or "", r["country"] or "", int(r["s"] or 0)) for r in rows]


def _matches(dims: dict, filt: dict | None) -> bool:
    return not filt or all(str(dims.get(k)) == str(v) for k, v in filt.items())


def _aggregate(aggregation: str, rows) -> Decimal:
    if aggregation == "count":
        return Decimal(sum(r[2] for r in rows))
    if aggregation == "max":
        return max((r[3] for r in rows), default=ZERO)
    return sum((r[1] for r in rows), ZERO)


def _label(charge: dict, meter: str) -> str:
    return charge.get("name") or METERS[meter].description


def _priced_line(charge: dict, meter: str, quantity: Decimal, description: str, *, dims=None,
                 start: date, end: date, appendix=None) -> LineDraft:
    free = dec(charge.get("free_units", "0"))
    billable = max(quantity - free, ZERO)
    priced = pricing.price_quantity(charge, billable)
    unit_price = dec(charge["unit_price"]) if charge["model"] == "per_unit" else None
    tiers = [row.as_dict() for row in priced.breakdown]
    if free:
        description += f" ({free} free)"
    return LineDraft("usage", description, priced.amount, meter, quantity=quantity, unit_price=unit_price,
                     dimensions=dims or {}, tiers=tiers, service_start=start, service_end=end,
                     appendix=appendix or {})


def rate_charge(charge: dict, source: UsageSource, *, period_days: int) -> list[LineDraft]:
    meter = charge["meter"]
    aggregation = METERS[meter].aggregation
    start, end = source.start, source.end
    filt = charge.get("filter") or None
    model = charge["model"]
    increments = charge.get("increments")
    label = _label(charge, meter)
    if aggregation == "unique_count":
        daily = source.dau_daily(meter)
        mode = charge.get("dau_mode", "peak")
        quantity = pricing.dau_quantity(daily.values(), period_days, mode)
        appendix = {"dau_mode": mode, "daily": {d.isoformat(): n for d, n in sorted(daily.items())}}
        return [_priced_line(charge, meter, quantity, f"{label} — {mode} DAU", start=start, end=end,
                             appendix=appendix)]
    if increments:
        first, subsequent = int(increments[0]), int(increments[1])
        if model == "rate_deck":
            deck = pricing.RateDeck.from_mapping(charge["rates"])
            seconds: dict[str, int] = defaultdict(int)
            prices: dict[str, Decimal] = {}
            for destination, country, billed in source.billed_seconds(meter, first, subsequent, filt, True):
                hit = deck.lookup(destination=destination, country=country)
                key = hit[0] if hit else "unpriced"
                prices[key] = hit[1] if hit else ZERO
                seconds[key] += billed
            lines = []
            for key in sorted(seconds):
                minutes = Decimal(seconds[key]) / SECONDS_PER_MINUTE
                lines.append(LineDraft("usage", f"{label} — {key} ({first}/{subsequent})", minutes * prices[key],
                                       meter, quantity=minutes, unit_price=prices[key],
                                       dimensions={"destination": key}, service_start=start, service_end=end))
            return lines
        total = source.billed_seconds(meter, first, subsequent, filt, False)[0][2]
        minutes = Decimal(total) / SECONDS_PER_MINUTE
        return [_priced_line(charge, meter, minutes, f"{label} ({first}/{subsequent}, minutes)", start=start,
                             end=end)]
    rows = [r for r in source.rows(meter) if _matches(r[0], filt)]
    if model == "rate_deck":
        deck = pricing.RateDeck.from_mapping(charge["rates"])
        groups: dict[str, list] = defaultdict(list)
        prices = {}
        for row in rows:
            dims = row[0]
            hit = deck.lookup(destination=dims.get("destination", ""), country=dims.get("country", ""))
            key = hit[0] if hit else "unpriced"
            prices[key] = hit[1] if hit else ZERO
            groups[key].append(row)
        lines = []
        for key in sorted(groups):
            quantity = _aggregate(aggregation, groups[key])
            lines.append(LineDraft("usage", f"{label} — {key}", quantity * prices[key], meter, quantity=quantity,
                                   unit_price=prices[key], dimensions={"destination": key},
                                   service_start=start, service_end=end))
        return lines
    group_by = charge.get("group_by")
    if group_by:
        groups = defaultdict(list)
        for row in rows:
            groups[str(row[0].get(group_by, ""))].append(row)
        return [_priced_line(charge, meter, _aggregate(aggregation, groups[key]), f"{label} — {group_by} {key}",
                             dims={group_by: key}, start=start, end=end) for key in sorted(groups)]
    return [_priced_line(charge, meter, _aggregate(aggregation, rows), label, start=start, end=end)]


def rate_segment(version: PlanVersion, source: UsageSource, *, period_start: date, include_fixed: bool = True,
                 app_label: str = "") -> list[LineDraft]:
    """Fixed fee, usage lines and minimum commitment for one plan over ``[source.start, source.end)``."""
    period_end = period_after(period_start)
    period_days = (period_end - period_start).days
    days = (source.end - source.start).days
    share = Decimal(days) / Decimal(period_days)
    lines: list[LineDraft] = []
    suffix = f" [{app_label}]" if app_label else ""
    if include_fixed and version.fixed_fee:
        amount = version.fixed_fee * share
        note = "" if days == period_days else f" (prorated {days}/{period_days} days)"
        lines.append(LineDraft("fixed", f"{version.plan.name} v{version.version} — monthly fee{note}{suffix}", amount,
                               quantity=share.quantize(Decimal("0.000001")), unit_price=version.fixed_fee,
                               service_start=source.start, service_end=source.end))
    usage_lines: list[LineDraft] = []
    for charge in version.charges:
        for line in rate_charge(charge, source, period_days=days if days != period_days else period_days):
            line.description += suffix
            usage_lines.append(line)
    lines.extend(usage_lines)
    minimum = version.minimum_commitment * share
    if minimum:
        short = pricing.minimum_shortfall([line.amount for line in usage_lines], minimum, version.currency)
        if short:
            lines.append(LineDraft("minimum", f"Minimum commitment top-up (usage below {pricing.round_money(minimum)})"
                                   f"{suffix}", short, quantity=Decimal(1), unit_price=short,
                                   service_start=source.start, service_end=source.end))
    return lines


def assignments_for(tenant_id: str, period_start: date, cache: RunCache | None = None):
    """(tenant segments [(version, start, end)], {app_id: version}) in effect for the period."""
    period_end = period_after(period_start)
    if cache is not None and cache.period == period_start:
        rows = cache.assignments.get(tenant_id, [])
    else:
        rows = list(PlanAssignment.objects.filter(tenant_id=tenant_id, effective_from__lt=period_end)
                    .select_related("plan_version__plan").order_by("effective_from", "created_at"))
    tenant_rows = [r for r in rows if r.app_id is None]
    current = None
    changes = []
    for row in tenant_rows:
        if row.effective_from <= period_start:
            current = row.plan_version
        else:
            changes.append(row)
    segments = []
    cursor, version = period_start, current
    for change in changes:
        if version is not None and change.effective_from > cursor:
            segments.append((version, cursor, change.effective_from))
        cursor, version = change.effective_from, change.plan_version
    if version is not None:
        segments.append((version, cursor, period_end))
    app_versions = {}
    for row in rows:
        if row.app_id is not None and row.effective_from <= period_start:
            app_versions[row.app_id] = row.plan_version
    return segments, app_versions


def rate_period(tenant_id: str, period_start: date, *, bill_periods: Iterable[date] | None = None,
                late: bool = True, cache: RunCache | None = None) -> Rated | None:
    """All lines of a tenant's invoice for the period (None when no plan applies)."""
    segments, app_versions = assignments_for(tenant_id, period_start, cache)
    if not segments and not app_versions:
        return None
    periods = list(bill_periods) if bill_periods is not None else [period_start]
    lines: list[LineDraft] = []
    currency = (segments[0][0] if segments else next(iter(app_versions.values()))).currency
    first_version = segments[0][0] if segments else None
    for version, start, end in segments:
        source = UsageSource(tenant_id=tenant_id, bill_periods=periods, start=start, end=end,
                             apps_not_in=list(app_versions), cache=cache)
        lines.extend(rate_segment(version, source, period_start=period_start))
    period_end = period_after(period_start)
    for app_id, version in sorted(app_versions.items()):
        source = UsageSource(tenant_id=tenant_id, bill_periods=periods, start=period_start, end=period_end,
                             apps_in=[app_id], cache=cache)
        lines.extend(rate_segment(version, source, period_start=period_start, app_label=app_id))
    if late and (cache is None or cache.period != period_start or tenant_id in cache.late_tenants):
        lines.extend(_late_lines(tenant_id, period_start))
    return Rated(currency, lines, first_version.pk if first_version else None)


def _late_lines(tenant_id: str, period_start: date) -> list[LineDraft]:
    """Usage that arrived after an earlier period closed: re-rate that period with and without it;
    the difference is charged now on a labelled line (tiers stay right, the old invoice untouched)."""
    late_days = (UsageDaily.objects.filter(tenant_id=tenant_id, mode=RATED_MODE, bill_period=period_start,
                                           day__lt=period_start)
                 .values_list("day", flat=True).distinct())
    late_dau = (DauMark.objects.filter(tenant_id=tenant_id, mode=RATED_MODE, bill_period=period_start,
                                       day__lt=period_start)
                .values_list("day", flat=True).distinct())
    original = sorted({d.replace(day=1) for d in [*late_days, *late_dau]})
    lines = []
    for q in original:
        before = rate_period(tenant_id, q, bill_periods=[q], late=False)
        after = rate_period(tenant_id, q, bill_periods=[q, period_start], late=False)
        if before is None or after is None:
            continue
        billed = {_key(line): line for line in before.lines if line.kind != "fixed"}
        for line in after.lines:
            if line.kind == "fixed":
                continue
            old = billed.pop(_key(line), None)
            diff = line.amount - (old.amount if old else ZERO)
            qty = line.quantity - (old.quantity if old else ZERO)
            if diff or qty:
                lines.append(LineDraft("late_usage", f"Late usage for {q:%Y-%m}: {line.description}", diff, line.meter,
                                       line.app_id, quantity=qty, unit_price=line.unit_price,
                                       dimensions=line.dimensions, service_start=q, service_end=period_after(q)))
        for old in billed.values():  # e.g. a minimum top-up that late usage filled
            lines.append(LineDraft("late_usage", f"Late usage for {q:%Y-%m}: {old.description} (no longer due)",
                                   -old.amount, old.meter, old.app_id, quantity=-old.quantity,
                                   service_start=q, service_end=period_after(q)))
    return lines


def _key(line: LineDraft) -> tuple:
    return (line.kind, line.meter, line.description, tuple(sorted(line.dimensions.items())))


def days_in(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
