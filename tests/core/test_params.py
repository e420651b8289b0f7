"""The list filters' one parser: every bad value is an ApiError naming the parameter."""

from datetime import UTC, date, datetime

import pytest

from cpaas.core.errors import ApiError
from cpaas.core.params import query_bool, query_date, query_datetime, query_enum, query_int


@pytest.mark.parametrize("raw", ["2026-13-45T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z",
                                 "2026-01-01", "2026-01-01T00:00:00", "soon", "\x00"])
def test_query_datetime_refuses_impossible_or_naive_values(raw):
    with pytest.raises(ApiError) as caught:
        query_datetime({"created_after": raw}, "created_after")
    assert (caught.value.status, caught.value.param) == (400, "created_after")


def test_query_datetime_reads_an_aware_time_and_absence():
    assert query_datetime({"t": "2026-01-02T03:04:05Z"}, "t") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert query_datetime({"t": ""}, "t") is None
    assert query_datetime({}, "t") is None


@pytest.mark.parametrize("raw", ["2026-13-45", "2026-02-30", "2026-00-01", "01/02/2026"])
def test_query_date_refuses_impossible_dates(raw):
    with pytest.raises(ApiError) as caught:
        query_date({"day": raw}, "day")
    assert caught.value.param == "day"


def test_query_date_falls_back_to_its_default():
    assert query_date({}, "day", date(2026, 1, 1)) == date(2026, 1, 1)
    assert query_date({"day": "2026-03-04"}, "day") == date(2026, 3, 4)


@pytest.mark.parametrize("raw", ["-1", "x", "1_000", "1e3", " 5", "99999999999999999999999", "١٢"])
def test_query_int_refuses_anything_but_a_plain_bounded_integer(raw):
    with pytest.raises(ApiError) as caught:
        query_int({"after_seq": raw}, "after_seq")
    assert caught.value.param == "after_seq"


def test_query_int_reads_integers_within_bounds():
    assert query_int({"n": "42"}, "n") == 42
    assert query_int({"n": "-3"}, "n", minimum=-5) == -3
    assert query_int({}, "n") is None


def test_query_enum_and_bool_name_the_parameter():
    assert query_enum({"s": "sent"}, "s", ("sent", "queued")) == "sent"
    assert query_bool({"live": "false"}, "live") is False
    for call in (lambda: query_enum({"s": "nope"}, "s", ("sent",)), lambda: query_bool({"live": "1"}, "live")):
        with pytest.raises(ApiError) as caught:
            call()
        assert caught.value.param in ("s", "live")
