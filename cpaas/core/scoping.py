"""The one way an API key reaches tenant data: by owner (app or tenant) AND mode, failing closed.

Every model a key can reach declares how in a ``scoping`` class attribute (a :class:`Scoping`);
``scoped(Model, principal)`` is then the queryset of the rows that key may see or change. A model
without a declaration, or a principal without a valid mode, raises instead of returning everything.
Another mode's row is simply absent, so it answers 404 exactly like another tenant's row.

``ApiView.scoped`` / ``ApiView.get_scoped`` call this; ``tests/core/test_scoping.py`` fails when a
``*/api.py`` module reaches a scoped model through a bare ``.objects`` instead. The console, which
shows a member both modes of an app, uses the loudly named ``scoped_both_modes``
(docs/decisions/0800-one-fail-closed-scoping-helper.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q, QuerySet

from cpaas.core.errors import ApiError, NotFound

MODES = ("test", "live")
#: A row that serves both modes of its owner (an app itself): every key of the owner sees it.
SHARED = "shared"
#: Money the platform charges (invoices, credit notes): only live keys see any.
LIVE_ONLY = "live-only"

M = TypeVar("M", bound=models.Model)


class Principal(Protocol):
    """What scoping needs to know about a caller (a KeyPrincipal, a messaging Caller…)."""

    tenant_id: str
    app_id: str
    mode: str


@dataclass(frozen=True)
class Scope:
    """A principal that is not an API key (a task, a test): one app of one tenant, in one mode."""

    tenant_id: str
    app_id: str
    mode: str


@dataclass(frozen=True)
class Scoping:
    """How a key reaches a model's rows.

    ``owner`` is the lookup holding the owner's id (``app_id``, ``tenant_id``, or a path through a
    parent such as ``conversation__app_id``); ``by`` says which of the principal's ids it matches
    (``app`` or ``tenant``). ``mode`` is the lookup holding the row's mode (``mode``,
    ``call__mode``…), or ``SHARED`` / ``LIVE_ONLY``. ``livemode_flag`` marks a boolean
    ``livemode`` column instead (webhook events; never null, decision 0890).
    """

    owner: str
    by: str
    mode: str
    livemode_flag: bool = False

    @classmethod
    def app(cls, *, mode: str = "mode", owner: str = "app_id", livemode_flag: bool = False) -> Scoping:
        return cls(owner=owner, by="app", mode=mode, livemode_flag=livemode_flag)

    @classmethod
    def tenant(cls, *, mode: str, owner: str = "tenant_id") -> Scoping:
        return cls(owner=owner, by="tenant", mode=mode)

    def owner_filter(self, principal: Principal) -> Q:
        owner_id = principal.app_id if self.by == "app" else principal.tenant_id
        if not owner_id:
            raise ImproperlyConfigured("A scoped read needs the caller's app and tenant.")
        return Q(**{self.owner: owner_id})

    def mode_filter(self, mode: str) -> Q | None:
        """The rows of ``mode``; None when the model serves both; an impossible Q for none."""
        if self.mode == SHARED:
            return None
        if self.mode == LIVE_ONLY:
            return None if mode == "live" else Q(pk__in=[])
        if self.livemode_flag:
            return Q(**{self.mode: mode == "live"})
        return Q(**{self.mode: mode})


def shared_policy_write(principal: Principal, names, *, per_mode: frozenset[str] = frozenset()) -> None:
    """Refuse a test key's change to app-wide policy (SMS geo permissions and caps, IM blocklists):
    such policy governs the live traffic too, so only a live key may change it (403
    ``live_key_required``, ``param`` the first shared field). Fields kept per mode (``per_mode``,
    such as a test-mode secret or hook) stay writable by the key of that mode (decision 0802)."""
    if principal.mode == "live":
        return
    shared = [name for name in names if name not in per_mode]
    if shared:
        raise ApiError(f"`{shared[0]}` is app-wide policy that also governs live traffic: change it with a "
                       "live key.", code="live_key_required", param=shared[0])


def scoping_of(model: type[models.Model]) -> Scoping:
    rule = getattr(model, "scoping", None)
    if not isinstance(rule, Scoping):
        raise ImproperlyConfigured(
            f"{model.__name__} declares no `scoping`: API keys cannot reach it (see cpaas/core/scoping.py)."
        )
    return rule


def scoped(model: type[M], principal: Principal) -> QuerySet[M]:
    """The rows of ``model`` the principal's key may see and change: its owner AND its mode."""
    if getattr(principal, "mode", None) not in MODES:
        raise ImproperlyConfigured("A scoped read needs the caller's mode (test or live).")
    rule = scoping_of(model)
    queryset = model._default_manager.filter(rule.owner_filter(principal))
    by_mode = rule.mode_filter(principal.mode)
    return queryset if by_mode is None else queryset.filter(by_mode)


def scoped_get(model: type[M], principal: Principal, pk: str, *, queryset: QuerySet[M] | None = None,
               message: str | None = None, param: str = "id") -> M:
    """One row by id within the principal's scope; another tenant's or mode's row is a 404."""
    rows = scoped(model, principal) if queryset is None else queryset
    row = rows.filter(pk=pk).first()
    if row is None:
        raise NotFound(message or f"No such {model._meta.verbose_name}: {pk}", param=param)
    return row


def scoped_both_modes(model: type[M], *, tenant_id: str, app_id: str | None = None) -> QuerySet[M]:
    """For a logged-in console member only: the owner's rows of BOTH modes. Never for an API key."""
    rule = scoping_of(model)
    owner_id = app_id if rule.by == "app" else tenant_id
    if not owner_id:
        raise ImproperlyConfigured("scoped_both_modes needs the owner's id.")
    return model._default_manager.filter(**{rule.owner: owner_id})
