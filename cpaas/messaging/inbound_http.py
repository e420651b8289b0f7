"""Our side of HTTP carriers: the callback endpoint an upstream posts receipts and MO messages to.

Not an API-key endpoint: the upstream proves itself with the connector's ``callback_token``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cpaas.carriers.base import DeliveryReceipt
from cpaas.core.clientip import client_ip
from cpaas.core.errors import ApiError, error_response
from cpaas.core.parsers import json_loads
from cpaas.core.ratelimit import gate
from cpaas.messaging.inbound import inbound_receive
from cpaas.messaging.models import Connector
from cpaas.messaging.receipts import receipts_apply
from cpaas.messaging.route import connector_for


@csrf_exempt
@require_POST
def receipts(request, connector: str):
    # Wrong tokens and unknown connectors count against the caller's address like failed API keys
    # (decision 0843): past the limit the answer is 429, before any database lookup.
    address = client_ip(request) or "unknown"
    throttle = gate().auth_throttle(address, settings.AUTH_FAILURES_PER_WINDOW)
    if throttle.blocked:
        response = JsonResponse({"error": {"code": "rate_limited", "message": "Too many failed callbacks."}},
                                status=429)
        response["Retry-After"] = str(throttle.retry_after)
        return response
    row = Connector.objects.filter(pk=connector, kind=Connector.Kind.HTTP, enabled=True).first()
    instance = connector_for(row.id) if row is not None else None
    if instance is None or not instance.verify_callback(request.headers.get("X-Callback-Token")):
        gate().auth_failed(address, settings.AUTH_FAILURES_PER_WINDOW, settings.AUTH_FAILURE_WINDOW_SECONDS)
        if row is None:
            return JsonResponse({"error": {"code": "not_found", "message": "No such connector."}}, status=404)
        return JsonResponse({"error": {"code": "authentication_failed", "message": "Bad callback token."}},
                            status=401)
    try:
        payload = json_loads(request.body or b"null")  # NUL and lone surrogates refused, as on the API
    except ApiError as error:
        return error_response(error)
    items = instance.parse_callback(payload)
    receipts_ = [item for item in items if isinstance(item, DeliveryReceipt)]
    counts = receipts_apply(receipts_)
    for item in items:
        if not isinstance(item, DeliveryReceipt):
            inbound_receive(item)
    return JsonResponse({"received": len(items), **counts})
