from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cpaas.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.core import openapi  # noqa: F401  (registers the auth scheme extension)
