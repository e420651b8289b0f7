"""Fixtures of the voice tests: the engine on a virtual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async

from cpaas.carriers.clock import VirtualClock
from cpaas.carriers.sandbox import SandboxVoiceConnector
from cpaas.voice.engine import CallEngine
from cpaas.voice.runtime import register_engine
from cpaas.voice.urlguard import FetchError, FetchTimeout, TenantClients

FROM = "+15005559000"


class MockFetcher:
    """The engine's fetcher interface over an ``httpx.MockTransport``: the tenant's web server,
    faked at the edge of the world for tests about documents. Tests about the guard itself set
    ``voice.real_http`` and go through the egress client against loopback servers."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float,
                   limit: int) -> tuple[int, bytes]:
        try:
            response = await self.client.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None
        return response.status_code, response.content[: limit + 1] if response.status_code == 200 else b""

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class Voice:
    """The engine, the sandbox network on a virtual clock, and the tenant's web server (mocked)."""

    clock: VirtualClock
    network: SandboxVoiceConnector
    routes: dict[str, Callable[[dict], httpx.Response | str]] = field(default_factory=dict)
    requests: list[tuple[str, dict, httpx.Request]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    real_http: bool = False  # True: the workers' guarded per-origin clients, real sockets

    def route(self, url: str, answer) -> None:
        """``answer``: a document (str), an httpx.Response, or a function of the posted params."""
        self.routes[url] = answer

    def _handle(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content or b"{}")
        url = str(request.url)
        self.requests.append((url, params, request))
        answer = self.routes.get(url)
        if answer is None:
            return httpx.Response(404)
        if callable(answer):
            answer = answer(params)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, text=answer)

    def run(self, *call_ids: str, during: Callable[[], Awaitable] | None = None) -> list:
        return async_to_sync(self._run)(call_ids, during)

    async def _run(self, call_ids, during):
        http = TenantClients() if self.real_http else MockFetcher(self._handle)
        engine = CallEngine(clock=self.clock, connector_for=lambda mode: self.network, http=http)
        register_engine(engine, asyncio.get_running_loop())
        jobs = [engine.run_call(call_id) for call_id in call_ids]
        if during is not None:
            jobs.append(during())
        try:
            return await asyncio.gather(*jobs)
        finally:
            self.clock.close()
            await http.aclose()

    def posted(self, url: str) -> list[dict]:
        return [params for posted_url, params, _ in self.requests if posted_url == url]


@pytest.fixture
def voice(db) -> Voice:
    from django.utils import timezone

    clock = VirtualClock(start=timezone.now().replace(microsecond=0))
    return Voice(clock=clock, network=SandboxVoiceConnector(clock=clock))


@pytest.fixture
def modify(voice, django_capture_on_commit_callbacks):
    """Modify a call through the service from inside a running engine test (controls fire on commit)."""
    from cpaas.core.scoping import Scope
    from cpaas.voice.models import Call
    from cpaas.voice.services import call_modify

    def _modify(app_id, call_id, **changes):
        call = Call.objects.get(pk=call_id)
        with django_capture_on_commit_callbacks(execute=True):
            return call_modify(principal=Scope(call.tenant_id, app_id, call.mode), call_id=call_id, **changes)

    async def run(app_id, call_id, **changes):
        with voice.clock.busy():  # time stands still while the API call runs
            return await sync_to_async(_modify)(app_id, call_id, **changes)

    return run


@pytest.fixture(autouse=True)
def _recordings_in_tmp(tmp_path, monkeypatch):
    from cpaas.voice import conf
    from cpaas.voice.storage import recordings_storage

    monkeypatch.setattr(conf, "VOICE_RECORDINGS_STORAGE_OPTIONS", {"location": str(tmp_path / "recordings")})
    recordings_storage.cache_clear()
    yield
    recordings_storage.cache_clear()


@pytest.fixture(autouse=True)
def _tenant_urls_on_test_hosts(allow_loopback):
    # The tenant's servers in these tests are mocked (tenant.example, which does not resolve) or on
    # loopback, which the operator's egress allow-list lets through here.
    return
