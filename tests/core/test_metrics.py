"""/metrics: who may scrape it, and each family moving when the real code does the work.

The counters are read in this process (no PROMETHEUS_MULTIPROC_DIR here); the multiprocess sum
over two real uvicorn processes is tested in tests/core/test_metrics_multiprocess.py.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from cpaas.carriers.base import DeliveryReceipt
from cpaas.carriers.sandbox import connector as sandbox
from cpaas.celery import app as celery_app
from cpaas.core import metrics
from cpaas.core.broker import QUEUES, broker_client
from cpaas.messaging.dispatch import dispatch_batch
from cpaas.messaging.models import Message
from cpaas.messaging.receipts import receipts_apply
from tests.messaging.conftest import _fresh_sms_state, send  # noqa: F401 - the autouse fixture
from webhooks.callbacks import callbacks_deliver

pytestmark = pytest.mark.django_db


def scrape(client: Client | None = None, **extra) -> dict[str, list]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def value(families: dict[str, list], sample: str, **labels: str) -> float:
    family = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    return sum(s.value for s in families.get(family, [])
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def test_only_allowed_addresses_or_the_token_may_scrape(settings):
    assert Client().get("/metrics").status_code == 200  # loopback, the default allowed network
    outsider = Client(REMOTE_ADDR="203.0.113.9")
    assert outsider.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-token"
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_api_requests_are_counted_by_route_name_method_and_status(api):
    before = scrape()
    assert api.get("/v1/me").status_code == 200
    assert api.get("/v1/messages/msg_01JDQ2Y6C3W8Z5N0V9T4KX7B1M").status_code == 404
    after = scrape()
    requests = "cpaas_http_requests_total"
    assert value(after, requests, route="me", method="GET", status="200") == \
        value(before, requests, route="me", method="GET", status="200") + 1
    # the pattern's name, never the raw path (whose ids would make a series per message)
    assert value(after, requests, route="message", method="GET", status="404") == \
        value(before, requests, route="message", method="GET", status="404") + 1
    assert not any("msg_" in str(s.labels) for s in after["cpaas_http_requests"])
    latency = "cpaas_http_request_duration_seconds_count"
    assert value(after, latency, route="me") == value(before, latency, route="me") + 1


def test_queue_depth_and_the_oldest_task_s_age_are_read_from_the_broker():
    client = broker_client()
    client.delete(*QUEUES)
    celery_app.send_task("cpaas.core.tasks.nothing_here", queue="webhooks")
    time.sleep(0.3)
    celery_app.send_task("cpaas.core.tasks.nothing_here", queue="webhooks")
    families = scrape()
    assert value(families, "cpaas_celery_queue_depth", queue="webhooks") == 2
    assert value(families, "cpaas_celery_queue_depth", queue="sms") == 0
    assert 0.3 <= value(families, "cpaas_celery_queue_oldest_age_seconds", queue="webhooks") < 30
    assert value(families, "cpaas_celery_queue_oldest_age_seconds", queue="sms") == 0
    client.delete(*QUEUES)


def test_sms_submitted_receipts_callbacks_and_usage_are_counted_per_batch(api, receiver, allow_loopback):
    before = scrape()
    ids = [send(api, to=sandbox.NO_RECEIPT, status_callback=f"{receiver.base}/sms").json()["id"] for _ in range(3)]
    dispatch_batch()
    middle = scrape()
    assert value(middle, "cpaas_sms_submitted_total", connector="sandbox", outcome="accepted") == \
        value(before, "cpaas_sms_submitted_total", connector="sandbox", outcome="accepted") + 3
    assert value(middle, "cpaas_callback_outbox_backlog") == 3  # message.sent callbacks waiting
    assert value(middle, "cpaas_billing_usage_events_total") > value(before, "cpaas_billing_usage_events_total")

    carrier_ids = Message.objects.filter(pk__in=ids).values_list("carrier_message_id", flat=True)
    receipts_apply([DeliveryReceipt("sandbox", carrier_id, "delivered") for carrier_id in carrier_ids])
    receipts_apply([DeliveryReceipt("sandbox", carrier_id, "delivered") for carrier_id in carrier_ids])  # doubled
    assert callbacks_deliver()["delivered"] == 6  # sent + delivered for each
    after = scrape()
    assert value(after, "cpaas_sms_receipts_total", connector="sandbox", status="delivered") == \
        value(before, "cpaas_sms_receipts_total", connector="sandbox", status="delivered") + 3
    assert value(after, "cpaas_webhook_deliveries_total", kind="callback", outcome="delivered") == \
        value(before, "cpaas_webhook_deliveries_total", kind="callback", outcome="delivered") + 6
    assert value(after, "cpaas_webhook_delivery_duration_seconds_count", kind="callback") == \
        value(before, "cpaas_webhook_delivery_duration_seconds_count", kind="callback") + 6
    assert value(after, "cpaas_callback_outbox_backlog") == 0


def test_calls_active_is_counted_at_scrape_time(api):
    assert "cpaas_calls_active" in scrape()


def test_every_metric_the_grafana_dashboard_plots_is_exposed(api):
    api.get("/v1/me")
    exposed = {s.name for samples in scrape().values() for s in samples}
    dashboard = json.loads((settings.BASE_DIR / "deploy" / "grafana" / "cpaas-dashboard.json").read_text())
    plotted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\b(cpaas_\w+)", target["expr"])}
    declared = {family.name + suffix for obj in vars(metrics).values() if isinstance(obj, MetricWrapperBase)
                for family in obj.describe() for suffix in ("", "_total")}
    assert {name.removesuffix("_bucket") for name in plotted} <= exposed | declared
