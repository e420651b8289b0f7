"""A small SMSC for tests and the benchmark, run as its own process around ``smpp34.Server``.

It accepts transceiver binds, answers every submit_sm with a message id, and sends a delivery
receipt (deliver_sm, ``id:… stat:…``) for each one that asked for it. Behaviour by flags:

    --port N           listen here (pick a free port first)
    --log PATH         append one JSON line per received submit_sm (to count resubmits) and one
                       ``{"event": "bind", …}`` line per accepted bind (to count binds)
    --stat DELIVRD     the receipt's final state (UNDELIV to test undelivered)
    --dlr-delay S      seconds before each receipt
    --refuse-binds     unbind every session right after it binds
    --die-after N      exit abruptly on the Nth submit_sm without answering it (a drop mid-window)
    --reject-prefix P  refuse submit_sm to destinations starting with P (ESME_RINVDSTADR)

A body starting with ``MO:`` makes the "handset" answer: a mobile-originated deliver_sm back;
``MOLONG:`` makes it answer with a three-part concatenated MO (UDH), its parts sent last first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import smpp34


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", default="")
    parser.add_argument("--stat", default="DELIVRD")
    parser.add_argument("--dlr-delay", type=float, default=0.0)
    parser.add_argument("--refuse-binds", action="store_true")
    parser.add_argument("--die-after", type=int, default=0)
    parser.add_argument("--reject-prefix", default="")
    args = parser.parse_args()

    server = smpp34.Server(host="127.0.0.1", port=args.port, system_id="TESTSMSC", inbound_capacity=100_000)
    await server.start()
    print(f"READY {args.port}", flush=True)
    log = open(args.log, "a", buffering=1) if args.log else None  # noqa: SIM115
    sessions: dict[str, smpp34.Esme] = {}
    received = 0
    prefix = f"{os.getpid()}-{int(time.time())}"
    pending: set[asyncio.Task] = set()
    # Receipts and MO for an ESME that is gone wait here for its next bind (store and forward).
    parked: list[tuple[str, bytes, str, int]] = []

    async def deliver(session_id: str, to: str, text: bytes, source: str, esm_class: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        esme = sessions.get(session_id) or next(iter(sessions.values()), None)
        if esme is None:
            parked.append((to, text, source, esm_class))
            return
        try:
            await esme.deliver_sm(to, text, source_addr=source, esm_class=esm_class)
        except Exception as exc:  # the ESME went away: keep it for the next bind
            print(f"deliver failed: {exc}", file=sys.stderr, flush=True)
            parked.append((to, text, source, esm_class))

    def spawn(coro) -> None:
        task = asyncio.ensure_future(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def redeliver() -> None:
        """Like a real SMSC, retry parked receipts and MO while an ESME is bound."""
        while True:
            await asyncio.sleep(0.5)
            if parked and sessions:
                session_id = next(iter(sessions))
                waiting, parked[:] = list(parked), []
                for to, text, source, esm_class in waiting:
                    spawn(deliver(session_id, to, text, source, esm_class, 0))

    spawn(redeliver())

    while True:
        event = await server.next()
        if isinstance(event, smpp34.Esme):
            if args.refuse_binds:
                spawn(event.unbind())
                continue  # its submits are refused below
            sessions[event.session_id] = event
            if log is not None:
                log.write(json.dumps({"event": "bind", "session": event.session_id}) + "\n")
            waiting, parked[:] = list(parked), []
            for to, text, source, esm_class in waiting:
                spawn(deliver(event.session_id, to, text, source, esm_class, 0.05))
        elif isinstance(event, smpp34.Unbound):
            sessions.pop(event.session_id, None)
        elif isinstance(event, smpp34.SubmitSmEvent):
            if event.session_id not in sessions:
                event.reject(smpp34.ESME_RSYSERR)  # not (or no longer) bound here
                continue
            received += 1
            if args.die_after and received >= args.die_after:
                os._exit(3)
            if args.reject_prefix and event.destination_addr.startswith(args.reject_prefix):
                event.reject(smpp34.ESME_RINVDSTADR)
                continue
            message_id = f"{prefix}-{received}"
            body = bytes(event.short_message)
            if log is not None:  # before the answer: a test reading the log after its submit returns finds it
                log.write(json.dumps({"id": message_id, "to": event.destination_addr, "from": event.source_addr,
                                      "esm_class": event.esm_class, "data_coding": event.data_coding,
                                      "body": body.hex()}) + "\n")
            event.accept(message_id=message_id)
            if event.registered_delivery & 0x01:
                stamp = time.strftime("%y%m%d%H%M", time.gmtime())
                err = "000" if args.stat == "DELIVRD" else "001"
                text = (f"id:{message_id} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
                        f"stat:{args.stat} err:{err} text:").encode()
                spawn(deliver(event.session_id, event.source_addr, text, event.destination_addr, 0x04,
                              args.dlr_delay))
            if body.startswith(b"MOLONG:"):
                words = [b"The first part of a long reply, ", b"then the second part, ", b"and the end."]
                reference = received % 256
                for index in (3, 2, 1):
                    udh = bytes((0x05, 0x00, 0x03, reference, 3, index))
                    spawn(deliver(event.session_id, event.source_addr, udh + words[index - 1],
                                  event.destination_addr, 0x40, 0.05 * (4 - index)))
            elif body.startswith(b"MO:"):
                spawn(deliver(event.session_id, event.source_addr, b"STOP", event.destination_addr, 0x00, 0.05))


if __name__ == "__main__":
    try:
        import uvloop  # the C event loop, as a production SMSC would not spend Python's on every PDU
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
