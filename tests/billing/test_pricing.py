"""Pure pricing: hand-computed tables and properties."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import pricing
from billing.pricing import Band, PricingError, Tier

TIERS = [Tier(D(1000), D("0.05")), Tier(D(10000), D("0.04")), Tier(None, D("0.03"))]
FLAT_TIERS = [Tier(D(5), D(0), D(10)), Tier(None, D(1), D(5))]


@pytest.mark.parametrize(("quantity", "expected"), [
    (0, "0"), (1, "0.05"), (1000, "50.00"), (1001, "50.04"), (10000, "410.00"), (12000, "470.00"),
])
def test_graduated_prices_each_unit_in_its_own_tier(quantity, expected):
    assert pricing.graduated(D(quantity), TIERS).amount == D(expected)


@pytest.mark.parametrize(("quantity", "expected"), [
    (0, "0"), (1000, "50.00"), (1001, "40.04"), (10000, "400.00"), (10001, "300.03"), (12000, "360.00"),
])
def test_volume_prices_every_unit_at_the_tier_the_total_reaches(quantity, expected):
    assert pricing.volume(D(quantity), TIERS).amount == D(expected)


def test_flat_fees_follow_stripe_semantics():
    assert pricing.graduated(D(7), FLAT_TIERS).amount == D(17)  # 10 + 2*1 + 5
    assert pricing.volume(D(7), FLAT_TIERS).amount == D(12)  # 7*1 + 5
    assert pricing.volume(D(5), FLAT_TIERS).amount == D(10)


def test_graduated_breakdown_shows_each_tier():
    rows = pricing.graduated(D(12000), TIERS).breakdown
    assert [(r.quantity, r.amount) for r in rows] == [(D(1000), D("50.00")), (D(9000), D("360.00")),
                                                       (D(2000), D("60.00"))]


def test_the_editor_finds_volume_cliffs():
    cliffs = pricing.volume_cliffs(TIERS)
    assert [c["at"] for c in cliffs] == ["1000", "10000"]
    assert pricing.volume_cliffs([Tier(D(10), D(1)), Tier(None, D(2))]) == []


@pytest.mark.parametrize("tiers", [
    [],
    [Tier(D(10), D(1))],  # last tier bounded
    [Tier(D(10), D(1)), Tier(D(10), D(1)), Tier(None, D(1))],  # overlap
    [Tier(D(10), D(1)), Tier(D(5), D(1)), Tier(None, D(1))],  # descending
    [Tier(None, D(1)), Tier(D(5), D(1))],  # open tier not last
    [Tier(D(0), D(1)), Tier(None, D(1))],  # empty first tier
    [Tier(None, D(-1))],
])
def test_it_refuses_bad_tiers(tiers):
    with pytest.raises(PricingError) as err:
        pricing.graduated(D(1), tiers)
    assert err.value.code == "invalid_tiers"


@pytest.mark.parametrize(("quantity", "expected"), [(0, 0), (1, 5), (1000, 5), (1001, 10), (2500, 15)])
def test_package_charges_per_started_block(quantity, expected):
    assert pricing.package(D(quantity), D(1000), D(5)).amount == D(expected)


BANDS = [Band(D(10000), D(100)), Band(D(100000), D(500)), Band(D(1000000), D(2000))]


@pytest.mark.parametrize(("dau", "expected"), [
    (0, 0), (1, 100), (10000, 100), (10001, 500), (1000000, 2000), (1000001, 2020), (1020000, 2040),
    (1020001, 2060),
])
def test_flat_bands_with_overflow_package(dau, expected):
    assert pricing.flat_bands(D(dau), BANDS, D(10000), D(20)).amount == D(expected)


@pytest.mark.parametrize(("mode", "expected"), [("peak", 300), ("sum", 630), ("average", 21)])
def test_dau_month_with_gaps(mode, expected):
    # 30-day month; activity only on 4 days.
    assert pricing.dau_quantity([100, 150, 80, 300], 30, mode) == D(expected)


def test_dau_average_rounds_half_up_to_a_whole_user():
    assert pricing.dau_quantity([45], 30, "average") == D(2)  # 1.5 → 2
    assert pricing.dau_quantity([44], 30, "average") == D(1)  # 1.47 → 1


@pytest.mark.parametrize(("seconds", "first", "subsequent", "billed"), [
    (0, 60, 60, 0), (1, 60, 60, 60), (60, 60, 60, 60), (61, 60, 60, 120), (61, 30, 6, 66), (31, 30, 6, 36),
    (30, 30, 6, 30), (7, 6, 6, 12), (1, 1, 1, 1), (125, 6, 6, 126),
])
def test_billing_increments(seconds, first, subsequent, billed):
    assert pricing.billable_seconds(seconds, first, subsequent) == billed


def test_voice_rounds_each_call_before_summing():
    calls = [5, 59, 61, 125, 0]
    per_minute = D("0.02")
    # 60/60: 60+60+120+180+0 = 420 s = 7 min; 6/6: 6+60+66+126+0 = 258 s = 4.3 min
    assert pricing.voice_amount(calls, 60, 60, per_minute).amount == D("0.14")
    assert pricing.voice_amount(calls, 6, 6, per_minute).amount == D("0.086")


def test_longest_prefix_wins_in_a_rate_deck():
    deck = pricing.RateDeck.from_mapping({"44": "0.05", "447": "0.04", "GB": "0.06", "*": "0.10"})
    assert deck.lookup(destination="+447700900123") == ("447", D("0.04"))
    assert deck.lookup(destination="+441632960000") == ("44", D("0.05"))
    assert deck.lookup(country="gb") == ("GB", D("0.06"))
    assert deck.lookup(destination="+15550100") == ("*", D("0.10"))
    assert pricing.RateDeck.from_mapping({"44": "1"}).lookup(destination="+1555") is None


def test_a_rate_deck_csv_with_bad_rows_lists_each_and_imports_nothing():
    deck, errors = pricing.parse_rate_deck_csv("destination,price\nGB,0.04\nFR,abc\nXYZ1,0.1\nDE,-1\nUS\nGB,0.05\n")
    assert deck is None
    assert [e["line"] for e in errors] == [3, 4, 5, 6, 7]


def test_a_good_rate_deck_csv_imports():
    deck, errors = pricing.parse_rate_deck_csv("GB,0.04\n447,0.035\n*,0.1\n")
    assert errors == []
    assert deck.lookup(destination="447911") == ("447", D("0.035"))


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("0.005", "EUR", "0.01"), ("0.0049", "EUR", "0.00"), ("1.5", "JPY", "2"), ("2.0005", "KWD", "2.001"),
    ("-0.005", "EUR", "-0.01"),
])
def test_money_rounds_half_up_once_to_the_minor_unit(amount, currency, expected):
    assert pricing.round_money(D(amount), currency) == D(expected)


def test_minimum_commitment_adds_only_the_shortfall():
    assert pricing.minimum_shortfall([D("70.00")], D("100")) == D("30.00")
    assert pricing.minimum_shortfall([D("170.00")], D("100")) == D(0)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        pricing.dec(0.1)


# --- properties ---------------------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=10, places=4)
quantities = st.integers(min_value=0, max_value=2_000_000).map(D)


@st.composite
def tier_lists(draw):
    bounds = sorted(set(draw(st.lists(st.integers(1, 1_000_000), min_size=0, max_size=5))))
    tiers = [Tier(D(b), draw(prices), draw(prices)) for b in bounds]
    return [*tiers, Tier(None, draw(prices), draw(prices))]


@given(tier_lists(), quantities)
def test_graduated_amount_is_the_sum_of_its_breakdown(tiers, quantity):
    priced = pricing.graduated(quantity, tiers)
    assert priced.amount == sum((row.amount for row in priced.breakdown), D(0))
    assert sum((row.quantity for row in priced.breakdown), D(0)) == quantity


@given(tier_lists(), quantities, st.integers(0, 1000).map(D))
def test_graduated_never_decreases_with_more_usage(tiers, quantity, more):
    assert pricing.graduated(quantity + more, tiers).amount >= pricing.graduated(quantity, tiers).amount


@given(st.integers(0, 100_000), st.integers(1, 120), st.integers(1, 120))
def test_billed_seconds_cover_the_call_and_waste_less_than_an_increment(seconds, first, subsequent):
    billed = pricing.billable_seconds(seconds, first, subsequent)
    assert billed >= seconds
    if seconds > first:
        assert billed - seconds < subsequent
    elif seconds > 0:
        assert billed == first
