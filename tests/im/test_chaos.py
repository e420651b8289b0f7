"""Exactly-once, in-order delivery across dropped connections and a gateway restart, with two
real gateway processes sharing Redis. Scaled for the suite; IM_CHAOS_CLIENTS / IM_CHAOS_MESSAGES
(or ``bench/im.py --chaos``) run it at full size (50 clients, 20,000 messages)."""

import asyncio
import os
import random

import pytest
from django.conf import settings
from django.db import connection

from cpaas.im import services
from cpaas.im.models import Message
from tests.im.chaos import chaos_run
from tests.im.processes import GatewayProcess

CLIENTS = int(os.environ.get("IM_CHAOS_CLIENTS", "12"))
MESSAGES = int(os.environ.get("IM_CHAOS_MESSAGES", "1000"))


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def two_gateways(transactional_db):
    env = {"IM_CONNECTION_SEND_RATE": "10000", "IM_CONNECTION_SEND_BURST": "10000"}
    gateways = [GatewayProcess(_database_url(), settings.REDIS_URL, env) for _ in range(2)]
    for gw in gateways:
        gw.launch()
    for gw in gateways:
        gw.wait_ready()
    yield gateways
    for gw in gateways:
        gw.stop()
    from tests.im.conftest import terminate_other_connections

    terminate_other_connections()


def test_every_client_holds_every_message_once_and_in_order_despite_drops_and_a_restart(two_gateways, app):
    rng = random.Random(11)
    users = [f"u{i:02d}" for i in range(CLIENTS)]
    tokens = {}
    for u in users:
        tokens[u] = services.token_create(user=services.user_create(app=app, mode="test", user_id=u)).secret
    groups = {}
    for g in range(max(2, CLIENTS // 6)):
        members = rng.sample(users, k=min(len(users), 6 + g % 4))
        group = services.group_create(app=app, mode="test", name=f"g{g}", owner_id=None, member_ids=members)
        groups[group.pk] = members
    pairs = sorted({tuple(sorted(rng.sample(users, 2))) for _ in range(CLIENTS)})

    report = asyncio.run(chaos_run(
        urls=[gw.url for gw in two_gateways], tokens=tokens, conversations=groups, private_pairs=pairs,
        messages=MESSAGES, restart=two_gateways[0].restart))

    print(report)
    assert report.problems == []
    assert report.restarts == 1 and report.drops > 10 and report.reconnects > 10
    assert Message.objects.count() == MESSAGES  # retries deduplicated by client_msg_id
