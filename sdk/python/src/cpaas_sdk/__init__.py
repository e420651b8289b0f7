"""The Python SDK of the CPaaS platform: ``Client``, ``AsyncClient``, typed errors, webhook verification.

The IM WebSocket client is :mod:`cpaas_sdk.im` (``ImClient``), the call-control document builder
:mod:`cpaas_sdk.voice` (``VoiceResponse``). Guide: docs/sdk.md.
"""

from cpaas_sdk._http import RetryPolicy
from cpaas_sdk._version import __version__
from cpaas_sdk.client import AsyncClient, Client
from cpaas_sdk.errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    Conflict,
    CpaasError,
    IdempotencyError,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ServiceUnavailable,
)
from cpaas_sdk.objects import ApiObject
from cpaas_sdk.pagination import AsyncPager, Pager
from cpaas_sdk.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "ApiConnectionError", "ApiError", "ApiObject", "AsyncClient", "AsyncPager", "AuthenticationError", "Client",
    "Conflict", "CpaasError", "IdempotencyError", "InsufficientFunds", "InvalidRequest", "NotFound", "Pager",
    "PermissionDenied", "RateLimited", "RetryPolicy", "ServerError", "ServiceUnavailable",
    "WebhookVerificationError", "__version__", "verify_webhook",
]
