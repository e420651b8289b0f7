"""The demo tenant of the embedded default, created once and found again on every start.

Keys are stored hashed, so the demo key's secret can only be printed again if we keep it: it lives
in ``var/demo_key`` (mode 0600, ``var/`` is git-ignored), beside the console password in
``var/demo_password``. A missing, revoked or expired demo key is replaced by a new one.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cpaas.messaging.inventory import sandbox_numbers_provision
from cpaas.tenants.keys import api_key_create, hash_secret
from cpaas.tenants.models import ApiKey, App, KeyMode, Membership, Role, Tenant
from cpaas.tenants.services import app_create, tenant_provision

DEMO_TENANT = "Demo"
DEMO_APP = "Demo app"
DEMO_EMAIL = "demo@example.com"


@dataclass(frozen=True)
class Demo:
    tenant: Tenant
    app: App
    email: str
    password: str
    secret: str
    numbers: tuple[str, ...]  # sandbox numbers the demo app owns
    created: bool  # the tenant was created by this call
    minted: bool  # the key was minted by this call


def demo_ensure(*, var_dir: Path | None = None) -> Demo:
    """The demo tenant, its owner login and a working test key; creates what is missing."""
    var_dir = Path(var_dir or settings.VAR_DIR)
    var_dir.mkdir(parents=True, exist_ok=True)
    password_file, key_file = var_dir / "demo_password", var_dir / "demo_key"
    password = _read(password_file)
    if not password:
        password = secrets.token_urlsafe(12)
        _write_private(password_file, password)
    stored_secret = _read(key_file)

    created = minted = False
    with transaction.atomic():
        membership = (
            Membership.objects.select_related("tenant", "user")
            .filter(user__username=DEMO_EMAIL, role=Role.OWNER, tenant__name=DEMO_TENANT)
            .order_by("created_at")
            .first()
        )
        if membership is None:
            provisioned = tenant_provision(name=DEMO_TENANT, app_name=DEMO_APP, owner_email=DEMO_EMAIL,
                                           owner_password=password)
            tenant, user, app = provisioned.tenant, provisioned.user, provisioned.app
            secret, created, minted = provisioned.test_key.secret, True, True
        else:
            tenant, user = membership.tenant, membership.user
            key = _usable_key(tenant, stored_secret)
            if key is not None:
                app, secret = key.app, stored_secret
            else:
                app = tenant.apps.order_by("created_at").first() or app_create(
                    tenant_id=tenant.id, name=DEMO_APP, actor_user_id=user.pk
                )
                secret = api_key_create(app=app, name="Demo test key", mode=KeyMode.TEST,
                                        actor_user_id=user.pk).secret
                minted = True
        # The user may predate the password file (a wiped var/ with a kept database): realign.
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
    if secret != stored_secret:
        _write_private(key_file, secret)
    # The demo app owns a few sandbox numbers, so SMS and voice work from the first minute.
    numbers = tuple(n.number for n in sandbox_numbers_provision(app=app))
    return Demo(tenant=tenant, app=app, email=DEMO_EMAIL, password=password, secret=secret,
                numbers=numbers, created=created, minted=minted)


def _usable_key(tenant: Tenant, secret: str) -> ApiKey | None:
    if not secret:
        return None
    return (
        ApiKey.objects.select_related("app")
        .filter(tenant=tenant, secret_hash=hash_secret(secret), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )


def demo_banner(demo: Demo, base_url: str) -> str:
    """What a new user needs to start: the key, the console login and a first API call."""
    base_url = base_url.rstrip("/")
    return "\n".join([
        "",
        f"  Demo tenant   {demo.tenant.name} ({demo.tenant.id}), app {demo.app.id}",
        f"  API key       {demo.secret}",
        f"  Console       {base_url}/console/   login {demo.email} / {demo.password}",
        f"  API reference {base_url}/v1/reference   guides {base_url}/docs/api-keys",
        "",
        f"  Numbers       {', '.join(demo.numbers)} (sandbox)",
        "",
        "  Try it:",
        f'    curl -H "Authorization: Bearer {demo.secret}" {base_url}/v1/me',
        *([
            "  Send an SMS (the sandbox delivers it and fires every status event):",
            f'    curl {base_url}/v1/messages -H "Authorization: Bearer {demo.secret}" \\',
            '      -H "Content-Type: application/json" \\',
            f"""      -d '{{"from": "{demo.numbers[0]}", "to": "+15005550000", "body": "Hello from CPaaS"}}'""",
        ] if demo.numbers else []),
        "",
    ])


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, replacing the file atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.replace(temporary, path)
