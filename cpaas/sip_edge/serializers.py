"""Input serializers and output shapes of the SIP endpoints API."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from rest_framework import serializers

from cpaas.core.serializers import StrictSerializer
from cpaas.sip_edge.credentials import domain_for
from cpaas.sip_edge.models import SipEndpoint, SipRegistration


class EndpointCreateIn(StrictSerializer):
    # Checked by the service (credentials.py) so the errors carry their own codes.
    username = serializers.JSONField(help_text="1 to 32 of a-z 0-9 . _ -, starting with a letter or digit")
    password = serializers.JSONField(required=False, help_text="12 to 128 printable ASCII; generated when left out")
    display_name = serializers.CharField(required=False, max_length=100, allow_blank=True, default="")
    caller_id = serializers.CharField(required=False, max_length=20, allow_blank=True, allow_null=True,
                                      help_text="an E.164 voice number of the app")


class EndpointUpdateIn(StrictSerializer):
    password = serializers.JSONField(required=False)
    rotate_password = serializers.BooleanField(required=False, help_text="true: a new generated password")
    display_name = serializers.CharField(required=False, max_length=100, allow_blank=True)
    caller_id = serializers.CharField(required=False, max_length=20, allow_blank=True, allow_null=True)
    enabled = serializers.BooleanField(required=False)


def _iso(value) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # Kamailio's columns are naive UTC
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _address(received: str | None) -> str | None:
    """``sip:127.0.0.1:5062;transport=tcp`` → ``127.0.0.1:5062``."""
    if not received:
        return None
    return received.removeprefix("sip:").split(";", 1)[0]


def _transport(received: str | None) -> str:
    params = (received or "").lower().split(";")[1:]
    return next((p.split("=", 1)[1] for p in params if p.startswith("transport=")), "udp")


def registration_out(row: SipRegistration) -> dict[str, Any]:
    return {
        "object": "sip_registration",
        "contact": row.contact,
        "user_agent": row.user_agent,
        "source_address": _address(row.received),
        "transport": _transport(row.received),
        "expires_at": _iso(row.expires),
        "updated_at": _iso(row.last_modified),
    }


def endpoint_out(endpoint: SipEndpoint, registrations: list[SipRegistration], *,
                 password: str | None = None) -> dict[str, Any]:
    domain = domain_for(endpoint.realm)
    body: dict[str, Any] = {
        "id": endpoint.id,
        "object": "sip_endpoint",
        "username": endpoint.username,
        "domain": domain,
        "sip_uri": f"sip:{endpoint.username}@{domain}",
        "display_name": endpoint.display_name,
        "caller_id": endpoint.caller_id or None,
        "enabled": endpoint.enabled,
        "livemode": endpoint.mode == "live",
        "created": _iso(endpoint.created_at),
        "updated": _iso(endpoint.updated_at),
        "registrations": [registration_out(r) for r in registrations],
    }
    if password is not None:
        body["password"] = password
    return body
