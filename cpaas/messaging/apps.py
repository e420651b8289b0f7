"""SMS: messages and their lifecycle, segmenting, routing, inbound and opt-outs."""
from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "cpaas.messaging"
    label = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.core.crypto import register_resealer
        from cpaas.messaging import errors  # noqa: F401  (registers the room's error codes)
        from cpaas.messaging.app_settings import callback_secret
        from cpaas.messaging.models import Mode
        from cpaas.messaging.sealed import callback_secrets_reseal, connector_credentials_reseal
        from cpaas.messaging.status_callbacks import channel
        from webhooks.callbacks import register_signer

        # Status callbacks are rows of the webhooks room's callback outbox, signed with the app's
        # SMS callback secret of the message's mode: one channel per mode.
        for mode in Mode.values:
            register_signer(channel(mode), lambda app_id, mode=mode: [callback_secret(app_id, mode)])
        register_resealer("sms callback secrets", callback_secrets_reseal)
        register_resealer("carrier credentials", connector_credentials_reseal)
