"""The ordering core without sockets: the hub's reorder and the session's cursor/gap logic."""

import asyncio
import json

from cpaas.im.gateway import db as gateway_db
from cpaas.im.gateway.hub import Hub

from .fakes import synced_session


class FakeSession:
    def __init__(self):
        self.got = []
        self.app_id, self.user_id = "app_1", "bob"

    def on_msg(self, conv, seq, frame, wire=None):
        self.got.append(seq)


def _event(seq):
    return json.dumps({"k": "msg", "app": "app_1", "conv": "cnv_1", "seq": seq, "to": ["bob"], "frame": "{}"})


def test_the_hub_puts_overtaken_bus_events_back_in_order_and_releases_a_lost_one():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        session = FakeSession()
        hub.users[("app_1", "bob")].add(session)
        for seq in (1, 3, 4, 2, 2, 6):
            hub.dispatch(_event(seq))
        assert session.got == [1, 2, 3, 4, 2]  # 6 waits for 5; the repeated 2 passes (sessions drop it)
        await asyncio.sleep(0.1)  # 5 never comes: 6 is released; the session reads 5 from the database
        assert session.got == [1, 2, 3, 4, 2, 6]

    asyncio.run(scenario())


def test_a_session_pushes_in_order_drops_duplicates_and_fills_gaps_from_the_database(monkeypatch):
    rows = {n: f'{{"seq":{n}}}' for n in range(1, 10)}

    async def fake_run(fn, *args):
        if fn is gateway_db.gap:
            _conv, after, upto = args
            return [(n, rows[n]) for n in range(after + 1, upto + 1)]
        raise AssertionError(fn)

    monkeypatch.setattr(gateway_db, "run", fake_run)

    async def scenario():
        session = synced_session()
        for seq in (1, 1, 2, 5, 3, 4, 6):
            session.on_msg("cnv_1", seq, rows[seq])
        await asyncio.sleep(0.05)
        assert [json.loads(f)["seq"] for f in session.out] == [1, 2, 3, 4, 5, 6]
        assert session.cursors["cnv_1"] == 6

    asyncio.run(scenario())
