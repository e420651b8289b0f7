"""Webhooks: the event catalog, endpoints, signing and delivery.

The one contract other rooms use is :func:`publish` (design.md §2).
"""

from __future__ import annotations

from typing import Any


def publish(app, type: str, data: dict[str, Any], *, idempotency_key: str):
    """Record an Event for ``app`` inside the caller's transaction; deliveries start on commit.

    The same ``idempotency_key`` for the same app records the event once.
    """
    from webhooks.services import event_publish

    return event_publish(app=app, type=type, data=data, idempotency_key=idempotency_key)
