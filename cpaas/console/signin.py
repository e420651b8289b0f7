"""Console sign-in around django-axes: the lockout page, its audit entry, and the code step's state.

django-axes counts failed logins per (username, client address) in the database and refuses a
locked pair before any password is checked (settings: ``AXES_*``, decision 0850). This module is
what axes calls back: the client address (``client_ip``, imported from cpaas/core/clientip.py so
the console counts the same address as the API's throttles; ``AXES_CLIENT_IP_CALLABLE`` names it
here), the lockout response, and (through its ``user_locked_out`` signal, the only hook it offers)
the audit entry. Wrong two-factor codes are reported to axes as
failed logins too (``code_failed``), so a stolen password does not buy unlimited code guesses.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from cpaas.core.clientip import client_ip
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import Membership

log = logging.getLogger(__name__)

PENDING = "console_signin_pending"


def lockout_minutes_left(username: str, ip: str | None) -> int:
    """Whole minutes (rounded up, at least 1) until the (username, address) pair may try again."""
    cool_off = get_cool_off()
    last = (
        AccessAttempt.objects.filter(username=username, ip_address=ip, attempt_time__gte=timezone.now() - cool_off)
        .aggregate(last=Max("attempt_time"))["last"]
    )
    if last is None:
        return 1
    seconds = (last + cool_off - timezone.now()).total_seconds()
    return max(1, math.ceil(seconds / 60))


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """axes' AXES_LOCKOUT_CALLABLE: "Too many attempts, try again in N minutes", status 429.

    axes' ASGI path passes ``credentials`` in the second position, so the username is read from the
    request when the credentials are missing.
    """
    if not isinstance(credentials, dict):
        credentials = original_response if isinstance(original_response, dict) else {}
    username = credentials.get("username") or request.POST.get("username") or _pending_username(request) or ""
    minutes = lockout_minutes_left(username, client_ip(request))
    request.session.pop(PENDING, None)
    response = render(request, "console/locked.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def is_locked_out(request: HttpRequest, username: str) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": username})


def code_failed(request: HttpRequest, username: str) -> None:
    """Count a wrong two-factor code as a failed login of ``username`` (axes listens to this signal)."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def audit_lockout(sender, request: HttpRequest, username: str, ip_address: str | None, **kwargs) -> None:
    """Receiver of axes' ``user_locked_out``: one audit entry per tenant of the user, when the lock starts.

    axes also sends the signal for attempts made during a lockout; those leave
    ``axes_failures_since_start`` unset and are not recorded again.
    """
    if not getattr(request, "axes_failures_since_start", None):
        return
    user = get_user_model().objects.filter(username=username).first() if username else None
    if user is None:
        log.warning("console login locked out for an unknown username", extra={"ip": ip_address})
        return
    for tenant_id in Membership.objects.filter(user=user).values_list("tenant_id", flat=True):
        audit_record(
            tenant_id=tenant_id, action="console.login_locked", actor_user_id=None, target_type="user",
            target_id=str(user.pk), ip=ip_address,
            metadata={"username": username, "failures": request.axes_failures_since_start,
                      "minutes": int(get_cool_off().total_seconds() // 60)},
        )


# --- The code step: a password was right, the second factor is still to come ---------------------


@dataclass(frozen=True)
class Pending:
    user: object
    backend: str
    next_url: str


def pending_start(request: HttpRequest, *, user, next_url: str) -> None:
    """Remember who passed the password step. Nobody is logged in until the code is right too."""
    request.session[PENDING] = {
        "user": user.pk, "backend": user.backend, "next": next_url, "at": int(time.time()),
    }


def pending_get(request: HttpRequest) -> Pending | None:
    data = request.session.get(PENDING)
    if not isinstance(data, dict):
        return None
    if time.time() - data.get("at", 0) > settings.CONSOLE_CODE_STEP_SECONDS:
        request.session.pop(PENDING, None)
        return None
    user = get_user_model().objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None or data.get("backend") not in settings.AUTHENTICATION_BACKENDS:
        return None
    return Pending(user=user, backend=data["backend"], next_url=data.get("next") or "")


def pending_clear(request: HttpRequest) -> None:
    request.session.pop(PENDING, None)


def _pending_username(request: HttpRequest) -> str | None:
    pending = pending_get(request) if hasattr(request, "session") else None
    return pending.user.get_username() if pending else None
