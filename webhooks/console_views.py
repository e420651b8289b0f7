"""Console: endpoints (with disabled notices), the delivery log with attempts and signed requests,
retry and recover buttons. Every query is scoped to the member's tenant."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from cpaas.console.access import console_view
from cpaas.core.errors import ApiError
from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint


def _endpoint(request, endpoint_id: str) -> Endpoint:
    endpoint = Endpoint.objects.filter(app__tenant=request.console_tenant, pk=endpoint_id).select_related("app").first()
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint


@console_view()
def endpoints(request):
    rows = Endpoint.objects.filter(app__tenant=request.console_tenant).select_related("app").order_by("-id")
    return render(request, "webhooks/console/endpoints.html", {"endpoints": rows})


@console_view()
def endpoint(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    status = request.GET.get("status", "")
    deliveries = Delivery.objects.filter(endpoint=endpoint).select_related("event").prefetch_related(
        Prefetch("attempt_log", queryset=Attempt.objects.order_by("created_at", "id"))
    ).order_by("-id")
    if status in Delivery.Status.values:
        deliveries = deliveries.filter(status=status)
    return render(request, "webhooks/console/endpoint.html", {
        "endpoint": endpoint, "deliveries": deliveries[:50], "status": status,
        "statuses": Delivery.Status.values,
    })


@require_POST
@console_view()
def retry(request, endpoint_id, delivery_id):
    endpoint = _endpoint(request, endpoint_id)
    delivery = Delivery.objects.filter(endpoint=endpoint, pk=delivery_id).select_related("endpoint").first()
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        with transaction.atomic():
            services.delivery_retry(delivery=delivery)
        messages.success(request, f"Delivery {delivery.id} will be sent again now.")
    except ApiError as exc:
        messages.error(request, exc.message)
    return redirect("console:webhooks:endpoint", endpoint_id=endpoint.id)


@require_POST
@console_view()
def recover(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    try:
        since = datetime.fromisoformat(request.POST.get("since", ""))
    except ValueError:
        messages.error(request, "Give a start time like 2026-11-20T00:00.")
        return redirect("console:webhooks:endpoint", endpoint_id=endpoint.id)
    if timezone.is_naive(since):
        since = timezone.make_aware(since, UTC)
    dry_run = request.POST.get("dry_run") == "1"
    try:
        with transaction.atomic():
            count = services.endpoint_recover(endpoint=endpoint, since=since, dry_run=dry_run)
        if dry_run:
            messages.info(request, f"{count} failed deliveries since {since:%Y-%m-%d %H:%M} would be re-sent.")
        else:
            messages.success(request, f"Re-sending {count} failed deliveries.")
    except ApiError as exc:
        messages.error(request, exc.message)
    return redirect("console:webhooks:endpoint", endpoint_id=endpoint.id)
