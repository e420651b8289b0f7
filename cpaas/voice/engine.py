"""The call engine: plays each call out against a voice connector, one asyncio task per call.

One engine (one event loop) drives hundreds of calls at once: a call spends nearly all its time
waiting on the network (ringing, speech, a caller thinking), so a coroutine per call costs almost
nothing, where a Celery task per call would hold a worker process for minutes. Database writes
run in a small thread pool beside the loop (``CallEngine.db``); every status write is the
conditional UPDATE of cpaas.voice.transitions, so a write the state table refuses is a no-op.

Flows:
- an outbound call: dial leg A; when answered, run the call-control document (fetched from the
  tenant's URL with a signed POST, or inline) verb by verb, racing the far end hanging up, the
  time limit, and controls from the API (hang up, redirect);
- a callback call: dial A; if A does not answer, B is never rung; when A answers, play the prompt
  to A while B rings; if B does not answer, A hears a message and is released; when B answers,
  bridge A and B until either hangs up or the time limit ends the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.db import transaction

import webhooks
from cpaas.carriers.base import LegEvent, MediaError, OriginateOutcome, RecordedAudio, VoiceConnector
from cpaas.carriers.clock import Clock
from cpaas.voice import conf, dialects, states
from cpaas.voice.document import Document, DocumentError, Verb
from cpaas.voice.groupcommit import GroupCommitter
from cpaas.voice.inbound import Refused, endpoint_call_create, inbound_call_create
from cpaas.voice.lease import engine_name
from cpaas.voice.models import Call, CallLeg, Recording
from cpaas.voice.numbers import caller_id_owned, country_of
from cpaas.voice.signing import signed_headers, signing_secret_async
from cpaas.voice.transitions import call_error, call_transition, leg_transition, log_entry
from cpaas.voice.urlguard import FetchError, FetchTimeout, TenantClients, UrlNotAllowed

log = logging.getLogger(__name__)

APOLOGY = "We are sorry, an application error has occurred. Goodbye."
B_UNAVAILABLE = "The person you are calling is not available. Please try again later. Goodbye."


class _NotRunnable(Exception):
    """The call left ``queued`` (canceled) before the engine started it."""


@dataclass
class _Fetch:
    """A verb's outcome: fetch the next document from ``url`` with ``params``."""

    url: str
    params: dict[str, Any]


@dataclass
class LegState:
    id: str
    role: str
    to: str
    from_number: str
    timeout: int
    initiated_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended: bool = False
    duration: int = 0

    @classmethod
    def of(cls, leg: CallLeg) -> LegState:
        return cls(id=leg.id, role=leg.role, to=leg.to, from_number=leg.from_number, timeout=leg.timeout)


def _seconds(start: datetime | None, end: datetime | None) -> int:
    """Whole seconds from start to end, rounded up (a started second counts)."""
    if start is None or end is None:
        return 0
    return max(0, math.ceil((end - start).total_seconds() - 1e-6))


# --- synchronous database helpers (run in the engine's threads) ---------------------------------

def _load(call_id: str, claim: bool = False) -> tuple[Call, list[CallLeg]] | None:
    """The call and its legs in one query (legs joined to their call): a call's setup waits on it."""
    if claim:
        from cpaas.voice.tasks import call_claim

        if not call_claim(call_id):
            return None
    legs = list(CallLeg.objects.select_related("call").filter(call_id=call_id).order_by("position"))
    if not legs:
        return None
    return legs[0].call, legs


def _take_control(call_id: str) -> dict | None:
    with transaction.atomic():
        call = Call.objects.select_for_update().only("pending_control").get(pk=call_id)
        control = call.pending_control
        if control is not None:
            Call.objects.filter(pk=call_id).update(pending_control=None)
    return control


def _add_dial_leg(call: Call, to: str, from_number: str, timeout: int) -> CallLeg:
    with transaction.atomic():
        position = (CallLeg.objects.filter(call_id=call.id).order_by("-position")
                    .values_list("position", flat=True).first() or 0) + 1
        return CallLeg.objects.create(call_id=call.id, app_id=call.app_id, role="dial", position=position,
                                      to=to, from_number=from_number, country=country_of(to), timeout=timeout)


def _save_recording(call: Call, leg_id: str | None, source: str, audio: RecordedAudio, at: datetime) -> Recording:
    from cpaas.voice.storage import recordings_storage

    recording = Recording(app_id=call.app_id, call_id=call.id, leg_id=leg_id, source=source,
                          duration_seconds=audio.duration_seconds, size_bytes=len(audio.wav),
                          channels=audio.channels, sample_rate=audio.sample_rate)
    recording.storage_name = recordings_storage().save(
        f"{call.app_id}/{call.id}/{recording.id}.wav", ContentFile(audio.wav))
    with transaction.atomic():
        recording.save(force_insert=True)
        log_entry(call.id, call.app_id, "verb", f"recording {recording.id} ({audio.duration_seconds} s) stored",
                  at=at, leg_id=leg_id, detail={"recording_id": recording.id})
        webhooks.publish(call.app_id, "call.recording.completed",
                         {"recording_id": recording.id, "call_id": call.id, "duration": audio.duration_seconds,
                          "url": f"/v1/recordings/{recording.id}"},
                         idempotency_key=f"{recording.id}:completed", livemode=call.mode == "live")
    return recording


def _move_leg_and_call(leg_id: str, call_id: str | None, new: str, *, at: datetime, livemode: bool,
                       leg_fields: dict, call_fields: dict) -> tuple[dict | None, dict | None]:
    with transaction.atomic(savepoint=False):
        leg_data = leg_transition(leg_id, new, at=at, publish=call_id is None, livemode=livemode, **leg_fields)
        call_data = call_transition(call_id, new, at=at, **call_fields) if call_id else None
    return leg_data, call_data


def _fail_call(call_id: str, *, at: datetime, message: str, code: str = "internal_error") -> None:
    """Last resort after an engine bug (or a live call without a live route, ``no_route``): the
    call and its open legs end as failed."""
    for leg in CallLeg.objects.filter(call_id=call_id).exclude(status__in=states.FINAL):
        leg_transition(leg.id, states.FAILED, at=at, ended_at=at, hangup_cause=code, hangup_by="platform")
    Call.objects.filter(pk=call_id, error_code="").update(error_code=code, error_message=message[:500])
    call_transition(call_id, states.FAILED, at=at, ended_at=at, hangup_cause=code)


# --- the engine ---------------------------------------------------------------------------------

class CallEngine:
    """Drives calls. ``connector_for(mode)`` gives the connector of ``test`` or ``live`` calls;
    the connectors and the engine share one ``clock``."""

    def __init__(self, *, clock: Clock, connector_for: Callable[[str], VoiceConnector],
                 http: TenantClients, db_thread_sensitive: bool = True,
                 group_commit: bool = False, name: str = "") -> None:
        """``http``: the egress's guarded per-origin clients (tests may pass an object with the
        same ``post``/``aclose``: the tenant's server, faked at the edge of the world)."""
        self.clock = clock
        self.connector_for = connector_for
        self.http = http
        self.thread_sensitive = db_thread_sensitive
        self.committer = GroupCommitter(runners=conf.VOICE_ENGINE_COMMIT_THREADS) if group_commit else None
        self.sessions: dict[str, CallSession] = {}
        self.fetches = 0
        self.name = name or engine_name()
        self._inbound_tasks: set[asyncio.Task] = set()

    async def db(self, clock: Clock, fn: Callable, *args, **kwargs):
        """Run a database write (grouped with other calls' writes when group commit is on)."""
        with clock.busy():
            if self.committer is not None:
                return await self.committer.submit(fn, *args, **kwargs)
            return await sync_to_async(fn, thread_sensitive=self.thread_sensitive)(*args, **kwargs)

    async def read(self, fn: Callable, *args, **kwargs):
        """Run a read outside the write queue, so a call's setup never waits behind other calls' writes."""
        with self.clock.busy():
            return await sync_to_async(fn, thread_sensitive=self.thread_sensitive)(*args, **kwargs)

    async def run_call(self, call_id: str, *, claim: bool = False) -> str | None:
        """Play one call out to its end. Returns its final status (None if it was not runnable).

        ``claim``: take the queued row first (what ``call_dispatch`` does before handing it over).
        """
        loaded = await self.read(_load, call_id, claim)
        if loaded is None:
            return None
        call, legs = loaded
        if call.status != states.QUEUED or call_id in self.sessions:
            return None
        connector = self.connector_for(call.mode)
        if connector is None:  # a live call without a live route never rides the sandbox
            await self.db(self.clock, _fail_call, call_id, at=self.clock.now(), code="no_route",
                          message="No live voice route is configured; the call was not placed.")
            return states.FAILED
        session = CallSession(self, call, legs, connector)
        self.sessions[call_id] = session
        try:
            return await session.run()
        finally:
            self.sessions.pop(call_id, None)

    async def inbound(self, *, to: str, from_: str, endpoint: dict[str, str] | None = None) -> str | Refused:
        """A call offered by the network (the connector holds the INVITE): the leg id of the new
        call, which this engine now plays out, or ``Refused`` (no call row). ``endpoint``: the call
        comes from a phone registered at the SIP edge (decision 1141), not from a trunk."""
        # Its own transaction, committed before the call runs (not in a group commit: the run reads it).
        if endpoint is not None:
            created = await self.read(endpoint_call_create, endpoint=endpoint, to=to, engine=self.name)
        else:
            created = await self.read(inbound_call_create, to=to, from_=from_, engine=self.name)
        if isinstance(created, Refused):
            return created
        call_id, leg_id = created
        task = asyncio.get_running_loop().create_task(self.run_call(call_id))
        self._inbound_tasks.add(task)
        task.add_done_callback(self._inbound_tasks.discard)
        return leg_id

    def control(self, call_id: str) -> None:
        """A control (hang up, redirect) waits in the database for ``call_id``: wake its session."""
        session = self.sessions.get(call_id)
        if session is not None:
            session.control_event.set()


class CallSession:
    def __init__(self, engine: CallEngine, call: Call, legs: list[CallLeg], connector: VoiceConnector) -> None:
        self.engine = engine
        self.call = call
        self.legs = [LegState.of(leg) for leg in legs]
        self.connector = connector
        self.clock = connector.clock
        self.control_event = asyncio.Event()
        self.fetches = 0
        self.status = states.QUEUED

    async def db(self, fn: Callable, *args, **kwargs):
        return await self.engine.db(self.clock, fn, *args, **kwargs)

    # --- the top level ----------------------------------------------------------------------------
    async def run(self) -> str | None:
        call = self.call
        try:
            if call.kind == "callback":
                await self._run_callback()
            elif call.direction == "inbound":
                await self._run_inbound()
            else:
                await self._run_call()
        except _NotRunnable:
            self.status = None
        except Exception as exc:  # an engine bug must end the call, not leave it live forever
            log.exception("call %s failed in the engine", call.id)
            for leg in self.legs:
                if not leg.ended:
                    await self.connector.hangup(leg.id, cause="internal_error")
            await self.db(_fail_call, call.id, at=self.clock.now(), message=f"{type(exc).__name__}: {exc}")
            self.status = states.FAILED
        finally:
            for leg in self.legs:
                self.connector.release(leg.id)
        return self.status

    async def _call_to(self, new: str, **fields) -> bool:
        at = fields.pop("at", None) or self.clock.now()
        data = await self.db(call_transition, self.call.id, new, at=at, **fields)
        if data is None:
            return False
        self._call_moved(new, data)
        return True

    def _call_moved(self, new: str, data: dict[str, Any]) -> None:
        # The status callback, if any, was recorded in the same transaction (transitions.py).
        self.status = new

    async def _finish(self, cause: str, *, status: str = states.COMPLETED) -> None:
        at = self.clock.now()
        a = self.legs[0]
        fields: dict[str, Any] = {"ended_at": at, "hangup_cause": cause}
        if a.answered_at is not None:
            fields["duration_seconds"] = _seconds(a.answered_at, at)
        await self._call_to(status, at=at, **fields)

    # --- legs -----------------------------------------------------------------------------------------
    async def _move(self, leg: LegState, new: str, *, mirror_call: bool, at: datetime,
                    leg_fields: dict | None = None, call_fields: dict | None = None) -> bool:
        """One database hop: the leg's transition and, for leg A, the call's. False if the call refused."""
        _, call_data = await self.db(
            _move_leg_and_call, leg.id, self.call.id if mirror_call else None, new, at=at,
            livemode=self.call.mode == "live", leg_fields=leg_fields or {}, call_fields=call_fields or {})
        if mirror_call:
            if call_data is None:
                return False
            self._call_moved(new, call_data)
        return True

    async def _dial(self, leg: LegState, *, mirror_call: bool) -> OriginateOutcome:
        """Originate one leg, writing its transitions (and the call's, for leg A).

        The INVITE leaves at once; the ``initiated`` write runs beside it (the call row was
        persisted when the API accepted it), and every later write of this leg waits for it.
        """
        now = self.clock.now()
        leg.initiated_at = now
        loop = asyncio.get_running_loop()
        initiated = loop.create_task(self._move(leg, states.INITIATED, mirror_call=mirror_call, at=now,
                                                leg_fields={"initiated_at": now}, call_fields={"initiated_at": now}))

        async def on_ringing(event: LegEvent) -> None:
            if not await asyncio.shield(initiated):
                return
            leg.ringing_at = event.at
            await self._move(leg, states.RINGING, mirror_call=mirror_call, at=event.at,
                             leg_fields={"ringing_at": event.at})

        originate = loop.create_task(self.connector.originate(
            leg_id=leg.id, to=leg.to, from_=leg.from_number, timeout=leg.timeout, on_ringing=on_ringing))
        try:
            if not await asyncio.shield(initiated):
                # Canceled through the API between the claim and now: never mind the INVITE.
                originate.cancel()
                await asyncio.gather(originate, return_exceptions=True)
                await self.connector.hangup(leg.id, cause="originator_cancel")
                raise _NotRunnable
            outcome = await originate
        except asyncio.CancelledError:
            originate.cancel()
            await asyncio.gather(originate, initiated, return_exceptions=True)
            await self.connector.hangup(leg.id, cause="originator_cancel")
            await self._end_leg(leg, states.CANCELED, cause="originator_cancel", by="platform", sip_code=487)
            raise
        at = outcome.at  # the network's time of the answer (or failure), not when we got to it
        if outcome.answered:
            leg.answered_at = at
            await self._move(leg, states.IN_PROGRESS, mirror_call=mirror_call, at=at,
                             leg_fields={"answered_at": at, "ring_seconds": _seconds(leg.ringing_at, at),
                                         "sip_code": outcome.sip_code},
                             call_fields={"answered_at": at})
        else:
            await self._end_leg(leg, outcome.status, cause=outcome.cause, by="remote", sip_code=outcome.sip_code,
                                at=at)
        return outcome

    async def _end_leg(self, leg: LegState, status: str, *, cause: str, by: str, sip_code: int | None,
                       at: datetime | None = None) -> None:
        if leg.ended:
            return
        leg.ended = True
        at = at or self.clock.now()
        if leg.answered_at is not None:
            status = states.COMPLETED
        leg.duration = _seconds(leg.answered_at, at)
        fields: dict[str, Any] = {"ended_at": at, "hangup_cause": cause, "hangup_by": by, "sip_code": sip_code,
                                  "duration_seconds": leg.duration, "billable_seconds": leg.duration}
        if leg.ringing_at is not None and leg.answered_at is None:
            fields["ring_seconds"] = _seconds(leg.ringing_at, at)
        if leg.initiated_at is None:
            fields["initiated_at"] = None
        await self.db(leg_transition, leg.id, status, at=at, **fields)

    async def _hang_up(self, leg: LegState, cause: str) -> None:
        if not leg.ended:
            await self.connector.hangup(leg.id, cause=cause)
            await self._end_leg(leg, states.COMPLETED, cause=cause, by="platform", sip_code=200)

    async def _race(self, main: Awaitable | None, *, legs: list[LegState], deadline: datetime | None,
                    control: bool = True) -> tuple[str, Any]:
        """Run ``main`` until it ends, a leg hangs up, the deadline passes or a control arrives.

        Returns ``("main", result)``, ``("hangup", (leg, event))``, ``("time_limit", None)`` or
        ``("control", control)``; whatever did not win is cancelled (and cleans up) before return.
        A wake-up with no control waiting changes nothing: ``main`` keeps running.
        """
        loop = asyncio.get_running_loop()
        main_task = asyncio.ensure_future(main) if main is not None else loop.create_future()
        watchers: dict[asyncio.Future, tuple[str, Any]] = {main_task: ("main", None)}
        for leg in legs:
            watchers[loop.create_task(self.connector.wait_hangup(leg.id))] = ("hangup", leg)
        if deadline is not None:
            watchers[loop.create_task(self.clock.sleep_until(deadline))] = ("time_limit", None)
        control_task: asyncio.Task | None = None
        order = {"hangup": 0, "time_limit": 1, "control": 2, "main": 3}
        try:
            while True:
                if control:
                    control_task = loop.create_task(self.control_event.wait())
                    watchers[control_task] = ("control", None)
                done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
                winner = min(done, key=lambda task: order[watchers[task][0]])
                kind, ref = watchers[winner]
                if control_task is not None:
                    watchers.pop(control_task)
                    if control_task.done():
                        self.control_event.clear()
                    else:
                        control_task.cancel()
                if kind == "control":
                    pending_control = await self.db(_take_control, self.call.id)
                    if pending_control is None:
                        continue
                    return "control", pending_control
                if kind == "main":
                    return "main", winner.result()
                if kind == "hangup":
                    return "hangup", (ref, winner.result())
                return kind, None
        finally:
            pending = [task for task in (*watchers, control_task) if task is not None and not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    # --- an outbound call -------------------------------------------------------------------------
    async def _run_call(self) -> None:
        a = self.legs[0]
        kind, outcome = await self._race(self._dial(a, mirror_call=True), legs=[], deadline=None)
        if kind == "control":  # hung up through the API while ringing (redirects need an answer)
            await self._finish("api_hangup", status=states.CANCELED)
            return
        if not outcome.answered:
            await self._finish(outcome.cause, status=outcome.status)
            return
        await self._converse(a)

    async def _run_inbound(self) -> None:
        """A call the network offered (the caller's phone rings): answer, then run the number's document."""
        a = self.legs[0]
        now = self.clock.now()
        a.initiated_at = a.ringing_at = now
        await self._move(a, states.INITIATED, mirror_call=True, at=now, leg_fields={"initiated_at": now},
                         call_fields={"initiated_at": now})
        await self._move(a, states.RINGING, mirror_call=True, at=now, leg_fields={"ringing_at": now})
        # The number's document is fetched while the caller hears ringing; the call is answered
        # when it is in hand (a caller who gives up meanwhile only ever cost a fetch).
        call = self.call
        source = ("url", call.url, {}) if call.url else ("inline", call.instructions, {})
        kind, value = await self._race(self._load_document(source), legs=[a], deadline=None)
        document = value if kind == "main" else None
        if kind == "main":
            kind, value = await self._race(self.connector.answer(a.id), legs=[a], deadline=None)
        if kind != "main":  # the caller gave up (CANCEL) or the API hung up before the answer
            event = value[1] if kind == "hangup" else None
            cause = event.cause if event is not None else "api_hangup"
            if kind != "hangup":
                await self.connector.hangup(a.id, cause=cause)
            await self._end_leg(a, states.CANCELED, cause=cause, by="remote" if event else "platform",
                                sip_code=event.sip_code if event else 487, at=event.at if event else None)
            await self._finish(cause, status=states.CANCELED)
            return
        at = value
        a.answered_at = at
        await self._move(a, states.IN_PROGRESS, mirror_call=True, at=at,
                         leg_fields={"answered_at": at, "ring_seconds": _seconds(a.ringing_at, at), "sip_code": 200},
                         call_fields={"answered_at": at})
        if isinstance(document, str):  # no usable document: the caller hears the apology, then goodbye
            await self._race(self.connector.say(a.id, APOLOGY), legs=[a], deadline=None, control=False)
            await self._hang_up(a, document)
            await self._finish(document)
            return
        await self._converse(a, document)

    async def _converse(self, a: LegState, document: Document | None = None) -> None:
        """An answered call: its document, verb by verb, until it ends, the far end hangs up, the
        time limit or a control from the API."""
        call = self.call
        if call.record:
            await self.connector.start_recording(call.id, [a.id])
        source: tuple[str, str, dict] = ("url", call.url, {}) if call.url else ("inline", call.instructions, {})
        deadline = a.answered_at + timedelta(seconds=call.time_limit)
        while True:
            kind, value = await self._race(self._execute(source, document), legs=[a], deadline=deadline)
            document = None
            if kind == "control":
                if value["action"] == "redirect":
                    await self._log("control", "redirected through the API")
                    source = ("url", value["url"], {}) if value.get("url") else ("inline", value["instructions"], {})
                    continue
                cause = "api_hangup"
            elif kind == "hangup":
                _, event = value
                await self._end_leg(a, states.COMPLETED, cause=event.cause or "normal_clearing", by="remote",
                                    sip_code=event.sip_code, at=event.at)
                cause = "remote_hangup"
            elif kind == "time_limit":
                cause = "time_limit"
            else:
                cause = value
            break
        await self._hang_up(a, cause)
        await self._stop_recording(call.id, leg_id=a.id)
        await self._finish(cause)

    async def _stop_recording(self, key: str, *, leg_id: str | None) -> None:
        audio = await self.connector.stop_recording(key)
        if audio is not None:
            await self.db(_save_recording, self.call, leg_id, "call", audio, self.clock.now())

    async def _log(self, kind: str, message: str, *, level: str = "info", detail: dict | None = None) -> None:
        await self.db(log_entry, self.call.id, self.call.app_id, kind, message, at=self.clock.now(),
                      level=level, detail=detail)

    # --- call-control documents -------------------------------------------------------------------
    def _params(self, extra: dict[str, Any]) -> dict[str, Any]:
        call = self.call
        return {"call_id": call.id, "app_id": call.app_id, "from": call.from_number, "to": call.to,
                "call_status": states.IN_PROGRESS, "direction": call.direction,
                "livemode": call.mode == "live", **extra}

    async def _application_error(self, code: str, message: str, *, url: str = "", line: int | None = None) -> str:
        """Report a call-control problem (call.error + debugger log), apologise, end the call."""
        await self.db(call_error, self.call.id, self.call.app_id, code=code, message=message,
                      at=self.clock.now(), url=url, line=line, livemode=self.call.mode == "live")
        await self.connector.say(self.legs[0].id, APOLOGY)
        return "application_error"

    async def _load_document(self, source: tuple[str, str, dict]) -> Document | str:
        kind, where, extra = source
        dialect = self.call.dialect
        if kind == "inline":
            try:
                return dialects.parse(dialect, where)
            except DocumentError as exc:
                return await self._application_error("invalid_instructions", str(exc), line=exc.line)
        self.fetches += 1
        if self.fetches > conf.VOICE_MAX_FETCHES_PER_CALL:
            return await self._application_error(
                "too_many_fetches", f"more than {conf.VOICE_MAX_FETCHES_PER_CALL} documents fetched", url=where)
        if dialect:  # another surface's fetch: its own body and signature (voice/dialects.py)
            secret = await signing_secret_async(self.call.app_id, self.call.mode, read=self.engine.read)
            body, headers = dialects.get(dialect).request(self.call, where, self._params(extra), secret)
        else:
            body = json.dumps(self._params(extra)).encode()
            headers = await signed_headers(self.call.app_id, self.call.mode, body, read=self.engine.read)
        if not dialect and where == self.call.url and self.call.fallback_url and self.fetches == 1:
            # An inbound call's first fetch: when the number's voice_url fails, its fallback answers.
            status, content = await self._post_document(where, body, headers)
            if isinstance(status, str) or status != 200:
                await self._log("fetch", f"{where} failed; fetching the fallback URL", level="warning",
                                detail={"url": where, "status": status})
                where = self.call.fallback_url
            else:
                return await self._parse_fetched(where, status, content)
        try:
            with self.clock.busy():
                status, content = await self.engine.http.post(
                    where, body, headers, timeout=conf.VOICE_FETCH_TIMEOUT,
                    limit=conf.VOICE_MAX_DOCUMENT_BYTES)
            self.engine.fetches += 1
        except UrlNotAllowed as exc:
            return await self._application_error("url_not_allowed", str(exc), url=where)
        except FetchTimeout:
            return await self._application_error(
                "document_fetch_timeout", f"no answer within {conf.VOICE_FETCH_TIMEOUT:g} s", url=where)
        except FetchError as exc:
            return await self._application_error("document_fetch_failed", str(exc), url=where)
        if 300 <= status < 400:
            return await self._application_error(
                "document_fetch_failed", f"the URL answered HTTP {status}; redirects are not followed", url=where)
        if status != 200:
            return await self._application_error(
                "document_fetch_failed", f"the URL answered HTTP {status}", url=where)
        return await self._parse_fetched(where, status, content)

    async def _parse_fetched(self, where: str, status: int, content: bytes) -> Document | str:
        await self._log("fetch", f"fetched {where}", detail={"url": where, "status": status})
        try:
            return dialects.parse(self.call.dialect, content, base_url=where)
        except DocumentError as exc:
            return await self._application_error("invalid_document", str(exc), url=where, line=exc.line)

    async def _post_document(self, where: str, body: bytes, headers: dict) -> tuple[int | str, bytes]:
        """(HTTP status, body), or (the error's name, b"") when the URL could not be fetched."""
        try:
            with self.clock.busy():
                result = await self.engine.http.post(where, body, headers, timeout=conf.VOICE_FETCH_TIMEOUT,
                                                     limit=conf.VOICE_MAX_DOCUMENT_BYTES)
            self.engine.fetches += 1
            return result
        except (UrlNotAllowed, FetchError) as exc:
            return type(exc).__name__, b""

    async def _execute(self, source: tuple[str, str, dict], document: Document | None = None) -> str:
        """Run the document at ``source`` (``document``: already fetched from it)."""
        if document is None:
            document = await self._load_document(source)
        if isinstance(document, str):
            return document
        index = 0
        while index < len(document.verbs):
            verb = document.verbs[index]
            index += 1
            result = await self._verb(verb)
            if result is None:
                continue
            if isinstance(result, _Fetch):
                document = await self._load_document(("url", result.url, result.params))
                if isinstance(document, str):
                    return document
                index = 0
                continue
            return result
        return "document_end"

    async def _verb(self, verb: Verb) -> _Fetch | str | None:
        a = self.legs[0]
        attrs = verb.attrs
        if verb.name in ("Say", "Play", "Pause"):
            await self._prompt(a, verb)
            return None
        if verb.name == "Gather":
            for child in verb.children:
                await self._prompt(a, child)
            digits = await self.connector.collect_digits(
                a.id, max_digits=attrs.get("numDigits", 64), timeout=attrs.get("timeout", 5),
                finish_key=attrs.get("finishOnKey", "#"))
            await self._log("verb", f"<Gather> got {digits!r}", detail={"line": verb.line, "digits": digits})
            if digits and attrs.get("action"):
                return _Fetch(attrs["action"], {"digits": digits})
            return None
        if verb.name == "Dial":
            return await self._dial_verb(verb)
        if verb.name == "Record":
            audio = await self.connector.record(
                a.id, max_length=attrs.get("maxLength", 3600), timeout=attrs.get("timeout", 5),
                finish_key=attrs.get("finishOnKey", "#"))
            recording = await self.db(_save_recording, self.call, a.id, "verb", audio, self.clock.now())
            if attrs.get("action"):
                return _Fetch(attrs["action"], {"recording_id": recording.id,
                                                "recording_url": f"/v1/recordings/{recording.id}",
                                                "recording_duration": recording.duration_seconds})
            return None
        if verb.name == "Redirect":
            return _Fetch(verb.text, {})
        if verb.name == "Hangup":
            return "hangup_verb"
        if verb.name == "Reject":
            return "rejected" if attrs.get("reason", "rejected") == "rejected" else "rejected_busy"
        raise AssertionError(f"unvalidated verb {verb.name}")

    async def _prompt(self, leg: LegState, verb: Verb) -> None:
        if verb.name == "Pause":
            await self.clock.sleep(verb.attrs.get("length", 1))
            return
        for _ in range(verb.attrs.get("loop", 1)):
            if verb.name == "Say":
                await self.connector.say(leg.id, verb.text, voice=verb.attrs.get("voice", ""),
                                         language=verb.attrs.get("language", ""))
            else:
                try:
                    await self.connector.play(leg.id, verb.text)
                except MediaError as exc:  # the call goes on without this prompt
                    await self.db(call_error, self.call.id, self.call.app_id, code=exc.code,
                                  message=f"line {verb.line}: <Play> {exc}", at=self.clock.now(), url=verb.text,
                                  line=verb.line, livemode=self.call.mode == "live")
                    return

    async def _dial_verb(self, verb: Verb) -> _Fetch | None:
        call, a, attrs = self.call, self.legs[0], verb.attrs
        caller_id = attrs.get("callerId") or call.from_number
        if caller_id != call.from_number and not await self.db(
                caller_id_owned, call.app_id, caller_id, is_test=call.mode == "test"):
            await self.db(call_error, call.id, call.app_id, code="caller_id_not_owned",
                          message=f"line {verb.line}: <Dial callerId> {caller_id} is not a number this app owns",
                          at=self.clock.now(), line=verb.line, livemode=call.mode == "live")
            outcome_status, duration = states.FAILED, 0
        else:
            row = await self.db(_add_dial_leg, call, verb.text, caller_id, attrs.get("timeout", 30))
            leg = LegState.of(row)
            self.legs.append(leg)
            recording = False
            try:
                outcome = await self._dial(leg, mirror_call=False)
                outcome_status = outcome.status
                if outcome.answered:
                    await self.connector.bridge(a.id, leg.id)
                    await self._log("verb", f"bridged with {leg.to}", detail={"line": verb.line, "leg_id": leg.id})
                    if attrs.get("record"):
                        recording = True
                        await self.connector.start_recording(leg.id, [a.id, leg.id])
                    limit = attrs.get("timeLimit", call.time_limit)
                    kind, value = await self._race(None, legs=[leg], control=False,
                                                   deadline=leg.answered_at + timedelta(seconds=limit))
                    if kind == "hangup":
                        _, event = value
                        await self._end_leg(leg, states.COMPLETED, cause=event.cause or "normal_clearing",
                                            by="remote", sip_code=event.sip_code, at=event.at)
                    else:
                        await self._hang_up(leg, "time_limit")
                    outcome_status = states.COMPLETED
            finally:
                # Cancelled because the caller hung up, the call hit its limit or was redirected.
                await self._hang_up(leg, "caller_hangup")
                if recording:
                    await self._stop_recording(leg.id, leg_id=leg.id)
            duration = leg.duration
        if attrs.get("action"):
            return _Fetch(attrs["action"], {"dial_call_status": outcome_status, "dial_call_duration": duration})
        return None

    # --- a callback call ------------------------------------------------------------------------------
    async def _run_callback(self) -> None:
        call = self.call
        a, b = self.legs[0], self.legs[1]
        kind, out_a = await self._race(self._dial(a, mirror_call=True), legs=[], deadline=None)
        if kind == "control":
            await self._end_leg(b, states.CANCELED, cause="api_hangup", by="platform", sip_code=None)
            await self._finish("api_hangup", status=states.CANCELED)
            return
        if not out_a.answered:
            # B is never rung when A does not answer.
            await self._end_leg(b, states.CANCELED, cause="party_a_not_answered", by="platform", sip_code=None)
            await self._finish(f"party_a_{out_a.status.replace('-', '_')}", status=out_a.status)
            return

        async def ring_b() -> OriginateOutcome:
            prompt = asyncio.get_running_loop().create_task(self._prompt_loop(a)) if call.prompt else None
            try:
                return await self._dial(b, mirror_call=False)
            finally:
                if prompt is not None:
                    prompt.cancel()
                    await asyncio.gather(prompt, return_exceptions=True)

        kind, value = await self._race(ring_b(), legs=[a], deadline=None)
        if kind != "main":
            if kind == "hangup":
                await self._end_leg(a, states.COMPLETED, cause="normal_clearing", by="remote",
                                    sip_code=value[1].sip_code, at=value[1].at)
            cause = "party_a_hangup" if kind == "hangup" else "api_hangup"
            await self._end_leg(b, states.CANCELED, cause=cause, by="platform", sip_code=487)
            await self._hang_up(a, cause)
            await self._finish(cause)
            return
        out_b = value
        if not out_b.answered:
            # B busy, unanswered or unreachable: A hears why, then is released.
            await self._race(self.connector.say(a.id, B_UNAVAILABLE), legs=[a], deadline=None, control=False)
            cause = f"party_b_{out_b.status.replace('-', '_')}"
            await self._hang_up(a, cause)
            await self._finish(cause)
            return

        await self.connector.bridge(a.id, b.id)
        await self._log("verb", "bridged party A and party B", detail={"legs": [a.id, b.id]})
        if call.record:
            await self.connector.start_recording(call.id, [a.id, b.id])
        deadline = b.answered_at + timedelta(seconds=call.time_limit)
        while True:
            kind, value = await self._race(None, legs=[a, b], deadline=deadline)
            if kind == "hangup":
                leg, event = value
                await self._end_leg(leg, states.COMPLETED, cause=event.cause or "normal_clearing", by="remote",
                                    sip_code=event.sip_code, at=event.at)
                cause = f"party_{leg.role}_hangup"
            elif kind == "time_limit":
                cause = "time_limit"
            elif value["action"] == "hangup":
                cause = "api_hangup"
            else:
                continue  # a callback call has no document to redirect
            break
        for leg in (a, b):
            await self._hang_up(leg, cause)
        await self._stop_recording(call.id, leg_id=None)
        await self._finish(cause)

    async def _prompt_loop(self, leg: LegState) -> None:
        while True:
            await self.connector.say(leg.id, self.call.prompt)
            await self.clock.sleep(1)
