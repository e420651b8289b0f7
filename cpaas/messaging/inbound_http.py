"""Our side of HTTP carriers: the callback endpoint an upstream posts receipts and MO messages to.

Not an API-key endpoint: the upstream proves itself with the connector's ``callback_token``.
"""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cpaas.carriers.base import DeliveryReceipt
from cpaas.messaging import pipeline
from cpaas.messaging.models import Connector


@csrf_exempt
@require_POST
def receipts(request, connector: str):
    row = Connector.objects.filter(pk=connector, kind=Connector.Kind.HTTP, enabled=True).first()
    if row is None:
        return JsonResponse({"error": {"code": "not_found", "message": "No such connector."}}, status=404)
    instance = pipeline.connector_for(row.id)
    if instance is None or not instance.verify_callback(request.headers.get("X-Callback-Token")):
        return JsonResponse({"error": {"code": "authentication_failed", "message": "Bad callback token."}},
                            status=401)
    try:
        payload = json.loads(request.body or b"null")
    except ValueError:
        return JsonResponse({"error": {"code": "invalid_json", "message": "Body is not JSON."}}, status=400)
    items = instance.parse_callback(payload)
    receipts_ = [item for item in items if isinstance(item, DeliveryReceipt)]
    counts = pipeline.receipts_apply(receipts_)
    for item in items:
        if not isinstance(item, DeliveryReceipt):
            pipeline.inbound_receive(item)
    return JsonResponse({"received": len(items), **counts})
