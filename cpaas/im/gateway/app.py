"""The ASGI WebSocket app mounted at ``/v1/im/connect`` (cpaas/asgi.py routes to it).

``wss://host/v1/im/connect?token=imtk_…&device=phone``. A bad token closes with 4001, a banned
user with 4003, each with the reason; an address that presented too many bad tokens gets HTTP 429
before the upgrade. The frames are specified in docs/im-protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from cpaas.core import authfail
from cpaas.core.clientip import scope_client_ip
from cpaas.core.errors import OUTAGE_ERRORS
from cpaas.core.parsers import text_problem
from cpaas.im.bus import dumps
from cpaas.im.conf import HEARTBEAT_SECONDS
from cpaas.im.gateway import db
from cpaas.im.gateway.hub import get_hub, stop_hub
from cpaas.im.gateway.session import CLOSE_TRY_AGAIN_LATER, UNAVAILABLE, Session
from cpaas.im.gateway.wsproto import RAW_EXTENSION
from cpaas.im.services import AuthFailure

log = logging.getLogger(__name__)

#: Seconds a new connection waits for the hub's bus subscription (Redis) before it is told to come back.
BUS_WAIT_SECONDS = 5.0


async def _refuse(send, code: int, reason: str) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _too_many(scope, send, retry_after: int) -> None:
    """HTTP 429 instead of the upgrade (ASGI's WebSocket denial response), the API's error body and
    ``Retry-After``; a server without that extension closes with 1013 "try again later"."""
    error = authfail.refusal(retry_after)
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": f"retry after {retry_after} s"})
        return
    body = json.dumps(error.body()).encode()
    await send({"type": "websocket.http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(retry_after).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


async def gateway_app(scope, receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    params = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
    # ``Authorization: Bearer imtk_…`` (keeps the token out of access logs) or ``?token=`` (browsers)
    secret = (params.get("token") or [""])[0]
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credential = value.decode(errors="replace").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                secret = credential.strip()
    device = (params.get("device") or ["default"])[0][:64]
    if text_problem(device) or text_problem(secret):
        await _refuse(send, 1008, "invalid characters in the query")  # permanent: fix the URL
        return
    hub = get_hub()
    try:
        token, user, app = await db.run(db.authenticate, secret, scope_client_ip(scope) or "unknown")
    except AuthFailure as failure:
        await _refuse(send, failure.code, failure.reason)
        return
    except db.Throttled as throttled:
        await _too_many(scope, send, throttled.retry_after)
        return
    except OUTAGE_ERRORS:  # the token cannot be checked: never a pass, a "come back later"
        await _refuse(send, CLOSE_TRY_AGAIN_LATER, UNAVAILABLE)
        return
    try:
        await asyncio.wait_for(hub.ready.wait(), BUS_WAIT_SECONDS)
    except TimeoutError:  # no bus (Redis down): live delivery is impossible, so is the guarantee
        await _refuse(send, CLOSE_TRY_AGAIN_LATER, UNAVAILABLE)
        return
    await send({"type": "websocket.accept"})
    session = Session(hub, send, app=app, user=user, token=token, device=device,
                      raw=(scope.get("extensions") or {}).get(RAW_EXTENSION))
    hub.add(session)
    loop = asyncio.get_running_loop()
    writer = loop.create_task(session.writer())
    sender = loop.create_task(session.sender())
    expiry = loop.call_later(max(0.0, token.expires_at.timestamp() - time.time()), session.close, 4001,
                             "token expired")
    try:
        await db.run(db.session_open, app, user.user_id, session.id, user.mode)
        session.push(dumps({"type": "hello", "session_id": session.id, "user_id": user.user_id,
                            "heartbeat": HEARTBEAT_SECONDS}))
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                await session.handle(message.get("text"))
            elif kind == "websocket.disconnect":
                break
    except OUTAGE_ERRORS:
        session.unavailable()
    except Exception:
        log.exception("im gateway session failed")
        session.close(1011, "internal error")
    finally:
        expiry.cancel()
        hub.remove(session)
        session.closing = session.closing or (1000, "bye")
        session.wakeup.set()
        sender.cancel()
        for task in list(session.tasks):
            task.cancel()
        try:
            await asyncio.wait_for(writer, 1.0)
        except (TimeoutError, asyncio.CancelledError, Exception):
            writer.cancel()
        try:
            await db.run(db.session_close, app, user.user_id, session.id, user.mode)
        except Exception:
            log.exception("im gateway could not record the disconnect")


async def gateway_shutdown() -> None:
    await stop_hub()
