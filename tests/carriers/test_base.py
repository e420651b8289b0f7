"""Connector configurations: read from the operator's JSON, every mistake named by its key."""

from dataclasses import dataclass, field

import pytest

from cpaas.carriers.base import ConfigError, ConnectorConfig
from cpaas.carriers.http import HttpConfig
from cpaas.carriers.sandbox import SandboxConfig
from cpaas.carriers.smpp import SmppConfig


@dataclass(frozen=True)
class Inner(ConnectorConfig):
    path: str = "id"


@dataclass(frozen=True)
class Example(ConnectorConfig):
    port: int = field(metadata={"min": 1, "max": 65535})
    ratio: float = 1.0
    on: bool = False
    names: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None


def test_values_are_read_by_their_type_and_defaults_fill_the_rest():
    config = Example.parse({"port": "2775", "ratio": 2, "names": ["a"], "inner": {"path": "x"}, "maybe": {}})
    assert config == Example(port=2775, ratio=2.0, names=("a",), inner=Inner("x"), maybe=Inner())


@pytest.mark.parametrize(("data", "param", "says"), [
    ({}, "port", "is required"),
    ({"port": 1, "prot": 2}, "prot", "unknown key (known: headers, inner, maybe, names, on, port, ratio)"),
    ({"port": 0}, "port", "must be at least 1"),
    ({"port": 70000}, "port", "must be at most 65535"),
    ({"port": True}, "port", "must be an integer"),
    ({"port": 1.5}, "port", "must be an integer, not 1.5"),
    ({"port": 1, "ratio": "fast"}, "ratio", "must be a number, not 'fast'"),
    ({"port": 1, "on": "yes"}, "on", "must be true or false"),
    ({"port": 1, "names": "a"}, "names", "must be a list"),
    ({"port": 1, "names": [1]}, "names[0]", "must be a string"),
    ({"port": 1, "headers": {"X": 1}}, "headers.X", "must be a string"),
    ({"port": 1, "inner": {"path": 3}}, "inner.path", "must be a string"),
    ({"port": 1, "maybe": "x"}, "maybe", "must be a JSON object"),
])
def test_each_mistake_is_named_by_its_key(data, param, says):
    with pytest.raises(ConfigError) as caught:
        Example.parse(data)
    assert (caught.value.param, str(caught.value)) == (param, f"{param}: {says}")


def test_a_configuration_must_be_an_object():
    with pytest.raises(ConfigError, match="must be a JSON object"):
        SandboxConfig.parse(["delay_seconds", 1])


def test_the_documented_examples_of_each_kind_are_valid():
    # docs/carriers.md shows these; they must keep parsing.
    SmppConfig.parse({"host": "smpp.acme-telecom.example", "port": 2775, "system_id": "our-account",
                      "password": "…", "system_type": "", "window": 50, "source_ton": 5, "source_npi": 0,
                      "submit_timeout": 10, "bind_timeout": 5, "inbound_capacity": 50000})
    HttpConfig.parse({"url": "https://api.upstream.example/v1/sms", "headers": {"Authorization": "Bearer …"},
                      "body": {"to": "{to}", "from": "{from}", "text": "{body}", "client_ref": "{message_id}"},
                      "id_path": "data.id", "callback_token": "a long random string",
                      "receipt": {"id_path": "id", "status_path": "status", "error_path": "error",
                                  "delivered": ["delivered"], "undelivered": ["failed", "undelivered", "rejected"]},
                      "inbound": {"from_path": "from", "to_path": "to", "body_path": "text", "id_path": "id"},
                      "concurrency": 16, "timeout": 10})
    SandboxConfig.parse({"delay_seconds": 0.5})


def test_an_http_upstream_needs_a_web_url():
    with pytest.raises(ConfigError, match="url: must be an http:// or https:// URL with a host"):
        HttpConfig.parse({"url": "up.example/sms"})
