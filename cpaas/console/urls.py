"""Console routes under /console/. Rooms add pages in ``<room>/console_urls.py`` (included below)."""

import importlib

from django.urls import include, path
from django.views.generic import RedirectView

from cpaas.console import views

app_name = "console"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    path("console/", views.home, name="home"),
    path("console/login", views.ConsoleLoginView.as_view(), name="login"),
    path("console/logout", views.logout_view, name="logout"),
    path("console/no-tenant", views.no_tenant, name="no-tenant"),
]

for _room, _prefix in (("cpaas.messaging", "sms"), ("cpaas.im", "im"), ("cpaas.voice", "voice"),
                       ("webhooks", "webhooks"), ("billing", "billing")):
    try:
        importlib.import_module(f"{_room}.console_urls")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_room}.console_urls":
            raise
        continue
    urlpatterns.append(path(f"console/{_prefix}/", include(f"{_room}.console_urls")))
