"""SMS: messages and their lifecycle, segmenting, routing, inbound and opt-outs."""
from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "cpaas.messaging"
    label = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.messaging import errors  # noqa: F401  (registers the room's error codes)
