"""SIP trunks as rows: the operator's command, routes by prefix, failover on 5xx / no answer
(never on busy), against real Kamailio trunks and a baresip phone."""

from __future__ import annotations

import shutil

import pytest
from django.core.management import CommandError, call_command

from cpaas.carriers.clock import RealClock
from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.router import TrunkRouter
from cpaas.voice import conf
from cpaas.voice.models import Call, CallLeg, SipTrunk
from cpaas.voice.runtime import live_connector
from cpaas.voice.trunks import trunk_routes, trunk_save
from tests.support import kamailio, sipua
from tests.support.kamailio import kamailio_trunk
from tests.support.sipua import baresip_ua, wav_rms, write_tone
from tests.voice.test_engine_sip import (  # noqa: F401 (fixtures)
    NUMBER,
    PHONE,
    SPOKEN,
    VOICE_URL,
    caller,
    in_thread,
    live_number,
    place,
    run,
    serve,
    worker_port,
)

needs_peers = pytest.mark.skipif(
    bool(sipua.missing_binaries() + kamailio.missing_binaries()) or not shutil.which("espeak-ng"),
    reason="baresip, kamailio or espeak-ng not installed (make test installs them)")


def test_sip_trunk_saves_a_checked_trunk_with_its_password_sealed(db, capsys):
    call_command("sip_trunk", "carrier-a", "--config", '{"host": "sip.a.example", "username": "acme", '
                 '"password": "s3cret", "channels": 30}', "--prefix", "+1", "--prefix", "+44", "--priority", "10")
    out = capsys.readouterr().out
    assert "created trunk carrier-a: prefixes +1, +44, priority 10" in out and "password" in out
    row = SipTrunk.objects.get(pk="carrier-a")
    assert "password" not in row.config and "s3cret" not in row.credentials and row.credentials
    (route,) = trunk_routes()
    assert (route.config.password, route.config.channels, route.prefixes) == ("s3cret", 30, ("+1", "+44"))
    with pytest.raises(CommandError, match="codecs"):
        call_command("sip_trunk", "bad", "--config", '{"codecs": ["G729"]}')
    with pytest.raises(CommandError, match=r"E\.164 prefix"):
        call_command("sip_trunk", "bad", "--prefix", "44")
    assert not SipTrunk.objects.filter(pk="bad").exists()


def test_routes_prefer_the_longest_prefix_then_the_priority(db, monkeypatch):
    for name, prefixes, priority in [("any", [], 1), ("us", ["+1"], 50), ("dc", ["+1202"], 90), ("us2", ["+1"], 10)]:
        trunk_save(id=name, config={"host": f"{name}.example"}, prefixes=prefixes, priority=priority)
    monkeypatch.setattr(conf, "VOICE_LIVE_CONNECTOR", "sip")
    router = live_connector(RealClock(), inbound=False)
    assert isinstance(router, TrunkRouter)
    assert [r.name for r in router.candidates("+12025550123")] == ["dc", "us2", "us", "any"]
    assert [r.name for r in router.candidates("+442079460018")] == ["any"]


def router(*trunks: tuple[str, int, dict], listener: SipConfig | None = None) -> TrunkRouter:
    routes = [trunk_save(id=name, config={"host": "127.0.0.1", "port": port, "plus": False, **extra},
                         prefixes=["+1"], priority=priority)[0] for priority, (name, port, extra) in enumerate(trunks)]
    assert len(routes) == len(trunks)
    return TrunkRouter(clock=RealClock(), routes=trunk_routes(), listener=listener or SipConfig())


@pytest.mark.sip
@needs_peers
def test_with_trunk_rows_a_sip_address_is_dialled_through_the_edge_not_a_trunk(api, voice, tmp_path):
    with baresip_ua(tmp_path / "phone", name=PHONE[1:], play=write_tone(tmp_path / "a.wav", seconds=20)) as phone, \
            baresip_ua(tmp_path / "alice", name="alice", play=write_tone(tmp_path / "b.wav", seconds=20)) as alice, \
            kamailio_trunk(tmp_path / "good", target=f"127.0.0.1:{phone.sip_port}") as good:
        network = router(("good", good.port, {}), listener=SipConfig(edge=f"127.0.0.1:{alice.sip_port}"))
        call_id = place(api, '<Response><Dial timeLimit="2"><Sip>sip:alice@pbx.example.com</Sip></Dial></Response>')
        assert run(voice, network, call_id) == ["completed"]
        dial = CallLeg.objects.get(call_id=call_id, role="dial")
        assert (dial.status, dial.sip_code) == ("completed", 200)
        assert [trunk for _, trunk, _ in network.attempts] == ["good"]  # leg A only
        (heard,) = alice.received_audio()
        assert wav_rms(heard) > 0.02


@pytest.mark.sip
@needs_peers
def test_a_trunk_answering_503_fails_over_to_the_next(api, voice, tmp_path):
    with baresip_ua(tmp_path / "phone", name=PHONE[1:], play=write_tone(tmp_path / "t.wav", seconds=20)) as phone, \
            kamailio_trunk(tmp_path / "sick", target="127.0.0.1:9", reply_all=503) as sick, \
            kamailio_trunk(tmp_path / "good", target=f"127.0.0.1:{phone.sip_port}") as good:
        network = router(("sick", sick.port, {}), ("good", good.port, {}))
        call_id = place(api, f"<Response><Say>{SPOKEN}</Say></Response>")
        assert run(voice, network, call_id) == ["completed"]
        leg = CallLeg.objects.get(call_id=call_id)
        assert (leg.status, leg.sip_code) == ("completed", 200)
        assert [(trunk, code) for _, trunk, code in network.attempts] == [("sick", 503), ("good", 200)]
        (heard,) = phone.received_audio()
        assert wav_rms(heard) > 0.02


@pytest.mark.sip
@needs_peers
def test_an_unreachable_trunk_fails_over_and_a_busy_answer_does_not(api, voice, tmp_path):
    with baresip_ua(tmp_path / "phone", name=PHONE[1:]) as phone, \
            kamailio_trunk(tmp_path / "good", target=f"127.0.0.1:{phone.sip_port}") as good:
        dead = good.port + 1 if good.port < 65535 else 1
        network = router(("dead", dead, {"response_timeout": 1.0}), ("good", good.port, {}))
        answered = place(api, "<Response><Say>Hello</Say></Response>")
        busy = place(api, "<Response><Say>Hello</Say></Response>", to="+12025559486")
        assert sorted(run(voice, network, answered, busy)) == ["busy", "completed"]
        assert Call.objects.get(pk=answered).status == "completed"
        leg = CallLeg.objects.get(call_id=busy)
        assert (leg.status, leg.sip_code) == ("busy", 486)
        tried = sorted((leg_id == leg.id, trunk, code) for leg_id, trunk, code in network.attempts)
        # the busy call: dead (no answer: failover) then good (486: final, no third attempt)
        assert [(t, c) for own, t, c in tried if own] == [("dead", 408), ("good", 486)]


@pytest.mark.sip
@needs_peers
def test_with_trunk_rows_inbound_calls_arrive_at_the_worker_address(voice, live_number, caller, worker_port):  # noqa: F811
    voice.route(VOICE_URL, "<Response><Say>Welcome</Say></Response>")
    trunk_save(id="carrier", config={"host": "127.0.0.1", "port": 5999}, prefixes=[])
    network = TrunkRouter(clock=RealClock(), routes=trunk_routes(),
                          listener=SipConfig.parse({"listen_port": worker_port}))

    async def call_in():
        caller.dial(f"sip:{NUMBER[1:]}@{caller.trunk.address}")
        await in_thread(caller.wait_event, "CALL_CLOSED", 20)

    serve(voice, network, call_in)
    call = Call.objects.get()
    assert (call.direction, call.status) == ("inbound", "completed")
