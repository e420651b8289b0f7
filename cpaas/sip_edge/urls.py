"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from cpaas.sip_edge import api

urlpatterns = [
    path("sip/endpoints", api.SipEndpointListView.as_view(), name="sip-endpoints"),
    path("sip/endpoints/<str:sip_endpoint_id>", api.SipEndpointDetailView.as_view(), name="sip-endpoint-detail"),
]
