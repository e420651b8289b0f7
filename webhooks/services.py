"""Publishing events. (Delivery arrives with the webhooks issue.)"""

from __future__ import annotations

from typing import Any

from webhooks.models import Event


def event_publish(*, app, type: str, data: dict[str, Any], idempotency_key: str) -> Event:
    app_id = getattr(app, "pk", app)
    event, _created = Event.objects.get_or_create(
        app_id=app_id, idempotency_key=idempotency_key, defaults={"type": type, "data": data}
    )
    return event
