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


def send_callback(app, url: str, type: str, data: dict[str, Any], *, idempotency_key: str, channel: str) -> None:
    """Record a signed POST to a one-off ``url`` (a ``status_callback``) inside the caller's
    transaction; it is sent after commit and retried on the webhooks schedule. ``channel``
    names the registered signer whose per-app secret signs it (webhooks/callbacks.py)."""
    from webhooks.callbacks import send_callback as _send

    _send(app, url, type, data, idempotency_key=idempotency_key, channel=channel)
