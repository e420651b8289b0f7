"""The scoping helper fails closed, and the API modules cannot forget it.

A model a key can reach declares ``scoping``; an API module reaches such a model only through
``ApiView.scoped`` / ``get_scoped`` (or a service given the principal), never a bare ``.objects``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from cpaas.core.models import IdempotencyKey
from cpaas.core.scoping import LIVE_ONLY, SHARED, Scope, Scoping, scoped, scoped_both_modes, scoping_of
from cpaas.messaging.models import Message, PhoneNumber
from cpaas.tenants.models import ApiKey

ROOT = Path(__file__).resolve().parents[2]
API_MODULES = sorted([*ROOT.glob("cpaas/*/api.py"), ROOT / "webhooks" / "api.py", ROOT / "billing" / "api.py"])

#: Models with an app or tenant that no API key reaches directly, and why. A new tenant model
#: must either declare ``scoping`` or be listed here.
NOT_KEY_REACHABLE = {
    "Membership": "console members, managed in the console only",
    "AuditLogEntry": "written by services, read in the console only",
    "OptOut": "recipients' STOP replies; read by the send path, by app (a number opts out of the app)",
    "Route": "operator routing configuration",
    "CallLeg": "read with its call only (prefetched under a scoped Call)",
    "CallLogEntry": "read in the console only",
    "SubjectSequence": "a webhook ordering counter, internal",
    "Callback": "the callback outbox, sent by workers",
    "PlanAssignment": "operator configuration",
    "BillingAccount": "operator configuration",
    "SpendCap": "operator configuration",
    "BalanceTransaction": "operator ledger",
    "Payment": "operator ledger",
    "InvoiceLine": "read with its invoice only",
    "UsageEvent": "mode added by part 3 (money) of issue 13; until then reached by tenant in billing only",
    "UsageDaily": "as UsageEvent",
    "DauMark": "as UsageEvent",
}

#: `Model.objects` in an API module that is not a tenant read, or is pending another part.
ALLOWED_BARE = {
    ("webhooks/api.py", "Attempt"): "prefetched under a scoped Delivery queryset",
    ("billing/api.py", "DauMark"): "usage mode comes with part 3 (money)",
    ("billing/api.py", "UsageDaily"): "usage mode comes with part 3 (money)",
}


def _owned(model) -> bool:
    names = {f.name for f in model._meta.get_fields()} | {getattr(f, "attname", "") for f in model._meta.fields}
    return bool(names & {"app", "app_id", "tenant", "tenant_id"})


def test_every_tenant_model_declares_how_a_key_reaches_it_or_says_why_none_does():
    missing = []
    for model in apps.get_models():
        if model.__module__.startswith("django.") or model is IdempotencyKey or not _owned(model):
            continue
        if model.__name__ in NOT_KEY_REACHABLE:
            continue
        try:
            scoping_of(model)
        except ImproperlyConfigured:
            missing.append(f"{model._meta.label}")
    assert not missing, f"declare `scoping` (cpaas/core/scoping.py) or list in NOT_KEY_REACHABLE: {missing}"


def _bare_objects(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and node.attr == "objects" and isinstance(node.value, ast.Name)):
            found.append((node.value.id, node.lineno))
        if isinstance(node, ast.Name) and node.id == "scoped_both_modes":
            found.append(("scoped_both_modes", node.lineno))
    return found


def test_api_modules_reach_tenant_models_only_through_the_scoping_helper():
    models_by_name = {m.__name__: m for m in apps.get_models()}
    offences = []
    for path in API_MODULES:
        rel = str(path.relative_to(ROOT))
        for name, line in _bare_objects(path):
            if (rel, name) in ALLOWED_BARE:
                continue
            model = models_by_name.get(name)
            if name == "scoped_both_modes" or model is None or _owned(model):
                offences.append(f"{rel}:{line} {name}")
    assert not offences, f"use self.scoped(Model) / self.get_scoped(Model, id): {offences}"


def test_scoped_refuses_a_model_without_a_declaration(app):
    with pytest.raises(ImproperlyConfigured):
        scoped(IdempotencyKey, Scope(app.tenant_id, app.pk, "test"))


@pytest.mark.parametrize("mode", ["", None, "both", "LIVE"])
def test_scoped_refuses_a_caller_without_a_valid_mode(app, mode):
    with pytest.raises(ImproperlyConfigured):
        scoped(Message, Scope(app.tenant_id, app.pk, mode))


def test_scoped_refuses_a_caller_without_an_owner(app):
    with pytest.raises(ImproperlyConfigured):
        scoped(Message, Scope(app.tenant_id, "", "test"))


def test_a_scoped_queryset_holds_one_app_and_one_mode(app, tenant, other_provisioned):
    mine = {mode: PhoneNumber.objects.create(tenant=tenant, app=app, number=f"+1202555010{i}", country="US",
                                             mode=mode) for i, mode in enumerate(("test", "live"))}
    other = other_provisioned.app
    PhoneNumber.objects.create(tenant=other.tenant, app=other, number="+12025550109", country="US", mode="test")
    assert list(scoped(PhoneNumber, Scope(tenant.pk, app.pk, "test"))) == [mine["test"]]
    assert list(scoped(PhoneNumber, Scope(tenant.pk, app.pk, "live"))) == [mine["live"]]
    both = scoped_both_modes(PhoneNumber, tenant_id=tenant.pk, app_id=app.pk)
    assert set(both) == set(mine.values())


def test_keys_are_scoped_by_tenant_and_mode_and_money_is_live_only(app, tenant):
    assert scoping_of(ApiKey) == Scoping.tenant(mode="mode")
    assert Scoping.tenant(mode=LIVE_ONLY).mode_filter("test") is not None
    assert Scoping.tenant(mode=LIVE_ONLY).mode_filter("live") is None
    assert Scoping.app(mode=SHARED).mode_filter("test") is None
