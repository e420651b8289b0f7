"""The Twilio-compatible surface (cpaas/twilio/__init__.py)."""
from django.apps import AppConfig


class TwilioConfig(AppConfig):
    name = "cpaas.twilio"
    label = "twilio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.messaging.status_callbacks import channel as sms_channel
        from cpaas.twilio import DIALECT, callbacks, twiml
        from cpaas.voice import dialects
        from cpaas.voice.signing import MODES, callback_channel, signing_secret
        from webhooks.callbacks import CallbackShape, register_signer

        # TwiML calls: the engine fetches and reads documents through this dialect.
        dialects.register(DIALECT, dialects.Dialect(request=callbacks.fetch_request, parse=twiml.parse_twiml))
        # Status callbacks of messages and calls sent through this API: Twilio's form post, signed
        # with X-Twilio-Signature keyed with the app's voice signing secret of the mode (decision 1223).
        shape = CallbackShape(render=callbacks.render, headers=callbacks.headers)
        for mode in MODES:
            def secrets(app_id: str, mode: str = mode) -> list[str]:
                return [signing_secret(app_id, mode)]
            register_signer(sms_channel(mode, DIALECT), secrets, shape=shape)
            register_signer(callback_channel(mode, DIALECT), secrets, shape=shape)
