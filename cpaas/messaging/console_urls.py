"""SMS pages of the console, under /console/sms/ (included by cpaas/console/urls.py)."""

from django.urls import path

from cpaas.messaging import console_views

urlpatterns = [
    path("messages", console_views.message_log, name="sms-messages"),
    path("messages/<str:message_id>", console_views.message_detail, name="sms-message"),
    path("protection", console_views.protection, name="sms-protection"),
]
