# Generated from _async.py by sdk/python/unasync.py: edit that file, then run the script.
"""Every resource of the API for :class:`cpaas_sdk.Client`.

This file is the source: ``resources/_sync.py`` (for :class:`cpaas_sdk.Client`) is generated from
it by ``sdk/python/unasync.py`` and a test fails when the two differ. One method per API operation
(named for it), keyword-only arguments named as the API names its fields (``from_`` for
``from``); unset (None) arguments are not sent. Every POST takes ``idempotency_key`` (a fresh one
is generated when omitted and reused by the retries of that call).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cpaas_sdk._http import Requester
from cpaas_sdk.objects import ApiObject
from cpaas_sdk.pagination import Pager

# Aliases, since inside a class with a ``list`` method ``list[str]`` would name the method.
Strings = list[str]
Items = list[dict[str, Any]]


def _p(value: str) -> str:
    """A path parameter, escaped so that an id can never change the path."""
    return quote(str(value), safe="")


class Resource:
    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def _get(self, path: str, params: dict[str, Any] | None = None) -> ApiObject:
        return self._requester.request("GET", path, params=params)

    def _post(self, path: str, body: dict[str, Any] | None = None, *,
                    idempotency_key: str | None = None) -> ApiObject:
        return self._requester.request("POST", path, json=_body(body), idempotency_key=idempotency_key)

    def _patch(self, path: str, body: dict[str, Any]) -> ApiObject:
        return self._requester.request("PATCH", path, json=_body(body))

    def _delete(self, path: str, body: dict[str, Any] | None = None) -> ApiObject:
        return self._requester.request("DELETE", path, json=_body(body) if body else None)

    def _download(self, path: str) -> bytes:
        return self._requester.request("GET", path, raw=True)

    def _list(self, path: str, params: dict[str, Any], *, cursor_param: str = "starting_after",
              cursor_field: str = "id") -> Pager:
        return Pager(lambda query: self._get(path, query), params, cursor_param=cursor_param,
                          cursor_field=cursor_field)


def _body(fields: dict[str, Any] | None) -> dict[str, Any]:
    return {("from" if k == "from_" else k): v for k, v in (fields or {}).items() if v is not None}


# --- SMS ---------------------------------------------------------------------------------------

class Messages(Resource):
    def send(self, *, to: str, body: str, from_: str | None = None, sender_pool: str | None = None,
                   status_callback: str | None = None, status_callback_events: Strings | None = None,
                   send_at: str | None = None, validity_period: int | None = None, reference: str | None = None,
                   smart_encoding: bool | None = None, country: str | None = None,
                   idempotency_key: str | None = None) -> ApiObject:
        """Send an SMS (``POST /v1/messages``); answers the queued message."""
        return self._post("/v1/messages", {
            "to": to, "body": body, "from_": from_, "sender_pool": sender_pool, "status_callback": status_callback,
            "status_callback_events": status_callback_events, "send_at": send_at,
            "validity_period": validity_period, "reference": reference, "smart_encoding": smart_encoding,
            "country": country}, idempotency_key=idempotency_key)

    def batch(self, messages: Items, *, idempotency_key: str | None = None) -> ApiObject:
        """Send up to the batch limit of messages in one request; each item as :meth:`send` takes."""
        items = [_body(item) for item in messages]
        return self._post("/v1/messages/batch", {"messages": items}, idempotency_key=idempotency_key)

    def estimate(self, *, body: str, to: str | None = None, country: str | None = None,
                       smart_encoding: bool | None = None, idempotency_key: str | None = None) -> ApiObject:
        """Segments, encoding and price of a body, without sending."""
        return self._post("/v1/messages/estimate", {
            "body": body, "to": to, "country": country, "smart_encoding": smart_encoding},
            idempotency_key=idempotency_key)

    def list(self, *, status: str | None = None, direction: str | None = None, to: str | None = None,
             from_: str | None = None, created_after: str | None = None, created_before: str | None = None,
             limit: int | None = None) -> Pager:
        return self._list("/v1/messages", {
            "status": status, "direction": direction, "to": to, "from": from_, "created_after": created_after,
            "created_before": created_before, "limit": limit})

    def retrieve(self, message_id: str) -> ApiObject:
        return self._get(f"/v1/messages/{_p(message_id)}")

    def cancel(self, message_id: str, *, idempotency_key: str | None = None) -> ApiObject:
        """Cancel a scheduled (``send_at``) message that was not sent yet."""
        return self._post(f"/v1/messages/{_p(message_id)}/cancel", idempotency_key=idempotency_key)


class Numbers(Resource):
    def create(self, *, number: str | None = None, capabilities: Strings | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/numbers", {"number": number, "capabilities": capabilities},
                                idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/numbers", {"limit": limit})

    def retrieve(self, number_id: str) -> ApiObject:
        return self._get(f"/v1/numbers/{_p(number_id)}")

    def update(self, number_id: str, *, voice_url: str | None = None,
                     voice_fallback_url: str | None = None, idempotency_key: str | None = None) -> ApiObject:
        """Where inbound calls to the number fetch their instructions (live numbers on a SIP trunk)."""
        return self._post(f"/v1/numbers/{_p(number_id)}", {
            "voice_url": voice_url, "voice_fallback_url": voice_fallback_url}, idempotency_key=idempotency_key)


class SenderPools(Resource):
    def create(self, *, numbers: Strings, name: str | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/sender_pools", {"numbers": numbers, "name": name},
                                idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/sender_pools", {"limit": limit})


class SmsSettings(Resource):
    def retrieve(self) -> ApiObject:
        return self._get("/v1/sms/settings")

    def update(self, *, allowed_countries: Strings | None = None, daily_cap: int | None = None,
                     velocity_limit: int | None = None, help_text: str | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/sms/settings", {
            "allowed_countries": allowed_countries, "daily_cap": daily_cap, "velocity_limit": velocity_limit,
            "help_text": help_text}, idempotency_key=idempotency_key)

    def rotate_callback_secret(self, *, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/sms/settings/rotate-callback-secret", idempotency_key=idempotency_key)


# --- Voice -------------------------------------------------------------------------------------

class Calls(Resource):
    def create(self, *, to: str, from_: str, url: str | None = None, instructions: Any = None,
                     status_callback: str | None = None, status_events: Strings | None = None,
                     timeout: int | None = None, time_limit: int | None = None, record: bool | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        """Place an outbound call driven by ``url`` (fetched call-control document) or ``instructions``
        (a document: a string, or a :class:`cpaas_sdk.voice.VoiceResponse`)."""
        return self._post("/v1/calls", {
            "to": to, "from_": from_, "url": url, "instructions": _document(instructions),
            "status_callback": status_callback, "status_events": status_events, "timeout": timeout,
            "time_limit": time_limit, "record": record}, idempotency_key=idempotency_key)

    def create_callback(self, *, party_a: str, party_b: str, caller_id_a: str, caller_id_b: str,
                              prompt: str | None = None, status_callback: str | None = None,
                              status_events: Strings | None = None, timeout: int | None = None,
                              time_limit: int | None = None, record: bool | None = None,
                              idempotency_key: str | None = None) -> ApiObject:
        """A callback call: ring ``party_a``, then ``party_b``, and bridge the two legs."""
        return self._post("/v1/calls/callback", {
            "party_a": party_a, "party_b": party_b, "caller_id_a": caller_id_a, "caller_id_b": caller_id_b,
            "prompt": prompt, "status_callback": status_callback, "status_events": status_events,
            "timeout": timeout, "time_limit": time_limit, "record": record}, idempotency_key=idempotency_key)

    def list(self, *, status: str | None = None, kind: str | None = None, to: str | None = None,
             from_: str | None = None, limit: int | None = None) -> Pager:
        return self._list("/v1/calls", {"status": status, "kind": kind, "to": to, "from": from_, "limit": limit})

    def retrieve(self, call_id: str) -> ApiObject:
        return self._get(f"/v1/calls/{_p(call_id)}")

    def update(self, call_id: str, *, status: str | None = None, url: str | None = None,
                     instructions: Any = None, idempotency_key: str | None = None) -> ApiObject:
        """Redirect a live call to new instructions, or end it (``status="completed"``/``"canceled"``)."""
        return self._post(f"/v1/calls/{_p(call_id)}", {
            "status": status, "url": url, "instructions": _document(instructions)}, idempotency_key=idempotency_key)

    def hangup(self, call_id: str, *, idempotency_key: str | None = None) -> ApiObject:
        """End a call: ``update(call_id, status="completed")``."""
        return self.update(call_id, status="completed", idempotency_key=idempotency_key)


def _document(instructions: Any) -> Any:
    """A :class:`~cpaas_sdk.voice.VoiceResponse` is sent as its XML; anything else as given."""
    to_xml = getattr(instructions, "to_xml", None)
    return to_xml() if callable(to_xml) else instructions


class Recordings(Resource):
    def list(self, *, call_id: str | None = None, limit: int | None = None) -> Pager:
        return self._list("/v1/recordings", {"call_id": call_id, "limit": limit})

    def retrieve(self, recording_id: str) -> ApiObject:
        return self._get(f"/v1/recordings/{_p(recording_id)}")

    def delete(self, recording_id: str) -> ApiObject:
        return self._delete(f"/v1/recordings/{_p(recording_id)}")

    def audio(self, recording_id: str) -> bytes:
        """The recording's audio file (WAV bytes)."""
        return self._download(f"/v1/recordings/{_p(recording_id)}/audio")


class VoiceSettings(Resource):
    def retrieve(self) -> ApiObject:
        return self._get("/v1/voice/settings")

    def rotate_signing_secret(self, *, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/voice/settings/rotate-signing-secret", idempotency_key=idempotency_key)


class SipEndpoints(Resource):
    """SIP phones and softphones that register at the platform's SIP edge (docs/voice.md)."""

    def create(self, *, username: str, password: str | None = None, display_name: str | None = None,
                     caller_id: str | None = None, idempotency_key: str | None = None) -> ApiObject:
        """Answers the endpoint with its ``password`` (shown once; generated when not given)."""
        return self._post("/v1/sip/endpoints", {
            "username": username, "password": password, "display_name": display_name, "caller_id": caller_id},
            idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/sip/endpoints", {"limit": limit})

    def retrieve(self, sip_endpoint_id: str) -> ApiObject:
        return self._get(f"/v1/sip/endpoints/{_p(sip_endpoint_id)}")

    def update(self, sip_endpoint_id: str, *, password: str | None = None, rotate_password: bool | None = None,
                     display_name: str | None = None, caller_id: str | None = None,
                     enabled: bool | None = None) -> ApiObject:
        return self._patch(f"/v1/sip/endpoints/{_p(sip_endpoint_id)}", {
            "password": password, "rotate_password": rotate_password, "display_name": display_name,
            "caller_id": caller_id, "enabled": enabled})

    def delete(self, sip_endpoint_id: str) -> ApiObject:
        return self._delete(f"/v1/sip/endpoints/{_p(sip_endpoint_id)}")


# --- IM ----------------------------------------------------------------------------------------

class ImUsers(Resource):
    def create(self, *, user_id: str, name: str | None = None, avatar_url: str | None = None,
                     metadata: dict[str, Any] | None = None, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/im/users", {
            "user_id": user_id, "name": name, "avatar_url": avatar_url, "metadata": metadata},
            idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/im/users", {"limit": limit})

    def retrieve(self, user_id: str) -> ApiObject:
        return self._get(f"/v1/im/users/{_p(user_id)}")

    def update(self, user_id: str, *, name: str | None = None, avatar_url: str | None = None,
                     metadata: dict[str, Any] | None = None) -> ApiObject:
        return self._patch(f"/v1/im/users/{_p(user_id)}", {
            "name": name, "avatar_url": avatar_url, "metadata": metadata})

    def delete(self, user_id: str) -> ApiObject:
        return self._delete(f"/v1/im/users/{_p(user_id)}")

    def ban(self, user_id: str, *, duration: int, idempotency_key: str | None = None) -> ApiObject:
        """Ban for ``duration`` seconds (0: until unbanned)."""
        return self._post(f"/v1/im/users/{_p(user_id)}/ban", {"duration": duration},
                                idempotency_key=idempotency_key)

    def unban(self, user_id: str) -> ApiObject:
        return self._delete(f"/v1/im/users/{_p(user_id)}/ban")

    def conversations(self, user_id: str) -> Pager:
        return self._list(f"/v1/im/users/{_p(user_id)}/conversations", {})


class ImTokens(Resource):
    def create(self, user_id: str, *, ttl_seconds: int | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        """A token for the IM WebSocket (:class:`cpaas_sdk.im.ImClient`)."""
        return self._post(f"/v1/im/users/{_p(user_id)}/tokens", {"ttl_seconds": ttl_seconds},
                                idempotency_key=idempotency_key)

    def revoke(self, user_id: str, token_id: str) -> ApiObject:
        return self._delete(f"/v1/im/users/{_p(user_id)}/tokens/{_p(token_id)}")

    def revoke_all(self, user_id: str) -> ApiObject:
        return self._delete(f"/v1/im/users/{_p(user_id)}/tokens")


class ImGroups(Resource):
    def create(self, *, name: str | None = None, owner: str | None = None, members: Strings | None = None,
                     metadata: dict[str, Any] | None = None, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/im/groups", {
            "name": name, "owner": owner, "members": members, "metadata": metadata},
            idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/im/groups", {"limit": limit})

    def retrieve(self, group_id: str) -> ApiObject:
        return self._get(f"/v1/im/groups/{_p(group_id)}")

    def dismiss(self, group_id: str) -> ApiObject:
        return self._delete(f"/v1/im/groups/{_p(group_id)}")

    def members(self, group_id: str, *, limit: int | None = None) -> Pager:
        return self._list(f"/v1/im/groups/{_p(group_id)}/members", {"limit": limit}, cursor_field="user_id")

    def add_members(self, group_id: str, members: Strings, *,
                          idempotency_key: str | None = None) -> ApiObject:
        return self._post(f"/v1/im/groups/{_p(group_id)}/members", {"members": members},
                                idempotency_key=idempotency_key)

    def remove_members(self, group_id: str, members: Strings) -> ApiObject:
        return self._delete(f"/v1/im/groups/{_p(group_id)}/members", {"members": members})

    def remove_member(self, group_id: str, user_id: str) -> ApiObject:
        return self._delete(f"/v1/im/groups/{_p(group_id)}/members/{_p(user_id)}")

    def mute_member(self, group_id: str, user_id: str, *, duration: int,
                          idempotency_key: str | None = None) -> ApiObject:
        return self._post(f"/v1/im/groups/{_p(group_id)}/members/{_p(user_id)}/mute",
                                {"duration": duration}, idempotency_key=idempotency_key)


class ImChatrooms(Resource):
    def create(self, *, name: str | None = None, metadata: dict[str, Any] | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/im/chatrooms", {"name": name, "metadata": metadata},
                                idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/im/chatrooms", {"limit": limit})

    def retrieve(self, room_id: str) -> ApiObject:
        return self._get(f"/v1/im/chatrooms/{_p(room_id)}")

    def delete(self, room_id: str) -> ApiObject:
        return self._delete(f"/v1/im/chatrooms/{_p(room_id)}")


class ImMessages(Resource):
    def send(self, *, type: str, content: dict[str, Any], to: str | None = None,
                   conversation_id: str | None = None, from_: str | None = None, client_msg_id: str | None = None,
                   priority: str | None = None, idempotency_key: str | None = None) -> ApiObject:
        """Send as ``from_`` (a server-side send) to a user (``to``) or a conversation."""
        return self._post("/v1/im/messages", {
            "type": type, "content": content, "to": to, "conversation_id": conversation_id, "from_": from_,
            "client_msg_id": client_msg_id, "priority": priority}, idempotency_key=idempotency_key)

    def recall(self, message_id: str, *, idempotency_key: str | None = None) -> ApiObject:
        return self._post(f"/v1/im/messages/{_p(message_id)}/recall", idempotency_key=idempotency_key)


class ImConversations(Resource):
    def retrieve(self, conversation_id: str) -> ApiObject:
        return self._get(f"/v1/im/conversations/{_p(conversation_id)}")

    def messages(self, conversation_id: str, *, after_seq: int | None = None,
                 limit: int | None = None) -> Pager:
        """History in ``seq`` order from ``after_seq`` (pages follow by ``seq``)."""
        return self._list(f"/v1/im/conversations/{_p(conversation_id)}/messages",
                          {"after_seq": after_seq, "limit": limit}, cursor_param="after_seq", cursor_field="seq")


class ImBroadcasts(Resource):
    def create(self, *, type: str, content: dict[str, Any], client_msg_id: str | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/im/broadcasts", {
            "type": type, "content": content, "client_msg_id": client_msg_id}, idempotency_key=idempotency_key)


class ImSettings(Resource):
    def retrieve(self) -> ApiObject:
        return self._get("/v1/im/settings")

    def update(self, **fields: Any) -> ApiObject:
        """Fields: ``blocklist``, ``blocklist_action``, ``hook_url``, ``hook_fail_closed``,
        ``low_priority_types``, ``whitelisted_senders``."""
        return self._patch("/v1/im/settings", fields)


class ImStats(Resource):
    def retrieve(self) -> ApiObject:
        return self._get("/v1/im/stats")


class Im:
    """``client.im.users``, ``.tokens``, ``.groups``, ``.chatrooms``, ``.messages``, …"""

    def __init__(self, requester: Requester) -> None:
        self.users = ImUsers(requester)
        self.tokens = ImTokens(requester)
        self.groups = ImGroups(requester)
        self.chatrooms = ImChatrooms(requester)
        self.messages = ImMessages(requester)
        self.conversations = ImConversations(requester)
        self.broadcasts = ImBroadcasts(requester)
        self.settings = ImSettings(requester)
        self.stats = ImStats(requester)


# --- Webhooks ----------------------------------------------------------------------------------

class WebhookEndpoints(Resource):
    def create(self, *, url: str, description: str | None = None, event_types: Strings | None = None,
                     enabled: bool | None = None, rate_limit: int | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        """Answers the endpoint with its signing ``secret`` (shown once)."""
        return self._post("/v1/webhook-endpoints", {
            "url": url, "description": description, "event_types": event_types, "enabled": enabled,
            "rate_limit": rate_limit}, idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/webhook-endpoints", {"limit": limit})

    def retrieve(self, endpoint_id: str) -> ApiObject:
        return self._get(f"/v1/webhook-endpoints/{_p(endpoint_id)}")

    def update(self, endpoint_id: str, *, url: str | None = None, description: str | None = None,
                     event_types: Strings | None = None, enabled: bool | None = None,
                     rate_limit: int | None = None) -> ApiObject:
        return self._patch(f"/v1/webhook-endpoints/{_p(endpoint_id)}", {
            "url": url, "description": description, "event_types": event_types, "enabled": enabled,
            "rate_limit": rate_limit})

    def delete(self, endpoint_id: str) -> ApiObject:
        return self._delete(f"/v1/webhook-endpoints/{_p(endpoint_id)}")

    def rotate_secret(self, endpoint_id: str, *, idempotency_key: str | None = None) -> ApiObject:
        return self._post(f"/v1/webhook-endpoints/{_p(endpoint_id)}/rotate-secret",
                                idempotency_key=idempotency_key)

    def test(self, endpoint_id: str, *, idempotency_key: str | None = None) -> ApiObject:
        """Send a test event to the endpoint."""
        return self._post(f"/v1/webhook-endpoints/{_p(endpoint_id)}/test", idempotency_key=idempotency_key)

    def recover(self, endpoint_id: str, *, since: str, until: str | None = None,
                      dry_run: bool | None = None, idempotency_key: str | None = None) -> ApiObject:
        """Replay the events of a time range to the endpoint (e.g. after it was down)."""
        return self._post(f"/v1/webhook-endpoints/{_p(endpoint_id)}/recover", {
            "since": since, "until": until, "dry_run": dry_run}, idempotency_key=idempotency_key)


class WebhookDeliveries(Resource):
    def list(self, endpoint_id: str, *, status: str | None = None, event: str | None = None,
             limit: int | None = None) -> Pager:
        return self._list(f"/v1/webhook-endpoints/{_p(endpoint_id)}/deliveries",
                          {"status": status, "event": event, "limit": limit})

    def retrieve(self, endpoint_id: str, delivery_id: str) -> ApiObject:
        return self._get(f"/v1/webhook-endpoints/{_p(endpoint_id)}/deliveries/{_p(delivery_id)}")

    def retry(self, endpoint_id: str, delivery_id: str, *, idempotency_key: str | None = None) -> ApiObject:
        """Deliver this event to the endpoint again now (a replay)."""
        return self._post(f"/v1/webhook-endpoints/{_p(endpoint_id)}/deliveries/{_p(delivery_id)}/retry",
                                idempotency_key=idempotency_key)


class Events(Resource):
    def list(self, *, type: str | None = None, livemode: bool | None = None,
             limit: int | None = None) -> Pager:
        return self._list("/v1/events", {
            "type": type, "livemode": None if livemode is None else str(livemode).lower(), "limit": limit})

    def retrieve(self, event_id: str) -> ApiObject:
        return self._get(f"/v1/events/{_p(event_id)}")


class EventTypes(Resource):
    def list(self) -> Pager:
        return self._list("/v1/event-types", {})


# --- Billing -----------------------------------------------------------------------------------

class Usage(Resource):
    def retrieve(self, *, meter: str | None = None, from_: str | None = None, to: str | None = None,
                       granularity: str | None = None, group_by: str | None = None,
                       mode: str | None = None) -> ApiObject:
        """Usage of a period (``from_``/``to`` are dates, ``YYYY-MM-DD``)."""
        return self._get("/v1/usage", {"meter": meter, "from": from_, "to": to, "granularity": granularity,
                                             "group_by": group_by, "mode": mode})

    def active_subjects(self, *, day: str, meter: str | None = None, mode: str | None = None,
                        limit: int | None = None) -> Pager:
        """The subjects (IM users) counted active on ``day``."""
        return self._list("/v1/usage/active-subjects", {"day": day, "meter": meter, "mode": mode, "limit": limit},
                          cursor_field="subject")


class UsageEvents(Resource):
    def create(self, events: Items, *, idempotency_key: str | None = None) -> ApiObject:
        """Import usage events (each with ``meter``, ``quantity``, ``occurred_at``, ``idempotency_key``)."""
        return self._post("/v1/usage-events", {"events": events}, idempotency_key=idempotency_key)

    def void(self, event_id: str, *, reason: str, idempotency_key: str | None = None) -> ApiObject:
        """Void usage the app reported itself (platform-metered usage cannot be voided)."""
        return self._post(f"/v1/usage-events/{_p(event_id)}/void", {"reason": reason},
                                idempotency_key=idempotency_key)


class Invoices(Resource):
    def list(self, *, status: str | None = None, limit: int | None = None) -> Pager:
        return self._list("/v1/invoices", {"status": status, "limit": limit})

    def retrieve(self, invoice_id: str) -> ApiObject:
        return self._get(f"/v1/invoices/{_p(invoice_id)}")

    def upcoming(self) -> ApiObject:
        """The draft invoice of the current period, as it stands."""
        return self._get("/v1/invoices/upcoming")

    def pdf(self, invoice_id: str) -> bytes:
        return self._download(f"/v1/invoices/{_p(invoice_id)}.pdf")

    def csv(self, invoice_id: str) -> bytes:
        return self._download(f"/v1/invoices/{_p(invoice_id)}.csv")


class CreditNotes(Resource):
    def list(self, *, invoice: str | None = None, limit: int | None = None) -> Pager:
        return self._list("/v1/credit-notes", {"invoice": invoice, "limit": limit})

    def retrieve(self, credit_note_id: str) -> ApiObject:
        return self._get(f"/v1/credit-notes/{_p(credit_note_id)}")


# --- RTC ---------------------------------------------------------------------------------------

class RtcRooms(Resource):
    """Audio rooms on the platform's media servers (docs/rtc.md): rooms, tokens, moderation, and
    the join/leave a client makes with its room token (no API key needed for those two)."""

    def create(self, *, name: str, kind: str, max_participants: int, record: bool | None = None,
                     ends_at: str | None = None, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/rtc/rooms", {
            "name": name, "kind": kind, "max_participants": max_participants, "record": record,
            "ends_at": ends_at}, idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/rtc/rooms", {"limit": limit})

    def retrieve(self, rtc_room_id: str) -> ApiObject:
        return self._get(f"/v1/rtc/rooms/{_p(rtc_room_id)}")

    def close(self, rtc_room_id: str) -> ApiObject:
        """Closes the room: every participant is dropped (and metered)."""
        return self._delete(f"/v1/rtc/rooms/{_p(rtc_room_id)}")

    def recording(self, rtc_room_id: str) -> bytes:
        """The room's recording (WAV)."""
        return self._download(f"/v1/rtc/rooms/{_p(rtc_room_id)}/recording")

    def create_token(self, rtc_room_id: str, *, identity: str, privileges: Strings, ttl_seconds: int,
                           idempotency_key: str | None = None) -> ApiObject:
        return self._post(f"/v1/rtc/rooms/{_p(rtc_room_id)}/tokens", {
            "identity": identity, "privileges": privileges, "ttl_seconds": ttl_seconds},
            idempotency_key=idempotency_key)

    def revoke_token(self, rtc_room_id: str, rtc_token_id: str) -> ApiObject:
        return self._delete(f"/v1/rtc/rooms/{_p(rtc_room_id)}/tokens/{_p(rtc_token_id)}")

    def kick(self, rtc_room_id: str, participant_id: str) -> ApiObject:
        return self._delete(f"/v1/rtc/rooms/{_p(rtc_room_id)}/participants/{_p(participant_id)}")

    def mute(self, rtc_room_id: str, participant_id: str, *, muted: bool) -> ApiObject:
        return self._post(f"/v1/rtc/rooms/{_p(rtc_room_id)}/participants/{_p(participant_id)}/mute",
                                {"muted": muted})

    def join(self, *, token: str, sdp: str) -> ApiObject:
        """Joins with a room token and the client's SDP offer; answers the participant and the answer SDP."""
        return self._post("/v1/rtc/join", {"token": token, "sdp": sdp})

    def leave(self, participant_id: str, *, token: str) -> ApiObject:
        return self._post(f"/v1/rtc/participants/{_p(participant_id)}/leave", {"token": token})


# --- Account -----------------------------------------------------------------------------------

class ApiKeys(Resource):
    def create(self, *, name: str | None = None, app: str | None = None, mode: str | None = None,
                     access: str | None = None, products: Strings | None = None, expires_at: str | None = None,
                     idempotency_key: str | None = None) -> ApiObject:
        """Answers the key with its ``secret`` (shown once)."""
        return self._post("/v1/api-keys", {
            "name": name, "app": app, "mode": mode, "access": access, "products": products,
            "expires_at": expires_at}, idempotency_key=idempotency_key)

    def list(self, *, app: str | None = None, limit: int | None = None) -> Pager:
        return self._list("/v1/api-keys", {"app": app, "limit": limit})

    def retrieve(self, key_id: str) -> ApiObject:
        return self._get(f"/v1/api-keys/{_p(key_id)}")

    def revoke(self, key_id: str) -> ApiObject:
        return self._delete(f"/v1/api-keys/{_p(key_id)}")


class Members(Resource):
    """The tenant's team (docs/console.md): a live full-access key acts as an admin, a live
    read-only key as a viewer; no key can make, change or remove an owner."""

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/members", {"limit": limit})

    def invite(self, *, email: str, role: str, idempotency_key: str | None = None) -> ApiObject:
        """Sends an invitation email; answers the invitation."""
        return self._post("/v1/members", {"email": email, "role": role}, idempotency_key=idempotency_key)

    def retrieve(self, member_id: str) -> ApiObject:
        return self._get(f"/v1/members/{_p(member_id)}")

    def update(self, member_id: str, *, role: str) -> ApiObject:
        return self._patch(f"/v1/members/{_p(member_id)}", {"role": role})

    def remove(self, member_id: str) -> ApiObject:
        return self._delete(f"/v1/members/{_p(member_id)}")


class Invitations(Resource):
    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/invitations", {"limit": limit})

    def create(self, *, email: str, role: str, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/invitations", {"email": email, "role": role}, idempotency_key=idempotency_key)

    def retrieve(self, invitation_id: str) -> ApiObject:
        return self._get(f"/v1/invitations/{_p(invitation_id)}")

    def revoke(self, invitation_id: str) -> ApiObject:
        return self._delete(f"/v1/invitations/{_p(invitation_id)}")


class Apps(Resource):
    def create(self, *, name: str, idempotency_key: str | None = None) -> ApiObject:
        return self._post("/v1/apps", {"name": name}, idempotency_key=idempotency_key)

    def list(self, *, limit: int | None = None) -> Pager:
        return self._list("/v1/apps", {"limit": limit})

    def retrieve(self, app_id: str) -> ApiObject:
        return self._get(f"/v1/apps/{_p(app_id)}")


class Me(Resource):
    def retrieve(self) -> ApiObject:
        """The key's tenant, app and mode."""
        return self._get("/v1/me")
