"""The IM WebSocket gateway: a lean ASGI WebSocket app beside Django (see docs/decisions/0500).

The app lives in ``cpaas.im.gateway.app`` (it needs Django's app registry). This package imports
nothing itself: uvicorn imports ``cpaas.im.gateway.wsproto`` (``--ws``) in each ``--workers``
process *before* the ASGI app and so before ``django.setup()`` (decision 0911).
"""
