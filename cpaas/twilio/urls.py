from django.urls import path, re_path

from cpaas.twilio import api

SID = "<str:account_sid>"

urlpatterns = [
    path(f"Accounts/{SID}.json", api.AccountView.as_view(), name="twilio-account"),
    path(f"Accounts/{SID}/Messages.json", api.MessagesView.as_view(), name="twilio-messages"),
    path(f"Accounts/{SID}/Messages/<str:message_sid>.json", api.MessageView.as_view(), name="twilio-message"),
    path(f"Accounts/{SID}/Calls.json", api.CallsView.as_view(), name="twilio-calls"),
    path(f"Accounts/{SID}/Calls/<str:call_sid>.json", api.CallView.as_view(), name="twilio-call"),
    re_path(r"^Accounts/(?P<account_sid>[^/]+)/(?P<rest>.*)$", api.UnknownView.as_view(), name="twilio-unknown"),
]
