"""Sandbox SMS: every outcome of a real carrier, chosen by the destination number, with no network.

Used by ``sk_test_`` keys and by the embedded default. Unlike test credentials elsewhere, the
sandbox produces receipts and replies through the same sink as real carriers, so every status
event and webhook fires. The numbers are documented in docs/sandbox.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from ulid import ULID

from cpaas.carriers.base import (
    CarrierError,
    DeliveryReceipt,
    InboundSms,
    OutboundSms,
    SmsConnector,
    SubmitResult,
)
from cpaas.carriers.sandbox.config import SandboxConfig

DELIVERED = "+15005550000"
UNDELIVERED = "+15005550001"
FAILED_AT_SUBMIT = "+15005550002"
DELIVERED_AFTER_DELAY = "+15005550003"
REPLIES = "+15005550004"
NO_RECEIPT = "+15005550005"
CARRIER_DOWN = "+15005550006"

MAGIC_NUMBERS = {
    DELIVERED: "delivered",
    UNDELIVERED: "undelivered with carrier error `unreachable`",
    FAILED_AT_SUBMIT: "failed at submit with `invalid_destination`",
    DELIVERED_AFTER_DELAY: "delivered after `delay_seconds` (default 5)",
    REPLIES: "delivered, then the handset replies",
    NO_RECEIPT: "sent, and no receipt ever arrives",
    CARRIER_DOWN: "the carrier is unreachable at submit (transient; the route fails over)",
}

_sequence = count(1)


class SandboxSmsConnector(SmsConnector):
    kind = "sandbox"
    config: SandboxConfig

    def submit(self, messages: Sequence[OutboundSms]) -> list[SubmitResult]:
        results: list[SubmitResult] = []
        receipts: list[DeliveryReceipt] = []
        replies: list[InboundSms] = []
        for message in messages:
            if message.to == FAILED_AT_SUBMIT:
                error = CarrierError("The carrier rejected the destination.",
                                     code="invalid_destination", permanent=True)
                results.append(SubmitResult(message.message_id, error=error))
                continue
            if message.to == CARRIER_DOWN:
                error = CarrierError("The sandbox carrier is unreachable.", code="carrier_unavailable")
                results.append(SubmitResult(message.message_id, error=error))
                continue
            carrier_id = f"sbx-{ULID()}"
            results.append(SubmitResult(message.message_id, carrier_message_id=carrier_id))
            if message.to == NO_RECEIPT:
                continue
            if message.to == UNDELIVERED:
                receipts.append(DeliveryReceipt(self.name, carrier_id, "undelivered", "unreachable"))
            elif message.to == DELIVERED_AFTER_DELAY:
                delay = self.config.delay_seconds
                receipts.append(DeliveryReceipt(self.name, carrier_id, "delivered", delay_seconds=delay))
            else:
                receipts.append(DeliveryReceipt(self.name, carrier_id, "delivered"))
            if message.to == REPLIES:
                replies.append(InboundSms(self.name, sender=message.to, recipient=message.sender,
                                          body=f"Reply to {message.message_id}",
                                          carrier_message_id=f"sbx-mo-{ULID()}"))
        if self.sink is not None:
            for receipt in receipts:
                self.sink.receipt(receipt)
            for reply in replies:
                self.sink.inbound(reply)
        return results
