"""Stage 2 of the lean send path: everything before the INSERT, synchronous, on a thread.

The same functions the Django view runs, in the same order (ApiView.dispatch, DRF's request
parsing, ``MessagesView.post``): the key and its rate limit (``bearer_secret``, ``key_admission``), its scope
(``key_allows``), the ``Idempotency-Key`` header, the body (DRF's media-type match and
``json_loads``), then ``services.message_accept`` (validation, caps, money reserve). A send that
names an ``Idempotency-Key`` or a sender pool is finished here as the Django view finishes it, in
its own transaction with its idempotency record (:func:`_at_once`); every other one leaves with its
unsaved message for the group commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import close_old_connections
from django.utils import timezone
from rest_framework.utils.mediatypes import media_type_matches

from cpaas.core.auth import WWW_AUTHENTICATE, bearer_secret, key_admission, key_allows
from cpaas.core.clientip import scope_client_ip
from cpaas.core.errors import ApiError, RateLimited, to_api_error
from cpaas.core.idempotency import Claim, idempotency_claim, idempotency_key_checked, idempotent_write
from cpaas.core.parsers import ApiJsonParser, json_loads
from cpaas.messaging import services
from cpaas.messaging.accept.http import PATH, Request, render
from cpaas.messaging.api import MessagesView, message_json, message_location, send_response
from cpaas.messaging.models import Message
from cpaas.messaging.validation import Caller

log = logging.getLogger(__name__)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Admitted:
    """A send ready for the group commit, or the answer already decided."""

    limit_headers: dict[str, str]
    answer: Answer | None = None
    caller: Caller | None = None
    message: Message | None = None
    now: datetime | None = None


def error_answer(exc: BaseException, limit_headers: dict[str, str]) -> Answer:
    """The envelope Django's exception handler and ApiView.finalize_response would send."""
    error = to_api_error(exc) if isinstance(exc, Exception) else None
    if error is None:
        log.exception("unhandled error in the lean send path", exc_info=exc)
        error = ApiError(code="internal_error")
    headers = {**error.headers, **limit_headers}
    if error.status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return Answer(error.status, render(error.body()), headers)


def created(message: Message, limit_headers: dict[str, str]) -> Answer:
    return Answer(201, render(message_json(message)), {"Location": message_location(message), **limit_headers})


def _data(request: Request) -> Any:
    """The parsed body, as DRF's Request.data reads it with the API's one parser."""
    try:
        length = int(request.header("content-length") or 0)
    except ValueError:
        length = 0
    content_type = request.header("content-type") or ""
    if length == 0:
        return {}
    if not media_type_matches(ApiJsonParser.media_type, content_type):
        raise ApiError(code="unsupported_media_type")
    return json_loads(request.body)


def admit(request: Request) -> Admitted:
    """Stages 1 to 3 up to the INSERT. Django's connections of this thread are handled as around a
    request (checked before, given back to the pool after), so a connection PostgreSQL ended is
    replaced and none is held between sends."""
    close_old_connections()
    try:
        return _admit(request)
    finally:
        close_old_connections()


def _admit(request: Request) -> Admitted:
    limit_headers: dict[str, str] = {}
    try:
        principal, admission = key_admission(bearer_secret(request.header("authorization") or ""),
                                             lambda: scope_client_ip(request.scope))
        limit_headers = admission.headers()
        if not admission.allowed:
            raise RateLimited(headers=limit_headers)
        key_allows(principal, MessagesView.product, "POST")
        key = idempotency_key_checked(request.header("idempotency-key"))
        data = _data(request)
        caller = Caller.of(principal)
        if key is not None or services.is_pooled(data):
            return Admitted(limit_headers, _at_once(caller, key, data, limit_headers))
        now = timezone.now()
        message = services.message_accept(caller=caller, data=data, now=now)
        return Admitted(limit_headers, caller=caller, message=message, now=now)
    except Exception as exc:
        return Admitted(limit_headers, error_answer(exc, limit_headers))


def _at_once(caller: Caller, key: str | None, data: Any, limit_headers: dict[str, str]) -> Answer:
    """Claim the key, send in one transaction that also stores the answer (or replay it): what
    ApiView does for a POST with an ``Idempotency-Key`` (and a pooled send without one)."""
    claim: Claim | None = None
    if key is not None:
        claim = idempotency_claim(key, method="POST", path=PATH, data=data, app_id=caller.app_id, mode=caller.mode)
    response = idempotent_write(claim, lambda: send_response(services.message_send(caller=caller, data=data)),
                                what=f"POST {PATH}")
    headers = {name: value for name, value in response.items() if name.lower() != "content-type"}
    return Answer(response.status_code, render(response.data), {**headers, **limit_headers})


def opted_out(admitted: Admitted) -> Answer:
    """The 400 of a send whose recipient opted out, its counts and reservation given back."""
    try:
        error = services.message_opted_out(admitted.caller, admitted.message, admitted.now)
    except Exception as exc:
        return error_answer(exc, admitted.limit_headers)
    return error_answer(error, admitted.limit_headers)


def not_written(admitted: Admitted, exc: BaseException) -> Answer:
    """The answer of a send whose INSERT failed (503 when PostgreSQL is lost), its reservation
    given back."""
    try:
        services.message_release([admitted.message])
    except Exception:
        log.warning("could not release the reservation of %s", admitted.message.id, exc_info=True)
    return error_answer(exc, admitted.limit_headers)
