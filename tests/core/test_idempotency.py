"""Idempotency-Key: replay, conflict, in-progress, expiry, and concurrent duplicates."""

import threading
from datetime import timedelta

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.db import connection
from django.utils import timezone

from cpaas.core import crypto
from cpaas.core.idempotency import idempotency_purge
from cpaas.core.models import IdempotencyKey
from cpaas.tenants.models import App
from tests.conftest import client_for


def post_app(api, key, name="Shop"):
    return api.post("/v1/apps", {"name": name}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_first_response(api, tenant):
    first = post_app(api, "k-1")
    second = post_app(api, "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert App.objects.filter(tenant=tenant, name="Shop").count() == 1


def test_the_same_key_with_another_body_is_refused_with_422(api, tenant):
    post_app(api, "k-2", name="Shop")
    response = post_app(api, "k-2", name="Other")
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert not App.objects.filter(tenant=tenant, name="Other").exists()


def test_the_same_key_on_another_path_is_refused_with_422(api):
    post_app(api, "k-3")
    response = api.post("/v1/api-keys", {"name": "Shop"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert response.status_code == 422


def test_a_key_still_running_answers_409(api, app):
    IdempotencyKey.objects.create(
        app_id=app.id, mode="test", key="k-4", method="POST", path="/v1/apps",
        request_hash="x" * 64, expires_at=timezone.now() + timedelta(hours=24),
    )
    from cpaas.core.idempotency import request_fingerprint

    IdempotencyKey.objects.filter(key="k-4").update(
        request_hash=request_fingerprint("POST", "/v1/apps", {"name": "Shop"})
    )
    response = post_app(api, "k-4")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert response.json()["error"]["retryable"] is True
    assert response["Retry-After"] == "1"


def test_a_key_abandoned_by_a_crashed_request_is_taken_over(api, app, settings):
    from cpaas.core.idempotency import request_fingerprint

    IdempotencyKey.objects.create(
        app_id=app.id, mode="test", key="k-5", method="POST", path="/v1/apps",
        request_hash=request_fingerprint("POST", "/v1/apps", {"name": "Shop"}),
        locked_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS + 1),
        expires_at=timezone.now() + timedelta(hours=24),
    )
    response = post_app(api, "k-5")
    assert response.status_code == 201


def test_errors_are_not_stored_so_a_corrected_retry_may_reuse_the_key(api, tenant):
    bad = api.post("/v1/apps", {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-6")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.filter(key="k-6").exists()
    good = post_app(api, "k-6")
    assert good.status_code == 201


@pytest.mark.urls("tests.core.urls_boom")
def test_a_crashed_request_releases_its_key(api):
    first = api.post("/v1/boom", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-7")
    second = api.post("/v1/boom", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-7")
    assert first.status_code == second.status_code == 500
    assert not IdempotencyKey.objects.filter(key="k-7").exists()


def test_keys_expire_after_24_hours(api, tenant):
    post_app(api, "k-8")
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        again = post_app(api, "k-8")
        assert again.status_code == 201
        assert not again.has_header("Idempotent-Replayed")
    assert App.objects.filter(tenant=tenant, name="Shop").count() == 2


def test_keys_belong_to_one_app(api, other_api, other_provisioned):
    post_app(api, "shared-key")
    response = post_app(other_api, "shared-key", name="Theirs")
    assert response.status_code == 201
    assert response.json()["tenant"] == other_provisioned.tenant.id


def test_an_empty_or_overlong_key_is_refused(api):
    assert post_app(api, " ").json()["error"]["param"] == "Idempotency-Key"
    assert post_app(api, "x" * 256).status_code == 400


def test_the_purge_deletes_only_expired_keys(api):
    post_app(api, "old")
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    post_app(api, "new", name="New")
    assert idempotency_purge() == 1
    assert idempotency_purge() == 0
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_exactly_one_object():
    from cpaas.tenants.services import tenant_provision

    provisioned = tenant_provision(name="Racer")
    secret = provisioned.test_key.secret
    threads, results = 8, []
    barrier = threading.Barrier(threads)

    def fire():
        try:
            barrier.wait()
            response = post_app(client_for(secret), "race-key", name="Raced")
            results.append((response.status_code, response.json()))
        finally:
            connection.close()

    workers = [threading.Thread(target=fire) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert App.objects.filter(tenant=provisioned.tenant, name="Raced").count() == 1
    statuses = sorted(status for status, _ in results)
    assert len(statuses) == threads
    assert set(statuses) <= {201, 409}
    created_ids = {body["id"] for status, body in results if status == 201}
    assert len(created_ids) == 1
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "idempotency_in_progress"
    # once the winner is done, every retry gets its result
    replay = post_app(client_for(secret), "race-key", name="Raced")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] in created_ids


def test_a_live_requests_key_is_never_replayed_to_a_test_request(api, live_api, tenant):
    live = post_app(live_api, "k-mode", name="Live shop")
    test = post_app(api, "k-mode", name="Live shop")
    assert live.status_code == test.status_code == 201
    assert not test.has_header("Idempotent-Replayed")
    assert test.json()["id"] != live.json()["id"]
    assert set(IdempotencyKey.objects.filter(key="k-mode").values_list("mode", flat=True)) == {"live", "test"}


def test_the_same_key_in_the_other_mode_with_another_body_is_not_a_conflict(api, live_api):
    assert post_app(live_api, "k-mode-2", name="One").status_code == 201
    assert post_app(api, "k-mode-2", name="Two").status_code == 201


def test_a_stored_response_never_keeps_a_secret_in_clear(api):
    created = api.post("/v1/api-keys", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="k-secret")
    assert created.status_code == 201
    secret = created.json()["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT response_body::text FROM core_idempotencykey WHERE key = 'k-secret'")
        (raw,) = cursor.fetchone()
    assert secret not in raw and secret[-12:] not in raw
    replayed = api.post("/v1/api-keys", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="k-secret")
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["secret"] == secret


def test_stored_responses_are_resealed_with_the_newest_key(api, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [old_key]
    first = post_app(api, "k-reseal")
    settings.SECRET_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.reseal_all()["stored idempotent responses"] >= 1
    settings.SECRET_ENCRYPTION_KEYS = [new_key]  # the old key is gone: the replay must still open
    assert post_app(api, "k-reseal").json() == first.json()
