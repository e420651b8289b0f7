"""The worker's SIP user agent over UDP: client transactions (retransmissions, timeouts, ACK of
failures), dialogs, and a hook for requests that arrive (BYE, OPTIONS, INVITE).

Only the transaction and dialog rules the B2BUA needs are here (RFC 3261 §17, §12): the call logic
lives in ``connector.py``. Decision 1101 says why this is our own small module and not a library.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from cpaas.carriers.sip.message import Message, ParseError, host_port, new_branch, param, parse, uri_of

log = logging.getLogger(__name__)

T1, T2 = 0.5, 4.0
RECEIVE_BUFFER = 4 * 1024 * 1024
Address = tuple[str, int]


class TransactionTimeout(Exception):
    """No response at all from the next hop (timer B / F)."""


@dataclass
class ClientTransaction:
    request: Message
    address: Address
    responses: asyncio.Queue = field(default_factory=asyncio.Queue)
    provisional: bool = False
    final: Message | None = None
    ack: bytes = b""  # the ACK sent for a final response, resent if that response is retransmitted
    retransmit: asyncio.Task | None = None


@dataclass
class Dialog:
    """One leg's dialog, from our side (RFC 3261 §12)."""

    call_id: str
    local: str          # our From/To header value, with our tag
    remote: str         # theirs, with their tag
    remote_target: str  # their Contact URI
    route_set: list[str]
    cseq: int
    address: Address    # where in-dialog requests go (first route, or the target)

    @property
    def remote_tag(self) -> str:
        return param(self.remote, "tag")


class SipEndpoint(asyncio.DatagramProtocol):
    """One UDP socket for all of the worker's signalling."""

    def __init__(self, on_request: Callable[[Message, Address], None]) -> None:
        self.on_request = on_request
        self.transport: asyncio.DatagramTransport | None = None
        self.transactions: dict[tuple[str, str], ClientTransaction] = {}
        self.host, self.port = "", 0

    @classmethod
    async def listen(cls, host: str, port: int, on_request: Callable[[Message, Address], None]) -> SipEndpoint:
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(lambda: cls(on_request), local_addr=(host, port))
        endpoint.host, endpoint.port = endpoint.transport.get_extra_info("sockname")[:2]
        return endpoint

    def connection_made(self, transport) -> None:
        self.transport = transport
        # Bursts of INVITE answers must not overflow the default ~200 KB buffer (the kernel caps
        # the request at net.core.rmem_max).
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    def close(self) -> None:
        for transaction in self.transactions.values():
            if transaction.retransmit is not None:
                transaction.retransmit.cancel()
        if self.transport is not None:
            self.transport.close()

    @property
    def contact(self) -> str:
        return f"<sip:cpaas@{self.host}:{self.port}>"

    def via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport"

    def send(self, message: Message | bytes, address: Address) -> None:
        data = message if isinstance(message, bytes) else message.encode()
        self.transport.sendto(data, address)

    # --- client transactions ------------------------------------------------------------------
    def request(self, request: Message, address: Address, *, timeout: float = 32 * T1) -> ClientTransaction:
        """Send ``request`` (its Via is set here) and retransmit it until a response comes.
        Responses arrive on the transaction's queue; if none comes within ``timeout``, the queue
        gets a ``TransactionTimeout``."""
        branch = new_branch()
        request.headers = [(k, v) for k, v in request.headers if k != "via"]
        request.headers.insert(0, ("via", self.via(branch)))
        transaction = ClientTransaction(request, address)
        self.transactions[(branch, request.method)] = transaction
        data = request.encode()
        self.send(data, address)
        transaction.retransmit = asyncio.get_running_loop().create_task(self._retransmit(transaction, data, timeout))
        return transaction

    async def _retransmit(self, transaction: ClientTransaction, data: bytes, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline, interval = loop.time() + timeout, T1
        invite = transaction.request.method == "INVITE"
        while loop.time() < deadline:
            await asyncio.sleep(min(interval, max(0.0, deadline - loop.time())))
            if transaction.final is not None or (invite and transaction.provisional):
                return
            if loop.time() >= deadline:
                break
            self.send(data, transaction.address)
            interval = interval * 2 if invite else min(interval * 2, T2)
        if transaction.final is None and not transaction.provisional:
            transaction.responses.put_nowait(TransactionTimeout())

    def forget(self, transaction: ClientTransaction, *, after: float = 0.0) -> None:
        """Drop a finished transaction (after ``after`` seconds, to absorb retransmitted finals)."""
        key = (transaction.request.branch, transaction.request.method)
        if transaction.retransmit is not None:
            transaction.retransmit.cancel()
        if after:
            asyncio.get_running_loop().call_later(after, self.transactions.pop, key, None)
        else:
            self.transactions.pop(key, None)

    def _response(self, response: Message) -> None:
        _, method = response.cseq
        transaction = self.transactions.get((response.branch, method))
        if transaction is None:
            return
        if transaction.final is not None:  # a retransmitted final: resend our ACK
            if transaction.ack:
                self.send(transaction.ack, transaction.address)
            return
        if response.status < 200:
            transaction.provisional = True
        else:
            transaction.final = response
            if method == "INVITE" and response.status >= 300:
                transaction.ack = self._failure_ack(transaction.request, response).encode()
                self.send(transaction.ack, transaction.address)
        transaction.responses.put_nowait(response)

    def _failure_ack(self, invite: Message, response: Message) -> Message:
        """The ACK of a non-2xx final response: same transaction, hop by hop (RFC 3261 §17.1.1.3)."""
        ack = Message(method="ACK", uri=invite.uri)
        ack.add("via", invite.get("via"))
        for route in invite.all("route"):
            ack.add("route", route)
        ack.add("max-forwards", "70")
        ack.add("from", invite.get("from"))
        ack.add("to", response.get("to"))
        ack.add("call-id", invite.call_id)
        ack.add("cseq", f"{invite.cseq[0]} ACK")
        return ack

    # --- dialogs ------------------------------------------------------------------------------
    def dialog_from_answer(self, invite: Message, answer: Message) -> Dialog:
        """The dialog a 2xx to our INVITE establishes."""
        route_set = [uri_of(r) for r in reversed(answer.all("record-route"))]
        target = uri_of(answer.get("contact")) or invite.uri
        hop = route_set[0] if route_set and ";lr" in route_set[0] else target
        return Dialog(call_id=invite.call_id, local=invite.get("from"), remote=answer.get("to"),
                      remote_target=target, route_set=route_set, cseq=invite.cseq[0], address=host_port(hop))

    def in_dialog(self, dialog: Dialog, method: str, *, cseq: int | None = None) -> Message:
        request = Message(method=method, uri=dialog.remote_target)
        request.add("max-forwards", "70")
        for route in dialog.route_set:
            request.add("route", f"<{route}>")
        request.add("from", dialog.local)
        request.add("to", dialog.remote)
        request.add("call-id", dialog.call_id)
        if cseq is None:
            dialog.cseq += 1
            cseq = dialog.cseq
        request.add("cseq", f"{cseq} {method}")
        return request

    def ack_2xx(self, dialog: Dialog, invite: Message, transaction: ClientTransaction) -> None:
        """ACK a 2xx (a new transaction, end to end), kept to answer the 2xx's retransmissions."""
        ack = self.in_dialog(dialog, "ACK", cseq=invite.cseq[0])
        ack.headers.insert(0, ("via", self.via(new_branch())))
        transaction.ack = ack.encode()
        transaction.address = dialog.address
        self.send(transaction.ack, dialog.address)

    # --- what arrives -------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr) -> None:
        if data.strip() == b"":  # keep-alive
            return
        try:
            message = parse(data)
        except (ParseError, ValueError, IndexError):
            log.info("unparseable SIP datagram from %s:%s", *addr)
            return
        if message.is_request:
            try:
                self.on_request(message, addr)
            except Exception:
                log.exception("SIP request %s from %s:%s failed", message.method, *addr)
        else:
            self._response(message)

    def reply(self, request: Message, reply: Message, addr: Address) -> None:
        """Send ``reply`` to where ``request``'s top Via says (with rport, the source address)."""
        via = request.get("via")
        target = addr
        if "rport" not in via and "received" not in via:
            sent_by = via.split()[1].split(";")[0] if len(via.split()) > 1 else ""
            if sent_by:
                target = host_port("sip:" + sent_by)
        self.send(reply, target)
