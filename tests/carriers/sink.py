"""A sink that keeps what a connector pushes (receipts, mobile-originated messages), for tests."""

from __future__ import annotations

import threading

from cpaas.carriers.base import DeliveryReceipt, InboundSms


class CollectingSink:
    def __init__(self):
        self.receipts: list[DeliveryReceipt] = []
        self.inbounds: list[InboundSms] = []
        self.lock = threading.Lock()

    def receipt(self, receipt):
        with self.lock:
            self.receipts.append(receipt)

    def inbound(self, message):
        with self.lock:
            self.inbounds.append(message)
