"""SMS: messages and their lifecycle, segmenting, routing, inbound and opt-outs."""
from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "cpaas.messaging"
    label = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.core.crypto import register_resealer
        from cpaas.messaging import errors  # noqa: F401  (registers the room's error codes)
        from cpaas.messaging.sealed import callback_secrets_reseal, connector_credentials_reseal

        register_resealer("sms callback secrets", callback_secrets_reseal)
        register_resealer("carrier credentials", connector_credentials_reseal)
