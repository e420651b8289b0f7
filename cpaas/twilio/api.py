"""The Twilio-compatible API under /2010-04-01/Accounts/{AccountSid}/: Messages and Calls.

Thin views over the SMS and voice services: Twilio's form parameters are read into our services'
arguments, the answers written in Twilio's JSON shapes (resources.py), errors in Twilio's shape
(errors.py). Keys keep their scopes and mode; rows are reached only through the key's scope, so
another tenant's or mode's SID is a 20404 like an unknown one.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser
from rest_framework.response import Response

from cpaas.core.auth import ANY_PRODUCT
from cpaas.core.errors import ApiError, NotFound
from cpaas.core.views import ApiView
from cpaas.messaging import services as sms
from cpaas.messaging.models import Message
from cpaas.messaging.validation import Caller
from cpaas.tenants.models import App
from cpaas.twilio import DIALECT, errors, params, sids
from cpaas.twilio.auth import REALM, AccountSidBasicAuthentication
from cpaas.twilio.paging import page
from cpaas.twilio.resources import account_json, call_json, message_json
from cpaas.voice import services as voice
from cpaas.voice.models import Call

#: Twilio parameters of a message this platform cannot honour: refused rather than dropped.
REFUSED_MESSAGE_PARAMS = ("MediaUrl", "ContentSid", "ContentVariables")


class TwilioView(ApiView):
    """Basic auth with the Account SID, form bodies, Twilio's error shape; everything else (key
    scopes, rate limits, Idempotency-Key, one transaction per write) is ApiView's."""

    authentication_classes = [AccountSidBasicAuthentication]
    parser_classes = [FormParser]

    def get_exception_handler(self):
        return errors.exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 401:
            response["WWW-Authenticate"] = REALM
        return response

    @property
    def caller(self) -> Caller:
        return Caller.of(self.principal)

    def object_id(self, value: str, letters: str, what: str) -> str:
        found = sids.object_id(value, letters)
        if found is None:
            raise NotFound(f"The requested resource {self.request.path} was not found ({what}).")
        return found


def _message_data(data) -> dict:
    refused = next((name for name in REFUSED_MESSAGE_PARAMS if name in data), None)
    if refused:
        raise ApiError(f"`{refused}` is not supported by this platform (no MMS, no content templates).",
                       param=refused)
    native: dict = {}
    for theirs, ours in (("To", "to"), ("From", "from"), ("Body", "body"), ("StatusCallback", "status_callback"),
                         ("SendAt", "send_at")):
        if data.get(theirs) not in (None, ""):
            native[ours] = params.text(data, theirs)
    if "Body" in data and "body" not in native:
        native["body"] = ""
    service = data.get("MessagingServiceSid")
    if service and "from" not in native:  # Twilio: a From given wins over the service
        pool_id = sids.object_id(service, "MG")
        if pool_id is None:
            raise ApiError("No such messaging service.", code="not_found", param="sender_pool")
        native["sender_pool"] = pool_id
    if data.get("SmartEncoded") not in (None, ""):
        native["smart_encoding"] = params.boolean(data, "SmartEncoded")
    if data.get("ValidityPeriod") not in (None, ""):
        native["validity_period"] = params.integer(data, "ValidityPeriod", default=0, low=60, high=72 * 3600)
    return native


class MessagesView(TwilioView):
    product = "sms"
    single_statement_post = True

    @extend_schema(exclude=True)
    def post(self, request, account_sid: str):
        message = sms.message_send(caller=self.caller, data=_message_data(request.data), dialect=DIALECT)
        return Response(message_json(message), status=201)

    @extend_schema(exclude=True)
    def get(self, request, account_sid: str):
        query = request.query_params
        rows = self.scoped(Message)
        rows, filters = params.to_from_filter(rows, query, from_column="sender")
        rows, used = params.date_filter(rows, query, "DateSent", "sent_at")
        filters.update(used)
        return Response(page(request, rows, key="messages", letters="SM", filters=filters,
                             render=lambda found: [message_json(m) for m in found]))


class MessageView(TwilioView):
    product = "sms"

    def _message(self, message_sid: str) -> Message:
        return self.get_scoped(Message, self.object_id(message_sid, "SM", "message"),
                               message=f"The requested resource {self.request.path} was not found")

    @extend_schema(exclude=True)
    def get(self, request, account_sid: str, message_sid: str):
        return Response(message_json(self._message(message_sid)))

    @extend_schema(exclude=True)
    def post(self, request, account_sid: str, message_sid: str):
        """Update: ``Status=canceled`` cancels a scheduled or queued message."""
        message = self._message(message_sid)
        status = request.data.get("Status")
        if "Body" in request.data:
            # No param: Twilio's code for `Body` (21602) means a missing body, not this.
            raise ApiError("Redacting a message body (`Body`) is not supported by this platform.")
        if status != "canceled":
            raise ApiError("`Status` must be canceled.", param="Status")
        sms.message_cancel(caller=self.caller, message_id=message.id)
        return Response(message_json(self._message(message_sid)))

    @extend_schema(exclude=True)
    def delete(self, request, account_sid: str, message_sid: str):
        sms.message_delete(caller=self.caller, message_id=self.object_id(message_sid, "SM", "message"))
        return Response(status=204)


class CallsView(TwilioView):
    product = "voice"

    @extend_schema(exclude=True)
    def post(self, request, account_sid: str):
        data = request.data
        params.post_only(data, "Method")
        params.post_only(data, "StatusCallbackMethod")
        url, twiml = data.get("Url") or None, data.get("Twiml") or None
        if url is None and twiml is None:
            raise ApiError("Either `Url` or `Twiml` is required.", param="url")
        if url is not None and twiml is not None:
            raise ApiError("Give `Url` or `Twiml`, not both.", param="instructions")
        callback = data.get("StatusCallback") or ""
        call = voice.call_create(
            principal=self.principal, to=data.get("To"), from_=data.get("From"), url=url, instructions=twiml,
            status_callback=callback, status_events=params.call_events(data, with_callback=bool(callback)),
            timeout=params.integer(data, "Timeout", default=60, low=5, high=600),
            time_limit=params.integer(data, "TimeLimit", default=14400, low=1, high=14400),
            record=params.boolean(data, "Record"), dialect=DIALECT)
        return Response(call_json(call), status=201)

    @extend_schema(exclude=True)
    def get(self, request, account_sid: str):
        query = request.query_params
        rows = self.scoped(Call).filter(kind="call")
        rows, filters = params.to_from_filter(rows, query, from_column="from_number")
        if query.get("Status"):
            filters["Status"] = status = query["Status"]
            rows = rows.filter(status__in=["queued", "initiated"] if status == "queued" else [status])
        rows, used = params.date_filter(rows, query, "StartTime", "answered_at")
        filters.update(used)
        return Response(page(request, rows, key="calls", letters="CA", filters=filters,
                             render=lambda found: [call_json(c) for c in found]))


class CallView(TwilioView):
    product = "voice"

    @extend_schema(exclude=True)
    def get(self, request, account_sid: str, call_sid: str):
        call_id = self.object_id(call_sid, "CA", "call")
        return Response(call_json(voice.call_get(principal=self.principal, call_id=call_id)))

    @extend_schema(exclude=True)
    def post(self, request, account_sid: str, call_sid: str):
        """Update: ``Status=completed``/``canceled`` ends it; a new ``Url`` or ``Twiml`` redirects it."""
        data = request.data
        params.post_only(data, "Method")
        status = data.get("Status") or None
        if status is not None and status not in ("completed", "canceled"):
            raise ApiError("`Status` must be completed or canceled.", param="Status")
        call = voice.call_modify(principal=self.principal, call_id=self.object_id(call_sid, "CA", "call"),
                                 status="completed" if status else None, url=data.get("Url") or None,
                                 instructions=data.get("Twiml") or None)
        return Response(call_json(call))


class AccountView(TwilioView):
    """``GET /Accounts/{AccountSid}.json``: the key's own app, as Twilio's Account (SDKs fetch it
    to check credentials)."""

    product = ANY_PRODUCT

    @extend_schema(exclude=True)
    def get(self, request, account_sid: str):
        app = self.get_scoped(App, self.principal.app_id)
        return Response(account_json(app, mode=self.principal.mode))


class UnknownView(TwilioView):
    """Any other path under /2010-04-01/: Twilio's 20404, after authentication like the rest."""

    product = ANY_PRODUCT

    @extend_schema(exclude=True)
    def get(self, request, account_sid: str, rest: str = ""):
        raise NotFound(f"The requested resource {request.path} was not found")

    post = delete = get
