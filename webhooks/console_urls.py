"""Console pages of the webhooks room, under /console/webhooks/."""

from django.urls import path

from webhooks import console_views as views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoints, name="endpoints"),
    path("<str:endpoint_id>", views.endpoint, name="endpoint"),
    path("<str:endpoint_id>/recover", views.recover, name="recover"),
    path("<str:endpoint_id>/deliveries/<str:delivery_id>/retry", views.retry, name="retry"),
]
