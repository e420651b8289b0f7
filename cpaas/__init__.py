"""The CPaaS project package: settings, URLs, ASGI and the Celery app, plus the channel rooms."""

from cpaas.celery import app as celery_app

__all__ = ["celery_app"]
