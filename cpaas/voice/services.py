"""Services of the voice room: placing calls and callback calls, hanging up and redirecting."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

import billing
from cpaas.core import egress
from cpaas.core.errors import ApiError, NotFound
from cpaas.core.scoping import Principal, scoped, scoped_get
from cpaas.tenants.keys import KeyPrincipal
from cpaas.voice import conf, dialects, states
from cpaas.voice.document import DocumentError
from cpaas.voice.models import Call, CallKind, CallLeg, Recording
from cpaas.voice.numbers import caller_id_owned, country_of, normalize_e164
from cpaas.voice.transitions import call_transition, leg_transition
from cpaas.voice.trunks import trunk_channels

log = logging.getLogger(__name__)


def _owned_caller_id(principal: KeyPrincipal, value: object, *, param: str) -> str:
    number = normalize_e164(value, param=param)
    if not caller_id_owned(principal.app_id, number, is_test=principal.is_test):
        raise ApiError(f"`{param}` must be a number this app owns.", code="caller_id_not_owned", param=param)
    return number


def validate_instructions(instructions: str, *, param: str = "instructions", dialect: str = "") -> None:
    try:
        dialects.parse(dialect, instructions)
    except DocumentError as exc:
        message = f"line {exc.line}: {exc.reason}" if exc.line else exc.reason
        raise ApiError(f"The instructions are not valid: {message}.", code="invalid_instructions",
                       param=param, extra={"line": exc.line, "reason": exc.reason}) from None


def _tenant_url(url: str | None, *, param: str) -> None:
    """A URL the platform will POST to must pass the egress's guard (checked again at every
    connect): ``url_not_allowed`` for a refused address, ``invalid_request`` for a malformed URL."""
    if url:
        egress.tenant_url(url, param=param)


def _control(url: str | None, instructions: str | None, dialect: str = "") -> None:
    if (url is None) == (instructions is None):
        raise ApiError("Send either `url` or `instructions`, not both and not neither.",
                       code="invalid_request", param="url" if url is None else "instructions")
    if instructions is not None:
        validate_instructions(instructions, dialect=dialect)
    _tenant_url(url, param="url")


# A reservation covers this much of each leg; the leg settles its real cost when it ends.
RESERVED_SECONDS = 60


def _live_route(principal: KeyPrincipal, *, param: str, legs: int = 1) -> None:
    """A live call never rides the sandbox network: without a live voice connector it is refused.
    On SIP trunks with ``channels`` limits (all trunks' together), a call whose ``legs`` would not
    fit beside the live legs already up or queued is refused 503 ``trunk_busy`` (one COUNT)."""
    if principal.mode != "live":
        return
    if conf.VOICE_LIVE_CONNECTOR in ("", "sandbox"):
        raise ApiError("No live voice route is configured for this platform, so live calls cannot be placed "
                       "(test keys use the sandbox).", code="no_route", param=param)
    if conf.VOICE_LIVE_CONNECTOR != "sip":
        return
    channels = trunk_channels()
    if channels is None:  # no trunk rows: the one trunk of VOICE_LIVE_CONNECTOR_CONFIG
        channels = int(conf.VOICE_LIVE_CONNECTOR_CONFIG.get("channels") or 0)
    if channels:
        busy = CallLeg.objects.filter(call__mode="live", status__in=states.LIVE | {states.QUEUED}).count()
        if busy + legs > channels:
            raise ApiError(f"All {channels} channels of the voice trunk are in use; try again shortly.",
                           code="trunk_busy", status=503, retryable=True)


def _reserve_legs(principal: KeyPrincipal, call: Call, legs: list[tuple[str, str]]) -> list[tuple]:
    """Money before traffic: reserve a minute of each leg (``(role, country)``) against the
    prepaid balance and the app's cap; 402 when it does not fit (decision 0820). Returns the
    settle entries that release the holds if the call is not stored after all."""
    holds = [billing.Hold(f"{call.id}:{role}", "voice_seconds", RESERVED_SECONDS,
                          {"direction": "outbound", "country": country, "leg": role}) for role, country in legs]
    problems = billing.spend_reserve(tenant_id=principal.tenant_id, app_id=principal.app_id, mode=principal.mode,
                                     holds=holds)
    problem = next((p for p in problems if p is not None), None)
    releases = [(principal.tenant_id, principal.app_id, hold.id, 0)
                for hold, p in zip(holds, problems, strict=True) if p is None and principal.mode == "live"]
    if problem is not None:
        billing.spend_settle(releases)
        raise problem
    return releases


def _enqueue_on_commit(call_id: str) -> None:
    from cpaas.voice.tasks import call_dispatch

    transaction.on_commit(lambda: call_dispatch.apply_async((call_id,), queue="voice"))


def call_create(*, principal: KeyPrincipal, to: object, from_: object, url: str | None = None,
                instructions: str | None = None, status_callback: str = "",
                status_events: list[str] | None = None, timeout: int = 30, time_limit: int = 14400,
                record: bool = False, enqueue: bool = True, dialect: str = "") -> Call:
    """Accept an outbound call (status ``queued``); the engine dials it once this commits.
    ``dialect``: how its documents are read and fetched ("" ours, voice/dialects.py)."""
    to_number = normalize_e164(to, param="to")
    from_number = _owned_caller_id(principal, from_, param="from")
    _control(url, instructions, dialect)
    _tenant_url(status_callback, param="status_callback")
    _live_route(principal, param="to")
    call = Call(
        tenant_id=principal.tenant_id, app_id=principal.app_id, mode=principal.mode,
        kind=CallKind.CALL, to=to_number, from_number=from_number, url=url or "",
        instructions=instructions or "", status_callback=status_callback or "",
        status_events=status_events if status_events is not None else list(states.STATUS_EVENTS),
        timeout=timeout, time_limit=time_limit, record=record, dialect=dialect,
    )
    releases = _reserve_legs(principal, call, [("a", country_of(to_number))])
    try:
        with transaction.atomic():
            call.save(force_insert=True)
            CallLeg.objects.create(call=call, app_id=principal.app_id, role="a", position=0, to=to_number,
                                   from_number=from_number, country=country_of(to_number), timeout=timeout)
            if enqueue:
                _enqueue_on_commit(call.id)
    except BaseException:
        billing.spend_settle(releases)
        raise
    return call


def callback_create(*, principal: KeyPrincipal, party_a: object, party_b: object, caller_id_a: object,
                    caller_id_b: object, prompt: str = "", status_callback: str = "",
                    status_events: list[str] | None = None, timeout: int = 30, time_limit: int = 14400,
                    record: bool = False, enqueue: bool = True) -> Call:
    """Accept a callback call: ring A; when A answers ring B showing ``caller_id_b``; bridge.

    ``caller_id_a`` must be owned by the app; ``caller_id_b`` too, or be A's own number (what
    DingTalk-style callbacks show B).
    """
    a = normalize_e164(party_a, param="party_a")
    b = normalize_e164(party_b, param="party_b")
    shown_a = _owned_caller_id(principal, caller_id_a, param="caller_id_a")
    shown_b = normalize_e164(caller_id_b, param="caller_id_b")
    if shown_b != a:
        shown_b = _owned_caller_id(principal, shown_b, param="caller_id_b")
    _tenant_url(status_callback, param="status_callback")
    _live_route(principal, param="party_a", legs=2)
    call = Call(
        tenant_id=principal.tenant_id, app_id=principal.app_id, mode=principal.mode,
        kind=CallKind.CALLBACK, to=a, from_number=shown_a, prompt=prompt or "",
        status_callback=status_callback or "",
        status_events=status_events if status_events is not None else list(states.STATUS_EVENTS),
        timeout=timeout, time_limit=time_limit, record=record,
    )
    releases = _reserve_legs(principal, call, [("a", country_of(a)), ("b", country_of(b))])
    try:
        with transaction.atomic():
            call.save(force_insert=True)
            CallLeg.objects.bulk_create([
                CallLeg(call=call, app_id=principal.app_id, role="a", position=0, to=a, from_number=shown_a,
                        country=country_of(a), timeout=timeout),
                CallLeg(call=call, app_id=principal.app_id, role="b", position=1, to=b, from_number=shown_b,
                        country=country_of(b), timeout=timeout),
            ])
            if enqueue:
                _enqueue_on_commit(call.id)
    except BaseException:
        billing.spend_settle(releases)
        raise
    return call


def call_get(*, principal: Principal, call_id: str) -> Call:
    return scoped_get(Call, principal, call_id, queryset=scoped(Call, principal).prefetch_related("legs"),
                      message="No such call.")


def call_cancel_queued(call: Call, *, cause: str) -> bool:
    """Cancel a call the engine has not started; False if it already started."""
    now = timezone.now()
    data = call_transition(call.id, states.CANCELED, at=now, ended_at=now, hangup_cause=cause)
    if data is None:
        return False
    for leg in call.legs.all():
        leg_transition(leg.id, states.CANCELED, at=now, ended_at=now, hangup_cause=cause, hangup_by="platform",
                       livemode=call.mode == "live")
    return True


def call_modify(*, principal: Principal, call_id: str, status: str | None = None, url: str | None = None,
                instructions: str | None = None) -> Call:
    """Hang up (``status``) or redirect (``url`` / ``instructions``) a live call.

    A queued call is canceled here; a live one gets a pending control the engine running it
    picks up (notified after commit). A call already over → 409 ``call_not_in_progress``.
    """
    given = [name for name, value in (("status", status), ("url", url), ("instructions", instructions))
             if value is not None]
    if len(given) != 1:
        raise ApiError("Send exactly one of `status` (to hang up), `url` or `instructions` (to redirect).",
                       code="invalid_request", param=given[1] if len(given) > 1 else "status")
    _tenant_url(url, param="url")
    with transaction.atomic():
        call = scoped(Call, principal).select_for_update().filter(pk=call_id).first()
        if call is None:
            raise NotFound("No such call.", param="id")
        if instructions is not None:  # read in the call's own dialect
            validate_instructions(instructions, dialect=call.dialect)
        if status is None and call.kind == CallKind.CALLBACK:
            raise ApiError("A callback call has no document to redirect; it can only be hung up.",
                           code="invalid_request", param=given[0])
        if call.status in states.FINAL or (status is None and call.status != states.IN_PROGRESS):
            raise ApiError(f"The call is {call.status}; only a call in progress can be redirected"
                           if status is None else f"The call is already {call.status}.",
                           code="call_not_in_progress", param="status" if status else given[0])
        if status is not None and call.status == states.QUEUED and call_cancel_queued(call, cause="api_hangup"):
            return call_get(principal=principal, call_id=call_id)
        control = {"action": "hangup"} if status is not None else {
            "action": "redirect", "url": url, "instructions": instructions}
        Call.objects.filter(pk=call.pk).update(pending_control=control, control_seq=call.control_seq + 1,
                                               updated_at=timezone.now())
        transaction.on_commit(lambda: control_notify(call.id))
    return call_get(principal=principal, call_id=call_id)


def control_notify(call_id: str) -> None:
    """Tell the engine running ``call_id`` (in this process or another) that a control is waiting."""
    from cpaas.voice.runtime import notify_control

    notify_control(call_id)


def recording_get(*, principal: Principal, recording_id: str) -> Recording:
    return scoped_get(Recording, principal, recording_id,
                      queryset=scoped(Recording, principal).filter(deleted_at__isnull=True),
                      message="No such recording.")


def recording_delete(*, principal: Principal, recording_id: str) -> Recording:
    from cpaas.voice.storage import recordings_storage

    recording = recording_get(principal=principal, recording_id=recording_id)
    Recording.objects.filter(pk=recording.pk).update(deleted_at=timezone.now())
    storage = recordings_storage()
    name = recording.storage_name
    transaction.on_commit(lambda: storage.delete(name))
    return recording
