"""SMPP v3.4 connector on the ``smpp34`` library (its Rust core does the PDU codec and timers).

One transceiver bind per connector per process, kept open by a background thread running an
asyncio loop: callers (Celery tasks, threads) hand it whole batches, which go out with up to
``window`` submit_sm outstanding, capped at ``throughput`` messages/s (0: no cap). Receipts (deliver_sm with
``id:… stat:…``) and mobile-originated messages are pushed to the sink as they arrive. A dropped
bind is re-established with exponential backoff; enquire_link keep-alive is the library's timer.

Configuration: ``SmppConfig`` (config.py). The ``password`` is stored encrypted apart from the
rest (cpaas.carriers.credentials) and opened only here, when the bind is made.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Sequence

import smpp34

from cpaas.carriers.base import (
    CarrierError,
    DeliveryReceipt,
    InboundSms,
    OutboundSms,
    SmsConnector,
    SubmitResult,
)
from cpaas.carriers.smpp.codec import DATA_CODING, decode_payload, encode_part, udh_concat, udh_split
from cpaas.carriers.smpp.config import SmppConfig
from cpaas.core.aio import new_event_loop

log = logging.getLogger(__name__)

_RECEIPT = re.compile(r"id:(?P<id>\S+).*?stat:(?P<stat>\w+)(?:.*?err:(?P<err>\w+))?", re.IGNORECASE | re.DOTALL)
FINAL_STATES = {"DELIVRD": "delivered", "UNDELIV": "undelivered", "EXPIRED": "undelivered",
                "REJECTD": "undelivered", "DELETED": "undelivered", "UNKNOWN": "undelivered"}
MESSAGE_STATE_TLV = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN", 8: "REJECTD"}
# submit_sm_resp statuses that mean "not now, try later" rather than "never".
TRANSIENT_STATUSES = {0x14, 0x58, 0x08, 0x45}  # RMSGQFUL, RTHROTTLED, RSYSERR, RSUBMITFAIL


# What ends the bind keeper instead of counting as a lost bind: cancellation (close) and exit.
_FATAL = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


def _lost_bind(exc: BaseException) -> bool:
    """True when ``exc`` should count as a failed or lost bind. A panic inside the Rust SMPP
    library arrives as pyo3's ``PanicException``, a ``BaseException`` like ``SystemExit``: an
    ``except Exception`` let it end the keeper task for good, and the process never bound again."""
    return not isinstance(exc, _FATAL)


def parse_receipt(event) -> tuple[str, str, str] | None:
    """(carrier id, final status, error) from a deliver_sm receipt, or None for interim states."""
    tlvs = {tlv.tag: tlv for tlv in getattr(event, "tlvs", []) or []}
    text = bytes(event.short_message or b"").decode("latin-1", errors="replace")
    match = _RECEIPT.search(text)
    carrier_id, stat, err = (match.group("id"), match.group("stat").upper(), match.group("err") or "") \
        if match else ("", "", "")
    receipted = tlvs.get(smpp34.TLV_RECEIPTED_MESSAGE_ID)
    if receipted is not None:
        carrier_id = (receipted.as_string() or carrier_id).strip("\x00")
    state = tlvs.get(smpp34.TLV_MESSAGE_STATE)
    if state is not None and state.as_int() in MESSAGE_STATE_TLV:
        stat = MESSAGE_STATE_TLV[state.as_int()]
    if not carrier_id or stat not in FINAL_STATES:
        return None
    status = FINAL_STATES[stat]
    error = "" if status == "delivered" else (f"{stat.lower()}:{err}" if err and err != "000" else stat.lower())
    return carrier_id, status, error


def relative_time(seconds: int | None) -> str:
    """SMPP relative time (``YYMMDDhhmmss000R``) for a validity period, "" for the SMSC default."""
    if not seconds:
        return ""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


class _Throttle:
    """At most ``rate`` sends per second, smoothed (one slot every 1/rate s); a rate of 0 or less
    means unlimited (only ``window`` bounds the PDUs in flight), as operators and benchmarks expect."""

    def __init__(self, rate: int) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_slot = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class SmppConnector(SmsConnector):
    kind = "smpp"
    config: SmppConfig

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self._smsc = None
        self._client = None
        self._bound: asyncio.Event | None = None
        self._closing = False
        self._reference = random.randint(0, 255)
        self.binds = 0  # how many times we bound (tests, metrics)

    # --- the background loop ---------------------------------------------------------------

    def start(self) -> None:
        with self._started:
            if self._thread is not None:
                return
            ready = threading.Event()

            def run() -> None:
                self._loop = new_event_loop()
                asyncio.set_event_loop(self._loop)
                self._bound = asyncio.Event()
                self._throttle = _Throttle(self.throughput)
                self._window = asyncio.Semaphore(self.config.window)
                self._keeper = self._loop.create_task(self._keep_bound())
                ready.set()
                self._loop.run_forever()

            self._thread = threading.Thread(target=run, name=f"smpp-{self.name}", daemon=True)
            self._thread.start()
            ready.wait()

    async def _keep_bound(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                config = self.config
                self._client = smpp34.Client(
                    host=config.host, port=config.port, system_id=config.system_id,
                    password=self.secret("password", ""), bind_type="TRX", system_type=config.system_type,
                    window_size=config.window,
                    # deliver_sm beyond this many unread ones are NAKed (the SMSC retries later):
                    # a burst of receipts must fit while the flusher is busy.
                    inbound_capacity=config.inbound_capacity,
                    connect_timeout_ms=int(config.bind_timeout * 1000))
                self._smsc = await self._client.connect()
            except BaseException as exc:
                if not _lost_bind(exc):
                    raise
                log.warning("smpp %s: bind failed: %s; retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
                continue
            self.binds += 1
            delay = 0.2
            self._bound.set()
            log.info("smpp %s: bound", self.name)
            await self._receive(self._smsc)
            self._bound.clear()
            self._smsc = None
            log.warning("smpp %s: bind lost", self.name)

    async def _receive(self, smsc) -> None:
        while True:
            try:
                event = await smsc.next()
            except BaseException as exc:
                if not _lost_bind(exc):
                    raise
                log.warning("smpp %s: receive failed: %s", self.name, exc)
                return
            if isinstance(event, smpp34.Disconnected):
                return
            if not isinstance(event, smpp34.DeliverSmEvent) or self.sink is None:
                continue
            try:
                self._deliver(event)
            except Exception:
                log.exception("smpp %s: could not handle a deliver_sm", self.name)

    def _deliver(self, event) -> None:
        if event.esm_class & 0x3C == 0x04 or (event.short_message or b"").startswith(b"id:"):
            parsed = parse_receipt(event)
            if parsed is not None:
                carrier_id, status, error = parsed
                self.sink.receipt(DeliveryReceipt(self.name, carrier_id, status, error[:40],
                                                  raw=bytes(event.short_message).decode("latin-1")))
            return
        payload = bytes(event.short_message or b"")
        part = None
        if event.esm_class & 0x40 and payload:
            part, payload = udh_split(payload)  # the sink joins the parts of a multipart message
        self.sink.inbound(InboundSms(self.name, sender=event.source_addr, recipient=event.destination_addr,
                                     body=decode_payload(payload, event.data_coding), part=part))

    # --- submitting ------------------------------------------------------------------------

    async def _submit_one(self, smsc, message: OutboundSms) -> SubmitResult:
        encoding = message.encoding
        parts = message.parts or ("",)
        self._reference = (self._reference + 1) % 256
        reference = self._reference
        alphanumeric = not message.sender.lstrip("+").isdigit()
        carrier_id = ""
        for index, part in enumerate(parts, start=1):
            payload = encode_part(part, encoding)
            esm_class = 0
            if len(parts) > 1:
                payload = udh_concat(reference, len(parts), index) + payload
                esm_class = 0x40
            await self._throttle.wait()
            async with self._window:
                try:
                    # asyncio.timeout, not wait_for: no extra task per PDU (a third of the
                    # connector's own CPU per message went to tasks and timers).
                    async with asyncio.timeout(self.config.submit_timeout):
                        response = await smsc.submit_sm(
                            message.to.lstrip("+"), payload,
                            source_addr=message.sender.lstrip("+"),
                            source_addr_ton=self.config.source_ton if alphanumeric else 1,
                            source_addr_npi=self.config.source_npi if alphanumeric else 1,
                            dest_addr_ton=1, dest_addr_npi=1, esm_class=esm_class,
                            registered_delivery=1 if index == len(parts) else 0,
                            validity_period=relative_time(message.validity_seconds),
                            data_coding=DATA_CODING[encoding])
                except Exception as exc:
                    # The PDU may have left: the carrier may have it. Never resend it here.
                    return SubmitResult(message.message_id, error=CarrierError(
                        f"no answer to submit_sm: {exc.__class__.__name__} {exc}", code="carrier_timeout",
                        submitted=True))
            if not response.is_success:
                status = response.command_status
                if index > 1:  # part of the message went out: never resend the rest here
                    return SubmitResult(message.message_id, error=CarrierError(
                        f"submit_sm part {index} refused: 0x{status:08x}", code="carrier_rejected",
                        permanent=True, submitted=True))
                return SubmitResult(message.message_id, error=CarrierError(
                    f"submit_sm refused: 0x{status:08x}", code=f"smpp_0x{status:02x}",
                    permanent=status not in TRANSIENT_STATUSES))
            carrier_id = response.message_id or ""
        announce = getattr(self.sink, "submitted", None)
        if announce is not None and carrier_id:
            announce(self.name, carrier_id)  # before its receipt can be read from this bind
        return SubmitResult(message.message_id, carrier_message_id=carrier_id)

    async def _submit_batch(self, messages: Sequence[OutboundSms]) -> list[SubmitResult]:
        try:
            await asyncio.wait_for(self._bound.wait(), timeout=self.config.bind_timeout)
        except TimeoutError:
            raise CarrierError(f"smpp {self.name}: not bound", code="carrier_unavailable") from None
        smsc = self._smsc
        if smsc is None:
            raise CarrierError(f"smpp {self.name}: not bound", code="carrier_unavailable")
        return list(await asyncio.gather(*(self._submit_one(smsc, message) for message in messages)))

    def submit(self, messages: Sequence[OutboundSms]) -> list[SubmitResult]:
        self.start()
        future = asyncio.run_coroutine_threadsafe(self._submit_batch(messages), self._loop)
        return future.result()

    def healthy(self) -> bool:
        return self._bound is not None and self._bound.is_set()

    def close(self) -> None:
        self._closing = True
        if self._loop is None:
            return

        async def stop() -> None:
            if self._smsc is not None:
                try:
                    await asyncio.wait_for(self._smsc.unbind(), timeout=2)
                except Exception:  # already gone
                    log.debug("smpp %s: unbind failed", self.name)
            if self._client is not None:
                try:
                    await self._client.stop()
                except Exception:
                    log.debug("smpp %s: stop failed", self.name)
            self._keeper.cancel()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=3)
        except Exception:
            log.debug("smpp %s: close timed out", self.name)
        self._loop.call_soon_threadsafe(self._loop.stop)
