"""The team: members, their roles, and invitations by email. Every change is checked against the
permission table (cpaas/tenants/permissions.py) for the acting role and audited with its actor.

Rules (decision 1300): changing a role or removing a member needs ``team.write``; anything that
makes, changes or removes an **owner** needs ``team.owners`` (owners only); the last owner can be
neither removed nor demoted (409 ``last_owner``). Invitations (decision 1301): a random secret in
the link, only its SHA-256 stored, valid ``TEAM_INVITATION_DAYS``, accepted once; inviting an
existing member is 409 ``already_member``; a new invitation to the same address replaces the
pending one; at most ``TEAM_PENDING_INVITATIONS`` are pending at once (409 ``too_many_invitations``),
so a leaked key cannot send mail in bulk from the platform.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from cpaas.core.errors import ApiError, PermissionDenied
from cpaas.tenants.audit import audit_record
from cpaas.tenants.models import Invitation, Membership, Role, Tenant
from cpaas.tenants.permissions import Perm, role_allows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who acts on the team: a signed-in member (``user_id``) or an API key (``key_id``), with the
    role they act with (a key's role comes from ``permissions.key_role``)."""

    role: str
    user_id: int | None = None
    key_id: str = ""
    ip: str | None = None

    def require(self, perm: str, message: str) -> None:
        if not role_allows(self.role, perm):
            raise PermissionDenied(message, code="insufficient_role")

    def audit(self, *, tenant_id: str, action: str, target_type: str, target_id: str, metadata: dict) -> None:
        audit_record(tenant_id=tenant_id, action=action, actor_user_id=self.user_id, actor_key_id=self.key_id,
                     target_type=target_type, target_id=target_id, ip=self.ip, metadata=metadata)


def _role_checked(role: str) -> str:
    if role not in Role.values:
        raise ApiError(f"`role` must be one of {', '.join(Role.values)}.", param="role")
    return role


def _team_locked(membership: Membership) -> Membership:
    """Lock the tenant's row (the team's one lock, so two owners demoting each other at once are
    serialized, and no deadlock can form between their member rows), then re-read the member."""
    Tenant.objects.select_for_update().filter(pk=membership.tenant_id).values_list("pk").first()
    current = Membership.objects.filter(pk=membership.pk).select_related("user").first()
    if current is None:
        raise ApiError(f"No such member: {membership.pk}", code="not_found", param="id")
    return current


def _owner_count(tenant_id: str) -> int:
    return Membership.objects.filter(tenant_id=tenant_id, role=Role.OWNER).count()


# --- Members -----------------------------------------------------------------------------------------


def member_add(*, tenant: Tenant, user, role: str = Role.DEVELOPER,
               actor_user_id: int | None = None, ip: str | None = None) -> Membership:
    """Add ``user`` with ``role`` (provisioning, accepted invitations); a member already there keeps
    their role."""
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
        if created:
            audit_record(tenant_id=tenant.id, action="member.added", actor_user_id=actor_user_id,
                         target_type="user", target_id=str(user.pk), ip=ip,
                         metadata={"username": user.get_username(), "role": role})
    return membership


def member_set_role(*, membership: Membership, role: str, actor: Actor) -> Membership:
    """Change a member's role. 403 ``insufficient_role`` without ``team.write`` (or ``team.owners``
    when the owner role is given or taken); 409 ``last_owner`` when it would leave no owner."""
    role = _role_checked(role)
    actor.require(Perm.TEAM_WRITE, "Your role cannot change members' roles: ask an owner or an admin.")
    with transaction.atomic():
        current = _team_locked(membership)
        old = current.role
        if Role.OWNER in (old, role) and old != role:
            actor.require(Perm.TEAM_OWNERS, "Only an owner can make someone an owner or change an owner's role.")
            if old == Role.OWNER and _owner_count(current.tenant_id) <= 1:
                raise ApiError("This is the tenant's last owner: make another member an owner first.",
                               code="last_owner", param="role")
        if old != role:
            Membership.objects.filter(pk=current.pk).update(role=role)
            actor.audit(tenant_id=current.tenant_id, action="member.role_changed", target_type="member",
                        target_id=current.pk, metadata={"user": current.user.get_username(), "from": old, "to": role})
    membership.role = role
    return membership


def member_remove(*, membership: Membership, actor: Actor) -> None:
    """Remove a member from the tenant (their user stays, with their other tenants). 403 as for a
    role change; 409 ``last_owner`` for the last owner. Their console session loses the tenant at
    its next page (each page reads the membership)."""
    actor.require(Perm.TEAM_WRITE, "Your role cannot remove members: ask an owner or an admin.")
    with transaction.atomic():
        current = _team_locked(membership)
        if current.role == Role.OWNER:
            actor.require(Perm.TEAM_OWNERS, "Only an owner can remove an owner.")
            if _owner_count(current.tenant_id) <= 1:
                raise ApiError("This is the tenant's last owner: make another member an owner first.",
                               code="last_owner", param="id")
        current.delete()
        actor.audit(tenant_id=current.tenant_id, action="member.removed", target_type="member",
                    target_id=membership.pk, metadata={"user": current.user.get_username(), "role": current.role})


# --- Invitations ---------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{reverse('console:invitation', args=[token])}"


def _is_member(tenant_id: str, email: str) -> bool:
    return Membership.objects.filter(tenant_id=tenant_id).filter(
        Q(user__username__iexact=email) | Q(user__email__iexact=email)).exists()


def invitation_create(*, tenant_id: str, email: str, role: str, actor: Actor, base_url: str,
                      on_link: Callable[[str], None] | None = None) -> Invitation:
    """Invite ``email`` with ``role`` and mail the link once the transaction commits.

    403 ``insufficient_role`` without ``team.write`` (``team.owners`` to invite an owner); 409
    ``already_member`` when the address is a member already. A pending invitation to the same
    address is revoked by this one, so "invite again" is how to resend.
    """
    role = _role_checked(role)
    email = email.strip().lower()
    actor.require(Perm.TEAM_WRITE, "Your role cannot invite members: ask an owner or an admin.")
    if role == Role.OWNER:
        actor.require(Perm.TEAM_OWNERS, "Only an owner can invite an owner.")
    if _is_member(tenant_id, email):
        raise ApiError(f"{email} is already a member of this tenant: change their role instead.",
                       code="already_member", param="email")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk").first()  # the team's lock
        pending = Invitation.objects.filter(tenant_id=tenant_id, accepted_at__isnull=True, revoked_at__isnull=True,
                                            expires_at__gt=now)
        replaced = list(pending.filter(email=email).values_list("pk", flat=True))
        if not replaced and pending.count() >= settings.TEAM_PENDING_INVITATIONS:
            raise ApiError(f"This tenant already has {settings.TEAM_PENDING_INVITATIONS} pending invitations, the "
                           "most it may: revoke some, or wait for them to be accepted or expire.",
                           code="too_many_invitations")
        Invitation.objects.filter(pk__in=replaced).update(revoked_at=now)
        invitation = Invitation.objects.create(
            tenant_id=tenant_id, email=email, role=role, token_hash=token_hash(token), invited_by_id=actor.user_id,
            invited_by_key_id=actor.key_id, created_at=now,
            expires_at=now + timedelta(days=settings.TEAM_INVITATION_DAYS),
        )
        actor.audit(tenant_id=tenant_id, action="invitation.created", target_type="invitation",
                    target_id=invitation.pk, metadata={"email": email, "role": role, "replaced": replaced})
        link = invitation_url(base_url, token)
        if on_link is not None:  # the operator's command prints it; nobody else ever sees the secret
            on_link(link)
        transaction.on_commit(lambda: invitation_email_send(invitation, link))
    return invitation


def invitation_email_send(invitation: Invitation, link: str) -> None:
    """The email with the link, through Django's email backend (console by default, SMTP when
    ``EMAIL_HOST`` is set). A failure is logged: the owner can invite again, which resends."""
    tenant = invitation.tenant
    days = settings.TEAM_INVITATION_DAYS
    body = (
        f"You are invited to join {tenant.name} on the CPaaS console as {invitation.get_role_display()}.\n\n"
        f"Accept the invitation here:\n{link}\n\n"
        f"The link works once and expires in {days} day{'s' if days != 1 else ''} "
        f"({invitation.expires_at:%Y-%m-%d %H:%M} UTC). If you did not expect it, ignore this email.\n"
    )
    try:
        send_mail(f"You are invited to join {tenant.name}", body, None, [invitation.email])
    except Exception:  # SMTP fails in many ways; the invitation itself is stored
        log.warning("invitation email to %s failed", invitation.email, exc_info=True,
                    extra={"invitation": invitation.pk})


def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Revoke a pending invitation: its link stops working. Revoking twice is a no-op; an accepted
    one is 409 ``invitation_accepted`` (remove the member instead)."""
    actor.require(Perm.TEAM_WRITE, "Your role cannot revoke invitations: ask an owner or an admin.")
    if invitation.role == Role.OWNER:
        actor.require(Perm.TEAM_OWNERS, "Only an owner can revoke an owner's invitation.")
    now = timezone.now()
    with transaction.atomic():
        changed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True,
                                            revoked_at__isnull=True).update(revoked_at=now)
        invitation.refresh_from_db()
        if invitation.accepted_at is not None:
            raise ApiError("This invitation was accepted: remove the member instead.",
                           code="invitation_accepted", param="id")
        if changed:
            actor.audit(tenant_id=invitation.tenant_id, action="invitation.revoked", target_type="invitation",
                        target_id=invitation.pk, metadata={"email": invitation.email, "role": invitation.role})
    return invitation


def invitation_find(token: str) -> Invitation | None:
    """The invitation a link's secret opens, whatever its state (the page says which)."""
    if not token or len(token) > 100:
        return None
    return Invitation.objects.select_related("tenant").filter(token_hash=token_hash(token)).first()


class InvitationUnusable(Exception):
    """The link was used, revoked or has expired: nothing was changed."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(status)


def invitation_accept(*, invitation: Invitation, user=None, password: str | None = None,
                      ip: str | None = None) -> Membership:
    """Use the invitation once: for ``user`` (already signed up, signed in as the invited address),
    or for a new user created with ``password``. Claimed with a conditional UPDATE, so two tabs
    accepting at once get one membership and one "already used" page."""
    now = timezone.now()
    with transaction.atomic():
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True,
                                            expires_at__gt=now).update(accepted_at=now)
        if not claimed:
            invitation.refresh_from_db()
            raise InvitationUnusable(invitation.status)
        if user is None:
            user = get_user_model().objects.create_user(username=invitation.email, email=invitation.email,
                                                        password=password)
        Invitation.objects.filter(pk=invitation.pk).update(accepted_user=user)
        membership = member_add(tenant=invitation.tenant, user=user, role=invitation.role,
                                actor_user_id=user.pk, ip=ip)
        audit_record(tenant_id=invitation.tenant_id, action="invitation.accepted", actor_user_id=user.pk,
                     target_type="invitation", target_id=invitation.pk, ip=ip,
                     metadata={"email": invitation.email, "role": membership.role})
    return membership
