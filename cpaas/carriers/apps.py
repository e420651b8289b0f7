from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "cpaas.carriers"
    label = "carriers"
    default_auto_field = "django.db.models.BigAutoField"
