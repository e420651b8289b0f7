from django.apps import AppConfig


class ImConfig(AppConfig):
    name = "cpaas.im"
    label = "im"
    default_auto_field = "django.db.models.BigAutoField"
