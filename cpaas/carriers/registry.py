"""Connector instances per process, built from configuration and kept (binds stay open)."""

from __future__ import annotations

import threading

from cpaas.carriers.base import Sink, SmsConnector

_lock = threading.Lock()
_connectors: dict[str, tuple[tuple, SmsConnector]] = {}


def _build(name: str, kind: str, config: dict, throughput: int, sink: Sink | None,
           credentials: str = "") -> SmsConnector:
    if kind == "sandbox":
        from cpaas.carriers.sandbox.connector import SandboxConnector

        return SandboxConnector(name=name, config=config, throughput=throughput, sink=sink, credentials=credentials)
    if kind == "smpp":
        from cpaas.carriers.smpp.connector import SmppConnector

        return SmppConnector(name=name, config=config, throughput=throughput, sink=sink, credentials=credentials)
    if kind == "http":
        from cpaas.carriers.http.connector import HttpConnector

        return HttpConnector(name=name, config=config, throughput=throughput, sink=sink, credentials=credentials)
    raise ValueError(f"unknown connector kind {kind!r}")


def sms_connector(name: str, kind: str, config: dict, throughput: int, sink: Sink | None,
                  credentials: str = "") -> SmsConnector:
    """The process's connector for ``name``; rebuilt when its configuration changed.
    ``credentials`` stays sealed here: the connector opens it when it binds."""
    signature = (kind, repr(sorted(config.items())), throughput, credentials)
    with _lock:
        current = _connectors.get(name)
        if current is not None and current[0] == signature:
            return current[1]
        if current is not None:
            current[1].close()
        connector = _build(name, kind, config, throughput, sink, credentials)
        _connectors[name] = (signature, connector)
        return connector


def close_all() -> None:
    with _lock:
        for _, connector in _connectors.values():
            connector.close()
        _connectors.clear()
