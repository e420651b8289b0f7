from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "cpaas.voice"
    label = "voice"
    default_auto_field = "django.db.models.BigAutoField"
