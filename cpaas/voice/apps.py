"""Voice: calls and legs, call-control documents, callback bridging, CDRs."""
from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "cpaas.voice"
    label = "voice"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.voice import errors  # noqa: F401  (registers the room's error codes)
