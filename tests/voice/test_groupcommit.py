"""Group commit: many writes in one transaction; a failing write fails only its own caller."""

from __future__ import annotations

import asyncio

import pytest

from cpaas.tenants.models import Tenant
from cpaas.voice.groupcommit import GroupCommitter


def rename(tenant_id: str, name: str) -> str:
    Tenant.objects.filter(pk=tenant_id).update(name=name)
    if name == "boom":
        raise ValueError("refused")
    return name


@pytest.mark.django_db(transaction=True)
def test_grouped_writes_commit_together_and_a_failure_stays_its_own(provisioned, other_provisioned):
    ours, theirs = provisioned.tenant.id, other_provisioned.tenant.id

    async def main():
        committer = GroupCommitter(runners=1)
        try:
            return await asyncio.gather(committer.submit(rename, ours, "renamed"),
                                        committer.submit(rename, theirs, "boom"),
                                        return_exceptions=True), committer.batches
        finally:
            committer.close()

    (first, second), batches = asyncio.run(main())
    assert first == "renamed" and isinstance(second, ValueError)
    assert Tenant.objects.get(pk=ours).name == "renamed"
    assert Tenant.objects.get(pk=theirs).name == "Globex"  # its write was rolled back
    assert batches <= 2
