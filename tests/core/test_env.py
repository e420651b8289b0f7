"""The one environment reader: typed values, old names, errors that name the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from cpaas.core.env import env


def test_it_reads_typed_values(monkeypatch):
    monkeypatch.setenv("X_INT", " 42 ")
    monkeypatch.setenv("X_FLOAT", "2.5")
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_LIST", " a, b,,c ")
    monkeypatch.setenv("X_JSON", '{"k": 1}')
    monkeypatch.setenv("X_URL", "redis://h:6379/4")
    assert env.int("X_INT", 0) == 42
    assert env.float("X_FLOAT", 0.0) == 2.5
    assert env.bool("X_BOOL", False) is True
    assert env.list("X_LIST") == ["a", "b", "c"]
    assert env.json("X_JSON", "{}") == {"k": 1}
    assert env.url("X_URL") == "redis://h:6379/4"


def test_unset_or_empty_numbers_take_the_default_but_an_empty_list_is_a_value(monkeypatch):
    monkeypatch.delenv("X_UNSET", raising=False)
    monkeypatch.setenv("X_EMPTY", "")
    assert env.int("X_UNSET", 7) == 7 and env.int("X_EMPTY", 7) == 7
    assert env.bool("X_EMPTY", True) is True
    assert env.list("X_UNSET", "a,b") == ["a", "b"]
    assert env.list("X_EMPTY", "a,b") == []  # set, even empty, replaces the default
    assert env.str("X_UNSET", "d") == "d" and env.str("X_EMPTY", "d") == ""


def test_the_old_name_is_read_only_when_the_new_one_is_unset(monkeypatch):
    monkeypatch.delenv("X_NEW", raising=False)
    monkeypatch.setenv("X_OLD", "3")
    assert env.int("X_NEW", 1, old="X_OLD") == 3
    monkeypatch.setenv("X_NEW", "5")
    assert env.int("X_NEW", 1, old="X_OLD") == 5


@pytest.mark.parametrize(("reader", "value", "what"), [
    (lambda: env.int("X_BAD", 1), "ten", "an integer"),
    (lambda: env.float("X_BAD", 1.0), "1,5", "a number"),
    (lambda: env.bool("X_BAD", False), "maybe", "one of 1/0"),
    (lambda: env.json("X_BAD", "{}"), "{nope", "JSON"),
    (lambda: env.url("X_BAD"), "127.0.0.1:6379", "not a URL"),
])
def test_a_bad_value_stops_with_an_error_naming_the_variable(monkeypatch, reader, value, what):
    monkeypatch.setenv("X_BAD", value)
    with pytest.raises(ImproperlyConfigured) as error:
        reader()
    assert f"X_BAD={value!r}" in str(error.value) and what in str(error.value)
