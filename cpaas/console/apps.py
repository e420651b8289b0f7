from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "cpaas.console"
    label = "console"

    def ready(self) -> None:
        # Models are importable only from here on; axes' lockout signal is its only hook (decision 0850).
        from axes.signals import user_locked_out

        from cpaas.console.signin import audit_lockout
        from cpaas.console.twofactor import seeds_reseal
        from cpaas.core.crypto import register_resealer

        user_locked_out.connect(audit_lockout, dispatch_uid="cpaas.console.audit_lockout")
        register_resealer("console two-factor seeds", seeds_reseal)
