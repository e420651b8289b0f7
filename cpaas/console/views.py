"""Console pages of the foundation: login, logout, home."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cpaas.console.access import ALL_ROLES, console_view


class ConsoleLoginView(LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


@require_POST
def logout_view(request):
    logout(request)
    return redirect("console:login")


def no_tenant(request):
    return render(request, "console/no_tenant.html")


@console_view(roles=ALL_ROLES)
def home(request):
    return render(request, "console/home.html")
