from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cpaas.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.core import openapi  # noqa: F401  (registers the auth scheme extension)
        from cpaas.core.crypto import register_resealer
        from cpaas.core.idempotency import idempotency_reseal

        register_resealer("stored idempotent responses", idempotency_reseal)
