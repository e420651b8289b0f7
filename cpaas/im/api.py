"""The IM server API under /v1/im/: parse → one service → serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from cpaas.core.errors import ApiError, NotFound
from cpaas.core.pagination import paginate, parse_limit
from cpaas.core.params import query_int
from cpaas.core.scoping import shared_policy_write
from cpaas.core.views import ApiView
from cpaas.im import serializers as s
from cpaas.im import services
from cpaas.im.models import Conversation, ConversationKind, ImUser, Member, Message
from cpaas.im.moderation import app_settings
from cpaas.im.selectors import messages_page, user_conversations
from cpaas.im.state import state
from cpaas.tenants.models import App


class ImView(ApiView):
    product = "im"

    @property
    def app_id(self) -> str:
        return self.principal.app_id

    @property
    def mode(self) -> str:
        return self.principal.mode

    def app(self) -> App:
        return self.get_scoped(App, self.principal.app_id)

    def user(self, user_id: str) -> ImUser:
        return services.user_get(app_id=self.app_id, mode=self.mode, user_id=user_id)

    def conversation(self, conversation_id: str, kinds=None) -> Conversation:
        return services.conversation_get(app_id=self.app_id, mode=self.mode, conversation_id=conversation_id,
                                         kinds=kinds)


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class UserListView(ImView):
    @extend_schema(operation_id="im_users_list", responses={200: dict})
    def get(self, request):
        users = self.scoped(ImUser)
        return Response(paginate(request, users, lambda rows: [s.user_out(u) for u in rows]))

    @extend_schema(operation_id="im_users_create", request=s.UserIn, responses={201: dict})
    def post(self, request):
        data = _validated(s.UserIn, request.data)
        user = services.user_create(app=self.app(), mode=self.mode, **data)
        return Response(s.user_out(user), status=status.HTTP_201_CREATED)


class UserDetailView(ImView):
    @extend_schema(operation_id="im_users_retrieve", responses={200: dict})
    def get(self, request, user_id: str):
        user = self.user(user_id)
        return Response({**s.user_out(user), "online": state().is_online(self.app_id, user.user_id)})

    @extend_schema(operation_id="im_users_update", request=s.UserPatchIn, responses={200: dict})
    def patch(self, request, user_id: str):
        user = self.user(user_id)
        data = _validated(s.UserPatchIn, request.data)
        return Response(s.user_out(services.user_update(user=user, **data)))

    @extend_schema(operation_id="im_users_delete", responses={200: dict})
    def delete(self, request, user_id: str):
        user = self.user(user_id)
        services.user_delete(user=user)
        return Response({"object": "im.user", "user_id": user_id, "deleted": True})


class TokenListView(ImView):
    @extend_schema(operation_id="im_tokens_create", request=s.TokenIn, responses={201: dict})
    def post(self, request, user_id: str):
        user = self.user(user_id)
        data = _validated(s.TokenIn, request.data or {})
        created = services.token_create(user=user, ttl_seconds=data.get("ttl_seconds"))
        return Response({"object": "im.token", "id": created.token.id, "user_id": user.user_id,
                         "token": created.secret, "expires_at": created.token.expires_at.isoformat()},
                        status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="im_tokens_revoke_all", responses={200: dict})
    def delete(self, request, user_id: str):
        count = services.token_revoke(user=self.user(user_id))
        return Response({"object": "im.token_revocation", "revoked": count})


class TokenDetailView(ImView):
    @extend_schema(operation_id="im_tokens_revoke", responses={200: dict})
    def delete(self, request, user_id: str, token_id: str):
        count = services.token_revoke(user=self.user(user_id), token_id=token_id)
        return Response({"object": "im.token_revocation", "revoked": count})


class BanView(ImView):
    @extend_schema(operation_id="im_users_ban", request=s.DurationIn, responses={200: dict})
    def post(self, request, user_id: str):
        user = self.user(user_id)
        data = _validated(s.DurationIn, request.data)
        return Response(s.user_out(services.user_ban(user=user, duration_seconds=data["duration"])))

    @extend_schema(operation_id="im_users_unban", responses={200: dict})
    def delete(self, request, user_id: str):
        return Response(s.user_out(services.user_ban(user=self.user(user_id), duration_seconds=0)))


class UserConversationsView(ImView):
    @extend_schema(operation_id="im_user_conversations", responses={200: dict})
    def get(self, request, user_id: str):
        user = self.user(user_id)
        rows = [s.conversation_out(m.conversation, read_seq=m.read_seq) for m in user_conversations(user=user)]
        return Response({"object": "list", "data": rows, "has_more": False})


class GroupListView(ImView):
    @extend_schema(operation_id="im_groups_list", responses={200: dict})
    def get(self, request):
        groups = self.scoped(Conversation).filter(kind=ConversationKind.GROUP)
        return Response(paginate(request, groups, lambda rows: [s.conversation_out(g) for g in rows]))

    @extend_schema(operation_id="im_groups_create", request=s.GroupIn, responses={201: dict})
    def post(self, request):
        data = _validated(s.GroupIn, request.data)
        group = services.group_create(app=self.app(), mode=self.mode, name=data["name"], owner_id=data.get("owner"),
                                      member_ids=data["members"], metadata=data["metadata"])
        return Response(s.conversation_out(group), status=status.HTTP_201_CREATED)


class GroupDetailView(ImView):
    @extend_schema(operation_id="im_groups_retrieve", responses={200: dict})
    def get(self, request, group_id: str):
        return Response(s.conversation_out(self.conversation(group_id, [ConversationKind.GROUP])))

    @extend_schema(operation_id="im_groups_dismiss", responses={200: dict})
    def delete(self, request, group_id: str):
        group = services.group_dismiss(group=self.conversation(group_id, [ConversationKind.GROUP]))
        return Response(s.conversation_out(group))


class GroupMembersView(ImView):
    @extend_schema(operation_id="im_group_members_list", responses={200: dict})
    def get(self, request, group_id: str):
        group = self.conversation(group_id, [ConversationKind.GROUP])
        limit = parse_limit(request.query_params)
        after = request.query_params.get("starting_after") or ""
        rows = list(self.scoped(Member).filter(conversation=group, user__user_id__gt=after)
                    .select_related("user").order_by("user__user_id")[: limit + 1])
        data = [{"object": "im.member", "user_id": m.user.user_id, "joined_at": m.joined_at.isoformat(),
                 "muted_until": m.muted_until.isoformat() if m.muted_until else None} for m in rows[:limit]]
        return Response({"object": "list", "data": data, "has_more": len(rows) > limit})

    @extend_schema(operation_id="im_group_members_add", request=s.MembersIn, responses={200: dict})
    def post(self, request, group_id: str):
        group = self.conversation(group_id, [ConversationKind.GROUP])
        data = _validated(s.MembersIn, request.data)
        added = services.group_members_add(group=group, user_ids=data["members"])
        group.refresh_from_db()
        return Response(s.conversation_out(group, added=added))

    @extend_schema(operation_id="im_group_members_remove", request=s.MembersIn, responses={200: dict})
    def delete(self, request, group_id: str):
        group = self.conversation(group_id, [ConversationKind.GROUP])
        data = _validated(s.MembersIn, request.data)
        removed = services.group_members_remove(group=group, user_ids=data["members"])
        group.refresh_from_db()
        return Response(s.conversation_out(group, removed=removed))


class GroupMemberView(ImView):
    @extend_schema(operation_id="im_group_member_remove", responses={200: dict})
    def delete(self, request, group_id: str, user_id: str):
        group = self.conversation(group_id, [ConversationKind.GROUP])
        if not services.group_members_remove(group=group, user_ids=[user_id]):
            raise NotFound(f"`{user_id}` is not a member of this group.")
        group.refresh_from_db()
        return Response(s.conversation_out(group, removed=1))


class GroupMuteView(ImView):
    @extend_schema(operation_id="im_group_member_mute", request=s.DurationIn, responses={200: dict})
    def post(self, request, group_id: str, user_id: str):
        group = self.conversation(group_id, [ConversationKind.GROUP])
        data = _validated(s.DurationIn, request.data)
        member = services.member_mute(group=group, user_id=user_id, duration_seconds=data["duration"])
        return Response({"object": "im.member", "user_id": user_id,
                         "muted_until": member.muted_until.isoformat() if member.muted_until else None})


class ChatroomListView(ImView):
    @extend_schema(operation_id="im_chatrooms_list", responses={200: dict})
    def get(self, request):
        rooms = self.scoped(Conversation).filter(kind=ConversationKind.CHATROOM, dismissed_at__isnull=True)
        return Response(paginate(request, rooms, lambda rows: [s.conversation_out(r) for r in rows]))

    @extend_schema(operation_id="im_chatrooms_create", request=s.ChatroomIn, responses={201: dict})
    def post(self, request):
        data = _validated(s.ChatroomIn, request.data)
        room = services.chatroom_create(app=self.app(), mode=self.mode, name=data["name"], metadata=data["metadata"])
        return Response(s.conversation_out(room), status=status.HTTP_201_CREATED)


class ChatroomDetailView(ImView):
    @extend_schema(operation_id="im_chatrooms_retrieve", responses={200: dict})
    def get(self, request, room_id: str):
        room = self.conversation(room_id, [ConversationKind.CHATROOM])
        return Response(s.conversation_out(room, dropped=state().room_drops(self.app_id, room.pk)))

    @extend_schema(operation_id="im_chatrooms_delete", responses={200: dict})
    def delete(self, request, room_id: str):
        room = self.conversation(room_id, [ConversationKind.CHATROOM])
        services.chatroom_delete(room=room)
        room.refresh_from_db()
        return Response(s.conversation_out(room))


def send_result_out(result: services.SendResult) -> dict:
    return {"object": "im.message", "status": result.status, **result.message}


class MessageListView(ImView):
    @extend_schema(operation_id="im_messages_send", request=s.MessageIn, responses={201: dict})
    def post(self, request):
        data = _validated(s.MessageIn, request.data)
        app = self.app()
        sender = self.user(data["from"]) if data.get("from") else None
        if data.get("to"):
            peer = self.user(data["to"])
            conv = services.private_conversation(app_id=app.pk, a=sender, b=peer)
        else:
            conv = self.conversation(data["conversation_id"])
        result = services.message_send(app=app, sender=sender, conv=conv, msg_type=data["type"],
                                       content=data["content"], client_msg_id=data["client_msg_id"],
                                       priority=data.get("priority"))
        code = status.HTTP_200_OK if result.status == "duplicate" else status.HTTP_201_CREATED
        return Response(send_result_out(result), status=code)


class RecallView(ImView):
    @extend_schema(operation_id="im_messages_recall", request=None, responses={200: dict})
    def post(self, request, message_id: str):
        msg = self.get_scoped(Message, message_id, message="No such message.",
                              queryset=self.scoped(Message).select_related("conversation"))
        msg = services.message_recall(app=self.app(), message=msg, by=None)
        return Response({"object": "im.message", **services.message_data(msg, msg.conversation.kind)})


class BroadcastView(ImView):
    @extend_schema(operation_id="im_broadcasts_create", request=s.BroadcastIn, responses={201: dict})
    def post(self, request):
        data = _validated(s.BroadcastIn, request.data)
        app = self.app()
        conv = services.broadcast_conversation(app_id=app.pk, mode=self.mode)
        result = services.message_send(app=app, sender=None, conv=conv, msg_type=data["type"],
                                       content=data["content"], client_msg_id=data["client_msg_id"])
        return Response(send_result_out(result), status=status.HTTP_201_CREATED)


class ConversationDetailView(ImView):
    @extend_schema(operation_id="im_conversations_retrieve", responses={200: dict})
    def get(self, request, conversation_id: str):
        return Response(s.conversation_out(self.conversation(conversation_id)))


class ConversationMessagesView(ImView):
    @extend_schema(operation_id="im_conversation_messages", responses={200: dict})
    def get(self, request, conversation_id: str):
        conv = self.conversation(conversation_id)
        after, before = query_int(request.query_params, "after_seq"), query_int(request.query_params, "before_seq")
        if after is not None and before is not None:
            raise ApiError("Use `after_seq` or `before_seq`, not both.", param="before_seq")
        limit = parse_limit(request.query_params)
        rows = messages_page(conv=conv, after_seq=after, before_seq=before, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[1:] if (has_more and before is not None) else rows[:limit]
        return Response({"object": "list", "has_more": has_more,
                         "data": [services.message_data(m, conv.kind) for m in rows]})


#: IM settings kept per mode (the moderation hook); the rest is app-wide policy (live keys only).
IM_PER_MODE_SETTINGS = frozenset({"hook_url"})


class SettingsView(ImView):
    @extend_schema(operation_id="im_settings_retrieve", responses={200: dict})
    def get(self, request):
        return Response(s.settings_out(app_settings(self.app_id), self.mode))

    @extend_schema(operation_id="im_settings_update", request=s.SettingsIn, responses={200: dict})
    def patch(self, request):
        data = _validated(s.SettingsIn, request.data)
        shared_policy_write(self.principal, data, per_mode=IM_PER_MODE_SETTINGS)
        with_tx = services.settings_update(app=self.app(), mode=self.mode, **data)
        return Response(s.settings_out(with_tx, self.mode))


class StatsView(ImView):
    @extend_schema(operation_id="im_stats", responses={200: dict})
    def get(self, request):
        from django.utils import timezone

        day = timezone.now().date().isoformat()
        # Redis keeps these per mode (decision 0892): a test key sees its sandbox's activity only.
        return Response({"object": "im.stats", "online": state().online_count(self.app_id, self.mode),
                         "dau_today": state().dau_count(self.app_id, self.mode, day),
                         "users": self.scoped(ImUser).count(),
                         "groups": self.scoped(Conversation).filter(kind=ConversationKind.GROUP).count()})
