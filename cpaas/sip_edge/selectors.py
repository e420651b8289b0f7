"""Reads of the SIP edge room: the registrations of scoped endpoints."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from cpaas.sip_edge.models import SipEndpoint, SipRegistration


def registrations_by_endpoint(endpoints: Iterable[SipEndpoint]) -> dict[str, list[SipRegistration]]:
    """Live (unexpired) registrations of each endpoint, by endpoint id, in one query.

    The endpoints come from a scoped queryset; registrations are matched by their (username, realm),
    which is unique, so nothing of another app or mode can appear.
    """
    endpoints = list(endpoints)
    out: dict[str, list[SipRegistration]] = defaultdict(list)
    if not endpoints:
        return out
    by_account = {(e.username, e.realm): e.id for e in endpoints}
    match = Q()
    for realm in {e.realm for e in endpoints}:
        match |= Q(domain=realm, username__in=[e.username for e in endpoints if e.realm == realm])
    # the column is naive UTC; PostgreSQL compares it with an aware value in the session's zone, UTC
    for row in SipRegistration.objects.filter(match, expires__gt=timezone.now()).order_by("id"):
        endpoint_id = by_account.get((row.username, row.domain))
        if endpoint_id:
            out[endpoint_id].append(row)
    return out
