"""The SIP voice connector: each leg is an INVITE through the trunk, its media RTP that this
worker terminates (cpaas/carriers/sip/media.py). A back-to-back user agent: the platform owns every
leg's dialog; bridging two legs relays their RTP.

SIP final responses map to the engine's outcomes (``OUTCOMES``); the code is kept as the leg's
``sip_code``. A trunk that answers nothing within ``response_timeout`` fails the leg with 408 and
the cause ``trunk_unreachable``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import wave
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from cpaas.carriers.base import (
    ANSWERED,
    BUSY,
    FAILED,
    NO_ANSWER,
    LegEvent,
    MediaError,
    OriginateOutcome,
    RecordedAudio,
    RingingCallback,
    VoiceConnector,
)
from cpaas.carriers.clock import Clock
from cpaas.carriers.sip import digest, sdp, trust, tts
from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.g711 import RATE
from cpaas.carriers.sip.media import MediaTicker, RtpStream, Tap, frames_of
from cpaas.carriers.sip.message import Message, host_port, new_tag, response, uri_of, user_of
from cpaas.carriers.sip.ua import Address, ClientTransaction, Dialog, SipEndpoint, TransactionTimeout
from cpaas.core.egress import client as egress
from cpaas.core.egress import ssrf

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"

# SIP final response → (outcome, hangup cause).
OUTCOMES: dict[int, tuple[str, str]] = {
    486: (BUSY, "user_busy"), 600: (BUSY, "user_busy"), 603: (BUSY, "call_rejected"),
    408: (NO_ANSWER, "no_answer"), 480: (NO_ANSWER, "no_answer"), 487: (NO_ANSWER, "no_answer"),
    404: (FAILED, "unallocated_number"), 604: (FAILED, "unallocated_number"),
    484: (FAILED, "invalid_number_format"), 403: (FAILED, "call_rejected"),
    488: (FAILED, "incompatible_destination"), 503: (FAILED, "service_unavailable"),
}


def outcome_of(code: int) -> tuple[str, str]:
    return OUTCOMES.get(code) or (FAILED, "network_error" if code >= 500 else "call_rejected")


@dataclass
class SipLeg:
    leg_id: str
    stream: RtpStream
    invite: Message | None = None   # ours (outbound) or the caller's (inbound)
    dialog: Dialog | None = None
    ended: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # Inbound legs: where the INVITE came from, our To tag, the caller's stream, the last response.
    source: Address | None = None
    local_tag: str = ""
    offer: sdp.Media | None = None
    last_response: Message | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def inbound(self) -> bool:
        return self.source is not None


class SipVoiceConnector(VoiceConnector):
    kind = "sip"

    def __init__(self, *, clock: Clock, config: SipConfig | None = None) -> None:
        super().__init__(clock=clock, config=config or SipConfig())
        self.config: SipConfig
        self.endpoint: SipEndpoint | None = None
        self.ticker: MediaTicker | None = None
        self._legs: dict[str, SipLeg] = {}
        self._by_call_id: dict[str, SipLeg] = {}
        self._recordings: dict[str, tuple[list[RtpStream], Tap]] = {}
        self._starting: asyncio.Lock | None = None
        self._sent_at: list[float] = []  # INVITE times of the last second, for calls_per_second
        self._cleanup: set[asyncio.Task] = set()  # CANCELs still running after the engine moved on
        self._http: egress.Pool | None = None  # Play fetches, through the one egress
        self._audio_cache: OrderedDict[str, bytes] = OrderedDict()  # URL → samples (hold music repeats)

    # --- life -----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.endpoint is not None:
                return
            config = self.config
            self.endpoint = await SipEndpoint.listen(config.listen_host, config.listen_port, self._on_request)
            self.ticker = MediaTicker(asyncio.get_running_loop())
            log.info("SIP worker listening on %s:%s, trunk %s:%s", self.endpoint.host, self.endpoint.port,
                     config.host, config.port)

    async def close(self) -> None:
        for leg_id in list(self._legs):
            await self.hangup(leg_id, cause="shutdown")
        if self.ticker is not None:
            await self.ticker.close()
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
        if self._http is not None:
            self._http.close()
            self._http = None
        self._starting = None

    @property
    def active_legs(self) -> int:
        return len(self._legs)

    def release(self, leg_id: str) -> None:
        leg = self._legs.pop(leg_id, None)
        if leg is not None:
            leg.stream.close()
            if leg.invite is not None:
                self._by_call_id.pop(leg.invite.call_id, None)

    def _leg(self, leg_id: str) -> SipLeg:
        return self._legs[leg_id]

    # --- placing a leg --------------------------------------------------------------------------
    def _uri_user(self, number: str) -> str:
        return number if self.config.plus or not number.startswith("+") else number[1:]

    def _invite(self, leg: SipLeg, to: str, from_: str) -> Message:
        config, endpoint = self.config, self.endpoint
        domain = config.from_domain or config.host
        # A sip: address (<Dial><Sip>) is dialled as it is, through the SIP edge when there is one.
        target = to if to.startswith("sip:") else f"sip:{self._uri_user(to)}@{config.host}:{config.port}"
        caller = f"sip:{self._uri_user(from_)}@{domain}"
        invite = Message(method="INVITE", uri=target)
        invite.add("max-forwards", "70")
        shown = caller if config.caller_id in ("from", "both") else f"sip:anonymous@{domain}"
        invite.add("from", f"<{shown}>;tag={new_tag()}")
        invite.add("to", f"<{target}>")
        invite.add("call-id", f"{leg.leg_id}-{new_tag()}@{endpoint.host}")
        invite.add("cseq", "1 INVITE")
        invite.add("contact", endpoint.contact)
        if config.caller_id in ("pai", "both"):
            invite.add("p-asserted-identity", f"<{caller}>")
        invite.add("allow", ALLOW)
        invite.add("user-agent", "cpaas")
        if to.startswith("sip:") and config.edge and config.edge_secret:
            invite.add(trust.HEADER, trust.trust_token(config.edge_secret, invite.call_id))
        invite.add("content-type", "application/sdp")
        invite.body = sdp.offer(config.rtp_host, leg.stream.port, config.payload_types)
        return invite

    def _over_limits(self) -> str:
        config = self.config
        if config.channels and self.active_legs >= config.channels:
            return "trunk_busy"
        if config.calls_per_second:
            now = time.monotonic()
            self._sent_at = [t for t in self._sent_at if now - t < 1.0]
            if len(self._sent_at) >= config.calls_per_second:
                return "trunk_busy"
            self._sent_at.append(now)
        return ""

    async def originate(self, *, leg_id: str, to: str, from_: str, timeout: int,
                        on_ringing: RingingCallback) -> OriginateOutcome:
        await self.start()
        if problem := self._over_limits():
            return OriginateOutcome(FAILED, self.clock.now(), problem, 503)
        stream = await self.ticker.open(self.config.rtp_host)
        leg = SipLeg(leg_id=leg_id, stream=stream)
        self._legs[leg_id] = leg
        invite = self._invite(leg, to, from_)
        leg.invite = invite
        self._by_call_id[invite.call_id] = leg
        address = self._next_hop(to)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + timeout
        transaction = self.endpoint.request(invite, address, timeout=self.config.response_timeout)
        authenticated, rang = False, False
        try:
            while True:
                try:
                    async with asyncio.timeout_at(give_up_at):
                        answer = await transaction.responses.get()
                except TimeoutError:
                    return await self._cancel_ringing(leg, transaction)
                if isinstance(answer, TransactionTimeout):
                    self.endpoint.forget(transaction)
                    return self._failed(leg, FAILED, "trunk_unreachable", 408)
                status = answer.status
                if status < 200:
                    if status in (180, 183) and not rang:
                        rang = True
                        await on_ringing(LegEvent(leg_id, "ringing", self.clock.now(), sip_code=status))
                    if answer.body:
                        self._early_media(leg, answer)
                    continue
                if status in (401, 407) and not authenticated and self.config.username:
                    authenticated = True
                    self.endpoint.forget(transaction, after=T_FORGET)
                    invite = self._authenticated(invite, answer)
                    leg.invite = invite
                    transaction = self.endpoint.request(invite, address, timeout=self.config.response_timeout)
                    continue
                if status < 300:
                    return await self._answered(leg, invite, transaction, answer)
                self.endpoint.forget(transaction, after=T_FORGET)
                outcome, cause = outcome_of(status)
                return self._failed(leg, outcome, cause, status)
        except asyncio.CancelledError:
            # The engine gave up on the leg (API hang-up, caller gone): CANCEL, and BYE a 2xx that crosses it.
            task = loop.create_task(self._cancel_ringing(leg, transaction))
            self._cleanup.add(task)
            task.add_done_callback(self._cleanup.discard)
            raise

    def _next_hop(self, to: str) -> Address:
        config = self.config
        if to.startswith("sip:") and config.edge:
            host, _, port = config.edge.rpartition(":")
            return host, int(port)
        return config.host, config.port  # never a host a tenant's document names

    def _failed(self, leg: SipLeg, status: str, cause: str, code: int) -> OriginateOutcome:
        if not leg.ended.done():
            leg.ended.set_result(LegEvent(leg.leg_id, "ended", self.clock.now(), cause, code))
        return OriginateOutcome(status, self.clock.now(), cause, code)

    def _authenticated(self, invite: Message, challenge: Message) -> Message:
        """The INVITE again, with credentials for the challenge, CSeq + 1 (RFC 3261 §22.2)."""
        header = "www-authenticate" if challenge.status == 401 else "proxy-authenticate"
        answer = "authorization" if challenge.status == 401 else "proxy-authorization"
        value = digest.authorization(digest.parse_challenge(challenge.get(header)), method="INVITE", uri=invite.uri,
                                     username=self.config.username, password=self.config.password)
        again = Message(method="INVITE", uri=invite.uri, headers=list(invite.headers), body=invite.body)
        again.set("cseq", f"{invite.cseq[0] + 1} INVITE")
        again.set(answer, value)
        return again

    def _early_media(self, leg: SipLeg, message: Message) -> None:
        try:
            leg.stream.remote = sdp.parse(message.body, self.config.payload_types)
        except sdp.SdpError:
            log.info("leg %s: unusable SDP in %s", leg.leg_id, message.status)

    async def _answered(self, leg: SipLeg, invite: Message, transaction: ClientTransaction,
                        answer: Message) -> OriginateOutcome:
        dialog = self.endpoint.dialog_from_answer(invite, answer)
        leg.dialog = dialog
        self.endpoint.ack_2xx(dialog, invite, transaction)
        self.endpoint.forget(transaction, after=T_FORGET)
        try:
            leg.stream.remote = sdp.parse(answer.body, self.config.payload_types)
        except sdp.SdpError as exc:
            log.warning("leg %s answered without a usable stream: %s", leg.leg_id, exc)
            await self._bye(leg)
            return self._failed(leg, FAILED, "incompatible_destination", 488)
        return OriginateOutcome(ANSWERED, self.clock.now(), "", answer.status)

    async def _cancel_ringing(self, leg: SipLeg, transaction: ClientTransaction) -> OriginateOutcome:
        """Ring timeout (or the engine cancelled): CANCEL once the far end has sent a provisional
        response; a 2xx that crosses the CANCEL is ACKed and hung up at once."""
        invite = transaction.request
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.response_timeout
        while not transaction.provisional and transaction.final is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if transaction.final is None and transaction.provisional:
            cancel = Message(method="CANCEL", uri=invite.uri)
            cancel.add("via", invite.get("via"))
            cancel.add("max-forwards", "70")
            for name in ("from", "to", "call-id"):
                cancel.add(name, invite.get(name))
            cancel.add("cseq", f"{invite.cseq[0]} CANCEL")
            self.endpoint.send(cancel, transaction.address)
        final = transaction.final
        while final is None and loop.time() < deadline + 4:
            try:
                async with asyncio.timeout(1):
                    item = await transaction.responses.get()
            except TimeoutError:
                continue
            if isinstance(item, TransactionTimeout):
                break
            if item.status >= 200:
                final = item
        if final is not None and final.status < 300:
            leg.dialog = self.endpoint.dialog_from_answer(invite, final)
            self.endpoint.ack_2xx(leg.dialog, invite, transaction)
            await self._bye(leg)
        self.endpoint.forget(transaction, after=T_FORGET)
        return self._failed(leg, NO_ANSWER, "no_answer", 487)

    # --- ending ---------------------------------------------------------------------------------
    async def _bye(self, leg: SipLeg) -> None:
        dialog = leg.dialog
        if dialog is None:
            return
        leg.dialog = None
        leg.stream.stop_playing()
        bye = self.endpoint.in_dialog(dialog, "BYE")
        transaction = self.endpoint.request(bye, dialog.address, timeout=4.0)
        try:
            async with asyncio.timeout(4.5):
                while True:
                    item = await transaction.responses.get()
                    if isinstance(item, TransactionTimeout) or item.status >= 200:
                        break
        except TimeoutError:
            pass
        self.endpoint.forget(transaction)

    async def wait_hangup(self, leg_id: str) -> LegEvent:
        return await asyncio.shield(self._leg(leg_id).ended)

    async def hangup(self, leg_id: str, *, cause: str = "normal_clearing") -> datetime:
        leg = self._legs.get(leg_id)
        if leg is not None and not leg.ended.done():
            leg.ended.set_result(LegEvent(leg_id, "ended", self.clock.now(), cause, 200))
            if leg.inbound and leg.dialog is None:  # still ringing: refuse it
                leg.last_response = response(leg.invite, 480, to_tag=leg.local_tag)
                self.endpoint.reply(leg.invite, leg.last_response, leg.source)
            await self._bye(leg)
            leg.stream.close()
        return self.clock.now()

    def _on_request(self, request: Message, addr: Address) -> None:
        endpoint = self.endpoint
        method = request.method
        leg = self._by_call_id.get(request.call_id)
        if method == "ACK":
            if leg is not None:
                leg.acked.set()
            return
        if method == "CANCEL":
            self._cancelled(request, addr, leg)
            return
        if method == "INVITE" and leg is None:
            task = asyncio.get_running_loop().create_task(self._incoming(request, addr))
            self._cleanup.add(task)
            task.add_done_callback(self._cleanup.discard)
            return
        if method == "INVITE" and leg is not None and (leg.dialog is None or request.branch == leg.invite.branch):
            # The caller's INVITE again (it has not seen our answer yet): the same response again.
            if leg.last_response is not None:
                endpoint.reply(request, leg.last_response, addr)
            return
        if method == "BYE":
            if leg is None:
                endpoint.reply(request, response(request, 481), addr)
                return
            endpoint.reply(request, response(request, 200), addr)
            leg.dialog = None
            leg.stream.stop_playing()
            if not leg.ended.done():
                leg.ended.set_result(LegEvent(leg.leg_id, "ended", self.clock.now(), "normal_clearing", 200))
            return
        if method == "INFO" and leg is not None:  # DTMF as SIP INFO (application/dtmf-relay or dtmf)
            digit = _info_digit(request)
            if digit:
                leg.stream.digits.put_nowait(digit)
            endpoint.reply(request, response(request, 200), addr)
            return
        if method == "OPTIONS":
            endpoint.reply(request, response(request, 200, extra=[("allow", ALLOW)]), addr)
            return
        if method == "INVITE" and leg is not None and leg.dialog is not None:  # a re-INVITE: same stream
            answer = sdp.offer(self.config.rtp_host, leg.stream.port, (leg.stream.payload_type,))
            endpoint.reply(request, response(request, 200, body=answer, extra=[
                ("contact", endpoint.contact), ("content-type", "application/sdp")]), addr)
            return
        endpoint.reply(request, response(request, 501 if method not in ("INVITE", "CANCEL") else 481), addr)

    # --- inbound --------------------------------------------------------------------------------
    def _number(self, user: str) -> str:
        """A URI's user part as E.164 (trunks often drop the +)."""
        digits = user.split(";")[0]
        return digits if digits.startswith("+") else f"+{digits}"

    def _from_endpoint(self, invite: Message, addr: Address) -> dict:
        """``{"endpoint": {id, app, mode}}`` when the SIP edge relays a registered phone's call (its
        ``X-Cpaas-*`` headers, believed only from the edge's own address), else nothing."""
        if not self.config.edge or not invite.get("x-cpaas-endpoint"):
            return {}
        host, _, port = self.config.edge.rpartition(":")
        host = host.strip("[]")
        if host in ("0.0.0.0", "::"):  # an edge listening on every address sends to us over loopback  # noqa: S104
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"  # noqa: S104
        if (addr[0], addr[1]) != (host, int(port)):
            log.warning("X-Cpaas-Endpoint from %s:%s, not the edge: ignored", *addr)
            return {}
        return {"endpoint": {"id": invite.get("x-cpaas-endpoint"), "app": invite.get("x-cpaas-app"),
                             "mode": invite.get("x-cpaas-mode")}}

    async def _incoming(self, invite: Message, addr: Address) -> None:
        """An INVITE from the network: 100 at once; 488 when no codec of ours is offered; then the
        engine decides (``self.inbound``): a refusal's code, or 180 and a leg the engine answers."""
        endpoint = self.endpoint
        endpoint.reply(invite, response(invite, 100), addr)
        try:
            offer = sdp.parse(invite.body, self.config.payload_types)
        except sdp.SdpError as exc:
            log.info("inbound call %s refused: %s", invite.call_id, exc)
            endpoint.reply(invite, response(invite, 488, to_tag=new_tag()), addr)
            return
        if self.inbound is None:
            endpoint.reply(invite, response(invite, 404, to_tag=new_tag()), addr)
            return
        stream = await self.ticker.open(self.config.rtp_host)
        try:
            taken = await self.inbound(to=self._number(user_of(invite.uri)),
                                       from_=self._number(user_of(uri_of(invite.get("from")))),
                                       **self._from_endpoint(invite, addr))
        except Exception:
            log.exception("inbound call %s could not be taken", invite.call_id)
            taken = None
        if not isinstance(taken, str):
            stream.close()
            endpoint.reply(invite, response(invite, getattr(taken, "sip_code", 500), to_tag=new_tag()), addr)
            return
        leg = SipLeg(leg_id=taken, stream=stream, invite=invite, source=addr, local_tag=new_tag(), offer=offer)
        self._legs[taken] = leg
        self._by_call_id[invite.call_id] = leg
        leg.last_response = response(invite, 180, to_tag=leg.local_tag, extra=[("contact", endpoint.contact)])
        endpoint.reply(invite, leg.last_response, addr)

    async def answer(self, leg_id: str) -> datetime:
        """200 OK with our SDP (retransmitted until the caller ACKs it); media flows at once."""
        leg = self._leg(leg_id)
        if leg.ended.done():
            return self.clock.now()
        invite, endpoint = leg.invite, self.endpoint
        body = sdp.offer(self.config.rtp_host, leg.stream.port, (leg.offer.payload_type,))
        ok = response(invite, 200, to_tag=leg.local_tag, body=body,
                      extra=[("contact", endpoint.contact), ("content-type", "application/sdp")])
        leg.last_response = ok
        route_set = [uri_of(r) for r in invite.all("record-route")]
        target = uri_of(invite.get("contact")) or f"sip:{leg.source[0]}:{leg.source[1]}"
        hop = route_set[0] if route_set and ";lr" in route_set[0] else target
        leg.dialog = Dialog(call_id=invite.call_id, local=ok.get("to"), remote=invite.get("from"),
                            remote_target=target, route_set=route_set, cseq=1, address=host_port(hop))
        leg.stream.remote = leg.offer
        endpoint.reply(invite, ok, leg.source)
        task = asyncio.get_running_loop().create_task(self._until_acked(leg, ok))
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)
        return self.clock.now()

    async def _until_acked(self, leg: SipLeg, ok: Message) -> None:
        """Resend the 200 until its ACK (RFC 3261 §13.3.1.4); no ACK in 32 s ends the call."""
        interval, waited = 0.5, 0.0
        while waited < 32:
            try:
                async with asyncio.timeout(interval):
                    await leg.acked.wait()
                return
            except TimeoutError:
                waited += interval
                interval = min(interval * 2, 4.0)
                if leg.dialog is None:
                    return
                self.endpoint.reply(leg.invite, ok, leg.source)
        log.warning("leg %s: no ACK for our 200; hanging up", leg.leg_id)
        await self.hangup(leg.leg_id, cause="no_ack")

    def _cancelled(self, cancel: Message, addr: Address, leg: SipLeg | None) -> None:
        endpoint = self.endpoint
        if leg is None or not leg.inbound:
            endpoint.reply(cancel, response(cancel, 481), addr)
            return
        endpoint.reply(cancel, response(cancel, 200, to_tag=leg.local_tag), addr)
        if leg.dialog is None and not leg.ended.done():  # not answered yet: the INVITE ends with 487
            leg.last_response = response(leg.invite, 487, to_tag=leg.local_tag)
            endpoint.reply(leg.invite, leg.last_response, leg.source)
            leg.ended.set_result(LegEvent(leg.leg_id, "ended", self.clock.now(), "originator_cancel", 487))

    # --- media ----------------------------------------------------------------------------------
    async def _play_pcm(self, leg_id: str, pcm: bytes) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.ended.done() or leg.stream.remote is None:
            return
        done = leg.stream.play(frames_of(pcm, leg.stream.payload_type))
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            leg.stream.stop_playing()
            if not done.cancelled():
                raise
            if asyncio.current_task().cancelling():
                raise

    async def say(self, leg_id: str, text: str, *, voice: str = "", language: str = "") -> None:
        await self._play_pcm(leg_id, await tts.render(text, voice=voice, language=language))

    async def play(self, leg_id: str, url: str) -> None:
        await self._play_pcm(leg_id, await self._fetch_audio(url))

    async def _fetch_audio(self, url: str) -> bytes:
        """The audio at ``url`` (WAV or MP3) as 8 kHz samples, fetched through the egress (a GET,
        SSRF-guarded, capped at ``max_play_bytes``), converted by sox, kept for repeats."""
        if url in self._audio_cache:
            self._audio_cache.move_to_end(url)
            return self._audio_cache[url]
        if self._http is None:
            self._http = egress.Pool()
        limit = self.config.max_play_bytes
        try:
            async with asyncio.timeout(self.config.play_timeout):
                reply = await self._http.get(url, {"accept": "audio/wav, audio/mpeg"}, max_body=limit + 1)
        except ssrf.BlockedAddress as exc:
            raise MediaError(str(exc), code="url_not_allowed") from None
        except TimeoutError:
            raise MediaError(f"no answer within {self.config.play_timeout:g} s", code="play_fetch_failed") from None
        except egress.HttpError as exc:
            raise MediaError(f"{type(exc).__name__}: {exc}", code="play_fetch_failed") from None
        if reply.status != 200:
            raise MediaError(f"the URL answered HTTP {reply.status}", code="play_fetch_failed")
        if reply.truncated or len(reply.body) > limit:
            raise MediaError(f"the audio is larger than {limit} bytes", code="play_too_large")
        body = bytes(reply.body)
        kind = audio_kind(reply.headers.get("content-type", ""), body)
        if kind is None:
            raise MediaError(f"not WAV or MP3 audio (Content-Type {reply.headers.get('content-type', 'none')!r})",
                             code="play_not_audio")
        try:
            pcm = await tts.to_pcm(body, kind)
        except tts.TtsError:
            raise MediaError(f"the {kind.upper()} audio could not be decoded", code="play_not_audio") from None
        self._audio_cache[url] = pcm
        while len(self._audio_cache) > 16:
            self._audio_cache.popitem(last=False)
        return pcm

    async def collect_digits(self, leg_id: str, *, max_digits: int, timeout: int, finish_key: str) -> str:
        leg = self._leg(leg_id)
        collected = ""
        while len(collected) < max_digits:
            try:
                async with asyncio.timeout(timeout):
                    key = await leg.stream.digits.get()
            except TimeoutError:
                break
            if finish_key and key == finish_key:
                break
            collected += key
        return collected

    async def record(self, leg_id: str, *, max_length: int, timeout: int, finish_key: str) -> RecordedAudio:
        leg = self._leg(leg_id)
        tap = Tap()
        loop = asyncio.get_running_loop()
        started = tap.last_speech = loop.time()
        leg.stream.taps.append(tap)
        try:
            while not leg.ended.done():
                now = loop.time()
                if now - started >= max_length or now - tap.last_speech >= timeout:
                    break
                if finish_key and _take_key(leg.stream.digits, finish_key):
                    break
                await asyncio.sleep(0.05)
        finally:
            leg.stream.taps.remove(tap)
        return _audio(tap.heard)

    async def bridge(self, leg_a: str, leg_b: str) -> None:
        a, b = self._leg(leg_a).stream, self._leg(leg_b).stream
        a.stop_playing()
        b.stop_playing()
        a.peer, b.peer = b, a

    async def start_recording(self, key: str, leg_ids: list[str]) -> None:
        streams = [self._legs[leg_id].stream for leg_id in leg_ids if leg_id in self._legs]
        tap = Tap()
        # One track of the call: what the first leg hears and what it is sent (which, bridged, is the other leg).
        if streams:
            streams[0].taps.append(tap)
        self._recordings[key] = (streams[:1], tap)

    async def stop_recording(self, key: str) -> RecordedAudio | None:
        entry = self._recordings.pop(key, None)
        if entry is None:
            return None
        streams, tap = entry
        for stream in streams:
            if tap in stream.taps:
                stream.taps.remove(tap)
        return _audio(tap.mixed())


T_FORGET = 32 * 0.5  # keep finished INVITE transactions this long to re-ACK retransmitted finals


def audio_kind(content_type: str, body: bytes) -> str | None:
    """The audio's kind, ``wav`` or ``mp3``, by its bytes (a server's Content-Type is often
    generic); None when it is neither."""
    if body[:4] == b"RIFF" and body[8:12] == b"WAVE":
        return "wav"
    if body[:3] == b"ID3" or (len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0):
        return "mp3" if not content_type.startswith(("text/", "application/json")) else None
    return None


def _info_digit(request: Message) -> str:
    """The key of a SIP INFO DTMF body: ``Signal=5`` (application/dtmf-relay) or ``5`` (application/dtmf)."""
    kind = request.get("content-type").lower()
    text = request.body.decode("ascii", "replace")
    if kind.startswith("application/dtmf-relay"):
        signal = next((line.split("=", 1)[1].strip() for line in text.splitlines()
                       if line.lower().startswith("signal=")), "")
    elif kind.startswith("application/dtmf"):
        signal = text.strip()
    else:
        return ""
    return signal.upper() if len(signal) == 1 and signal.upper() in "0123456789*#ABCD" else ""


def _take_key(digits: asyncio.Queue, key: str) -> bool:
    """Whether ``key`` was pressed (the other digits pressed meanwhile are dropped: Record ignores them)."""
    found = False
    while not digits.empty():
        found = digits.get_nowait() == key or found
    return found


def _audio(samples) -> RecordedAudio:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return RecordedAudio(buffer.getvalue(), round(len(samples) / RATE), 1, RATE)
