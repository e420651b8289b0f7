"""OpenAPI shapes of the SMS API. Documentation only: sends are validated by hand in services.py
(the hottest endpoint, and every rejection needs its own code), so these serializers never run on
the request path; a test keeps them in step with the fields the services accept."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cpaas.messaging.status_callbacks import SHORTHANDS, STATUSES


class _FromField:
    """``from`` is a Python keyword: declare it as ``from_`` and publish it as ``from``."""

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


@extend_schema_field({"oneOf": [
    {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(STATUSES)}},
    {"type": "string", "enum": list(SHORTHANDS)},
]})
class _StatusCallbackEvents(serializers.JSONField):
    """A list of statuses, or the shorthand ``"final"`` / ``"all"``."""


class SmsMessageIn(_FromField, serializers.Serializer):
    to = serializers.CharField(help_text="E.164 number (or national format with `country`).")
    from_ = serializers.CharField(required=False, help_text="An owned number or an alphanumeric sender id.")
    sender_pool = serializers.CharField(required=False, help_text="Send from a pool (sticky per recipient).")
    body = serializers.CharField(help_text="Up to 10 segments.")
    status_callback = serializers.URLField(required=False, help_text="Signed POSTs of the message's status changes.")
    status_callback_events = _StatusCallbackEvents(
        required=False,
        help_text='The statuses `status_callback` hears of: a list of `queued`, `sent`, `delivered`, '
                  '`undelivered`, `failed`, `canceled`; or `"final"` (the status a message ends in: '
                  '`delivered`, `undelivered`, `failed` or `canceled`); default every one (`"all"`).')
    send_at = serializers.DateTimeField(required=False, help_text="15 minutes to 7 days ahead.")
    validity_period = serializers.IntegerField(required=False, help_text="Seconds.")
    reference = serializers.CharField(required=False, help_text="Your own id, echoed back.")
    smart_encoding = serializers.BooleanField(required=False)
    country = serializers.CharField(required=False, help_text="ISO 3166 alpha-2 hint for national numbers.")


class SmsMessageOut(_FromField, serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    direction = serializers.ChoiceField(choices=["outbound", "inbound"])
    status = serializers.CharField()
    to = serializers.CharField()
    from_ = serializers.CharField()
    sender_pool = serializers.CharField(allow_null=True)
    body = serializers.CharField()
    segments = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    country = serializers.CharField(allow_null=True)
    price = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    currency = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    reference = serializers.CharField(allow_null=True)
    status_callback = serializers.CharField(allow_null=True)
    status_callback_events = serializers.ListField(child=serializers.ChoiceField(choices=list(STATUSES)))
    send_at = serializers.DateTimeField(allow_null=True)
    validity_period = serializers.IntegerField(allow_null=True)
    sequence = serializers.IntegerField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    timestamps = serializers.DictField(child=serializers.DateTimeField())


class SmsMessageList(serializers.Serializer):
    object = serializers.CharField()
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = SmsMessageOut(many=True)


class EstimateIn(serializers.Serializer):
    body = serializers.CharField()
    smart_encoding = serializers.BooleanField(required=False)
    to = serializers.CharField(required=False)
    country = serializers.CharField(required=False)


class EstimateOut(serializers.Serializer):
    object = serializers.CharField()
    segments = serializers.IntegerField()
    encoding = serializers.CharField()
    characters = serializers.IntegerField()
    units = serializers.IntegerField()
    ucs2_characters = serializers.ListField(child=serializers.CharField())
    body = serializers.CharField()
    too_long = serializers.BooleanField()
    max_segments = serializers.IntegerField()
    country = serializers.CharField(allow_null=True)
    price = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    currency = serializers.CharField(allow_null=True)


class BatchIn(serializers.Serializer):
    messages = SmsMessageIn(many=True, help_text="Up to 1,000; each validated on its own.")


class BatchItemOut(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["accepted", "rejected"])
    id = serializers.CharField(required=False)
    message_status = serializers.CharField(required=False)
    to = serializers.CharField(required=False)
    segments = serializers.IntegerField(required=False)
    encoding = serializers.CharField(required=False)
    error = serializers.DictField(required=False)


class BatchOut(serializers.Serializer):
    object = serializers.CharField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    data = BatchItemOut(many=True)


class NumberIn(serializers.Serializer):
    number = serializers.CharField(required=False, help_text="A sandbox number to claim (test keys).")
    capabilities = serializers.ListField(child=serializers.ChoiceField(choices=["sms", "voice"]), required=False)


class NumberOut(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    number = serializers.CharField()
    country = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    connector = serializers.CharField()
    livemode = serializers.BooleanField()
    inbound = serializers.DictField()
    voice_url = serializers.CharField()
    voice_fallback_url = serializers.CharField()
    created_at = serializers.DateTimeField()


class NumberVoiceIn(serializers.Serializer):
    voice_url = serializers.CharField(required=False, allow_blank=True)
    voice_fallback_url = serializers.CharField(required=False, allow_blank=True)


class NumberList(SmsMessageList):
    data = NumberOut(many=True)


class SenderPoolIn(serializers.Serializer):
    name = serializers.CharField(required=False)
    numbers = serializers.ListField(child=serializers.CharField())


class SenderPoolOut(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    name = serializers.CharField()
    numbers = serializers.ListField(child=serializers.CharField())


class SenderPoolList(SmsMessageList):
    data = SenderPoolOut(many=True)


class SmsSettingsIn(serializers.Serializer):
    allowed_countries = serializers.ListField(child=serializers.CharField(), allow_null=True, required=False)
    daily_cap = serializers.IntegerField(allow_null=True, required=False)
    velocity_limit = serializers.IntegerField(allow_null=True, required=False)
    help_text = serializers.CharField(required=False)


class SmsSettingsOut(serializers.Serializer):
    object = serializers.CharField()
    allowed_countries = serializers.ListField(child=serializers.CharField(), allow_null=True)
    daily_cap = serializers.IntegerField(allow_null=True)
    velocity_limit = serializers.IntegerField(allow_null=True)
    help_text = serializers.CharField()
    callback_secret_hint = serializers.CharField(allow_null=True,
                                                 help_text="`whsec_…abcd`; null before the first write")
    callback_secret = serializers.CharField(
        required=False, help_text="Only in the response that created or rotated it: store it then.")
