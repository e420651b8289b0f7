"""Several SIP trunks as one voice connector: routes by destination prefix, failover on 5xx or no
answer at all (never after the far end answered, nor on busy / no-answer / 4xx), and one extra
connector on the SIP worker's address for inbound calls (decision 1103).

Every leg belongs to the trunk connector that placed (or took) it; the media verbs go there.
Bridging legs of two trunks works as within one: streams relay to each other on the same loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cpaas.carriers.base import FAILED, LegEvent, OriginateOutcome, RecordedAudio, RingingCallback, VoiceConnector
from cpaas.carriers.clock import Clock
from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.connector import SipVoiceConnector


@dataclass(frozen=True)
class TrunkRoute:
    name: str
    prefixes: tuple[str, ...]  # empty: every destination
    priority: int
    config: SipConfig


def fails_over(outcome: OriginateOutcome) -> bool:
    """A failure the next trunk may fix: the trunk's own trouble (5xx, or no answer at all)."""
    return outcome.status == FAILED and (outcome.cause in ("trunk_unreachable", "trunk_busy")
                                         or (outcome.sip_code or 0) >= 500)


class TrunkRouter(VoiceConnector):
    kind = "sip"

    def __init__(self, *, clock: Clock, routes: list[TrunkRoute], listener: SipConfig) -> None:
        self._handler = None
        self.listener = SipVoiceConnector(clock=clock, config=listener)
        super().__init__(clock=clock, config=listener)  # (sets ``inbound`` to None, below)
        self.routes = routes
        self.trunks = {route.name: SipVoiceConnector(clock=clock, config=route.config) for route in routes}
        self._owner: dict[str, SipVoiceConnector] = {}
        self.attempts: list[tuple[str, str, int | None]] = []  # (leg, trunk, sip code), for tests and logs

    # inbound calls arrive at the listener; the legs they create are its own
    @property
    def inbound(self):
        return self._handler

    @inbound.setter
    def inbound(self, handler) -> None:
        self._handler = handler
        if handler is None:
            self.listener.inbound = None
            return

        async def take(**offer):
            taken = await handler(**offer)
            if isinstance(taken, str):
                self._owner[taken] = self.listener
            return taken

        self.listener.inbound = take

    async def start(self) -> None:
        await self.listener.start()

    async def close(self) -> None:
        for connector in (*self.trunks.values(), self.listener):
            await connector.close()

    def candidates(self, to: str) -> list[TrunkRoute]:
        """The trunks serving ``to``: longest matching prefix first, then lowest priority."""
        matching = []
        for route in self.routes:
            longest = max((len(p) for p in route.prefixes if to.startswith(p)), default=-1)
            if not route.prefixes:
                longest = 0
            if longest >= 0:
                matching.append((-longest, route.priority, route))
        return [route for _, _, route in sorted(matching, key=lambda item: item[:2])]

    async def originate(self, *, leg_id: str, to: str, from_: str, timeout: int,
                        on_ringing: RingingCallback) -> OriginateOutcome:
        if to.startswith("sip:") and self.listener.config.edge:
            # A SIP address (a registered phone) goes to the SIP edge, signed (decision 1140), never to a trunk.
            self._owner[leg_id] = self.listener
            return await self.listener.originate(leg_id=leg_id, to=to, from_=from_, timeout=timeout,
                                                 on_ringing=on_ringing)
        outcome = OriginateOutcome(FAILED, self.clock.now(), "no_route", None)
        for route in self.candidates(to):
            connector = self.trunks[route.name]
            self._owner[leg_id] = connector
            outcome = await connector.originate(leg_id=leg_id, to=to, from_=from_, timeout=timeout,
                                                on_ringing=on_ringing)
            self.attempts.append((leg_id, route.name, outcome.sip_code))
            if not fails_over(outcome):
                return outcome
            connector.release(leg_id)
        return outcome

    def _of(self, leg_id: str) -> SipVoiceConnector:
        return self._owner[leg_id]

    def release(self, leg_id: str) -> None:
        connector = self._owner.pop(leg_id, None)
        if connector is not None:
            connector.release(leg_id)

    async def answer(self, leg_id: str) -> datetime:
        return await self._of(leg_id).answer(leg_id)

    async def wait_hangup(self, leg_id: str) -> LegEvent:
        return await self._of(leg_id).wait_hangup(leg_id)

    async def hangup(self, leg_id: str, *, cause: str = "normal_clearing") -> datetime:
        connector = self._owner.get(leg_id)
        return await connector.hangup(leg_id, cause=cause) if connector else self.clock.now()

    async def say(self, leg_id: str, text: str, *, voice: str = "", language: str = "") -> None:
        await self._of(leg_id).say(leg_id, text, voice=voice, language=language)

    async def play(self, leg_id: str, url: str) -> None:
        await self._of(leg_id).play(leg_id, url)

    async def collect_digits(self, leg_id: str, *, max_digits: int, timeout: int, finish_key: str) -> str:
        return await self._of(leg_id).collect_digits(leg_id, max_digits=max_digits, timeout=timeout,
                                                     finish_key=finish_key)

    async def record(self, leg_id: str, *, max_length: int, timeout: int, finish_key: str) -> RecordedAudio:
        return await self._of(leg_id).record(leg_id, max_length=max_length, timeout=timeout, finish_key=finish_key)

    async def bridge(self, leg_a: str, leg_b: str) -> None:
        a, b = self._of(leg_a)._leg(leg_a).stream, self._of(leg_b)._leg(leg_b).stream
        a.stop_playing()
        b.stop_playing()
        a.peer, b.peer = b, a

    async def start_recording(self, key: str, leg_ids: list[str]) -> None:
        await self._of(leg_ids[0]).start_recording(key, leg_ids[:1])
        self._owner[f"recording:{key}"] = self._of(leg_ids[0])

    async def stop_recording(self, key: str) -> RecordedAudio | None:
        connector = self._owner.pop(f"recording:{key}", None)
        return await connector.stop_recording(key) if connector else None
