"""IM console pages under /console/im/ (included by cpaas/console/urls.py)."""

from django.urls import path

from cpaas.im import console_views as views

urlpatterns = [
    path("", views.overview, name="im-overview"),
    path("users", views.users, name="im-users"),
    path("conversations/<str:conversation_id>", views.conversation, name="im-conversation"),
]
