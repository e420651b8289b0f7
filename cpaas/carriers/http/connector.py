"""Generic HTTP upstream connector, so a tenant can route through another provider.

Configuration: ``HttpConfig`` (config.py). ``headers`` and ``callback_token`` are credentials:
stored encrypted apart from the rest (cpaas.carriers.credentials) and opened only by the
connector, on first use.

4xx answers are permanent rejections, 5xx and connection failures are transient; a timeout after
the request was sent is "maybe submitted", so that upstream never gets the message again.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from cpaas.carriers.base import (
    CarrierError,
    DeliveryReceipt,
    InboundSms,
    OutboundSms,
    SmsConnector,
    SubmitResult,
)
from cpaas.carriers.http.config import HttpConfig


def _dig(data: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _render(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, dict):
        return {key: _render(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_render(value, values) for value in template]
    return template


class HttpConnector(SmsConnector):
    kind = "http"
    config: HttpConfig
    transport: httpx.BaseTransport | None = None  # tests plug an httpx.MockTransport here

    def __post_init__(self) -> None:
        # Not a tenant URL: the carrier's endpoint an operator configured (so not through the egress;
        # tests/core/test_egress_only.py lists why).
        self._client = httpx.Client(timeout=self.config.timeout, transport=self.transport,
                                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    def _submit_one(self, message: OutboundSms) -> SubmitResult:
        values = {"to": message.to, "from": message.sender, "body": "".join(message.parts),
                  "message_id": message.message_id, "encoding": message.encoding,
                  "segments": str(len(message.parts))}
        payload = _render(self.config.body, values)
        try:
            response = self._client.post(self.config.url, json=payload, headers=self.secret("headers") or {})
        except httpx.ConnectError as exc:
            return SubmitResult(message.message_id, error=CarrierError(str(exc), code="carrier_unavailable"))
        except httpx.TimeoutException as exc:
            return SubmitResult(message.message_id, error=CarrierError(
                f"timeout: {exc}", code="carrier_timeout", submitted=True))
        except httpx.HTTPError as exc:
            return SubmitResult(message.message_id, error=CarrierError(str(exc), code="carrier_unavailable"))
        if 400 <= response.status_code < 500:
            return SubmitResult(message.message_id, error=CarrierError(
                f"upstream refused the message: HTTP {response.status_code} {response.text[:200]}",
                code="carrier_rejected", permanent=True))
        if response.status_code >= 500:
            return SubmitResult(message.message_id, error=CarrierError(
                f"upstream error: HTTP {response.status_code}", code="carrier_unavailable"))
        try:
            carrier_id = _dig(response.json(), self.config.id_path)
        except ValueError:
            carrier_id = None
        if not carrier_id:
            return SubmitResult(message.message_id, error=CarrierError(
                "upstream answered without a message id", code="carrier_bad_response", submitted=True))
        return SubmitResult(message.message_id, carrier_message_id=str(carrier_id))

    def submit(self, messages: Sequence[OutboundSms]) -> list[SubmitResult]:
        if len(messages) == 1:
            return [self._submit_one(messages[0])]
        workers = min(self.config.concurrency, len(messages))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self._submit_one, messages))

    def verify_callback(self, token: str | None) -> bool:
        expected = self.secret("callback_token") or ""
        return bool(expected) and hmac.compare_digest(expected, token or "")

    def parse_callback(self, payload: Any) -> list[DeliveryReceipt | InboundSms]:
        """Receipts (and MO messages) from one callback body: an object or a list of objects."""
        items = payload if isinstance(payload, list) else [payload]
        spec, inbound_spec = self.config.receipt, self.config.inbound
        out: list[DeliveryReceipt | InboundSms] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            if inbound_spec is not None and _dig(item, inbound_spec.body_path) is not None \
                    and _dig(item, spec.status_path) is None:
                out.append(InboundSms(self.name, sender=str(_dig(item, inbound_spec.from_path)),
                                      recipient=str(_dig(item, inbound_spec.to_path)),
                                      body=str(_dig(item, inbound_spec.body_path)),
                                      carrier_message_id=str(_dig(item, inbound_spec.id_path) or "")))
                continue
            carrier_id = _dig(item, spec.id_path)
            state = _dig(item, spec.status_path)
            if not carrier_id or state is None:
                continue
            if state in spec.delivered:
                status = "delivered"
            elif state in spec.undelivered:
                status = "undelivered"
            else:
                continue  # intermediate states (accepted, buffered) change nothing
            error = _dig(item, spec.error_path) or ""
            out.append(DeliveryReceipt(self.name, str(carrier_id), status, str(error)[:40]))
        return out

    def close(self) -> None:
        self._client.close()
