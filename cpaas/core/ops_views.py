"""Endpoints for operators, not tenants: ``/healthz``, ``/readyz`` and ``/metrics``.

None takes an API key or reads tenant data. ``/metrics`` is for Prometheus only: from an address
in ``METRICS_ALLOWED_CIDRS`` (loopback by default) or with ``Authorization: Bearer
<METRICS_TOKEN>`` (decision 1402); anyone else gets a 404, as if it did not exist.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from cpaas.core import health
from cpaas.core.clientip import client_ip
from cpaas.core.metrics_scrape import exposition

_NO_STORE = {"Cache-Control": "no-store"}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process runs and answers; nothing else is checked (a liveness probe)."""
    return JsonResponse({"status": "ok"}, headers=_NO_STORE)


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """503 naming each failed check when PostgreSQL, Redis or the broker is unreachable or a
    migration is not applied (a readiness probe: take this process out of the load balancer)."""
    checks = health.readiness()
    ready = all(value == "ok" for value in checks.values())
    failed = sorted(name for name, value in checks.items() if value != "ok")
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "failed": failed}
    return JsonResponse(body, status=200 if ready else 503, headers=_NO_STORE)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True
    address = client_ip(request)
    if not address:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)
