"""Console pages of the foundation: login, tenant switcher, apps, API keys, audit log.

Views read through ``cpaas.tenants.selectors`` (always scoped to the session's tenant) and write
through the services, which also record the audit entries. Another tenant's object is a 404.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from cpaas.console import signin, twofactor
from cpaas.console.access import ALL_ROLES, SESSION_TENANT, account_view, console_view
from cpaas.console.forms import PRODUCT_LABELS, ApiKeyForm, AppForm, CodeForm, TenantSecurityForm
from cpaas.console.models import RecoveryCodeDevice
from cpaas.console.nav import ROOMS, room_is_served
from cpaas.core.clientip import client_ip
from cpaas.core.errors import ApiError, NotFound
from cpaas.tenants import selectors
from cpaas.tenants.keys import api_key_create, api_key_revoke
from cpaas.tenants.models import ApiKey, App, AuditLogEntry, Membership
from cpaas.tenants.permissions import Perm, role_allows
from cpaas.tenants.services import app_create

PAGE_SIZE = 50


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _app_or_404(request, app_id: str) -> App:
    try:
        return selectors.app_get(tenant_id=request.console_tenant.id, app_id=app_id)
    except NotFound:
        raise Http404("No such app.") from None


def _key_or_404(request, app: App, key_id: str) -> ApiKey:
    try:
        key = selectors.api_key_get(tenant_id=request.console_tenant.id, key_id=key_id)
    except NotFound:
        raise Http404("No such API key.") from None
    if key.app_id != app.id:
        raise Http404("No such API key.")
    return key


def _describe(key: ApiKey, now=None) -> ApiKey:
    """Attach what the templates show: a status and a readable product list."""
    now = now or timezone.now()
    if key.revoked_at is not None:
        key.status = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        key.status = "expired"
    else:
        key.status = "active"
    chosen = set(key.products or ())
    key.product_labels = ", ".join(label for p, label in PRODUCT_LABELS.items() if p in chosen) or "All products"
    return key


# --- Session ------------------------------------------------------------------------------------


class ConsoleLoginView(LoginView):
    """The password step. django-axes has already refused a locked (username, address) pair, and
    Django's ModelBackend hashes the password once whether or not the username exists."""

    template_name = "console/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if twofactor.has_two_factor(user):
            signin.pending_start(self.request, user=user, next_url=self.get_success_url())
            return redirect("console:login-code")
        return super().form_valid(form)


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request):
    """The second step: a code from the authenticator app or a recovery code, then the session."""
    pending = signin.pending_get(request)
    if pending is None:
        return redirect("console:login")
    username = pending.user.get_username()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if signin.is_locked_out(request, username):
            return signin.lockout_response(request, None, {"username": username})
        device = twofactor.code_verify(pending.user, form.cleaned_data["code"])
        if device is None:
            signin.code_failed(request, username)  # may lock the pair: axes' middleware then answers
            form.add_error("code", "That code is not right. Codes change every 30 seconds.")
        else:
            signin.pending_clear(request)
            login(request, pending.user, backend=pending.backend)
            otp_login(request, device)
            if isinstance(device, RecoveryCodeDevice):
                left = twofactor.recovery_codes_left(pending.user)
                messages.warning(request, f"You signed in with a recovery code: {left} left. "
                                          "Set up two-factor sign-in again if you lost your app.")
            return redirect(pending.next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    return render(request, "console/login_code.html", {"form": form})


@require_POST
def logout_view(request):
    logout(request)
    messages.info(request, "You are logged out.")
    return redirect("console:login")


def no_tenant(request):
    return render(request, "console/no_tenant.html")


@require_POST
def tenant_switch(request):
    """Make another of the user's tenants the current one. Not a member → 404, as if it did not exist."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("console:home"))
    tenant_id = request.POST.get("tenant", "")
    membership = (
        Membership.objects.filter(user=request.user, tenant_id=tenant_id).select_related("tenant").first()
    )
    if membership is None:
        raise Http404("No such tenant.")
    request.session[SESSION_TENANT] = membership.tenant_id
    messages.success(request, f"Switched to {membership.tenant.name}.")
    return redirect("console:home")


# --- Overview -----------------------------------------------------------------------------------


@require_GET
@console_view(roles=ALL_ROLES)
def home(request):
    membership = request.console_membership
    if not role_allows(membership.role, Perm.APPS_READ):
        # Finance sees billing pages only: send them there once the billing room serves one.
        billing = next(room for room in ROOMS if room.prefix == "billing")
        if room_is_served(billing):
            return redirect(billing.path)
        return render(request, "console/home_finance.html")
    tenant_id = request.console_tenant.id
    now = timezone.now()
    active = ApiKey.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    counts = active.aggregate(test=Count("id", filter=Q(mode="test")), live=Count("id", filter=Q(mode="live")))
    context = {
        "app_count": selectors.app_list(tenant_id=tenant_id).count(),
        "test_keys": counts["test"],
        "live_keys": counts["live"],
        "recent": (
            AuditLogEntry.objects.filter(tenant_id=tenant_id).select_related("actor_user")
            .order_by("-created_at")[:5]
            if role_allows(membership.role, Perm.AUDIT_READ) else []
        ),
    }
    return render(request, "console/home.html", context)


# --- Apps ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_view(read=Perm.APPS_READ, write=Perm.APPS_WRITE)
def apps(request):
    tenant_id = request.console_tenant.id
    form = AppForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            app = app_create(tenant_id=tenant_id, name=form.cleaned_data["name"],
                             actor_user_id=request.user.pk, ip=client_ip(request))
        except ApiError as exc:  # too_many_apps
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"App “{app.name}” created. Create its first API key below.")
            return redirect("console:keys", app_id=app.id)
    now = timezone.now()
    live = Q(api_keys__revoked_at__isnull=True) & (
        Q(api_keys__expires_at__isnull=True) | Q(api_keys__expires_at__gt=now)
    )
    queryset = (
        selectors.app_list(tenant_id=tenant_id)
        .annotate(active_keys=Count("api_keys", filter=live))
        .order_by("-created_at", "-id")
    )
    status = 400 if form.is_bound else 200
    return render(request, "console/apps.html", {"page": _page(request, queryset), "form": form}, status=status)


# --- API keys -----------------------------------------------------------------------------------


@require_GET
@console_view(permission=Perm.APPS_READ)
def keys(request, app_id: str):
    app = _app_or_404(request, app_id)
    queryset = selectors.api_key_list(tenant_id=request.console_tenant.id, app_id=app.id).order_by(
        "-created_at", "-id"
    )
    page = _page(request, queryset)
    now = timezone.now()
    for key in page:
        _describe(key, now)
    return render(request, "console/keys.html", {"app": app, "page": page})


@never_cache
@require_http_methods(["GET", "POST"])
@console_view(permission=Perm.APPS_WRITE)
def key_new(request, app_id: str):
    """The form, then the result page: the only response that ever carries the secret."""
    app = _app_or_404(request, app_id)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = api_key_create(
                app=app, name=data["name"], mode=data["mode"], access=data["access"],
                products=data["products"], expires_at=data["expires_at"],
                actor_user_id=request.user.pk, ip=client_ip(request),
            )
        except ApiError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            return render(request, "console/key_created.html",
                          {"app": app, "key": _describe(created.key), "secret": created.secret}, status=201)
    status = 400 if form.is_bound else 200
    return render(request, "console/key_new.html", {"app": app, "form": form}, status=status)


@require_GET
@console_view(permission=Perm.APPS_READ)
def key_row(request, app_id: str, key_id: str):
    """One row of the keys table (htmx: “Cancel” on the revoke confirmation)."""
    app = _app_or_404(request, app_id)
    key = _key_or_404(request, app, key_id)
    return render(request, "console/_key_row.html", {"app": app, "key": _describe(key)})


@require_http_methods(["GET", "POST"])
@console_view(permission=Perm.APPS_WRITE)
def key_revoke(request, app_id: str, key_id: str):
    """GET asks for confirmation (a row with htmx, a page without); POST revokes."""
    app = _app_or_404(request, app_id)
    key = _key_or_404(request, app, key_id)
    if request.method == "GET":
        template = "console/_key_row_confirm.html" if is_htmx(request) else "console/key_revoke.html"
        return render(request, template, {"app": app, "key": _describe(key)})
    key = api_key_revoke(key=key, actor_user_id=request.user.pk, ip=client_ip(request))
    if is_htmx(request):
        return render(request, "console/_key_row.html", {"app": app, "key": _describe(key), "flash": True})
    messages.success(request, f"Key “{key.name or key.redacted}” revoked.")
    return redirect("console:keys", app_id=app.id)


# --- Two-factor sign-in and the tenant's security settings ---------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@account_view
def two_factor(request):
    """Set up the authenticator app (QR code, secret, confirm with a code), or turn it off (a code)."""
    user = request.user
    enabled = twofactor.has_two_factor(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if enabled:
            if twofactor.two_factor_disable(user=user, token=code, ip=client_ip(request)):
                messages.success(request, "Two-factor sign-in is off.")
                return redirect("console:two-factor")
            form.add_error("code", "That code is not right.")
        else:
            enrolled = twofactor.enrolment_confirm(user=user, signed_key=request.POST.get("key", ""), token=code,
                                                   ip=client_ip(request))
            if enrolled is not None:
                otp_login(request, enrolled.device)
                return render(request, "console/recovery_codes.html",
                              {"codes": enrolled.recovery_codes}, status=201)
            form.add_error("code", "That code is not right. Check the time on your phone and try the next code.")
    context = {
        "enabled": enabled,
        "form": form,
        # A failed confirmation shows the same key again: it is the one in the user's app.
        "enrolment": None if enabled else twofactor.enrolment_start(user, request.POST.get("key")),
        "required": bool(getattr(request, "console_membership", None) is None
                         and user.memberships.filter(tenant__require_two_factor=True).exists()),
        "codes_left": twofactor.recovery_codes_left(user) if enabled else 0,
    }
    return render(request, "console/two_factor.html", context, status=400 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
@console_view(permission=Perm.SETTINGS_WRITE)
def tenant_settings(request):
    tenant = request.console_tenant
    form = TenantSecurityForm(request.POST or None, initial={"require_two_factor": tenant.require_two_factor})
    if request.method == "POST" and form.is_valid():
        required = form.cleaned_data["require_two_factor"]
        twofactor.tenant_two_factor_set(tenant=tenant, required=required, actor_user_id=request.user.pk,
                                        ip=client_ip(request))
        messages.success(request, "Every member now signs in with a second factor." if required
                         else "Two-factor sign-in is now up to each member.")
        return redirect("console:settings")
    return render(request, "console/settings.html", {"form": form, "tenant": tenant})


# --- Audit log ----------------------------------------------------------------------------------


@require_GET
@console_view(permission=Perm.AUDIT_READ)
def audit(request):
    queryset = (
        AuditLogEntry.objects.filter(tenant_id=request.console_tenant.id)
        .select_related("actor_user")
        .order_by("-created_at", "-id")
    )
    return render(request, "console/audit.html", {"page": _page(request, queryset)})
