"""Voice: calls and legs, call-control documents, callback bridging, CDRs."""
from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "cpaas.voice"
    label = "voice"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.voice import errors  # noqa: F401  (registers the room's error codes)
        from cpaas.voice.signing import signing_secret
        from webhooks.callbacks import register_signer

        # Status callbacks go through the webhooks room's callback outbox, signed with the app's
        # voice secret (the one that signs call-control fetches).
        register_signer("voice", lambda app_id: [signing_secret(app_id)])
