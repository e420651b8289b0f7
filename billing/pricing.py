"""Pure pricing: quantities in, precise Decimal amounts and their breakdown out.

No database, no clock, no rounding to money except in :func:`round_money`. Every function here
is a table-tested pure function; rating (billing/rating.py) feeds it quantities from the ledger.

Tier semantics are Stripe's: a tier covers quantities up to and including ``up_to``
(``None`` = no upper bound, last tier only); each tier has a ``unit_price`` and an optional
``flat_fee``. *Graduated*: every unit is priced in the tier it falls in, and the flat fee of
every tier the quantity reaches is added. *Volume*: the tier the whole quantity falls in prices
every unit, plus that tier's flat fee.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal(0)

# Minor units per currency (ISO 4217 exponent); default 2.
CURRENCY_EXPONENT = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


class PricingError(ValueError):
    """A plan that cannot be priced. ``index`` points at the offending tier or row, if any."""

    def __init__(self, message: str, *, code: str = "invalid_tiers", index: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.index = index


def dec(value) -> Decimal:
    """A Decimal from a string/int/Decimal; floats are refused (they are not money)."""
    if isinstance(value, float):
        raise TypeError("floats are not accepted as money or quantities; pass a string")
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise PricingError(f"not a number: {value!r}", code="invalid_quantity") from exc


def round_money(amount: Decimal, currency: str = "EUR") -> Decimal:
    """Round once, half up, to the currency's minor unit."""
    exponent = CURRENCY_EXPONENT.get(currency.upper(), 2)
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def plain(value: Decimal | int | str) -> str:
    """A quantity or a rate as written to users: plain notation, no trailing zeros ("20", "0.0002";
    never ``2E+1``)."""
    text = format(dec(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def money_text(amount: Decimal, currency: str = "EUR") -> str:
    """An amount of money as written to users: plain notation at the currency's minor-unit scale
    ("1020.00" for EUR, "1020" for JPY), rounded half up once."""
    exponent = CURRENCY_EXPONENT.get(currency.upper(), 2)
    return format(round_money(amount, currency), f".{exponent}f")


def to_minor_units(amount: Decimal, currency: str = "EUR") -> int:
    exponent = CURRENCY_EXPONENT.get(currency.upper(), 2)
    return int(round_money(amount, currency).scaleb(exponent))


def ceil_div(quantity: Decimal, size: Decimal) -> int:
    return int((quantity / size).to_integral_value(rounding=ROUND_CEILING))


# --- tiers -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None
    unit_price: Decimal = ZERO
    flat_fee: Decimal = ZERO

    @classmethod
    def parse(cls, raw: Mapping) -> Tier:
        up_to = raw.get("up_to")
        return cls(
            up_to=None if up_to in (None, "inf") else dec(up_to),
            unit_price=dec(raw.get("unit_price", "0")),
            flat_fee=dec(raw.get("flat_fee", "0")),
        )


@dataclass(frozen=True)
class TierCharge:
    """One row of a line's tier breakdown: units ``first..last`` priced at ``unit_price``."""

    first: Decimal
    last: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal

    def as_dict(self) -> dict:
        return {"from": plain(self.first), "to": None if self.last is None else plain(self.last),
                "quantity": plain(self.quantity), "unit_price": plain(self.unit_price),
                "flat_fee": plain(self.flat_fee), "amount": plain(self.amount)}


@dataclass(frozen=True)
class Priced:
    amount: Decimal
    breakdown: tuple[TierCharge, ...] = field(default_factory=tuple)


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Tiers must be non-empty, strictly ascending, end open (``up_to: null``), and not negative.

    Ascending ``up_to`` bounds leave neither gaps nor overlaps: tier *i* covers
    ``(up_to[i-1], up_to[i]]``.
    """
    if not tiers:
        raise PricingError("At least one tier is needed.", index=0)
    previous = ZERO
    for index, tier in enumerate(tiers):
        if tier.unit_price < 0 or tier.flat_fee < 0:
            raise PricingError(f"Tier {index}: prices cannot be negative.", index=index)
        last = index == len(tiers) - 1
        if tier.up_to is None:
            if not last:
                raise PricingError(f"Tier {index}: only the last tier may have `up_to: null`.", index=index)
            continue
        if tier.up_to <= previous:
            raise PricingError(
                f"Tier {index}: `up_to` {tier.up_to} must be greater than {previous} (tiers must ascend "
                "without overlap).", index=index)
        previous = tier.up_to
    if tiers[-1].up_to is not None:
        raise PricingError("The last tier must have `up_to: null`, or quantities above it have no price.",
                           index=len(tiers) - 1)


def graduated(quantity: Decimal, tiers: Sequence[Tier]) -> Priced:
    validate_tiers(tiers)
    quantity = max(quantity, ZERO)
    rows: list[TierCharge] = []
    lower = ZERO
    total = ZERO
    for tier in tiers:
        if quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = upper - lower
        amount = units * tier.unit_price + tier.flat_fee
        rows.append(TierCharge(lower + 1, tier.up_to, units, tier.unit_price, tier.flat_fee, amount))
        total += amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return Priced(total, tuple(rows))


def volume(quantity: Decimal, tiers: Sequence[Tier]) -> Priced:
    validate_tiers(tiers)
    quantity = max(quantity, ZERO)
    if quantity == 0:
        return Priced(ZERO, ())
    lower = ZERO
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            amount = quantity * tier.unit_price + tier.flat_fee
            return Priced(amount, (TierCharge(lower + 1, tier.up_to, quantity, tier.unit_price,
                                              tier.flat_fee, amount),))
        lower = tier.up_to
    raise AssertionError("unreachable: validated tiers end open")


def volume_cliffs(tiers: Sequence[Tier]) -> list[dict]:
    """Where one more unit *lowers* the bill of a volume-tiered charge (the plan editor warns)."""
    validate_tiers(tiers)
    cliffs = []
    for tier in tiers[:-1]:
        at = tier.up_to
        before, after = volume(at, tiers).amount, volume(at + 1, tiers).amount
        if after < before:
            cliffs.append({"at": str(at), "amount_at": str(before), "amount_after": str(after),
                           "message": f"{at + 1} units cost {after}, less than {at} units ({before})."})
    return cliffs


def per_unit(quantity: Decimal, unit_price: Decimal) -> Priced:
    quantity = max(quantity, ZERO)
    amount = quantity * unit_price
    return Priced(amount, (TierCharge(ZERO if not quantity else Decimal(1), None, quantity, unit_price,
                                      ZERO, amount),) if quantity else ())


def package(quantity: Decimal, size: Decimal, price: Decimal) -> Priced:
    """``price`` per started block of ``size`` units (Stripe's transform_quantity, round up)."""
    if size <= 0:
        raise PricingError("Package size must be positive.", code="invalid_plan")
    quantity = max(quantity, ZERO)
    blocks = ceil_div(quantity, size) if quantity else 0
    amount = blocks * price
    return Priced(amount, (TierCharge(Decimal(1), None, Decimal(blocks), price, ZERO, amount),) if blocks else ())


@dataclass(frozen=True)
class Band:
    up_to: Decimal
    flat_fee: Decimal


def validate_bands(bands: Sequence[Band]) -> None:
    if not bands:
        raise PricingError("At least one band is needed.", index=0)
    previous = ZERO
    for index, band in enumerate(bands):
        if band.up_to <= previous:
            raise PricingError(f"Band {index}: `up_to` must ascend.", index=index)
        if band.flat_fee < 0:
            raise PricingError(f"Band {index}: fee cannot be negative.", index=index)
        previous = band.up_to


def flat_bands(quantity: Decimal, bands: Sequence[Band], overflow_size: Decimal, overflow_price: Decimal) -> Priced:
    """RongCloud's shape: a flat fee for the band the quantity falls in (0 → no charge), and
    above the last band its fee plus ``overflow_price`` per *started* ``overflow_size`` units."""
    validate_bands(bands)
    if overflow_size <= 0:
        raise PricingError("Overflow size must be positive.", code="invalid_plan")
    quantity = max(quantity, ZERO)
    if quantity == 0:
        return Priced(ZERO, ())
    lower = ZERO
    for band in bands:
        if quantity <= band.up_to:
            return Priced(band.flat_fee, (TierCharge(lower + 1, band.up_to, quantity, ZERO, band.flat_fee,
                                                     band.flat_fee),))
        lower = band.up_to
    top = bands[-1]
    extra = quantity - top.up_to
    blocks = ceil_div(extra, overflow_size)
    overflow_amount = blocks * overflow_price
    rows = (
        TierCharge(Decimal(1), top.up_to, top.up_to, ZERO, top.flat_fee, top.flat_fee),
        TierCharge(top.up_to + 1, None, Decimal(blocks), overflow_price, ZERO, overflow_amount),
    )
    return Priced(top.flat_fee + overflow_amount, rows)


# --- DAU --------------------------------------------------------------------------------------

DAU_MODES = ("peak", "average", "sum")


def dau_quantity(daily_counts: Iterable[int], days_in_period: int, mode: str) -> Decimal:
    """A month's billable DAU from its daily counts (days without activity are simply absent).

    ``peak``: the highest day. ``sum``: all days added. ``average``: the sum over *every* day of
    the period (absent days count as zero), rounded half up to a whole user.
    """
    counts = [int(c) for c in daily_counts]
    if mode == "peak":
        return Decimal(max(counts, default=0))
    if mode == "sum":
        return Decimal(sum(counts))
    if mode == "average":
        if days_in_period <= 0:
            raise PricingError("A period has at least one day.", code="invalid_plan")
        return (Decimal(sum(counts)) / Decimal(days_in_period)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    raise PricingError(f"Unknown DAU mode {mode!r}; use one of {', '.join(DAU_MODES)}.", code="invalid_plan")


# --- voice ------------------------------------------------------------------------------------

def billable_seconds(duration: int | Decimal, first: int, subsequent: int) -> int:
    """One call's billed seconds under ``first/subsequent`` increments (60/60, 30/6, 1/1):
    any connected call pays the first increment, the rest is rounded up to whole subsequent ones."""
    if first <= 0 or subsequent <= 0:
        raise PricingError("Billing increments must be positive.", code="invalid_plan")
    seconds = Decimal(duration)
    if seconds <= 0:
        return 0
    if seconds <= first:
        return first
    return first + ceil_div(seconds - first, Decimal(subsequent)) * subsequent


def voice_amount(durations: Iterable[int | Decimal], first: int, subsequent: int, per_minute: Decimal) -> Priced:
    """Each call rounded up before summing; then priced per minute (billed seconds / 60)."""
    seconds = sum(billable_seconds(d, first, subsequent) for d in durations)
    minutes = Decimal(seconds) / 60
    amount = minutes * per_minute
    return Priced(amount, (TierCharge(Decimal(1), None, minutes, per_minute, ZERO, amount),) if seconds else ())


# --- rate decks ---------------------------------------------------------------------------------

@dataclass
class RateDeck:
    """Prices by destination: E.164 digit prefixes (longest wins) and/or ISO country codes.

    ``rates`` maps a key to a price: digits (``"44"``, ``"447"``) are prefixes of the destination
    number; letters (``"GB"``) match the ``country`` dimension exactly; ``"*"`` is the fallback.
    """

    rates: dict[str, Decimal]

    def __post_init__(self) -> None:
        self._prefixes = {k: v for k, v in self.rates.items() if k.isdigit()}
        self._longest = max((len(k) for k in self._prefixes), default=0)
        self._cache: dict[tuple[str, str], tuple[str, Decimal] | None] = {}

    def lookup(self, *, destination: str = "", country: str = "") -> tuple[str, Decimal] | None:
        """(matched key, price) or None when nothing matches and there is no ``*`` fallback."""
        cache_key = (destination, country)
        if cache_key in self._cache:
            return self._cache[cache_key]
        found = None
        digits = "".join(ch for ch in destination if ch.isdigit())
        for length in range(min(len(digits), self._longest), 0, -1):
            prefix = digits[:length]
            if prefix in self._prefixes:
                found = (prefix, self._prefixes[prefix])
                break
        if found is None and country and country.upper() in self.rates:
            found = (country.upper(), self.rates[country.upper()])
        if found is None and "*" in self.rates:
            found = ("*", self.rates["*"])
        if len(self._cache) < 100_000:
            self._cache[cache_key] = found
        return found

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in sorted(self.rates.items())}

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> RateDeck:
        return cls({str(k).upper(): dec(v) for k, v in raw.items()})


def parse_rate_deck_csv(text: str) -> tuple[RateDeck | None, list[dict]]:
    """Parse ``destination,price`` rows (header optional). All or nothing: any bad row → no deck,
    and the list of every bad line (1-based line number, reason)."""
    errors: list[dict] = []
    rates: dict[str, Decimal] = {}
    reader = csv.reader(io.StringIO(text))
    for lineno, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if lineno == 1 and row[0].strip().lower() in {"destination", "prefix", "country"}:
            continue
        if len(row) != 2:
            errors.append({"line": lineno, "message": f"expected 2 columns (destination,price), got {len(row)}"})
            continue
        key, raw_price = row[0].strip().upper(), row[1].strip()
        if not key or not (key.isdigit() or (key.isalpha() and len(key) == 2) or key == "*"):
            errors.append({"line": lineno, "message": f"destination {row[0]!r} is not a digit prefix, an ISO "
                                                      "country code or *"})
            continue
        try:
            price = Decimal(raw_price)
        except InvalidOperation:
            errors.append({"line": lineno, "message": f"price {raw_price!r} is not a number"})
            continue
        if not price.is_finite() or price < 0:
            errors.append({"line": lineno, "message": f"price {raw_price!r} must be zero or positive"})
            continue
        if key in rates:
            errors.append({"line": lineno, "message": f"destination {key} appears twice"})
            continue
        rates[key] = price
    if errors:
        return None, errors
    if not rates:
        return None, [{"line": 0, "message": "the file has no rates"}]
    return RateDeck(rates), []


# --- charges as plan documents ------------------------------------------------------------------

CHARGE_MODELS = ("per_unit", "graduated", "volume", "package", "flat_bands", "rate_deck")


def parse_tiers(raw: Sequence[Mapping]) -> list[Tier]:
    if not isinstance(raw, list | tuple):
        raise PricingError("`tiers` must be a list.", index=0)
    tiers = []
    for index, item in enumerate(raw):
        try:
            tiers.append(Tier.parse(item))
        except (PricingError, TypeError, AttributeError) as exc:
            raise PricingError(f"Tier {index}: {exc}", index=index) from exc
    validate_tiers(tiers)
    return tiers


def parse_bands(raw: Sequence[Mapping]) -> list[Band]:
    bands = [Band(dec(b["up_to"]), dec(b.get("flat_fee", "0"))) for b in raw]
    validate_bands(bands)
    return bands


def price_quantity(charge: Mapping, quantity: Decimal) -> Priced:
    """Price one aggregated quantity under a charge document (all models but ``rate_deck``)."""
    model = charge["model"]
    if model == "per_unit":
        return per_unit(quantity, dec(charge["unit_price"]))
    if model == "graduated":
        return graduated(quantity, parse_tiers(charge["tiers"]))
    if model == "volume":
        return volume(quantity, parse_tiers(charge["tiers"]))
    if model == "package":
        return package(quantity, dec(charge["package_size"]), dec(charge["package_price"]))
    if model == "flat_bands":
        overflow = charge["overflow"]
        return flat_bands(quantity, parse_bands(charge["bands"]), dec(overflow["size"]), dec(overflow["price"]))
    raise PricingError(f"Unknown charge model {model!r}.", code="invalid_plan")


def minimum_shortfall(lines: Iterable[Decimal], minimum: Decimal, currency: str = "EUR") -> Decimal:
    """What a minimum commitment adds, in money: the rounded minimum less the sum of the *rounded*
    usage lines (each line is rounded once on the invoice), so the invoice's usage plus its top-up
    equal the minimum exactly: lines of 49.995 and 49.995 print as 50.00 + 50.00, which already
    meets a 100.00 minimum (the unrounded 99.99 would have added 0.01 and billed 100.01)."""
    billed = sum((round_money(amount, currency) for amount in lines), ZERO)
    return max(round_money(minimum, currency) - billed, ZERO)


def prorate(amount: Decimal, used_days: int, period_days: int) -> Decimal:
    return amount * Decimal(used_days) / Decimal(period_days)
