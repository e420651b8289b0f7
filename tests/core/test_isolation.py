"""Tenant, mode and method: every /v1/ route, walked with another tenant's key and with our own
TEST key against our LIVE objects, answers 404 and changes nothing (issue 13, finding 1).

The routes come from the URLconf itself, so a new route is walked the day it is added; a route that
cannot be walked is listed in NOT_WALKED with its reason, and a path parameter the walker cannot
fill fails the test until someone adds it to ``ids`` below.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from billing.models import CreditNote, Invoice, UsageEvent
from cpaas.core.scoping import Scope, scoped
from cpaas.core.views import ApiView
from cpaas.im import services as im_services
from cpaas.im.models import Conversation, ImToken, ImUser, Member
from cpaas.im.models import Message as ImMessage
from cpaas.messaging.models import Message, PhoneNumber, SenderPool
from cpaas.rtc.models import MediaServer, Participant
from cpaas.rtc.models import Room as RtcRoom
from cpaas.sip_edge.models import SipEndpoint
from cpaas.sip_edge.services import endpoint_create as sip_endpoint_create
from cpaas.tenants.keys import api_key_create
from cpaas.tenants.models import ApiKey
from cpaas.voice.models import Call, Recording
from tests.conftest import client_for
from webhooks import publish
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import endpoint_create

#: Routes under /v1/ that are not ApiViews reached with an API key, and why.
NOT_WALKED = {
    "openapi": "the public schema: no tenant data",
    "reference": "the public API reference page: no tenant data",
    "stripe-webhook": "called by Stripe, authenticated by Stripe's signature, not by an API key",
    "carrier-receipts": "called by a carrier, authenticated by the connector's credentials, not by an API key",
    "rtc-join": "called by an RTC client, authenticated by the signed RTC token (app, mode and room inside it)",
    "rtc-leave": "called by an RTC client, authenticated by the signed RTC token (its own participant only)",
}

#: Routes whose object serves both modes of the tenant by design (docs/decisions/0801): our test
#: key may reach them; another tenant's key still may not.
SHARED_BY_DESIGN = {
    "me": "the calling key itself",
    "apps": "an app holds both modes' data",
    "app-detail": "an app holds both modes' data",
    "sms-settings": "the app's SMS policy applies to both modes (a test key reads it; writes need a live key)",
    "im-settings": "the app's IM policy applies to both modes (a test key reads it; writes need a live key)",
}

#: Mode isolation another part of issue 13 completes; walked with another tenant's key only.
#: The merger removes an entry when its part lands.
MODE_PENDING: dict[str, str] = {}

# Bodies that get a write past validation to its object lookup (so a 404 means "not yours").
BODIES = {
    ("call-detail", "post"): {"status": "completed"},
    ("webhooks-endpoint", "patch"): {"description": "taken over"},
    ("webhooks-endpoint-recover", "post"): None,  # filled in with a date below
    ("im-user", "patch"): {"name": "taken over"},
    ("im-user-ban", "post"): {"duration": 60},
    ("im-group-members", "post"): None,  # our second live user, below
    ("im-group-members", "delete"): None,
    ("im-group-mute", "post"): {"duration": 60},
    ("usage-event-void", "post"): {"reason": "not mine"},
    ("sip-endpoint-detail", "patch"): {"enabled": False},
    ("rtc-room-participant-mute", "post"): {"muted": True},
}


def v1_routes() -> list[tuple[str, str, object]]:
    """(name, route, view) of every URL pattern under v1/, read from the URLconf."""
    out = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.append((p.name, prefix + str(p.pattern), p.callback))

    walk(get_resolver().url_patterns, "")
    return [(name, route, view) for name, route, view in out if route.startswith("v1/")]


PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def world(provisioned, other_provisioned, tmp_path, monkeypatch):
    """Tenant A with one LIVE object of every kind, A's live and test keys, tenant B's live key."""
    from cpaas.voice import conf as voice_conf

    monkeypatch.setattr(voice_conf, "VOICE_RECORDINGS_STORAGE_OPTIONS", {"location": str(tmp_path)})
    app, tenant = provisioned.app, provisioned.tenant
    live_key = api_key_create(app=app, name="live", mode="live")
    foreign_live = api_key_create(app=other_provisioned.app, name="their live", mode="live")
    now = timezone.now()

    number = PhoneNumber.objects.create(tenant=tenant, app=app, number="+12025550100", country="US", mode="live",
                                        capabilities=["sms", "voice"], connector="sandbox")
    number2 = PhoneNumber.objects.create(tenant=tenant, app=app, number="+12025550101", country="US",
                                         mode="live", capabilities=["sms"], connector="sandbox")
    pool = SenderPool.objects.create(tenant=tenant, app=app, mode="live", name="live pool")
    pool.numbers.set([number, number2])
    message = Message.objects.create(tenant=tenant, app=app, mode="live", to="+15005550006", sender=number.number,
                                     body="live secret", encoding="gsm7", segments=1, status="scheduled",
                                     send_at=now + timedelta(days=1))
    call = Call.objects.create(tenant=tenant, app=app, mode="live", to="+15005550006", from_number=number.number,
                               status="queued", instructions="<Response><Hangup/></Response>")
    recording = Recording.objects.create(app=app, call=call, source="call", storage_name="live.wav")
    (tmp_path / "live.wav").write_bytes(b"RIFF")
    endpoint = endpoint_create(app_id=app.pk, mode="live", tenant_id=tenant.pk,
                               url="https://hooks.example.com/live").endpoint
    event = publish(app, "message.sent", {"id": message.pk}, idempotency_key="iso-live", livemode=True)
    delivery = Delivery.objects.filter(endpoint=endpoint, event=event).first() or Delivery.objects.create(
        app=app, endpoint=endpoint, event=event)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
    alice = im_services.user_create(app=app, mode="live", user_id="live-alice")
    bob = im_services.user_create(app=app, mode="live", user_id="live-bob")
    carol = im_services.user_create(app=app, mode="live", user_id="live-carol")
    token = im_services.token_create(user=alice).token
    group = im_services.group_create(app=app, mode="live", name="live group", owner_id="live-alice",
                                     member_ids=["live-bob"])
    room = im_services.chatroom_create(app=app, mode="live", name="live room")
    sent = im_services.message_send(app=app, sender=alice, conv=group, msg_type="text", content={"text": "hi"})
    invoice = Invoice.objects.create(tenant=tenant, period_start=date(2026, 10, 1), period_end=date(2026, 11, 1),
                                     currency="EUR")
    note = CreditNote.objects.create(tenant=tenant, invoice=invoice, number="CN-1", reason="x", currency="EUR",
                                     subtotal_minor=100, tax_minor=0, total_minor=100)
    sip_endpoint = sip_endpoint_create(principal=Scope(tenant.pk, app.pk, "live"), username="live-desk").endpoint
    media_server = MediaServer.objects.create(name="iso", api_url="http://127.0.0.1:9/janus", admin_key="k")
    rtc_room = RtcRoom.objects.create(tenant=tenant, app=app, mode="live", name="live rtc", kind="audio",
                                      max_participants=2, media_server=media_server, record=True,
                                      recording_name="live-rtc.wav", recording_bytes=4)
    (tmp_path / "live-rtc.wav").write_bytes(b"RIFF")
    rtc_participant = Participant.objects.create(room=rtc_room, tenant=tenant, app=app, mode="live", identity="live-p",
                                                 janus_session=1, janus_handle=2, expires_at=now + timedelta(hours=1))
    usage = UsageEvent.objects.create(tenant_id=tenant.pk, app=app, meter="sms_segments", quantity=1,
                                      occurred_at=now, idempotency_key="iso-live-usage")
    ids = {
        "app_id": app.pk, "key_id": live_key.key.pk, "message_id": message.pk, "number_id": number.pk,
        "call_id": call.pk, "recording_id": recording.pk, "endpoint_id": endpoint.pk, "delivery_id": delivery.pk,
        "event_id": event.pk, "user_id": alice.user_id, "token_id": token.pk, "group_id": group.pk,
        "room_id": room.pk, "conversation_id": group.pk, "invoice_id": invoice.pk, "credit_note_id": note.pk,
        "sip_endpoint_id": sip_endpoint.pk, "rtc_room_id": rtc_room.pk,
        "participant_id": rtc_participant.pk, "rtc_token_id": "rtctok_01JD0000000000000000000000",
    }
    per_route = {"usage-event-void": {"event_id": usage.pk}, "im-message-recall": {"message_id": sent.message["id"]}}
    bodies = dict(BODIES)
    bodies[("webhooks-endpoint-recover", "post")] = {"since": (now - timedelta(days=1)).isoformat()}
    bodies[("im-group-members", "post")] = {"members": [carol.user_id]}
    bodies[("im-group-members", "delete")] = {"members": [bob.user_id]}
    secrets_ = {ids["key_id"], live_key.secret, "live secret", pool.pk, sent.message["id"], usage.pk,
                *ids.values()} - {app.pk, alice.user_id}
    return {
        "app": app, "tenant": tenant, "ids": ids, "per_route": per_route, "bodies": bodies,
        "live": client_for(live_key.secret), "test": client_for(provisioned.test_key.secret),
        "foreign": client_for(foreign_live.secret), "foreign_test": client_for(other_provisioned.test_key.secret),
        "live_ids": secrets_ | {"live-alice", "live-bob", "live-carol"},
        "scope": Scope(tenant.pk, app.pk, "live"),
    }


SNAPSHOT_MODELS = (Message, PhoneNumber, SenderPool, Call, Recording, Endpoint, Delivery, Event, ImUser, ImToken,
                   Conversation, Member, ImMessage, ApiKey, Invoice, CreditNote, SipEndpoint, RtcRoom,
                   Participant)


def snapshot(world) -> dict:
    """Every LIVE row of tenant A, field by field (plus A's usage events, which have no mode yet)."""
    rows = {m.__name__ + m._meta.app_label: list(scoped(m, world["scope"]).order_by("pk").values())
            for m in SNAPSHOT_MODELS}
    rows["usage"] = list(UsageEvent.objects.filter(tenant_id=world["tenant"].pk).order_by("pk").values())
    rows["pools"] = sorted(SenderPool.numbers.through.objects.values_list("senderpool_id", "phonenumber_id"))
    return rows


def fill(route: str, values: dict) -> str:
    def sub(match):
        name = match.group(1)
        if name not in values:
            raise AssertionError(f"The isolation walker cannot fill `{name}` in {route}: add a live object for it.")
        return str(values[name])

    return "/" + PARAM.sub(sub, route)


def methods_of(view) -> list[str]:
    cls = view.view_class
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)]


def call(client, method: str, path: str, body):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, body if body is not None else {}, format="json")


def visible_ids(response, live_ids: set[str]) -> set[str]:
    text = response.content.decode(errors="replace")
    return {i for i in live_ids if i and i in text}


def test_every_v1_route_is_walked_or_listed_with_a_reason():
    names = set()
    for name, route, view in v1_routes():
        names.add(name)
        if name in NOT_WALKED:
            continue
        view_class = getattr(view, "view_class", None)
        assert view_class is not None and issubclass(view_class, ApiView), (
            f"/{route} is not an ApiView: scope it through ApiView or list it in NOT_WALKED with a reason")
    assert len(names) >= 60, "the URLconf walk found too few routes: is the resolver walk broken?"
    assert set(NOT_WALKED) <= names, "NOT_WALKED lists a route that no longer exists"
    assert set(SHARED_BY_DESIGN) <= names and set(MODE_PENDING) <= names


@pytest.mark.django_db(transaction=False)
def test_no_route_lets_another_tenant_or_the_test_key_reach_live_objects(world):
    failures = []
    for name, route, view in v1_routes():
        if name in NOT_WALKED:
            continue
        values = {**world["ids"], **world["per_route"].get(name, {})}
        path = fill(route, values)
        has_object = bool(PARAM.search(route))
        callers = [("foreign", world["foreign"]), ("foreign test", world["foreign_test"])]
        if name not in SHARED_BY_DESIGN and name not in MODE_PENDING:
            callers.append(("our test key", world["test"]))
        for method in methods_of(view):
            body = world["bodies"].get((name, method))
            for who, client in callers:
                before = snapshot(world)
                response = call(client, method, path, body)
                after = snapshot(world)
                where = f"{method.upper()} {path} as {who}"
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code}")
                if before != after:
                    changed = [k for k in before if before[k] != after[k]]
                    failures.append(f"{where}: changed live rows of {changed}")
                if has_object and response.status_code not in (403, 404):
                    failures.append(f"{where}: {response.status_code}, expected 404")
                leaked = {i for i in visible_ids(response, world["live_ids"]) if i not in path}  # echoes are fine
                if leaked and not (name in SHARED_BY_DESIGN and who == "our test key"):
                    failures.append(f"{where}: the answer shows live objects {sorted(leaked)}")
    assert not failures, "\n".join(failures)


#: A draft invoice has no PDF or CSV yet; the walk above still proves those paths are 404 to others.
POSITIVE_SKIP = {"invoice-pdf", "invoice-csv"}


def test_the_walker_objects_are_real_our_live_key_reaches_each_of_them(world):
    """The control: the same paths with our live key answer 200, so each 404 above means "not yours"."""
    for name, route, view in v1_routes():
        if name in NOT_WALKED or name in POSITIVE_SKIP or not PARAM.search(route) or "get" not in methods_of(view):
            continue
        values = {**world["ids"], **world["per_route"].get(name, {})}
        response = world["live"].get(fill(route, values))
        assert response.status_code == 200, (name, response.status_code, response.content[:300])


# --- bodies that name another mode's objects --------------------------------------------------------

def test_a_test_key_cannot_send_from_a_live_number_or_pool(world):
    test = world["test"]
    pool_id = SenderPool.objects.get(mode="live").pk
    assert test.post("/v1/messages", {"to": "+15005550006", "from": "+12025550100", "body": "x"},
                     format="json").json()["error"]["code"] == "sender_not_owned"
    assert test.post("/v1/messages", {"to": "+15005550006", "sender_pool": pool_id, "body": "x"},
                     format="json").status_code == 404
    batch = test.post("/v1/messages/batch", {"messages": [{"to": "+15005550006", "sender_pool": pool_id,
                                                            "body": "x"}]}, format="json").json()
    assert batch["accepted"] == 0
    assert test.post("/v1/sender_pools", {"name": "p", "numbers": ["+12025550100"]},
                     format="json").json()["error"]["code"] == "sender_not_owned"


def test_a_test_key_cannot_reach_live_im_users_or_conversations_through_a_body(world):
    test = world["test"]
    assert test.post("/v1/im/users", {"user_id": "test-zed"}, format="json").status_code == 201
    to_live = test.post("/v1/im/messages", {"from": "test-zed", "to": "live-alice", "type": "text",
                                            "content": {"text": "x"}}, format="json")
    into_live = test.post("/v1/im/messages", {"conversation_id": world["ids"]["group_id"], "type": "text",
                                              "content": {"text": "x"}}, format="json")
    group = test.post("/v1/im/groups", {"name": "g", "members": ["live-alice"]}, format="json")
    assert (to_live.status_code, into_live.status_code, group.status_code) == (404, 404, 400)
    assert test.post("/v1/im/broadcasts", {"type": "text", "content": {"text": "to test users"}},
                     format="json").status_code == 201
    live_broadcast = Conversation.objects.filter(app=world["app"], key="broadcast").first()
    assert live_broadcast is None  # the test broadcast went to the test conversation


def test_a_test_key_sees_only_test_im_users(world):
    test = world["test"]
    test.post("/v1/im/users", {"user_id": "test-yan"}, format="json")
    listed = [u["user_id"] for u in test.get("/v1/im/users").json()["data"]]
    assert listed == ["test-yan"]
    assert test.get("/v1/im/stats").json()["users"] == 1
