"""ASGI entry point: HTTP to Django. The IM WebSocket gateway plugs in beside it (see design)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
django_http = get_asgi_application()


async def application(scope, receive, send):
    if scope["type"] in ("http", "lifespan"):
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await django_http(scope, receive, send)
        return
    raise NotImplementedError(f"unsupported scope type {scope['type']}")
