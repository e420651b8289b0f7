"""``Client`` and ``AsyncClient``: one namespace per resource of the API.

    client = Client("sk_test_…", base_url="http://localhost:8000")
    client.messages.send(from_="+15005550006", to="+15005550000", body="Hi")
    for call in client.calls.list(status="completed"):
        ...
"""

from __future__ import annotations

from types import TracebackType

import httpx

from cpaas_sdk._http import DEFAULT_BASE_URL, AsyncRequester, Requester, RetryPolicy
from cpaas_sdk.resources import _async as a
from cpaas_sdk.resources import _sync as s


class Client:
    """The synchronous client. ``max_retries`` retries (with backoff) after 429, 5xx and connection
    errors; every POST carries an Idempotency-Key that its retries reuse."""

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0,
                 max_retries: int = 2, retry: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None) -> None:
        requester = Requester(api_key=api_key, base_url=base_url, timeout=timeout,
                              retry=retry or RetryPolicy(max_retries=max_retries), http_client=http_client)
        self._requester = requester
        self.messages = s.Messages(requester)
        self.numbers = s.Numbers(requester)
        self.sender_pools = s.SenderPools(requester)
        self.sms_settings = s.SmsSettings(requester)
        self.calls = s.Calls(requester)
        self.recordings = s.Recordings(requester)
        self.voice_settings = s.VoiceSettings(requester)
        self.sip_endpoints = s.SipEndpoints(requester)
        self.im = s.Im(requester)
        self.webhook_endpoints = s.WebhookEndpoints(requester)
        self.webhook_deliveries = s.WebhookDeliveries(requester)
        self.events = s.Events(requester)
        self.event_types = s.EventTypes(requester)
        self.usage = s.Usage(requester)
        self.usage_events = s.UsageEvents(requester)
        self.invoices = s.Invoices(requester)
        self.credit_notes = s.CreditNotes(requester)
        self.rtc_rooms = s.RtcRooms(requester)
        self.members = s.Members(requester)
        self.invitations = s.Invitations(requester)
        self.api_keys = s.ApiKeys(requester)
        self.apps = s.Apps(requester)
        self.me = s.Me(requester)

    def close(self) -> None:
        self._requester.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncClient:
    """The asyncio client: the same namespaces, every call awaited; lists are ``async for``."""

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 30.0,
                 max_retries: int = 2, retry: RetryPolicy | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        requester = AsyncRequester(api_key=api_key, base_url=base_url, timeout=timeout,
                                   retry=retry or RetryPolicy(max_retries=max_retries), http_client=http_client)
        self._requester = requester
        self.messages = a.Messages(requester)
        self.numbers = a.Numbers(requester)
        self.sender_pools = a.SenderPools(requester)
        self.sms_settings = a.SmsSettings(requester)
        self.calls = a.Calls(requester)
        self.recordings = a.Recordings(requester)
        self.voice_settings = a.VoiceSettings(requester)
        self.sip_endpoints = a.SipEndpoints(requester)
        self.im = a.Im(requester)
        self.webhook_endpoints = a.WebhookEndpoints(requester)
        self.webhook_deliveries = a.WebhookDeliveries(requester)
        self.events = a.Events(requester)
        self.event_types = a.EventTypes(requester)
        self.usage = a.Usage(requester)
        self.usage_events = a.UsageEvents(requester)
        self.invoices = a.Invoices(requester)
        self.credit_notes = a.CreditNotes(requester)
        self.rtc_rooms = a.RtcRooms(requester)
        self.members = a.Members(requester)
        self.invitations = a.Invitations(requester)
        self.api_keys = a.ApiKeys(requester)
        self.apps = a.Apps(requester)
        self.me = a.Me(requester)

    async def close(self) -> None:
        await self._requester.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
