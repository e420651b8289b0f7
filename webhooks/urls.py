"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from webhooks import api

urlpatterns = [
    path("event-types", api.EventTypesView.as_view(), name="webhooks-event-types"),
    path("events", api.EventsView.as_view(), name="webhooks-events"),
    path("events/<str:event_id>", api.EventView.as_view(), name="webhooks-event"),
    path("webhook-endpoints", api.EndpointsView.as_view(), name="webhooks-endpoints"),
    path("webhook-endpoints/<str:endpoint_id>", api.EndpointView.as_view(), name="webhooks-endpoint"),
    path("webhook-endpoints/<str:endpoint_id>/rotate-secret", api.EndpointRotateSecretView.as_view(),
         name="webhooks-endpoint-rotate"),
    path("webhook-endpoints/<str:endpoint_id>/test", api.EndpointTestView.as_view(), name="webhooks-endpoint-test"),
    path("webhook-endpoints/<str:endpoint_id>/recover", api.EndpointRecoverView.as_view(),
         name="webhooks-endpoint-recover"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries", api.DeliveriesView.as_view(),
         name="webhooks-deliveries"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries/<str:delivery_id>", api.DeliveryView.as_view(),
         name="webhooks-delivery"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries/<str:delivery_id>/retry",
         api.DeliveryRetryView.as_view(), name="webhooks-delivery-retry"),
]
