"""The state machine: one table, conditional writes that refuse every move the table does not allow."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from cpaas.voice import states
from cpaas.voice.models import Call, CallLeg
from cpaas.voice.transitions import call_transition, leg_transition
from webhooks.models import Event

PAIRS = list(itertools.product(states.STATUSES, states.STATUSES))


def test_the_table_names_every_status_and_final_states_have_no_exit():
    assert set(states.TRANSITIONS) == set(states.STATUSES)
    for final in states.FINAL:
        assert states.TRANSITIONS[final] == frozenset()
    for status in states.STATUSES:
        assert status not in states.TRANSITIONS[status]


def test_the_happy_path_is_allowed_in_order():
    path = [states.QUEUED, states.INITIATED, states.RINGING, states.IN_PROGRESS, states.COMPLETED]
    assert all(states.allowed(a, b) for a, b in itertools.pairwise(path))


def test_nothing_moves_back():
    order = {s: i for i, s in enumerate(states.STATUSES[:4])}
    for current, new in PAIRS:
        if current in order and new in order and order[new] <= order[current]:
            assert not states.allowed(current, new)


def test_previous_is_the_inverse_of_the_table():
    for current, new in PAIRS:
        assert (current in states.previous(new)) == states.allowed(current, new)


@pytest.fixture
def call(db, provisioned):
    call = Call.objects.create(tenant=provisioned.tenant, app=provisioned.app, mode="test", to="+12025550123",
                               from_number="+15005559000")
    CallLeg.objects.create(call=call, app=provisioned.app, role="a", to=call.to, from_number=call.from_number)
    return call


@pytest.mark.parametrize("current, new", PAIRS)
def test_a_call_write_is_applied_exactly_when_the_table_allows_it(call, current, new):
    Call.objects.filter(pk=call.pk).update(status=current)
    data = call_transition(call.pk, new, at=timezone.now())
    assert (data is not None) == states.allowed(current, new)
    assert Call.objects.get(pk=call.pk).status == (new if states.allowed(current, new) else current)
    published = Event.objects.filter(idempotency_key=f"{call.pk}:{new}").exists()
    assert published == states.allowed(current, new)


@pytest.mark.parametrize("current, new", PAIRS)
def test_a_leg_write_is_applied_exactly_when_the_table_allows_it(call, current, new):
    leg = call.legs.get()
    CallLeg.objects.filter(pk=leg.pk).update(status=current)
    assert (leg_transition(leg.pk, new, at=timezone.now()) is not None) == states.allowed(current, new)


def test_a_doubled_network_event_is_applied_once(call):
    leg = call.legs.get()
    now = timezone.now()
    assert leg_transition(leg.pk, states.INITIATED, at=now) is not None
    assert leg_transition(leg.pk, states.RINGING, at=now) is not None
    assert leg_transition(leg.pk, states.RINGING, at=now) is None
    assert Event.objects.filter(type="call.leg.ringing").count() == 1
