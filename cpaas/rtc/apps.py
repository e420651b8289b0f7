"""RTC: rooms on Janus media servers, the tokens that join them, participant-minutes."""
from django.apps import AppConfig


class RtcConfig(AppConfig):
    name = "cpaas.rtc"
    label = "rtc"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.rtc import errors  # noqa: F401  (registers the room's error codes)
