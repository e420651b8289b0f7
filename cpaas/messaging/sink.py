"""Stage ``receipts → sink``: where connectors push delivery receipts and inbound messages.

A connector's I/O thread (an SMPP bind) or the dispatcher's own submit (the sandbox) pushes; the
``sms-sink-flusher`` thread of worker.py and the dispatcher after each batch flush: held receipts
go to their settle, the rest to receipts.py, inbound messages to inbound.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from cpaas.carriers.base import DeliveryReceipt, InboundSms
from cpaas.messaging import conf, infra
from cpaas.messaging.inbound import inbound_join, inbound_receive
from cpaas.messaging.kicks import task_send
from cpaas.messaging.receipts import receipts_apply


class MessagingSink:
    """Buffers receipts and inbound messages from connectors and applies them in batches.

    The sandbox pushes during ``submit`` and the dispatcher flushes right after settling; the SMPP
    connector pushes from its bind thread and the worker's ``sms-sink-flusher`` thread flushes
    every 50 ms (worker.py).

    A receipt for a message this process submitted and has not settled yet (the connector says
    ``submitted`` on the carrier's answer, before the receipt can follow it) is *held*: journaled
    in Redis, kept in memory, and taken by that settle, which writes ``sent`` and ``delivered`` in
    one transaction (decision 0410). At 1,000 messages/s almost every receipt outruns its settle;
    parking each as a ReceiptOrphan row and adopting it cost a third of a worker's CPU.
    """

    # A receipt that outruns its own submit's status update and is not held (the connector did not
    # announce the carrier id, or another process submitted it) is parked at once as a
    # ReceiptOrphan row and adopted when the submit settles: the SMSC has had its deliver_sm_resp,
    # so a receipt held only in memory would die with the process (a 2 s in-memory hold lost
    # receipts when a worker was killed: tests/messaging/test_worker_e2e.py).

    HOLD_SECONDS = 30.0  # a settle that never comes (an error, a crash) releases its receipts

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: list[DeliveryReceipt] = []
        self.inbounds: list[InboundSms] = []
        # (connector, carrier id) submitted by this process, not settled yet -> monotonic time
        self.expected: dict[tuple[str, str], float] = {}
        self.held: dict[tuple[str, str], DeliveryReceipt] = {}
        # journaled receipts not announced yet while a submit was in flight: one more flush
        self.waiting: list[DeliveryReceipt] = []
        # journaled receipts whose settle has committed: the database path on the next flush
        self.released: list[DeliveryReceipt] = []
        self._last_expiry = time.monotonic()

    def submitted(self, connector: str, carrier_message_id: str) -> None:
        """The carrier accepted a message under this id: its receipt will wait for our settle."""
        if carrier_message_id:
            with self.lock:
                self.expected[(connector, carrier_message_id)] = time.monotonic()

    def receipt(self, receipt: DeliveryReceipt) -> None:
        if receipt.delay_seconds:  # a sandbox receipt due later: a task, so a restart loses nothing
            task_send("sms.apply_receipt", [receipt.connector, receipt.carrier_message_id, receipt.status,
                                            receipt.error_code], countdown=receipt.delay_seconds)
            return
        with self.lock:
            self.receipts.append(receipt)

    def inbound(self, message: InboundSms) -> None:
        with self.lock:
            self.inbounds.append(message)

    def take(self, keys: Iterable[tuple[str, str]]) -> list[DeliveryReceipt]:
        """The receipts for these (connector, carrier id) that arrived before their settle. Each is
        journaled in Redis. The keys stay expected until :meth:`settled`: a receipt arriving while
        the settle runs is held for the database path after its commit, not parked as an orphan."""
        keys = set(keys)
        with self.lock:
            taken = []
            for key in keys:
                held = self.held.pop(key, None)
                if held is not None:
                    taken.append(held)
            if self.waiting:  # journaled already
                keep = []
                for receipt in self.waiting:
                    (taken if (receipt.connector, receipt.carrier_message_id) in keys else keep).append(receipt)
                self.waiting = keep
            fresh = []
            if self.receipts:
                keep = []
                for receipt in self.receipts:
                    (fresh if (receipt.connector, receipt.carrier_message_id) in keys else keep).append(receipt)
                self.receipts = keep
        if fresh:  # not journaled yet: do it before the settle relies on them
            try:
                _journal_receipts(fresh)
            except Exception:  # Redis failed: keep them all here for the database path, lose none
                self.release(taken)
                with self.lock:
                    self.receipts[:0] = fresh
                raise
        return taken + fresh

    def release(self, receipts: list[DeliveryReceipt]) -> None:
        """Journaled receipts for the next flush's database path (a settle that could not use
        them: its message was no longer ``sending``, or the settle did not happen)."""
        if receipts:
            with self.lock:
                self.released.extend(receipts)

    def settled(self, keys: Iterable[tuple[str, str]]) -> None:
        """The settle of these submits has committed (or failed): they are no longer expected, and
        receipts held meanwhile go to the next flush's database path (journaled already).

        Before, a receipt landing between :meth:`take` and the settle's commit found its message
        still ``sending`` and was parked as a ReceiptOrphan row, then adopted: a third of the
        receipts at 1,000 messages/s, each costing an insert, a delete and a second apply."""
        with self.lock:
            for key in keys:
                self.expected.pop(key, None)
                held = self.held.pop(key, None)
                if held is not None:
                    self.released.append(held)

    def flush(self) -> None:
        with self.lock:
            receipts, self.receipts = self.receipts, []
            inbounds, self.inbounds = self.inbounds, []
            waited, self.waiting = self.waiting, []
            hold, wait, apply = [], [], []
            journaled, self.released = self.released, []
            for receipt in waited:  # their second look: announced by now, or the database path
                key = (receipt.connector, receipt.carrier_message_id)
                (hold if key in self.expected else journaled).append(receipt)
            for receipt in receipts:
                key = (receipt.connector, receipt.carrier_message_id)
                if key in self.expected:
                    hold.append(receipt)
                elif self.expected:
                    # A submit of ours is in flight: its answer and this receipt can reach us in
                    # either order, so give the announcement one more flush before parking it.
                    wait.append(receipt)
                else:
                    apply.append(receipt)
            now = time.monotonic()
            if now - self._last_expiry > 1.0:
                self._last_expiry = now
                for key in [k for k, at in self.expected.items() if now - at > self.HOLD_SECONDS]:
                    del self.expected[key]
                    stale = self.held.pop(key, None)
                    if stale is not None:
                        journaled.append(stale)
        if hold or wait:
            try:
                _journal_receipts(hold + wait)  # before holding: a crash after this point loses nothing
            except Exception:  # Redis failed: all of them wait here for the next flush
                with self.lock:
                    self.receipts[:0] = hold + wait + apply
                    self.released[:0] = journaled
                    self.inbounds[:0] = inbounds
                raise
            with self.lock:
                for receipt in hold:
                    key = (receipt.connector, receipt.carrier_message_id)
                    if key in self.expected:
                        self.held[key] = receipt
                    else:  # its settle came meanwhile: the database path (an orphan at worst)
                        journaled.append(receipt)
                self.waiting.extend(wait)
        if apply or journaled:
            try:
                receipts_apply(apply + journaled)  # unknown carrier ids are parked as orphans
            except Exception:  # the database failed: they wait here (journaled) for the next flush
                with self.lock:
                    self.receipts[:0] = apply
                    self.released[:0] = journaled
                    self.inbounds[:0] = inbounds
                raise
        if journaled:  # parked or applied by now: their journal entries are done with
            infra.receipts_journal_delete([(r.connector, r.carrier_message_id) for r in journaled])
        for inbound in inbounds:
            whole = inbound_join(inbound)
            if whole is not None:
                inbound_receive(whole)


def _journal_receipts(receipts: list[DeliveryReceipt]) -> None:
    infra.receipts_journal_write([(r.connector, r.carrier_message_id, r.status, r.error_code) for r in receipts],
                                 conf.RECEIPT_JOURNAL_TTL_SECONDS)


_sink: MessagingSink | None = None


def sink() -> MessagingSink:
    """This process's sink (every connector of the process pushes into the same one)."""
    global _sink
    if _sink is None:
        _sink = MessagingSink()
    return _sink
