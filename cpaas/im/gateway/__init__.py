"""The IM WebSocket gateway: a lean ASGI WebSocket app beside Django (see docs/decisions/0500)."""

from cpaas.im.gateway.app import gateway_app, gateway_shutdown

__all__ = ["gateway_app", "gateway_shutdown"]
