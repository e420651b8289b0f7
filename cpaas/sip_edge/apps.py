"""SIP edge: endpoints (username, HA1, registrations) and the Kamailio that serves them."""
from django.apps import AppConfig


class SipEdgeConfig(AppConfig):
    name = "cpaas.sip_edge"
    label = "sip_edge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.sip_edge import errors  # noqa: F401  (registers the room's error codes)
