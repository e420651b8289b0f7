"""SMS pages of the console, under /console/sms/ (included by cpaas/console/urls.py)."""

from django.urls import path
from django.views.generic import RedirectView

from cpaas.messaging import console_views

urlpatterns = [
    path("", RedirectView.as_view(url="messages"), name="sms-home"),
    path("messages", console_views.message_log, name="sms-messages"),
    path("messages/<str:message_id>", console_views.message_detail, name="sms-message"),
    path("protection", console_views.protection, name="sms-protection"),
]
