from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "cpaas.console"
    label = "console"
