"""Plans: versioned price plans, their charge documents, and assignments to tenants or apps."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from billing import pricing
from billing.ledger import open_period, period_after, period_of
from billing.meters import METERS
from billing.models import Plan, PlanAssignment, PlanVersion
from cpaas.core.errors import ApiError
from cpaas.tenants.audit import audit_record


def _money(value, param: str) -> Decimal:
    if isinstance(value, float | bool):
        raise ApiError(f"`{param}` must be a decimal string.", code="invalid_plan", param=param)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(f"`{param}` must be a number.", code="invalid_plan", param=param) from None
    if not amount.is_finite() or amount < 0:
        raise ApiError(f"`{param}` must be zero or positive.", code="invalid_plan", param=param)
    return amount


def charges_validate(charges: Any) -> tuple[list[dict], list[dict]]:
    """Check charge documents; returns (normalized charges, warnings such as volume cliffs)."""
    if not isinstance(charges, list):
        raise ApiError("`charges` must be a list.", code="invalid_plan", param="charges")
    out, warnings = [], []
    for i, raw in enumerate(charges):
        p = f"charges[{i}]"
        if not isinstance(raw, dict):
            raise ApiError("A charge is an object.", code="invalid_plan", param=p)
        meter = raw.get("meter")
        if meter not in METERS:
            raise ApiError(f"Unknown meter {meter!r}.", code="unknown_meter", param=f"{p}.meter")
        model = raw.get("model")
        if model not in pricing.CHARGE_MODELS:
            raise ApiError(f"`model` must be one of {', '.join(pricing.CHARGE_MODELS)}.", code="invalid_plan",
                           param=f"{p}.model")
        charge = {"meter": meter, "model": model}
        for key in ("name", "group_by"):
            if raw.get(key):
                charge[key] = str(raw[key])
        if raw.get("filter"):
            if not isinstance(raw["filter"], dict):
                raise ApiError("`filter` maps dimensions to values.", code="invalid_plan", param=f"{p}.filter")
            charge["filter"] = {str(k): str(v) for k, v in raw["filter"].items()}
        if "free_units" in raw:
            charge["free_units"] = str(_money(raw["free_units"], f"{p}.free_units"))
        if METERS[meter].aggregation == "unique_count":
            mode = raw.get("dau_mode", "peak")
            if mode not in pricing.DAU_MODES:
                raise ApiError("`dau_mode` is peak, average or sum.", code="invalid_plan", param=f"{p}.dau_mode")
            charge["dau_mode"] = mode
        if raw.get("increments") is not None:
            inc = raw["increments"]
            if (not isinstance(inc, list) or len(inc) != 2 or not all(isinstance(x, int) and not isinstance(x, bool)
                                                                       and 0 < x <= 3600 for x in inc)):
                raise ApiError("`increments` is [first, subsequent] seconds, e.g. [60, 60] or [30, 6].",
                               code="invalid_plan", param=f"{p}.increments")
            charge["increments"] = inc
        try:
            if model == "per_unit":
                charge["unit_price"] = str(_money(raw.get("unit_price"), f"{p}.unit_price"))
            elif model in ("graduated", "volume"):
                tiers = pricing.parse_tiers(raw.get("tiers"))
                charge["tiers"] = [{"up_to": None if t.up_to is None else str(t.up_to),
                                    "unit_price": str(t.unit_price), "flat_fee": str(t.flat_fee)} for t in tiers]
                if model == "volume":
                    warnings += [{**c, "param": f"{p}.tiers"} for c in pricing.volume_cliffs(tiers)]
            elif model == "package":
                charge["package_size"] = str(_money(raw.get("package_size"), f"{p}.package_size"))
                charge["package_price"] = str(_money(raw.get("package_price"), f"{p}.package_price"))
                if Decimal(charge["package_size"]) <= 0:
                    raise ApiError("`package_size` must be positive.", code="invalid_plan", param=f"{p}.package_size")
            elif model == "flat_bands":
                bands = pricing.parse_bands(raw.get("bands") or [])
                overflow = raw.get("overflow") or {}
                charge["bands"] = [{"up_to": str(b.up_to), "flat_fee": str(b.flat_fee)} for b in bands]
                charge["overflow"] = {"size": str(_money(overflow.get("size"), f"{p}.overflow.size")),
                                      "price": str(_money(overflow.get("price"), f"{p}.overflow.price"))}
                if Decimal(charge["overflow"]["size"]) <= 0:
                    raise ApiError("`overflow.size` must be positive.", code="invalid_plan", param=f"{p}.overflow.size")
            elif model == "rate_deck":
                rates = raw.get("rates")
                if not isinstance(rates, dict) or not rates:
                    raise ApiError("`rates` maps destinations to prices.", code="invalid_rate_deck", param=f"{p}.rates")
                charge["rates"] = {str(k).upper(): str(_money(v, f"{p}.rates.{k}")) for k, v in rates.items()}
        except pricing.PricingError as exc:
            sub = "tiers" if model in ("graduated", "volume") else "bands"
            index = f"[{exc.index}]" if exc.index is not None else ""
            raise ApiError(str(exc), code=exc.code if exc.code != "invalid_tiers" else "invalid_tiers",
                           param=f"{p}.{sub}{index}") from None
        except (TypeError, KeyError, AttributeError):
            raise ApiError("The charge is malformed.", code="invalid_plan", param=p) from None
        out.append(charge)
    return out, warnings


def plan_create(*, code: str, name: str, currency: str = "EUR", fixed_fee="0", minimum_commitment="0",
                charges: list | None = None, tenant_id_for_audit: str | None = None, actor_user_id=None,
                actor_key_id: str = "") -> PlanVersion:
    """Create a plan with its version 1 (or a new version of an existing plan with this code)."""
    normalized, _ = charges_validate(charges or [])
    with transaction.atomic():
        plan, _ = Plan.objects.get_or_create(code=code, defaults={"name": name})
        last = plan.versions.aggregate(m=Max("version"))["m"] or 0
        version = PlanVersion.objects.create(
            plan=plan, version=last + 1, currency=currency.upper(), fixed_fee=_money(fixed_fee, "fixed_fee"),
            minimum_commitment=_money(minimum_commitment, "minimum_commitment"), charges=normalized)
        if tenant_id_for_audit:
            audit_record(tenant_id=tenant_id_for_audit, action="plan.version_create", actor_user_id=actor_user_id,
                         actor_key_id=actor_key_id, target_type="plan_version", target_id=version.pk,
                         metadata={"plan": code, "version": version.version})
    return version


def plan_assign(*, tenant_id: str, version: PlanVersion, app_id: str | None = None,
                effective_from: date | None = None, prorate: bool = False, actor_user_id=None,
                actor_key_id: str = "", now=None) -> PlanAssignment:
    """Assign a plan version. Without ``prorate`` it starts at a period boundary (the next one by
    default); with ``prorate`` it may start on any day and the period is split by days."""
    now = now or timezone.now()
    if effective_from is None:
        effective_from = period_after(period_of(now.date()))
    if not prorate and effective_from.day != 1:
        raise ApiError("A plan change starts on the first day of a period unless `prorate` is set.",
                       code="invalid_plan", param="effective_from")
    if effective_from < open_period(now):
        raise ApiError("A plan change cannot start in a closed period.", code="invalid_plan", param="effective_from")
    with transaction.atomic():
        assignment = PlanAssignment.objects.create(tenant_id=tenant_id, app_id=app_id, plan_version=version,
                                                   effective_from=effective_from)
        audit_record(tenant_id=tenant_id, action="plan.assign", actor_user_id=actor_user_id, actor_key_id=actor_key_id,
                     target_type="plan_assignment", target_id=assignment.pk,
                     metadata={"plan_version": version.pk, "app": app_id, "effective_from": effective_from.isoformat(),
                               "prorate": prorate})
    return assignment


def plan_import_rate_deck(*, code: str, meter: str, csv_text: str, increments: list[int] | None = None,
                          tenant_id_for_audit: str | None = None, actor_user_id=None,
                          actor_key_id: str = "") -> PlanVersion:
    """New version of plan ``code`` whose ``meter`` is priced by the deck in ``csv_text``.

    All or nothing: any bad row → 400 ``invalid_rate_deck`` listing every bad line."""
    deck, errors = pricing.parse_rate_deck_csv(csv_text)
    if deck is None:
        raise ApiError(f"The rate deck has {len(errors)} bad line(s); nothing was imported.",
                       code="invalid_rate_deck", param="csv", extra={"errors": errors})
    plan = Plan.objects.filter(code=code).first()
    latest = plan.versions.order_by("-version").first() if plan else None
    charges = [c for c in (latest.charges if latest else []) if c["meter"] != meter]
    charge = {"meter": meter, "model": "rate_deck", "rates": deck.as_dict()}
    if increments:
        charge["increments"] = increments
    return plan_create(code=code, name=plan.name if plan else code, currency=latest.currency if latest else "EUR",
                       fixed_fee=latest.fixed_fee if latest else "0",
                       minimum_commitment=latest.minimum_commitment if latest else "0",
                       charges=[*charges, charge], tenant_id_for_audit=tenant_id_for_audit,
                       actor_user_id=actor_user_id, actor_key_id=actor_key_id)
