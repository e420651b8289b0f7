"""Voice: calls and legs, call-control documents, callback bridging, CDRs."""
from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "cpaas.voice"
    label = "voice"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.core.crypto import register_resealer
        from cpaas.voice import errors  # noqa: F401  (registers the room's error codes)
        from cpaas.voice.signing import MODES, callback_channel, signing_secret, signing_secrets_reseal
        from webhooks.callbacks import register_signer

        # Status callbacks go through the webhooks room's callback outbox, signed with the app's
        # voice secret of the call's mode (the one that signs its call-control fetches): one
        # channel per mode, because a signer is looked up by app id alone.
        for mode in MODES:
            register_signer(callback_channel(mode), lambda app_id, mode=mode: [signing_secret(app_id, mode)])
        register_resealer("voice signing secrets", signing_secrets_reseal)
