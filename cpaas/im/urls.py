"""This room's /v1/ routes (included by cpaas/urls.py)."""

from django.urls import path

from cpaas.im import api

urlpatterns = [
    path("im/users", api.UserListView.as_view(), name="im-users"),
    path("im/users/<str:user_id>", api.UserDetailView.as_view(), name="im-user"),
    path("im/users/<str:user_id>/tokens", api.TokenListView.as_view(), name="im-tokens"),
    path("im/users/<str:user_id>/tokens/<str:token_id>", api.TokenDetailView.as_view(), name="im-token"),
    path("im/users/<str:user_id>/ban", api.BanView.as_view(), name="im-user-ban"),
    path("im/users/<str:user_id>/conversations", api.UserConversationsView.as_view(), name="im-user-convs"),
    path("im/groups", api.GroupListView.as_view(), name="im-groups"),
    path("im/groups/<str:group_id>", api.GroupDetailView.as_view(), name="im-group"),
    path("im/groups/<str:group_id>/members", api.GroupMembersView.as_view(), name="im-group-members"),
    path("im/groups/<str:group_id>/members/<str:user_id>", api.GroupMemberView.as_view(), name="im-group-member"),
    path("im/groups/<str:group_id>/members/<str:user_id>/mute", api.GroupMuteView.as_view(), name="im-group-mute"),
    path("im/chatrooms", api.ChatroomListView.as_view(), name="im-chatrooms"),
    path("im/chatrooms/<str:room_id>", api.ChatroomDetailView.as_view(), name="im-chatroom"),
    path("im/messages", api.MessageListView.as_view(), name="im-messages"),
    path("im/messages/<str:message_id>/recall", api.RecallView.as_view(), name="im-message-recall"),
    path("im/broadcasts", api.BroadcastView.as_view(), name="im-broadcasts"),
    path("im/conversations/<str:conversation_id>", api.ConversationDetailView.as_view(), name="im-conversation"),
    path("im/conversations/<str:conversation_id>/messages", api.ConversationMessagesView.as_view(),
         name="im-conversation-messages"),
    path("im/settings", api.SettingsView.as_view(), name="im-settings"),
    path("im/stats", api.StatsView.as_view(), name="im-stats"),
]
