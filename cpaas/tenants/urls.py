from django.urls import path

from cpaas.tenants import api

urlpatterns = [
    path("me", api.MeView.as_view(), name="me"),
    path("apps", api.AppListView.as_view(), name="apps"),
    path("apps/<str:app_id>", api.AppDetailView.as_view(), name="app-detail"),
    path("api-keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>", api.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
