"""The SIP edge's service functions where the API cannot show them: the endpoint cap under concurrency."""

from __future__ import annotations

import threading
import time

from django.db import connection, transaction

from cpaas.core.errors import ApiError
from cpaas.core.scoping import Scope
from cpaas.sip_edge import conf, services
from cpaas.sip_edge.models import SipEndpoint


def test_the_endpoint_cap_holds_against_a_create_in_another_transaction(app, transactional_db, monkeypatch):
    """Count-then-create let two concurrent creates both see room for one: the second create must
    wait for the first's transaction and then be refused."""
    monkeypatch.setattr(conf, "SIP_ENDPOINTS_PER_APP", 1)
    scope = Scope(tenant_id=app.tenant_id, app_id=app.id, mode="test")
    first_created, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():  # holds whatever endpoint_create locked until released
                services.endpoint_create(principal=scope, username="alice")
                first_created.set()
                release.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            outcome["result"] = services.endpoint_create(principal=scope, username="bob")
        except ApiError as exc:
            outcome["result"] = exc
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_created.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.5)  # the second create runs while the first's transaction is open
    release.set()
    one.join(10)
    two.join(10)
    result = outcome["result"]
    assert isinstance(result, ApiError) and result.code == "too_many_sip_endpoints"
    assert SipEndpoint.objects.filter(app=app).count() == 1


def test_the_cap_counts_only_the_callers_mode(app, db, monkeypatch):
    monkeypatch.setattr(conf, "SIP_ENDPOINTS_PER_APP", 1)
    services.endpoint_create(principal=Scope(tenant_id=app.tenant_id, app_id=app.id, mode="test"), username="alice")
    created = services.endpoint_create(principal=Scope(tenant_id=app.tenant_id, app_id=app.id, mode="live"),
                                       username="alice")
    assert created.endpoint.mode == "live"
