"""The claim: queued rows taken under a lease, once (claim.py)."""


import pytest
from django.utils import timezone

from cpaas.carriers.sandbox import connector as sandbox
from cpaas.messaging import queries
from cpaas.messaging.claim import claim_queued
from cpaas.messaging.models import Message
from tests.messaging.conftest import send

pytestmark = pytest.mark.django_db


def test_the_claim_locks_its_batch_once_whatever_the_statistics_say(api, app):
    """Fresh statistics that call ``queued`` rare once made the planner run the claim's
    LIMIT … FOR UPDATE subquery again for every queued row (a nested-loop semi join)."""
    from django.db import connection


    first = send(api, to=sandbox.NO_RECEIPT).json()["id"]
    template = Message.objects.get(pk=first)
    clones = []
    for i in range(300):
        clone = Message.objects.get(pk=first)
        clone.id, clone.status = f"{first}{i:03d}", "delivered"
        clones.append(clone)
    Message.objects.bulk_create(clones)
    assert template.status == "queued"
    claim_queued(0)  # builds the statement
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")
        cursor.execute("EXPLAIN " + queries.CLAIM, [timezone.now(), timezone.now(), 100])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "InitPlan" in plan and "Semi Join" not in plan, plan
    assert [m.id for m in claim_queued(100)] == [first]
