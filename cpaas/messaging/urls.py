"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from cpaas.messaging import api, inbound_http

urlpatterns = [
    path("messages", api.MessagesView.as_view(), name="messages"),
    path("messages/estimate", api.MessageEstimateView.as_view(), name="messages-estimate"),
    path("messages/batch", api.MessageBatchView.as_view(), name="messages-batch"),
    path("messages/<str:message_id>", api.MessageView.as_view(), name="message"),
    path("messages/<str:message_id>/cancel", api.MessageCancelView.as_view(), name="message-cancel"),
    path("numbers", api.NumbersView.as_view(), name="numbers"),
    path("numbers/<str:number_id>", api.NumberView.as_view(), name="number"),
    path("sender_pools", api.SenderPoolsView.as_view(), name="sender-pools"),
    path("sms/settings", api.SmsSettingsView.as_view(), name="sms-settings"),
    path("sms/settings/rotate-callback-secret", api.SmsCallbackSecretRotateView.as_view(),
         name="sms-callback-secret-rotate"),
    path("carriers/<str:connector>/receipts", inbound_http.receipts, name="carrier-receipts"),
]
