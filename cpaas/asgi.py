"""ASGI entry point: HTTP to Django, except single sends (``POST /v1/messages``) to the lean send
path (cpaas/messaging/accept/, decision 1010); WebSocket ``/v1/im/connect`` to the IM gateway (a
lean ASGI WebSocket app beside Django, see docs/decisions/0500-im-gateway-lean-asgi.md)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
if not settings.configured:  # the server process itself (not a test or shell that imports this module)
    # A bounded connection pool (each request's sync code runs in a new thread, whose own persistent
    # connection would never be reused; decision 0913). DB_POOL_MAX_SIZE=0 turns it off.
    os.environ.setdefault("DB_POOL_MAX_SIZE", "16")
django_asgi = get_asgi_application()

from cpaas.core.bodylimit import asgi_body_limit  # noqa: E402  (these need the apps set up above)
from cpaas.im.gateway.app import gateway_app, gateway_shutdown  # noqa: E402
from cpaas.messaging.accept import http as lean_http  # noqa: E402
from cpaas.messaging.accept.app import lean_send  # noqa: E402
from cpaas.messaging.accept.app import shutdown as lean_shutdown  # noqa: E402


async def _http(scope, receive, send):
    request = lean_http.takes(scope)
    if request is not None:
        await lean_send(request, receive, send)
    else:
        await django_asgi(scope, receive, send)


# Bodies over MAX_REQUEST_BYTES are refused on the way in, however they are framed.
http_app = asgi_body_limit(_http)

IM_CONNECT_PATH = "/v1/im/connect"


async def application(scope, receive, send):
    if scope["type"] == "http":
        await http_app(scope, receive, send)
        return
    if scope["type"] == "lifespan":
        message = await receive()
        while message["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await gateway_shutdown()
        await lean_shutdown()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        if scope["path"].rstrip("/") == IM_CONNECT_PATH:
            await gateway_app(scope, receive, send)
            return
        await receive()
        await send({"type": "websocket.close", "code": 1008})  # unknown path: refused (HTTP 403)
        return
    raise NotImplementedError(f"unsupported scope type {scope['type']}")
