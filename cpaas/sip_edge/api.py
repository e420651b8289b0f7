"""The SIP endpoints API: /v1/sip/endpoints and /v1/sip/endpoints/{id}."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from cpaas.core.pagination import paginate
from cpaas.core.views import ApiView
from cpaas.sip_edge import selectors, services
from cpaas.sip_edge.models import SipEndpoint
from cpaas.sip_edge.serializers import EndpointCreateIn, EndpointUpdateIn, endpoint_out


def _parse(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _page_out(rows) -> list[dict]:
    registrations = selectors.registrations_by_endpoint(rows)
    return [endpoint_out(e, registrations.get(e.id, [])) for e in rows]


def _one_out(endpoint: SipEndpoint, password: str | None = None) -> dict:
    registrations = selectors.registrations_by_endpoint([endpoint])
    return endpoint_out(endpoint, registrations.get(endpoint.id, []), password=password)


class SipEndpointListView(ApiView):
    product = "voice"

    @extend_schema(operation_id="sip_endpoints_list", responses={200: dict})
    def get(self, request):
        return Response(paginate(request, self.scoped(SipEndpoint), _page_out))

    @extend_schema(operation_id="sip_endpoints_create", request=EndpointCreateIn, responses={201: dict})
    def post(self, request):
        data = _parse(EndpointCreateIn, request.data)
        created = services.endpoint_create(principal=self.principal, actor_key_id=self.principal.key_id, **data)
        return Response(_one_out(created.endpoint, created.password), status=status.HTTP_201_CREATED)


class SipEndpointDetailView(ApiView):
    product = "voice"

    def endpoint(self, endpoint_id: str) -> SipEndpoint:
        return self.get_scoped(SipEndpoint, endpoint_id, message=f"No such SIP endpoint: {endpoint_id}")

    @extend_schema(operation_id="sip_endpoints_retrieve", responses={200: dict})
    def get(self, request, sip_endpoint_id: str):
        return Response(_one_out(self.endpoint(sip_endpoint_id)))

    @extend_schema(operation_id="sip_endpoints_update", request=EndpointUpdateIn, responses={200: dict})
    def patch(self, request, sip_endpoint_id: str):
        endpoint = self.endpoint(sip_endpoint_id)
        changes = _parse(EndpointUpdateIn, request.data)
        updated = services.endpoint_update(principal=self.principal, endpoint=endpoint, changes=changes,
                                           actor_key_id=self.principal.key_id)
        return Response(_one_out(updated.endpoint, updated.password))

    @extend_schema(operation_id="sip_endpoints_delete", responses={200: dict})
    def delete(self, request, sip_endpoint_id: str):
        services.endpoint_delete(endpoint=self.endpoint(sip_endpoint_id), actor_key_id=self.principal.key_id)
        return Response({"id": sip_endpoint_id, "object": "sip_endpoint", "deleted": True})
