"""Input and output shapes of the IM server API."""

from __future__ import annotations

import re

from rest_framework import serializers

from cpaas.core.serializers import StrictSerializer
from cpaas.im import conf
from cpaas.im.models import Conversation, ImUser

USER_ID_RE = re.compile(r"^[A-Za-z0-9_.@:+=-]{1,64}$")


def user_id_field(**kwargs):
    return serializers.RegexField(USER_ID_RE, max_length=64, error_messages={
        "invalid": "User ids are 1-64 characters of letters, digits and _ . @ : + = -."}, **kwargs)


class UserIn(StrictSerializer):
    user_id = user_id_field()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    avatar_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)


class UserPatchIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=1000, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)


def user_out(user: ImUser) -> dict:
    return {"object": "im.user", "id": user.id, "user_id": user.user_id, "name": user.name,
            "avatar_url": user.avatar_url, "metadata": user.metadata,
            "banned_until": user.banned_until.isoformat() if user.banned_until else None,
            "created_at": user.created_at.isoformat()}


class TokenIn(StrictSerializer):
    ttl_seconds = serializers.IntegerField(min_value=60, max_value=conf.TOKEN_MAX_TTL_SECONDS, required=False)


class DurationIn(StrictSerializer):
    duration = serializers.IntegerField(min_value=0, max_value=10 * 365 * 86400)


class GroupIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    owner = user_id_field(required=False)
    members = serializers.ListField(child=user_id_field(), allow_empty=True, default=list,
                                    max_length=conf.MAX_GROUP_MEMBERS + 1)
    metadata = serializers.DictField(required=False, default=dict)


class MembersIn(StrictSerializer):
    members = serializers.ListField(child=user_id_field(), allow_empty=False, max_length=conf.MAX_GROUP_MEMBERS + 1)


class ChatroomIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)


def conversation_out(conv: Conversation, **extra) -> dict:
    out = {"object": "im.conversation", "id": conv.id, "type": conv.kind, "name": conv.name,
           "owner": conv.owner_user_id or None, "metadata": conv.metadata, "last_seq": conv.last_seq,
           "member_count": conv.member_count, "dismissed": conv.dismissed_at is not None,
           "created_at": conv.created_at.isoformat()}
    if conv.kind == "private":
        out["members"] = sorted(conv.key[2:].split("\n"))
    out.update(extra)
    return out


class MessageIn(StrictSerializer):
    from_ = user_id_field(required=False)
    to = user_id_field(required=False)
    conversation_id = serializers.CharField(max_length=40, required=False)
    type = serializers.CharField(max_length=16)
    content = serializers.JSONField()
    client_msg_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(choices=["low", "high"], required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields

    def validate(self, attrs):
        if bool(attrs.get("to")) == bool(attrs.get("conversation_id")):
            raise serializers.ValidationError({"to": serializers.ErrorDetail(
                "Give `to` (a user, for a private message) or `conversation_id`, not both.",
                code="invalid_request")})
        if attrs.get("to") and not attrs.get("from"):
            raise serializers.ValidationError({"from": serializers.ErrorDetail(
                "A private message needs `from`.", code="invalid_request")})
        return attrs


class BroadcastIn(StrictSerializer):
    type = serializers.CharField(max_length=16)
    content = serializers.JSONField()
    client_msg_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class SettingsIn(StrictSerializer):
    blocklist = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=1000)
    blocklist_action = serializers.ChoiceField(choices=["reject", "mask"], required=False)
    hook_url = serializers.CharField(max_length=1000, required=False, allow_blank=True)  # the egress checks it
    hook_fail_closed = serializers.BooleanField(required=False)
    low_priority_types = serializers.ListField(child=serializers.CharField(max_length=16), required=False)
    whitelisted_senders = serializers.ListField(child=user_id_field(), required=False, max_length=1000)


def settings_out(policy, mode: str) -> dict:
    """The app's IM policy as a key of ``mode`` sees it: its own mode's hook only."""
    return {"object": "im.settings", "blocklist": policy.blocklist, "blocklist_action": policy.blocklist_action,
            "hook_url": policy.hook_for(mode), "hook_fail_closed": policy.hook_fail_closed,
            "low_priority_types": policy.low_priority_types, "whitelisted_senders": policy.whitelisted_senders}
