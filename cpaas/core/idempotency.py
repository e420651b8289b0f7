"""``Idempotency-Key`` on every POST.

Same key + same body → the stored response replayed with ``Idempotent-Replayed: true``; same key +
other body → 422 ``idempotency_key_reused``; same key while the first request still runs → 409
``idempotency_in_progress``. The claim is a unique row inserted (and committed) before the handler
runs, so concurrent duplicates race on the database's unique index and exactly one wins. The
result is written in the handler's own transaction, so a response is stored if and only if the
work it describes committed. Error responses are never stored (the claim is released): nothing was
done, so a corrected or later retry with the same key must be free to run, and bad input writes
nothing at all (docs/decisions/0002-idempotency-stores-successes-only.md).

A stored response is sealed with the secrets keyring: the first answer of a key creation or a
secret rotation carries the secret in clear, and the replay store must not keep it so
(docs/decisions/0872-idempotent-responses-sealed.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from cpaas.core import crypto
from cpaas.core.errors import ApiError
from cpaas.core.models import IdempotencyKey

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_STORED_HEADERS = ("Location",)
MAX_KEY_LENGTH = 255


def request_fingerprint(method: str, path: str, data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


@dataclass
class Claim:
    record: IdempotencyKey | None
    replay: Response | None = None

    def complete(self, response: Response) -> None:
        """Store the response; call inside the handler's transaction (or right after it for errors)."""
        if self.record is None:
            return
        if response.status_code >= 400:
            self.release()
            return
        body = {"sealed": crypto.encrypt(json.dumps(response.data, cls=DjangoJSONEncoder))}
        headers = {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
        IdempotencyKey.objects.filter(pk=self.record.pk).update(
            status=IdempotencyKey.Status.COMPLETED,
            response_status=response.status_code,
            response_body=body,
            response_headers=headers,
        )

    def release(self) -> None:
        if self.record is not None:
            IdempotencyKey.objects.filter(
                pk=self.record.pk, status=IdempotencyKey.Status.IN_PROGRESS
            ).delete()


def _replay(record: IdempotencyKey) -> Response:
    response = Response(_opened(record.response_body), status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _opened(body):
    """The stored response body; records written before bodies were sealed are plain JSON."""
    if isinstance(body, dict) and set(body) == {"sealed"}:
        return json.loads(crypto.decrypt(body["sealed"]))
    return body


def idempotency_begin(request, *, app_id: str, mode: str) -> Claim | None:
    """Claim the request's key, or return a replay, or raise 409/422. None without the header.

    Keys are scoped by app AND mode: a live request's key never answers a test request (and the
    other way round), as two keys of the two modes are two different callers.
    """
    key = idempotency_key_checked(request.META.get("HTTP_IDEMPOTENCY_KEY"))
    if key is None:
        return None
    return idempotency_claim(key, method=request.method, path=request.path, data=request.data,
                             app_id=app_id, mode=mode)


def idempotency_key_checked(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value, None without one; 400 when it is empty or too long
    (checked before the body is parsed, as the API always did)."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            f"`{HEADER}` must be 1 to {MAX_KEY_LENGTH} characters.", param=HEADER
        )
    return key


def idempotency_claim(key: str, *, method: str, path: str, data, app_id: str, mode: str) -> Claim:
    """Claim ``key`` for this request (its parsed body ``data``), or return a replay, or raise
    409/422: the Django API (through :func:`idempotency_begin`) and the lean send path share it,
    so a retry on either path finds the other's record."""
    fingerprint = request_fingerprint(method, path, data)
    now = timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    app_id=app_id,
                    mode=mode,
                    key=key,
                    method=method,
                    path=path,
                    request_hash=fingerprint,
                    locked_at=now,
                    expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS),
                )
            return Claim(record)
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(app_id=app_id, mode=mode, key=key).first()
        if existing is None:
            continue  # released or purged between our insert and our read: try again
        if existing.expires_at <= now:
            IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.request_hash != fingerprint:
            raise ApiError(
                "This idempotency key was already used with a different request. "
                "Use a new key for a new request.",
                code="idempotency_key_reused",
                param=HEADER,
            )
        if existing.status == IdempotencyKey.Status.COMPLETED:
            return Claim(None, replay=_replay(existing))
        stale = now - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
        if existing.locked_at <= stale:
            # The first request died holding the key (no result was committed): take it over.
            taken = IdempotencyKey.objects.filter(
                pk=existing.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at__lte=stale
            ).update(locked_at=now)
            if taken:
                existing.locked_at = now
                return Claim(existing)
        raise ApiError(
            "A request with this idempotency key is still being processed. Retry shortly.",
            code="idempotency_in_progress",
            param=HEADER,
            headers={"Retry-After": "1"},
        )
    raise ApiError(code="idempotency_in_progress", param=HEADER, headers={"Retry-After": "1"})


def idempotent_write(claim: Claim | None, write: Callable[[], Response], *, what: str) -> Response:
    """The answer of a write under ``claim``: the stored answer replayed, or ``write()`` run in one
    transaction that also stores its answer (just the transaction without a claim). A failure
    before the commit releases the claim and raises. Once committed, the answer is ``write``'s: a
    post-commit hook that fails (an enqueue while the broker is lost) is logged, never turned into
    a 503 for stored work (sweepers pick it up). ApiView and the lean send path both write so;
    ``what`` names the request in that log line."""
    if claim is not None and claim.replay is not None:
        return claim.replay
    committed = False

    def mark_committed() -> None:
        nonlocal committed
        committed = True

    try:
        with transaction.atomic():
            transaction.on_commit(mark_committed)  # runs first of this block's hooks
            response = write()
            if claim is not None:
                claim.complete(response)
    except Exception:
        if not committed:
            if claim is not None:
                claim.release()
            raise
        log.warning("a post-commit hook failed after %s committed", what, exc_info=True)
    return response


def idempotency_reseal() -> int:
    """Re-encrypt every stored response with the keyring's newest key; returns how many."""
    changed = 0
    for pk, body in IdempotencyKey.objects.filter(status=IdempotencyKey.Status.COMPLETED).values_list(
            "pk", "response_body").iterator():
        if isinstance(body, dict) and set(body) == {"sealed"}:
            sealed = {"sealed": crypto.reencrypt(body["sealed"])}
        else:  # written before bodies were sealed
            sealed = {"sealed": crypto.encrypt(json.dumps(body, cls=DjangoJSONEncoder))}
        changed += IdempotencyKey.objects.filter(pk=pk).update(response_body=sealed)
    return changed


def idempotency_purge(*, now=None, batch: int = 5000) -> int:
    """Delete expired keys; safe to run twice or concurrently."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return total
        total += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
