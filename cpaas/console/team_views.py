"""Console pages of the team: members, roles, invitations, and the page that accepts an invitation.

What a member may do here is the permission table's (cpaas/tenants/permissions.py): ``team.read``
sees the page, ``team.write`` invites, changes roles and removes, ``team.owners`` touches owners.
The controls a role lacks are not shown, and the services refuse them anyway (403). Every write goes
through cpaas/tenants/team.py, which audits it with the acting user.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from cpaas.console.access import SESSION_TENANT, console_view
from cpaas.console.forms import AcceptForm, InviteForm
from cpaas.console.models import AuthenticatorDevice
from cpaas.core.clientip import client_ip
from cpaas.core.errors import ApiError
from cpaas.tenants.models import Invitation, Membership, Role
from cpaas.tenants.permissions import ROLE_ORDER, Perm, role_allows
from cpaas.tenants.team import (
    Actor,
    InvitationUnusable,
    invitation_accept,
    invitation_create,
    invitation_find,
    invitation_revoke,
    member_remove,
    member_set_role,
)

_LABELS = dict(Role.choices)


def _actor(request) -> Actor:
    return Actor(role=request.console_membership.role, user_id=request.user.pk, ip=client_ip(request))


def _role_choices(role: str) -> list[tuple[str, str]]:
    """The roles this member may give: the owner role only by an owner."""
    return [(r, _LABELS[r]) for r in ROLE_ORDER if r != Role.OWNER or role_allows(role, Perm.TEAM_OWNERS)]


def _base_url(request) -> str:
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def _team_page(request, form: InviteForm | None = None, status: int = 200):
    tenant_id = request.console_tenant.id
    role = request.console_membership.role
    has_device = AuthenticatorDevice.objects.filter(user=OuterRef("user"), confirmed=True)
    members = list(Membership.objects.filter(tenant_id=tenant_id).select_related("user")
                   .annotate(two_factor=Exists(has_device)).order_by("created_at", "id"))
    can_write, can_owners = role_allows(role, Perm.TEAM_WRITE), role_allows(role, Perm.TEAM_OWNERS)
    for m in members:
        m.editable = can_write and (m.role != Role.OWNER or can_owners)
    invitations = [i for i in Invitation.objects.filter(tenant_id=tenant_id, accepted_at__isnull=True,
                                                        revoked_at__isnull=True)
                   .select_related("invited_by").order_by("-created_at")]
    for i in invitations:
        i.revocable = can_write and (i.role != Role.OWNER or can_owners)
    choices = _role_choices(role)
    context = {
        "members": members, "invitations": invitations, "role_choices": choices,
        "form": form or InviteForm(roles=choices), "invitation_days": settings.TEAM_INVITATION_DAYS,
    }
    return render(request, "console/team.html", context, status=status)


def _refused(request, exc: ApiError, form: InviteForm | None = None):
    """A service's refusal as the console shows it: 403 page, or the team page with the message."""
    if exc.status == 403:
        raise PermissionDenied(exc.message)
    messages.error(request, exc.message)
    return _team_page(request, form=form, status=exc.status)


@require_http_methods(["GET", "POST"])
@console_view(read=Perm.TEAM_READ, write=Perm.TEAM_WRITE)
def team(request):
    """Members and pending invitations; POST invites."""
    if request.method == "GET":
        return _team_page(request)
    form = InviteForm(request.POST, roles=_role_choices(request.console_membership.role))
    if not form.is_valid():
        return _team_page(request, form=form, status=400)
    try:
        invitation = invitation_create(tenant_id=request.console_tenant.id, email=form.cleaned_data["email"],
                                       role=form.cleaned_data["role"], actor=_actor(request),
                                       base_url=_base_url(request))
    except ApiError as exc:  # already_member, insufficient_role
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        form.add_error("email", exc.message)
        return _team_page(request, form=form, status=exc.status)
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("console:team")


def _member_or_404(request, member_id: str) -> Membership:
    membership = (Membership.objects.filter(tenant_id=request.console_tenant.id, pk=member_id)
                  .select_related("user").first())
    if membership is None:
        raise Http404("No such member.")
    return membership


@require_POST
@console_view(permission=Perm.TEAM_WRITE)
def member_role(request, member_id: str):
    membership = _member_or_404(request, member_id)
    try:
        member_set_role(membership=membership, role=request.POST.get("role", ""), actor=_actor(request))
    except ApiError as exc:  # last_owner, insufficient_role, an unknown role
        return _refused(request, exc)
    messages.success(request, f"{membership.user.get_username()} is now {_LABELS[membership.role]}.")
    return redirect("console:team")


@require_POST
@console_view(permission=Perm.TEAM_WRITE)
def member_delete(request, member_id: str):
    membership = _member_or_404(request, member_id)
    try:
        member_remove(membership=membership, actor=_actor(request))
    except ApiError as exc:  # last_owner, insufficient_role
        return _refused(request, exc)
    messages.success(request, f"{membership.user.get_username()} was removed from the team.")
    if membership.user_id == request.user.pk:
        request.session.pop(SESSION_TENANT, None)
        return redirect("console:home")
    return redirect("console:team")


@require_POST
@console_view(permission=Perm.TEAM_WRITE)
def invitation_delete(request, invitation_id: str):
    invitation = Invitation.objects.filter(tenant_id=request.console_tenant.id, pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    try:
        invitation_revoke(invitation=invitation, actor=_actor(request))
    except ApiError as exc:  # invitation_accepted, insufficient_role
        return _refused(request, exc)
    messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return redirect("console:team")


# --- Accepting an invitation (no console session needed) --------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """The link from the email. A new address sets its password here and is signed in with the
    invited role; an existing account signs in first and joins with one click. An expired, used or
    revoked link gets a page saying so (410), and nothing changes."""
    found = invitation_find(token)
    if found is None:
        return render(request, "console/invitation_unusable.html", {"status": "unknown"}, status=404)
    if found.status != "pending":
        return render(request, "console/invitation_unusable.html", {"status": found.status, "invitation": found},
                      status=410)
    existing = get_user_model().objects.filter(username__iexact=found.email).first()
    signed_in = request.user if request.user.is_authenticated else None
    context = {"invitation": found, "role_label": found.get_role_display(), "existing": existing}
    if signed_in is not None and (existing is None or signed_in.pk != existing.pk):
        return render(request, "console/invitation.html", {**context, "wrong_user": signed_in}, status=403)
    if existing is not None and signed_in is None:
        return render(request, "console/invitation.html", {**context, "sign_in": True})
    form = AcceptForm(request.POST or None, email=found.email) if existing is None else None
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            membership = invitation_accept(invitation=found, user=existing,
                                           password=form.cleaned_data["password1"] if form else None,
                                           ip=client_ip(request))
        except InvitationUnusable as exc:  # used or revoked in another tab meanwhile
            return render(request, "console/invitation_unusable.html", {"status": exc.status, "invitation": found},
                          status=410)
        if existing is None:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_TENANT] = membership.tenant_id
        messages.success(request, f"Welcome to {found.tenant.name}: you joined as {found.get_role_display()}.")
        return redirect("console:home")  # a tenant that requires a second factor sends them to set it up
    status = 400 if form is not None and form.is_bound else 200
    return render(request, "console/invitation.html", {**context, "form": form}, status=status)
