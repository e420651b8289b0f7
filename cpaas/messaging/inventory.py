"""The number inventory of an app: sandbox test numbers, live numbers the operator assigns,
sender pools."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction

from cpaas.core.egress import tenant_url
from cpaas.core.errors import ApiError
from cpaas.core.scoping import scoped
from cpaas.messaging.app_settings import caches_clear
from cpaas.messaging.models import Mode, PhoneNumber, SenderPool
from cpaas.messaging.numbers import parse_number
from cpaas.messaging.validation import Caller

SANDBOX_PREFIX = "+1500555"


def number_provision_test(*, caller: Caller, number: str | None = None,
                          capabilities: list[str] | None = None) -> PhoneNumber:
    """A sandbox test number, at once: the one asked for if free, else a random free one.

    The range is shared by every tenant, so a tenant holds at most ``SANDBOX_NUMBERS_PER_TENANT``
    (409 ``too_many_numbers``); otherwise one test key could take all 9,000 from the others."""
    capabilities = capabilities or ["sms", "voice"]
    held = PhoneNumber.objects.filter(tenant_id=caller.tenant_id, mode=Mode.TEST).count()
    if held >= settings.SANDBOX_NUMBERS_PER_TENANT:
        raise ApiError(f"This tenant already holds {held} sandbox numbers, the most it may.",
                       code="too_many_numbers", param=None)
    if number is not None:
        parsed = parse_number(number, param="number")
        if not parsed.e164.startswith(SANDBOX_PREFIX) or parsed.e164[len(SANDBOX_PREFIX):] < "1000":
            raise ApiError(f"Test numbers are in the sandbox range {SANDBOX_PREFIX}1000-9999.",
                           code="invalid_phone_number", param="number")
        candidates = [parsed.e164]
    else:
        candidates = [f"{SANDBOX_PREFIX}{secrets.randbelow(9000) + 1000}" for _ in range(20)]
    for candidate in candidates:
        try:
            with transaction.atomic():
                row = PhoneNumber.objects.create(
                    tenant_id=caller.tenant_id, app_id=caller.app_id, number=candidate, country="US",
                    mode=Mode.TEST, capabilities=capabilities, connector="sandbox")
            caches_clear(caller.app_id)
            return row
        except IntegrityError:
            continue
    raise ApiError("That number is taken.", code="number_unavailable", param="number")


def number_assign(*, app, number: str, connector: str, capabilities: list[str] | None = None,
                  country_hint: str | None = None) -> PhoneNumber:
    """The operator gives a live number to an app (management command, admin)."""
    parsed = parse_number(number, param="number", country=country_hint)
    row, _ = PhoneNumber.objects.update_or_create(
        number=parsed.e164,
        defaults={"tenant_id": app.tenant_id, "app_id": app.pk, "country": parsed.country,
                  "mode": Mode.LIVE, "capabilities": capabilities or ["sms"], "connector": connector})
    caches_clear(app.pk)
    return row


def number_voice_urls_set(number: PhoneNumber, **urls: object) -> PhoneNumber:
    """Set where the number's inbound calls fetch their document (``voice_url``,
    ``voice_fallback_url``; "" clears). Checked like every tenant URL (https for live numbers)."""
    for field, value in urls.items():
        if value != "":
            if not isinstance(value, str):
                raise ApiError(f"`{field}` must be a URL or an empty string.", param=field)
            value = tenant_url(value, param=field, live=number.mode == Mode.LIVE)
        setattr(number, field, value)
    if urls:
        number.save(update_fields=list(urls))
    return number


def sandbox_numbers_provision(*, app, count: int = 3) -> list[PhoneNumber]:
    """The embedded default's demo app owns a few test numbers."""
    caller = Caller(tenant_id=app.tenant_id, app_id=app.pk, mode=Mode.TEST)
    existing = list(PhoneNumber.objects.filter(app_id=app.pk))
    return existing + [number_provision_test(caller=caller) for _ in range(max(0, count - len(existing)))]


def sender_pool_create(*, caller: Caller, name: str, numbers: list[str]) -> SenderPool:
    rows = list(scoped(PhoneNumber, caller).filter(number__in=numbers))  # numbers of the caller's mode
    found = {row.number for row in rows}
    missing = [number for number in numbers if number not in found]
    if missing:
        raise ApiError(f"The number {missing[0]} is not owned by this app.", code="sender_not_owned",
                       param="numbers")
    pool = SenderPool.objects.create(tenant_id=caller.tenant_id, app_id=caller.app_id, mode=caller.mode, name=name)
    pool.numbers.set(rows)
    return pool
