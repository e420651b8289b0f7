"""The sandbox voice network on a virtual clock: magic numbers, scripted DTMF, real WAV recordings."""

from __future__ import annotations

import asyncio
import io
import time
import wave

import pytest

from cpaas.carriers.clock import RealClock, VirtualClock
from cpaas.carriers.sandbox.audio import tone_wav
from cpaas.carriers.sandbox.voice import LegScript, SandboxVoiceConnector, magic_script


def run(coro_fn):
    async def main():
        clock = VirtualClock()
        network = SandboxVoiceConnector(clock=clock)
        try:
            return await coro_fn(network, clock)
        finally:
            clock.close()

    return asyncio.run(main())


async def _noop(event):
    return None


@pytest.mark.parametrize("number, outcome, sip, seconds", [
    ("+15005550001", "busy", 486, 1), ("+15005550002", "no-answer", 487, 31), ("+15005550003", "failed", 404, 1),
    ("+15005551010", "in-progress", 200, 4), ("+15005553010", "in-progress", 200, 11),
    ("+15005553045", "no-answer", 487, 31), ("+12025550123", "in-progress", 200, 4),
])
def test_magic_numbers_give_their_outcome_at_their_time(number, outcome, sip, seconds):
    async def scenario(network, clock):
        ringing = []

        async def on_ringing(event):
            ringing.append(clock.elapsed)

        result = await network.originate(leg_id="leg_1", to=number, from_="+15005559000", timeout=30,
                                         on_ringing=on_ringing)
        return result, clock.elapsed, ringing

    result, elapsed, ringing = run(scenario)
    assert (result.status, result.sip_code, elapsed) == (outcome, sip, seconds)
    assert ringing == ([] if outcome in ("busy", "failed") else [1.0])


def test_an_answered_magic_number_hangs_up_after_its_seconds():
    async def scenario(network, clock):
        await network.originate(leg_id="leg_1", to="+15005551042", from_="+15005559000", timeout=30,
                                on_ringing=_noop)
        event = await network.wait_hangup("leg_1")
        return event, clock.elapsed

    event, elapsed = run(scenario)
    assert (event.cause, event.sip_code, elapsed) == ("normal_clearing", 200, 4 + 42)


def test_dtmf_magic_numbers_press_their_digits_then_hash():
    assert magic_script("+15005552417").digits == ["417#"]

    async def scenario(network, clock):
        await network.originate(leg_id="leg_1", to="+15005552417", from_="+15005559000", timeout=30,
                                on_ringing=_noop)
        one = await network.collect_digits("leg_1", max_digits=1, timeout=5, finish_key="#")
        all_ = await network.collect_digits("leg_1", max_digits=10, timeout=5, finish_key="#")
        return one, all_

    assert run(scenario) == ("4", "417")


def test_scripts_override_numbers_and_digits_advance_per_gather():
    async def scenario(network, clock):
        network.script("+12025550123", LegScript(digits=["1#", "22#"], ring_seconds=1))
        await network.originate(leg_id="leg_1", to="+12025550123", from_="+15005559000", timeout=30,
                                on_ringing=_noop)
        answered = clock.elapsed
        first = await network.collect_digits("leg_1", max_digits=5, timeout=5, finish_key="#")
        second = await network.collect_digits("leg_1", max_digits=5, timeout=5, finish_key="#")
        third = await network.collect_digits("leg_1", max_digits=5, timeout=5, finish_key="#")
        return answered, first, second, third

    assert run(scenario) == (2, "1", "22", "22")


def test_no_digits_waits_out_the_timeout():
    async def scenario(network, clock):
        await network.originate(leg_id="leg_1", to="+12025550123", from_="+15005559000", timeout=30,
                                on_ringing=_noop)
        start = clock.elapsed
        digits = await network.collect_digits("leg_1", max_digits=5, timeout=7, finish_key="#")
        return digits, clock.elapsed - start

    assert run(scenario) == ("", 7)


def test_recordings_are_real_wav_files():
    async def scenario(network, clock):
        await network.originate(leg_id="leg_1", to="+12025550123", from_="+15005559000", timeout=30,
                                on_ringing=_noop)
        return await network.record("leg_1", max_length=3, timeout=5, finish_key="#")

    audio = run(scenario)
    with wave.open(io.BytesIO(audio.wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8000, 24000)
    assert audio.duration_seconds == 3


def test_tone_wav_has_the_asked_length():
    with wave.open(io.BytesIO(tone_wav(2.25))) as w:
        assert w.getnframes() == 18000


def test_a_platform_hangup_ends_the_leg_and_cancels_its_scripted_hangup():
    async def scenario(network, clock):
        await network.originate(leg_id="leg_1", to="+15005551042", from_="+15005559000", timeout=30,
                                on_ringing=_noop)
        await clock.sleep(5)
        await network.hangup("leg_1")
        return (await network.wait_hangup("leg_1")).at, clock.now()

    ended, now = run(scenario)
    assert ended == now


def test_the_real_clock_can_run_faster_than_real_time():
    async def scenario():
        clock = RealClock(speed=1000)
        network = SandboxVoiceConnector(clock=clock)
        start, real = clock.now(), time.monotonic()
        outcome = await network.originate(leg_id="leg_1", to="+12025550123", from_="+15005559000", timeout=30,
                                          on_ringing=_noop)
        return (outcome.at - start).total_seconds(), time.monotonic() - real

    virtual, real = asyncio.run(scenario())
    assert 4 <= virtual < 5  # scripted: 1 s setup + 3 s ringing (plus a few real microseconds x 1000)
    assert real < 2  # 4 s of call setup, played out far faster than real time
