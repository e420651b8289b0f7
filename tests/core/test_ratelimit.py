"""Per-key token buckets in Redis (and in memory for the embedded default)."""


import time
import uuid

from cpaas.core.ratelimit import RedisGate, gate
from cpaas.tenants.keys import api_key_create
from tests.conftest import client_for


def limited_client(app, rate):
    return client_for(api_key_create(app=app, name="limited", rate_limit=rate).secret)


def test_every_response_carries_the_ratelimit_headers(api):
    response = api.get("/v1/me")
    assert response["RateLimit-Limit"] == str(25 * 2)
    assert 0 <= int(response["RateLimit-Remaining"]) < 50
    assert int(response["RateLimit-Reset"]) >= 0


def test_an_empty_bucket_answers_429_with_retry_after(app):
    client = limited_client(app, rate=1)  # burst of 2
    assert client.get("/v1/me").status_code == 200
    assert client.get("/v1/me").status_code == 200
    response = client.get("/v1/me")
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["code"], error["type"], error["retryable"]) == ("rate_limited", "rate_limit_error", True)
    assert int(response["Retry-After"]) >= 1
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Limit"] == "2"


def test_buckets_are_per_key(app):
    first = limited_client(app, rate=1)
    second = limited_client(app, rate=1)
    for _ in range(3):
        first.get("/v1/me")
    assert first.get("/v1/me").status_code == 429
    assert second.get("/v1/me").status_code == 200


def test_a_rate_limited_post_writes_nothing(app):
    client = limited_client(app, rate=1)
    client.get("/v1/me")
    client.get("/v1/me")
    response = client.post("/v1/apps", {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="rl")
    assert response.status_code == 429
    from cpaas.core.models import IdempotencyKey
    from cpaas.tenants.models import App

    assert not App.objects.filter(name="x").exists()
    assert not IdempotencyKey.objects.exists()


def test_the_configured_gate_is_redis():
    assert isinstance(gate(), RedisGate)


def test_the_gate_refills_and_denies():
    import time
    import uuid

    limiter = gate()
    bucket, flag = f"t:{uuid.uuid4()}", f"f:{uuid.uuid4()}"
    results = [limiter.admit(bucket, flag, rate=20, burst=3).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    time.sleep(0.12)  # 20/s refills at least two tokens
    assert limiter.admit(bucket, flag, rate=20, burst=3).allowed
    limiter.deny(flag, 10)
    denied = limiter.admit(bucket, flag, rate=20, burst=3)
    assert denied.denied and not denied.allowed


def test_leases_never_let_processes_exceed_the_shared_bucket(settings):
    import uuid

    first, second = RedisGate(), RedisGate()  # two "processes"
    bucket, flag = f"t:{uuid.uuid4()}", f"f:{uuid.uuid4()}"
    allowed = sum(g.admit(bucket, flag, rate=0.001, burst=100).allowed for _ in range(80) for g in (first, second))
    assert allowed == 100


def test_a_revocation_reaches_another_process_holding_a_lease(settings):
    import time
    import uuid

    holder, revoker = RedisGate(), RedisGate()
    bucket, flag = f"t:{uuid.uuid4()}", f"f:{uuid.uuid4()}"
    assert holder.admit(bucket, flag, rate=100, burst=200).allowed  # holds a lease of 20 tokens now
    revoker.deny(flag, 60)
    # The lease still holds 19 tokens, so only the pushed revocation can deny within 10 calls.
    for _ in range(10):
        time.sleep(0.05)
        if holder.admit(bucket, flag, rate=100, burst=200).denied:
            break
    else:
        raise AssertionError("the revocation was not pushed to the lease holder")


def test_lifting_a_flag_reaches_another_process_that_denied_it_locally(settings):
    """A resumed tenant (decision 1302): the other process forgets its local denial at once."""
    holder, lifter = RedisGate(), RedisGate()
    bucket, flag = f"t:{uuid.uuid4()}", f"f:{uuid.uuid4()}"
    lifter.deny(flag, 3600)
    for _ in range(10):
        time.sleep(0.05)
        if holder.admit(bucket, flag, rate=100, burst=200).denied:
            break
    else:
        raise AssertionError("the flag never denied")
    lifter.undeny(flag)
    for _ in range(20):  # the holder's local denial would last an hour without the push
        time.sleep(0.05)
        if holder.admit(bucket, flag, rate=100, burst=200).allowed:
            break
    else:
        raise AssertionError("lifting the flag was not pushed to the other process")


def _in_a_forked_child(check) -> None:
    """Run ``check`` in a forked child (as a pre-fork server's worker); fail if it fails there."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            check()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the check failed in the forked child"


def test_a_forked_child_never_spends_its_parents_leases(settings):
    import uuid

    parent = RedisGate()
    bucket, flag = f"t:{uuid.uuid4()}", f"f:{uuid.uuid4()}"
    assert parent.admit(bucket, flag, rate=0.001, burst=100).allowed  # leases 10, spends 1: 90 left shared
    leftover = parent._leases[bucket].tokens
    assert leftover == 9

    def child():
        assert bucket not in parent._leases
        parent.admit(bucket, flag, rate=0.001, burst=100)
        # The child took its own lease from Redis: the shared bucket shows it.
        assert float(parent.client.hget(bucket, "t")) < 90

    _in_a_forked_child(child)


def test_a_lease_table_lock_held_at_fork_time_is_free_in_the_child():
    from cpaas.core.ratelimit import LeaseTable

    table = LeaseTable()
    table["k"] = 1
    with table.lock:  # as if another thread held it when the process forked
        def child():
            assert table.lock.acquire(timeout=1)
            assert dict(table) == {}
        _in_a_forked_child(child)
    assert table["k"] == 1  # the parent keeps its own


def test_the_gate_spends_the_tenant_bucket_with_the_key_bucket():
    import uuid

    from cpaas.core.ratelimit import TenantBucket

    limiter = gate()
    tenant = TenantBucket(f"tb:{uuid.uuid4()}", rate=0.001, burst=3)
    keys = [(f"k:{uuid.uuid4()}", f"f:{uuid.uuid4()}") for _ in range(3)]
    allowed = [limiter.admit(b, f, rate=0.001, burst=2, tenant=tenant).allowed for b, f in keys for _ in range(2)]
    assert allowed.count(True) == 3  # each key could pass twice; together they pass the tenant's three


def test_the_tenant_bucket_costs_no_extra_redis_round_trip(settings):
    import uuid

    from cpaas.core.ratelimit import TenantBucket

    limiter = RedisGate()
    limiter.admit(f"k:{uuid.uuid4()}", f"f:{uuid.uuid4()}", rate=100, burst=200)  # loads the script once
    calls = []
    real = limiter.client.execute_command
    limiter.client.execute_command = lambda *args, **kwargs: calls.append(args[0]) or real(*args, **kwargs)
    tenant = TenantBucket(f"tb:{uuid.uuid4()}", rate=1000, burst=2000)
    admission = limiter.admit(f"k:{uuid.uuid4()}", f"f:{uuid.uuid4()}", rate=100, burst=200, tenant=tenant)
    assert admission.allowed
    assert len(calls) == 1, calls  # one EVALSHA grants the lease from both buckets
