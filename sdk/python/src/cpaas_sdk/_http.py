"""The request loop shared by every resource: auth, Idempotency-Key, retries, typed errors.

A POST gets an ``Idempotency-Key`` (the caller's, or a fresh UUID) once, before its first attempt,
and every retry of it sends the same key: the platform then answers a retry of a send that did
go through with the first answer (``Idempotent-Replayed: true``), so a retried send is never
doubled. Retries cover connection errors, 429, 5xx and any error the API marks ``retryable``
(409 ``idempotency_in_progress``), with exponential backoff and jitter, honouring ``Retry-After``.
This is the developer's client, running on their machine against the platform's API: no tenant
URL passes through it, so it has its own httpx client rather than the platform's egress.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from cpaas_sdk._version import __version__
from cpaas_sdk.errors import ApiConnectionError, ApiError, error_class, parse_retry_after
from cpaas_sdk.objects import ApiObject

DEFAULT_BASE_URL = "http://localhost:8000"
USER_AGENT = f"cpaas-sdk-python/{__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt; the n-th waits ``initial_delay * 2**n``
    (capped at ``max_delay``) times a random factor in [0.5, 1], or what ``Retry-After`` asks. A
    ``Retry-After`` longer than ``max_retry_after`` is not waited for: the error is raised."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None when not to retry."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return min(self.max_delay, self.initial_delay * 2**attempt) * random.uniform(0.5, 1.0)


def retryable(response: httpx.Response, error: ApiError) -> bool:
    return response.status_code == 429 or response.status_code >= 500 or error.retryable


def to_error(response: httpx.Response) -> ApiError:
    """The envelope of an error answer as its typed exception (a body that is not the envelope,
    e.g. a proxy's HTML 502, still gives a typed error with the status)."""
    try:
        body = response.json()
        envelope = body["error"]
        if not isinstance(envelope, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        body, envelope = {}, {}
    status = response.status_code
    code = str(envelope.get("code") or ("server_error" if status >= 500 else "http_error"))
    return error_class(status, code)(
        status=status, code=code,
        message=str(envelope.get("message") or response.reason_phrase or "HTTP error"),
        param=envelope.get("param"),
        request_id=envelope.get("request_id") or response.headers.get("request-id"),
        retryable=bool(envelope.get("retryable", status == 429 or status >= 500)),
        type=envelope.get("type"), doc_url=envelope.get("doc_url"), body=body,
        headers={k.lower(): v for k, v in response.headers.items()},
    )


def decode(response: httpx.Response, raw: bool) -> Any:
    if raw:
        return response.content
    if not response.content:
        return ApiObject()
    return json.loads(response.content, object_hook=ApiObject)


def clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset (None) fields; ``from_`` (a Python keyword) is sent as ``from``."""
    if values is None:
        return None
    return {("from" if k == "from_" else k): v for k, v in values.items() if v is not None}


class _Base:
    def __init__(self, *, api_key: str, base_url: str, retry: RetryPolicy) -> None:
        if not api_key:
            raise ValueError("an API key is required (sk_test_… or sk_live_…)")
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT,
                        "Accept": "application/json"}

    def _headers(self, method: str, idempotency_key: str | None) -> dict[str, str]:
        headers = dict(self.headers)
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        return headers


class Requester(_Base):
    """Synchronous requests over one pooled ``httpx.Client``."""

    def __init__(self, *, api_key: str, base_url: str = DEFAULT_BASE_URL, retry: RetryPolicy = RetryPolicy(),
                 timeout: float = 30.0, http_client: httpx.Client | None = None) -> None:
        super().__init__(api_key=api_key, base_url=base_url, retry=retry)
        self.http = http_client or httpx.Client(timeout=timeout)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, idempotency_key: str | None = None, raw: bool = False) -> Any:
        headers = self._headers(method, idempotency_key)
        attempt = 0
        while True:
            try:
                response = self.http.request(method, self.base_url + path, params=clean(params), json=json,
                                             headers=headers)
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise ApiConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return decode(response, raw)
                error = to_error(response)
                delay = self.retry.delay(attempt, parse_retry_after(response.headers.get("retry-after"))) \
                    if retryable(response, error) else None
                if delay is None:
                    raise error
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self.http.close()


class AsyncRequester(_Base):
    """The same loop on ``httpx.AsyncClient``."""

    def __init__(self, *, api_key: str, base_url: str = DEFAULT_BASE_URL, retry: RetryPolicy = RetryPolicy(),
                 timeout: float = 30.0, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(api_key=api_key, base_url=base_url, retry=retry)
        self.http = http_client or httpx.AsyncClient(timeout=timeout)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, idempotency_key: str | None = None, raw: bool = False) -> Any:
        headers = self._headers(method, idempotency_key)
        attempt = 0
        while True:
            try:
                response = await self.http.request(method, self.base_url + path, params=clean(params),
                                                   json=json, headers=headers)
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise ApiConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return decode(response, raw)
                error = to_error(response)
                delay = self.retry.delay(attempt, parse_retry_after(response.headers.get("retry-after"))) \
                    if retryable(response, error) else None
                if delay is None:
                    raise error
            await asyncio.sleep(delay)
            attempt += 1

    async def close(self) -> None:
        await self.http.aclose()
