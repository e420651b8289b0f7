"""Shared reads of the voice room, always scoped by app first."""

from __future__ import annotations

from django.db.models import QuerySet

from cpaas.voice.models import Call, Recording


def call_list(calls: QuerySet[Call], *, status: str | None = None, kind: str | None = None, to: str | None = None,
              from_number: str | None = None) -> QuerySet[Call]:
    """The caller's calls (``scoped(Call, principal)``) filtered by status, kind, to and from."""
    calls = calls.prefetch_related("legs")
    if status:
        calls = calls.filter(status=status)
    if kind:
        calls = calls.filter(kind=kind)
    if to:
        calls = calls.filter(to=to)
    if from_number:
        calls = calls.filter(from_number=from_number)
    return calls


def recording_list(rows: QuerySet[Recording], *, call_id: str | None = None) -> QuerySet[Recording]:
    rows = rows.filter(deleted_at__isnull=True)
    if call_id:
        rows = rows.filter(call_id=call_id)
    return rows
