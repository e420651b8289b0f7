import socket
from datetime import timedelta

from django.utils import timezone

from cpaas.core.egress import conf as egress_conf
from tests.webhooks.conftest import run
from webhooks import conf, publish
from webhooks.dispatch import Breaker, claim, record_results
from webhooks.models import Attempt, Delivery
from webhooks.sender import Job, Result


def _fake_dns(monkeypatch, answers: dict[str, str]):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_two_claims_never_take_the_same_delivery(app, make_endpoint):
    make_endpoint("https://hooks.example.com/x")
    for n in range(10):
        publish(app, "message.sent", {"id": f"msg_{n}"}, idempotency_key=f"k{n}", livemode=False)
    first, second, third = claim(6), claim(6), claim(6)
    assert len(first) == 6
    assert len(second) == 4
    assert third == []
    assert not {d.id for d in first} & {d.id for d in second}


def test_a_claim_whose_lease_ran_out_is_due_again(app, make_endpoint):
    make_endpoint("https://hooks.example.com/x")
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    (taken,) = claim(10)
    assert claim(10) == []
    later = timezone.now() + timedelta(seconds=conf.CLAIM_LEASE_SECONDS + 1)
    (again,) = claim(10, now=later)
    assert again.id == taken.id
    assert again.claim_token != taken.claim_token


def test_a_stale_worker_s_result_does_not_overwrite_the_new_claim(app, make_endpoint):
    make_endpoint("https://hooks.example.com/x")
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    (stale,) = claim(10)
    claim(10, now=timezone.now() + timedelta(seconds=conf.CLAIM_LEASE_SECONDS + 1))
    job = Job(delivery_id=stale.id, endpoint_id=stale.endpoint_id, app_id=stale.app_id, url="u", body=b"",
              headers={}, claim_token=stale.claim_token, attempts=0, manual=False, event_id=stale.event_id,
              event_type="message.sent")
    record_results([Result(job, status_code=200)], breaker=Breaker())
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.attempts == 0
    assert Attempt.objects.count() == 1  # the attempt itself is still logged


def test_the_connection_goes_to_the_checked_address_with_the_original_host(app, receiver, dispatcher,
                                                                           make_endpoint, monkeypatch):
    _fake_dns(monkeypatch, {"hooks.example.com": "127.0.0.1"})
    make_endpoint(f"http://hooks.example.com:{receiver.port}/ok")
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    run(dispatcher)
    (request,) = receiver.requests
    assert request["headers"]["host"] == f"hooks.example.com:{receiver.port}"
    assert Delivery.objects.get().status == "succeeded"


def test_dns_rebinding_to_a_private_address_after_creation_is_blocked(app, receiver, dispatcher,
                                                                      make_endpoint, monkeypatch):
    _fake_dns(monkeypatch, {"rebind.example.com": "93.184.216.34"})
    make_endpoint(f"http://rebind.example.com:{receiver.port}/ok")
    monkeypatch.setattr(egress_conf, "ALLOWED_CIDRS", [])
    _fake_dns(monkeypatch, {"rebind.example.com": "127.0.0.1"})
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    run(dispatcher)
    assert receiver.requests == []
    attempt = Attempt.objects.get()
    assert attempt.error.startswith("blocked:")
    assert "127.0.0.1" in attempt.error
    assert attempt.response_body == ""


def test_the_breaker_opens_after_consecutive_failures_and_lets_one_probe_through():
    now = [0.0]
    breaker = Breaker(clock=lambda: now[0])
    for _ in range(conf.BREAKER_FAILURES):
        assert breaker.allow("we_1") == 0
        breaker.failure("we_1")
    assert breaker.allow("we_1") > 0
    assert breaker.blocked() == {"we_1"}
    now[0] += conf.BREAKER_OPEN_SECONDS
    assert breaker.allow("we_1") == 0  # the probe
    assert breaker.allow("we_1") > 0  # only one
    breaker.failure("we_1")
    now[0] += conf.BREAKER_OPEN_SECONDS
    assert breaker.allow("we_1") > 0  # reopened for twice as long
    now[0] += conf.BREAKER_OPEN_SECONDS
    assert breaker.allow("we_1") == 0
    breaker.success("we_1")
    assert breaker.allow("we_1") == 0
    assert breaker.blocked() == set()


def test_an_open_circuit_puts_deliveries_back_without_counting_an_attempt(app, receiver, dispatcher, make_endpoint,
                                                                          monkeypatch):
    endpoint = make_endpoint(receiver.url("/ok")).endpoint
    for _ in range(conf.BREAKER_FAILURES):
        dispatcher.breaker.failure(endpoint.id)
    publish(app, "message.sent", {"id": "msg_1"}, idempotency_key="k", livemode=False)
    run(dispatcher)  # excluded from the claim while open
    assert Delivery.objects.get().next_attempt_at <= timezone.now()
    monkeypatch.setattr(dispatcher.breaker, "blocked", set)  # the circuit opened after the claim
    run(dispatcher)
    delivery = Delivery.objects.get()
    assert receiver.requests == []
    assert delivery.attempts == 0
    assert delivery.status == "pending"
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=conf.BREAKER_OPEN_SECONDS - 2)


def test_a_slow_endpoint_does_not_hold_back_a_healthy_one(app, receiver, dispatcher, make_endpoint, monkeypatch):
    monkeypatch.setattr(conf, "PER_ENDPOINT_CONCURRENCY", 2)
    make_endpoint(receiver.url("/sleep/1.5"), event_types=["ping"])
    make_endpoint(receiver.url("/ok"), event_types=["webhook.attempt.failing"])
    for n in range(10):
        publish(app, "ping", {"endpoint_id": "x", "message": str(n)}, idempotency_key=f"slow{n}", livemode=False)
    for n in range(30):
        publish(app, "webhook.attempt.failing", {"n": n}, idempotency_key=f"fast{n}", livemode=False)
    dispatcher.run(run_seconds=1.0, idle_exit=0)
    fast = Attempt.objects.filter(delivery__event__type="webhook.attempt.failing")
    slow = Attempt.objects.filter(delivery__event__type="ping")
    assert fast.filter(succeeded=True).count() == 30
    # every healthy delivery was done before the first slow answer came back
    assert max(a.created_at for a in fast) < min(a.created_at for a in slow)
    # and the slow endpoint never held more than 2 in flight + 2 waiting in this process
    assert slow.count() <= 4


def test_an_endpoint_rate_limit_spreads_deliveries_out(app, receiver, dispatcher, make_endpoint):
    make_endpoint(receiver.url("/ok"), rate_limit=1)
    for n in range(3):
        publish(app, "message.sent", {"id": f"msg_{n}"}, idempotency_key=f"k{n}", livemode=False)
    run(dispatcher)
    assert len(receiver.requests) == 1
    waiting = Delivery.objects.filter(status="pending")
    assert waiting.count() == 2
    assert all(d.attempts == 0 and d.next_attempt_at > timezone.now() for d in waiting)
