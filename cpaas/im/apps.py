"""IM: users and tokens, conversations, messages with per-conversation sequence numbers."""
from django.apps import AppConfig


class ImConfig(AppConfig):
    name = "cpaas.im"
    label = "im"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.im import errors  # noqa: F401  (registers the room's error codes)
