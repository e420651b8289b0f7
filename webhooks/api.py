"""The /v1 API of the webhooks room: event types, endpoints, deliveries, events. Views stay thin."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from cpaas.core.auth import ANY_PRODUCT
from cpaas.core.errors import ApiError, NotFound
from cpaas.core.pagination import paginate
from cpaas.core.params import query_bool, query_enum
from cpaas.core.serializers import StrictSerializer
from cpaas.core.views import ApiView
from webhooks import catalog, services
from webhooks.models import Attempt, Delivery, Endpoint, Event


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- output ---------------------------------------------------------------------------------------

def endpoint_out(endpoint: Endpoint, *, secret: str | None = None) -> dict:
    out = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
        "livemode": endpoint.mode == "live",
        "rate_limit": endpoint.rate_limit,
        "failing_since": iso(endpoint.failing_since),
        "disabled_at": iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason or None,
        "secrets_active": sum(
            1 for e in endpoint.secrets if not e.get("expires_at") or datetime.fromisoformat(e["expires_at"]) > _now()
        ),
        "created": iso(endpoint.created_at),
        "updated": iso(endpoint.updated_at),
    }
    if secret is not None:
        out["secret"] = secret  # shown once: on creation and on rotation
    return out


def _now():
    from django.utils import timezone

    return timezone.now()


def attempt_out(attempt: Attempt) -> dict:
    return {
        "id": attempt.id,
        "object": "webhook_attempt",
        "created": iso(attempt.created_at),
        "succeeded": attempt.succeeded,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response_body": attempt.response_body,
        "error": attempt.error or None,
        "request_headers": attempt.request_headers,
    }


def delivery_out(delivery: Delivery) -> dict:
    return {
        "id": delivery.id,
        "object": "webhook_delivery",
        "endpoint": delivery.endpoint_id,
        "event": {"id": delivery.event_id, "type": delivery.event.type},
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == Delivery.Status.PENDING else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error or None,
        "created": iso(delivery.created_at),
        "completed_at": iso(delivery.completed_at),
        "attempt_log": [attempt_out(a) for a in delivery.attempt_log.all()],
    }


def event_out(event: Event) -> dict:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": iso(event.created_at),
        "data": event.data,
        "subject": event.subject or None,
        "sequence": event.sequence or None,
        # True: live activity; False: test mode; None: the publisher did not say (reached both).
        "livemode": event.livemode,
    }


def deliveries_with_attempts(queryset):
    return queryset.select_related("event").prefetch_related(
        Prefetch("attempt_log", queryset=Attempt.objects.order_by("created_at", "id"))
    )


# --- input ------------------------------------------------------------------------------------------

class EndpointIn(StrictSerializer):
    url = serializers.CharField(max_length=2048, trim_whitespace=True)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=200
    )
    enabled = serializers.BooleanField(required=False, default=True)
    rate_limit = serializers.IntegerField(min_value=1, max_value=10_000, required=False, allow_null=True)


class EndpointPatchIn(StrictSerializer):
    url = serializers.CharField(max_length=2048, trim_whitespace=True, required=False)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=200)
    enabled = serializers.BooleanField(required=False)
    rate_limit = serializers.IntegerField(min_value=1, max_value=10_000, required=False, allow_null=True)


class RecoverIn(StrictSerializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    dry_run = serializers.BooleanField(required=False, default=False)


def parse(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- views ------------------------------------------------------------------------------------------

class WebhooksView(ApiView):
    product = "webhooks"

    def endpoint(self, endpoint_id: str) -> Endpoint:
        return self.get_scoped(Endpoint, endpoint_id, message="No such webhook endpoint.")

    def delivery(self, endpoint_id: str, delivery_id: str) -> Delivery:
        delivery = (
            deliveries_with_attempts(self.scoped(Delivery))
            .select_related("endpoint")
            .filter(endpoint_id=endpoint_id, pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound("No such delivery.")
        return delivery


class EventTypesView(ApiView):
    product = ANY_PRODUCT

    @extend_schema(operation_id="event_types_list", responses={200: dict})
    def get(self, request):
        data = [{"object": "event_type", **item} for item in catalog.event_types()]
        return Response({"object": "list", "url": request.path, "has_more": False, "data": data})


class EndpointsView(WebhooksView):
    @extend_schema(operation_id="webhook_endpoints_list", responses={200: dict})
    def get(self, request):
        endpoints = self.scoped(Endpoint)
        return Response(paginate(request, endpoints, lambda rows: [endpoint_out(e) for e in rows]))

    @extend_schema(operation_id="webhook_endpoints_create", request=EndpointIn, responses={201: dict})
    def post(self, request):
        data = parse(EndpointIn, request.data)
        created = services.endpoint_create(
            app_id=self.principal.app_id, mode=self.principal.mode, tenant_id=self.principal.tenant_id,
            actor_key_id=self.principal.key_id, **data,
        )
        return Response(endpoint_out(created.endpoint, secret=created.secret), status=201)


class EndpointView(WebhooksView):
    @extend_schema(operation_id="webhook_endpoints_retrieve", responses={200: dict})
    def get(self, request, endpoint_id):
        return Response(endpoint_out(self.endpoint(endpoint_id)))

    @extend_schema(operation_id="webhook_endpoints_update", request=EndpointPatchIn, responses={200: dict})
    def patch(self, request, endpoint_id):
        endpoint = self.endpoint(endpoint_id)
        changes = parse(EndpointPatchIn, request.data)
        return Response(endpoint_out(services.endpoint_update(endpoint=endpoint, changes=changes)))

    @extend_schema(operation_id="webhook_endpoints_delete", responses={200: dict})
    def delete(self, request, endpoint_id):
        endpoint = self.endpoint(endpoint_id)
        services.endpoint_delete(endpoint=endpoint, tenant_id=self.principal.tenant_id,
                                 actor_key_id=self.principal.key_id)
        return Response({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


class EndpointRotateSecretView(WebhooksView):
    @extend_schema(operation_id="webhook_endpoints_rotate_secret", request=None, responses={200: dict})
    def post(self, request, endpoint_id):
        parse(StrictSerializer, request.data or {})
        endpoint = self.endpoint(endpoint_id)
        secret = services.endpoint_rotate_secret(endpoint=endpoint, tenant_id=self.principal.tenant_id,
                                                 actor_key_id=self.principal.key_id)
        return Response(endpoint_out(endpoint, secret=secret))


class EndpointTestView(WebhooksView):
    @extend_schema(operation_id="webhook_endpoints_test", request=None, responses={202: dict})
    def post(self, request, endpoint_id):
        parse(StrictSerializer, request.data or {})
        endpoint = self.endpoint(endpoint_id)
        if not endpoint.enabled:
            raise ApiError("The endpoint is disabled; enable it first.", code="endpoint_disabled")
        delivery = services.endpoint_ping(endpoint=endpoint)
        return Response(delivery_out(deliveries_with_attempts(self.scoped(Delivery).filter(pk=delivery.pk)).get()),
                        status=202)


class EndpointRecoverView(WebhooksView):
    @extend_schema(operation_id="webhook_endpoints_recover", request=RecoverIn, responses={200: dict, 202: dict})
    def post(self, request, endpoint_id):
        data = parse(RecoverIn, request.data)
        endpoint = self.endpoint(endpoint_id)
        if data["until"] is not None and data["until"] <= data["since"]:
            raise ApiError("`until` must be after `since`.", param="until")
        count = services.endpoint_recover(endpoint=endpoint, since=data["since"], until=data["until"],
                                          dry_run=data["dry_run"])
        return Response({"object": "webhook_recover", "endpoint": endpoint.id, "dry_run": data["dry_run"],
                         "since": iso(data["since"]), "until": iso(data["until"]), "count": count},
                        status=200 if data["dry_run"] else 202)


class DeliveriesView(WebhooksView):
    @extend_schema(operation_id="webhook_deliveries_list", responses={200: dict})
    def get(self, request, endpoint_id):
        endpoint = self.endpoint(endpoint_id)
        deliveries = self.scoped(Delivery).filter(endpoint=endpoint)
        status = query_enum(request.query_params, "status", Delivery.Status.values)
        if status:
            deliveries = deliveries.filter(status=status)
        event_id = request.query_params.get("event")
        if event_id:
            deliveries = deliveries.filter(event_id=event_id)
        return Response(paginate(request, deliveries_with_attempts(deliveries),
                                 lambda rows: [delivery_out(d) for d in rows]))


class DeliveryView(WebhooksView):
    @extend_schema(operation_id="webhook_deliveries_retrieve", responses={200: dict})
    def get(self, request, endpoint_id, delivery_id):
        return Response(delivery_out(self.delivery(endpoint_id, delivery_id)))


class DeliveryRetryView(WebhooksView):
    @extend_schema(operation_id="webhook_deliveries_retry", request=None, responses={202: dict})
    def post(self, request, endpoint_id, delivery_id):
        parse(StrictSerializer, request.data or {})
        delivery = self.delivery(endpoint_id, delivery_id)
        services.delivery_retry(delivery=delivery)
        return Response(delivery_out(self.delivery(endpoint_id, delivery_id)), status=202)


class EventsView(WebhooksView):
    @extend_schema(operation_id="events_list", responses={200: dict})
    def get(self, request):
        events = self.scoped(Event)  # the key's mode, and events published for both
        type_ = request.query_params.get("type")
        if type_:
            events = events.filter(type=type_)
        livemode = query_bool(request.query_params, "livemode")
        if livemode is not None:
            events = events.filter(livemode=livemode)
        return Response(paginate(request, events, lambda rows: [event_out(e) for e in rows]))


class EventView(WebhooksView):
    @extend_schema(operation_id="events_retrieve", responses={200: dict})
    def get(self, request, event_id):
        event = self.get_scoped(Event, event_id, message="No such event.")
        return Response(event_out(event))
