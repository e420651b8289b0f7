from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _forget_subscriptions(sender, instance, **kwargs) -> None:
    from webhooks.services import subscriptions_forget

    subscriptions_forget(instance.app_id)


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cpaas.core.crypto import register_resealer
        from webhooks import callback_models, errors  # noqa: F401  (the callback outbox's model; error codes)
        from webhooks.crypto import endpoint_secrets_reseal
        from webhooks.models import Endpoint

        register_resealer("webhook endpoint secrets", endpoint_secrets_reseal)

        # Publishing caches each app's endpoints per process; any save or delete here drops it.
        post_save.connect(_forget_subscriptions, sender=Endpoint, dispatch_uid="webhooks-subscriptions")
        post_delete.connect(_forget_subscriptions, sender=Endpoint, dispatch_uid="webhooks-subscriptions-del")
