"""Prometheus metrics: the counters the code increments, and the gauges computed at scrape time.

Every process kind (web, IM gateway, Celery workers, beat) increments the same metric objects. With
``PROMETHEUS_MULTIPROC_DIR`` set (runplatform sets ``var/prometheus``; a deployment sets it per
host) each process writes its values to files there and ``/metrics`` on any web process of the host
sums them (prometheus-client's multiprocess mode, decision 1401). Hot paths count once per batch
(``inc(n)``), never per message.

The values computed at scrape time are in cpaas/core/metrics_scrape.py.
"""

from __future__ import annotations

import time
from collections import Counter as CountOf
from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Gauge, Histogram

# --- counted where the work happens ------------------------------------------------------------
HTTP_REQUESTS = Counter("cpaas_http_requests", "API and console requests answered.", ["route", "method", "status"])
HTTP_LATENCY = Histogram("cpaas_http_request_duration_seconds", "Time to answer a request.", ["route", "method"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SMS_SUBMITTED = Counter("cpaas_sms_submitted", "SMS handed to a connector, by outcome.", ["connector", "outcome"])
SMS_RECEIPTS = Counter("cpaas_sms_receipts", "Delivery receipts applied, by connector and status.",
                       ["connector", "status"])
WEBHOOK_DELIVERIES = Counter("cpaas_webhook_deliveries", "Webhook and status-callback POSTs, by outcome.",
                             ["kind", "outcome"])
WEBHOOK_LATENCY = Histogram("cpaas_webhook_delivery_duration_seconds", "Time for one webhook POST.", ["kind"],
                            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IM_SOCKETS = Gauge("cpaas_im_sockets_online", "IM WebSockets open on the gateways.", multiprocess_mode="livesum")
BILLING_USAGE = Counter("cpaas_billing_usage_events", "Usage events ingested for billing, by meter.", ["meter"])

# The header the publisher stamps on every task message, so a queue's oldest task has an age.
SENT_AT_HEADER = "cpaas_sent_at"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def route_label(request: HttpRequest) -> str:
    """The URL pattern's name (``message``, ``message-list``), never the raw path: bounded label values."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class MetricsMiddleware:
    """Counts each request by route, method and status, and observes its latency (outermost, so
    the status is the one that left)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        count_request(route_label(request), request.method, response.status_code, started)
        return response


def count_request(route: str, method: str, status: int, started: float) -> None:
    """One answered request (Django's, or the lean send path's, cpaas/messaging/accept/app.py)."""
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)


# --- one call per batch at the pipeline's stage boundaries ---------------------------------------

def _inc_each(counter: Counter, counts: CountOf) -> None:
    for labels, n in counts.items():
        counter.labels(*labels).inc(n)


def count_sms_submitted(accepted: dict[str, tuple[str, str]], failed: dict[str, tuple[str, str]]) -> None:
    """A dispatch batch's outcome (cpaas/messaging/submit.py): accepted per connector, failed
    (no route, refused everywhere) under connector ``none``."""
    counts = CountOf((connector, "accepted") for connector, _ in accepted.values())
    if failed:
        counts[("none", "failed")] += len(failed)
    _inc_each(SMS_SUBMITTED, counts)


def count_receipts(receipts: Iterable) -> None:
    """Delivery receipts received, by connector and status (before matching to messages)."""
    _inc_each(SMS_RECEIPTS, CountOf((r.connector, r.status) for r in receipts))


def webhook_outcome(result) -> str:
    if result.ok:
        return "delivered"
    if result.blocked:
        return "blocked"
    if result.timed_out:
        return "timeout"
    return "http_error" if result.status_code is not None else "error"


def count_webhook_results(kind: str, results: Iterable) -> None:
    """A batch of POSTs (webhooks/sender.py Results): ``kind`` is ``event`` or ``callback``."""
    results = list(results)
    _inc_each(WEBHOOK_DELIVERIES, CountOf((kind, webhook_outcome(r)) for r in results))
    latency = WEBHOOK_LATENCY.labels(kind)
    for result in results:
        if result.status_code is not None:
            latency.observe(result.latency_ms / 1000)


def count_usage(events: Iterable) -> None:
    """Usage events written by one flush (billing/ledger.py), by meter."""
    _inc_each(BILLING_USAGE, CountOf((e.meter,) for e in events))
