"""Sandbox voice: a simulated telephone network with magic numbers (docs/voice.md, "Sandbox numbers").

Destinations ``+1500555ABCD``:

=============  ===========================================================================
``0001``       busy (SIP 486)
``0002``       rings, never answers: no-answer when the ring time runs out (SIP 487)
``0003``       fails: unallocated number (SIP 404)
``1NNN``       answers after 3 s of ringing and hangs up NNN seconds after answering
``2DDD``       answers after 3 s and, at every Gather, presses the digits DDD then ``#``
``3NNN``       rings NNN seconds before answering (no-answer if NNN ≥ the ring timeout)
anything else  answers after 3 s of ringing and stays on the line until the platform hangs up
=============  ===========================================================================

Tests may also script any number with :meth:`SandboxVoiceConnector.script`. Timing follows the
connector's clock: real time, accelerated, or virtual.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cpaas.carriers.base import (
    ANSWERED,
    BUSY,
    FAILED,
    NO_ANSWER,
    LegEvent,
    OriginateOutcome,
    RecordedAudio,
    RingingCallback,
    VoiceConnector,
)
from cpaas.carriers.clock import Clock
from cpaas.carriers.sandbox.audio import SAMPLE_RATE, tone_wav
from cpaas.carriers.sandbox.config import SandboxConfig

MAGIC_PREFIX = "+1500555"
SETUP_SECONDS = 1.0  # INVITE → first ringing (or busy / failure)
DEFAULT_RING_SECONDS = 3.0
SECONDS_PER_DIGIT = 0.5
SPEECH_WORDS_PER_SECOND = 2.5
PLAY_SECONDS = 3.0


@dataclass
class LegScript:
    """How a number behaves. ``digits``: what is pressed at each Gather, in turn (the last repeats)."""

    outcome: str = "answer"  # answer | busy | no-answer | failed
    ring_seconds: float = DEFAULT_RING_SECONDS
    hangup_after: float | None = None  # seconds after answering; None: stays on the line
    digits: list[str] = field(default_factory=list)
    speak_seconds: float = 5.0  # how long the callee talks into a <Record>


def magic_script(number: str) -> LegScript:
    if not (number.startswith(MAGIC_PREFIX) and len(number) == 12 and number[-4:].isdigit()):
        return LegScript()
    code, rest = number[-4], number[-3:]
    if number[-4:] == "0001":
        return LegScript(outcome="busy")
    if number[-4:] == "0002":
        return LegScript(outcome="no-answer")
    if number[-4:] == "0003":
        return LegScript(outcome="failed")
    if code == "1" and int(rest) > 0:
        return LegScript(hangup_after=float(int(rest)))
    if code == "2":
        return LegScript(digits=[rest + "#"])
    if code == "3":
        return LegScript(ring_seconds=float(int(rest)))
    return LegScript()


@dataclass
class _Leg:
    leg_id: str
    to: str
    script: LegScript
    answered_at: datetime | None = None
    ended: asyncio.Future | None = None
    gathers: int = 0
    hangup_task: asyncio.Task | None = None


class SandboxVoiceConnector(VoiceConnector):
    kind = "sandbox"

    def __init__(self, *, clock: Clock, config: SandboxConfig | None = None) -> None:
        super().__init__(clock=clock, config=config or SandboxConfig())
        self._scripts: dict[str, LegScript] = {}
        self._legs: dict[str, _Leg] = {}
        self._recordings: dict[str, datetime] = {}
        self.bridges: list[tuple[str, str]] = []
        self.spoken: list[tuple[str, str]] = []  # (leg_id, text or url), for tests and the console
        self.originated = 0

    def script(self, number: str, script: LegScript) -> None:
        self._scripts[number] = script

    def _leg(self, leg_id: str) -> _Leg:
        return self._legs[leg_id]

    async def originate(self, *, leg_id: str, to: str, from_: str, timeout: int,
                        on_ringing: RingingCallback) -> OriginateOutcome:
        script = self._scripts.get(to) or magic_script(to)
        leg = _Leg(leg_id=leg_id, to=to, script=script, ended=asyncio.get_running_loop().create_future())
        self._legs[leg_id] = leg
        self.originated += 1
        # Events carry the scripted times (start + setup + ringing …), so CDRs are exact even
        # when an accelerated clock wakes us a little late.
        clock = self.clock
        start = clock.now()
        ringing_at = start + timedelta(seconds=SETUP_SECONDS)
        await clock.sleep_until(ringing_at)
        if script.outcome == "busy":
            self._end(leg, "user_busy", 486, ringing_at)
            return OriginateOutcome(BUSY, ringing_at, "user_busy", 486)
        if script.outcome == "failed":
            self._end(leg, "unallocated_number", 404, ringing_at)
            return OriginateOutcome(FAILED, ringing_at, "unallocated_number", 404)
        await on_ringing(LegEvent(leg_id, "ringing", ringing_at, sip_code=180))
        if script.outcome == "no-answer" or script.ring_seconds >= timeout:
            given_up = ringing_at + timedelta(seconds=timeout)
            await clock.sleep_until(given_up)
            self._end(leg, "no_answer", 487, given_up)
            return OriginateOutcome(NO_ANSWER, given_up, "no_answer", 487)
        leg.answered_at = ringing_at + timedelta(seconds=script.ring_seconds)
        await clock.sleep_until(leg.answered_at)
        if script.hangup_after is not None:
            leg.hangup_task = asyncio.get_running_loop().create_task(self._hang_up_later(leg))
        return OriginateOutcome(ANSWERED, leg.answered_at, "", 200)

    async def _hang_up_later(self, leg: _Leg) -> None:
        at = leg.answered_at + timedelta(seconds=leg.script.hangup_after)
        await self.clock.sleep_until(at)
        self._end(leg, "normal_clearing", 200, at)

    def _end(self, leg: _Leg, cause: str, sip_code: int | None, at: datetime | None = None) -> None:
        if leg.ended is not None and not leg.ended.done():
            leg.ended.set_result(LegEvent(leg.leg_id, "ended", at or self.clock.now(), cause, sip_code))

    async def wait_hangup(self, leg_id: str) -> LegEvent:
        return await asyncio.shield(self._leg(leg_id).ended)

    async def hangup(self, leg_id: str, *, cause: str = "normal_clearing") -> datetime:
        leg = self._legs.get(leg_id)
        if leg is not None:
            if leg.hangup_task is not None:
                leg.hangup_task.cancel()
            self._end(leg, cause, 200)
        return self.clock.now()

    async def say(self, leg_id: str, text: str, *, voice: str = "", language: str = "") -> None:
        self.spoken.append((leg_id, text))
        await self.clock.sleep(max(1.0, len(text.split()) / SPEECH_WORDS_PER_SECOND))

    async def play(self, leg_id: str, url: str) -> None:
        self.spoken.append((leg_id, url))
        await self.clock.sleep(PLAY_SECONDS)

    async def collect_digits(self, leg_id: str, *, max_digits: int, timeout: int, finish_key: str) -> str:
        leg = self._leg(leg_id)
        presses = leg.script.digits
        keys = presses[min(leg.gathers, len(presses) - 1)] if presses else ""
        leg.gathers += 1
        if not keys:
            await self.clock.sleep(timeout)
            return ""
        collected = ""
        for key in keys:
            await self.clock.sleep(SECONDS_PER_DIGIT)
            if finish_key and key == finish_key:
                return collected
            collected += key
            if len(collected) >= max_digits:
                return collected
        await self.clock.sleep(timeout)
        return collected

    async def record(self, leg_id: str, *, max_length: int, timeout: int, finish_key: str) -> RecordedAudio:
        leg = self._leg(leg_id)
        seconds = min(float(max_length), leg.script.speak_seconds)
        await self.clock.sleep(seconds)
        # The caller stops talking; the recording ends after `timeout` seconds of silence
        # (a finish key would end it at once: the sandbox caller never presses one here).
        await self.clock.sleep(min(float(timeout), max(0.0, max_length - seconds)))
        duration = round(seconds)
        return RecordedAudio(tone_wav(duration), duration, 1, SAMPLE_RATE)

    async def bridge(self, leg_a: str, leg_b: str) -> None:
        self.bridges.append((leg_a, leg_b))

    async def start_recording(self, key: str, leg_ids: list[str]) -> None:
        self._recordings[key] = self.clock.now()

    async def stop_recording(self, key: str) -> RecordedAudio | None:
        started = self._recordings.pop(key, None)
        if started is None:
            return None
        duration = max(0, round((self.clock.now() - started).total_seconds()))
        return RecordedAudio(tone_wav(duration), duration, 1, SAMPLE_RATE)

    def release(self, leg_id: str) -> None:
        """Drop a finished leg's state (the engine calls this when the call is over)."""
        leg = self._legs.pop(leg_id, None)
        if leg is not None and leg.hangup_task is not None:
            leg.hangup_task.cancel()

    async def close(self) -> None:
        for leg_id in list(self._legs):
            self.release(leg_id)
