"""The SMS API: messages (send, batch, estimate, get, list, cancel), numbers, sender pools, settings.

Views are thin: parse, call one service, serialize. Sends validate by hand rather than through a
DRF serializer: it is the hottest endpoint and every rejection needs its own stable code.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from cpaas.core.clientip import client_ip
from cpaas.core.errors import ApiError
from cpaas.core.pagination import paginate
from cpaas.core.scoping import shared_policy_write
from cpaas.core.views import ApiView
from cpaas.messaging import app_settings, inventory, schemas, selectors, services, status_callbacks
from cpaas.messaging.models import Message, PhoneNumber, SenderPool
from cpaas.messaging.states import TIMESTAMP
from cpaas.messaging.validation import Caller


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def message_json(message: Message) -> dict:
    timestamps = {}
    for status, column in TIMESTAMP.items():
        value = getattr(message, column, None)
        if value is not None and status != "scheduled":
            timestamps[status] = _iso(value)
    return {
        "id": message.id,
        "object": "message",
        "direction": message.direction,
        "status": message.status,
        "to": message.to,
        "from": message.sender,
        "sender_pool": message.sender_pool or None,
        "body": message.body,
        "segments": message.segments,
        "encoding": message.encoding,
        "country": message.country or None,
        "price": None if message.price is None else str(message.price),
        "currency": message.currency or None,
        "error_code": message.error_code or None,
        "error_message": message.error_message or None,
        "reference": message.reference or None,
        "status_callback": message.status_callback or None,
        "status_callback_events": status_callbacks.events_of(message),
        "send_at": _iso(message.send_at),
        "validity_period": message.validity_period,
        "sequence": message.sequence,
        "livemode": message.mode == "live",
        "created_at": _iso(message.created_at),
        "timestamps": timestamps,
    }


def number_json(number: PhoneNumber) -> dict:
    return {
        "id": number.id, "object": "phone_number", "number": number.number, "country": number.country,
        "capabilities": number.capabilities, "connector": number.connector,
        "livemode": number.mode == "live", "inbound": {"enabled": number.inbound_enabled},
        "voice_url": number.voice_url, "voice_fallback_url": number.voice_fallback_url,
        "created_at": _iso(number.created_at),
    }


def message_location(message: Message) -> str:
    return f"/v1/messages/{message.id}"


def send_response(message: Message) -> Response:
    """The 201 of a send (the Django view's and the lean send path's)."""
    response = Response(message_json(message), status=201)
    response["Location"] = message_location(message)
    return response


class SmsView(ApiView):
    product = "sms"

    @property
    def caller(self) -> Caller:
        return Caller.of(self.principal)


class MessagesView(SmsView):
    single_statement_post = True  # a send is one INSERT … WHERE NOT EXISTS (opt-out)

    @extend_schema(operation_id="messages_create", request=schemas.SmsMessageIn, responses={201: schemas.SmsMessageOut})
    def post(self, request):
        return send_response(services.message_send(caller=self.caller, data=request.data))

    @extend_schema(operation_id="messages_list", responses={200: schemas.SmsMessageList})
    def get(self, request):
        queryset = selectors.message_list(self.scoped(Message), params=request.query_params)
        return Response(paginate(request, queryset, lambda rows: [message_json(m) for m in rows]))


class MessageView(SmsView):
    @extend_schema(operation_id="messages_retrieve", responses={200: schemas.SmsMessageOut})
    def get(self, request, message_id: str):
        return Response(message_json(self.get_scoped(Message, message_id, message="No such message.")))


class MessageCancelView(SmsView):
    @extend_schema(operation_id="messages_cancel", request=None, responses={200: schemas.SmsMessageOut})
    def post(self, request, message_id: str):
        message = services.message_cancel(caller=self.caller, message_id=message_id)
        return Response(message_json(message))


class MessageEstimateView(SmsView):
    @extend_schema(operation_id="messages_estimate", request=schemas.EstimateIn, responses={200: schemas.EstimateOut})
    def post(self, request):
        return Response(services.message_estimate(caller=self.caller, data=request.data))


class MessageBatchView(SmsView):
    @extend_schema(operation_id="messages_batch", request=schemas.BatchIn, responses={200: schemas.BatchOut})
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise ApiError("The body must be a JSON object with `messages`.", param="messages")
        unknown = sorted(set(data) - {"messages"})
        if unknown:
            raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
        items = services.messages_send_batch(caller=self.caller, items=data.get("messages"))
        out = []
        for item in items:
            if item.message is not None:
                message = item.message
                out.append({"index": item.index, "status": "accepted", "id": message.id,
                            "message_status": message.status, "to": message.to, "segments": message.segments,
                            "encoding": message.encoding})
            else:
                out.append({"index": item.index, "status": "rejected",
                            "error": {"code": item.error.code, "message": item.error.message,
                                      "param": item.error.param}})
        accepted = sum(1 for item in items if item.message is not None)
        return Response({"object": "message_batch", "accepted": accepted, "rejected": len(items) - accepted,
                         "data": out}, status=200)


class NumbersView(SmsView):
    @extend_schema(operation_id="numbers_list", responses={200: schemas.NumberList})
    def get(self, request):
        queryset = self.scoped(PhoneNumber)
        return Response(paginate(request, queryset, lambda rows: [number_json(n) for n in rows]))

    @extend_schema(operation_id="numbers_create", request=schemas.NumberIn, responses={201: schemas.NumberOut})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(data) - {"number", "capabilities"})
        if unknown:
            raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
        if not self.principal.is_test:
            raise ApiError("Live numbers are assigned by the operator. Test keys provision sandbox numbers.",
                           code="permission_denied")
        capabilities = data.get("capabilities")
        if capabilities is not None and (not isinstance(capabilities, list) or not capabilities
                                         or not all(c in ("sms", "voice") for c in capabilities)):
            raise ApiError("`capabilities` must be a list of sms and/or voice.", param="capabilities")
        number = inventory.number_provision_test(caller=self.caller, number=data.get("number"),
                                                capabilities=capabilities)
        return Response(number_json(number), status=201)


class NumberView(SmsView):
    @extend_schema(operation_id="numbers_retrieve", responses={200: schemas.NumberOut})
    def get(self, request, number_id: str):
        number = self.get_scoped(PhoneNumber, number_id, message="No such number.")
        return Response(number_json(number))

    @extend_schema(operation_id="numbers_update", request=schemas.NumberVoiceIn, responses={200: schemas.NumberOut})
    def post(self, request, number_id: str):
        number = self.get_scoped(PhoneNumber, number_id, message="No such number.")
        data = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(data) - {"voice_url", "voice_fallback_url"})
        if unknown:
            raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
        return Response(number_json(inventory.number_voice_urls_set(number, **data)))


class SenderPoolsView(SmsView):
    @extend_schema(operation_id="sender_pools_create", request=schemas.SenderPoolIn,
                   responses={201: schemas.SenderPoolOut})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(data) - {"name", "numbers"})
        if unknown:
            raise ApiError(f"Unknown parameter `{unknown[0]}`.", code="invalid_request", param=unknown[0])
        numbers = data.get("numbers")
        if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
            raise ApiError("`numbers` must be a non-empty list of numbers the app owns.", param="numbers")
        pool = inventory.sender_pool_create(caller=self.caller, name=str(data.get("name") or "")[:100],
                                           numbers=numbers)
        return Response({"id": pool.id, "object": "sender_pool", "name": pool.name,
                         "numbers": sorted(numbers)}, status=201)

    @extend_schema(operation_id="sender_pools_list", responses={200: schemas.SenderPoolList})
    def get(self, request):
        queryset = self.scoped(SenderPool).prefetch_related("numbers")
        return Response(paginate(request, queryset, lambda rows: [
            {"id": p.id, "object": "sender_pool", "name": p.name,
             "numbers": sorted(n.number for n in p.numbers.all())} for p in rows]))


def settings_json(row, mode: str, new_secret: str | None = None) -> dict:
    """The settings as the caller's mode sees them: the callback secret only as a hint, except in
    the one response that created or rotated it."""
    body = {"object": "sms_settings", "allowed_countries": row.allowed_countries, "daily_cap": row.daily_cap,
            "velocity_limit": row.velocity_limit, "help_text": row.help_text,
            "callback_secret_hint": app_settings.callback_secret_hint(row, mode)}
    if new_secret is not None:
        body["callback_secret"] = new_secret
    return body


#: App-wide SMS policy: it governs both modes' traffic, so only a live key changes it.
SMS_POLICY_FIELDS = frozenset({"allowed_countries", "daily_cap", "velocity_limit", "help_text"})


class SmsSettingsView(SmsView):
    product = "management"

    @extend_schema(operation_id="sms_settings_retrieve", responses={200: schemas.SmsSettingsOut})
    def get(self, request):
        return Response(settings_json(app_settings.sms_settings(self.principal.app_id), self.caller.mode))

    @extend_schema(operation_id="sms_settings_update", request=schemas.SmsSettingsIn,
                   responses={200: schemas.SmsSettingsOut})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        shared_policy_write(self.caller, [name for name in data if name in SMS_POLICY_FIELDS])
        changes = {}
        for name, value in data.items():
            if name == "allowed_countries":
                if value is not None and (not isinstance(value, list) or not all(
                        isinstance(c, str) and len(c) == 2 and c.isalpha() for c in value)):
                    raise ApiError("`allowed_countries` must be a list of ISO 3166 alpha-2 codes or null.",
                                   param=name)
                changes[name] = None if value is None else sorted({c.upper() for c in value})
            elif name in ("daily_cap", "velocity_limit"):
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                    raise ApiError(f"`{name}` must be a positive integer or null.", param=name)
                changes[name] = value
            elif name == "help_text":
                if not isinstance(value, str) or len(value) > 320:
                    raise ApiError("`help_text` must be a string of at most 320 characters.", param=name)
                changes[name] = value
            else:
                raise ApiError(f"Unknown parameter `{name}`.", code="invalid_request", param=name)
        written = services.sms_settings_update(caller=self.caller, changes=changes)
        return Response(settings_json(written.row, self.caller.mode, written.callback_secret))


class SmsCallbackSecretRotateView(SmsView):
    product = "management"

    @extend_schema(operation_id="sms_callback_secret_rotate", request=None, responses={200: schemas.SmsSettingsOut})
    def post(self, request):
        written = services.callback_secret_rotate(caller=self.caller, actor_key_id=self.principal.key_id,
                                                  ip=client_ip(request))
        return Response(settings_json(written.row, self.caller.mode, written.callback_secret))
