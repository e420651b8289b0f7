"""IM users and tokens, conversations with their sequence counter, members and messages.

Every row carries its app (and tenant through the app); indexes and unique constraints lead with
it. ``Conversation.last_seq`` is the per-conversation counter: a send takes the next number with
one ``UPDATE … SET last_seq = last_seq + 1 … RETURNING`` inside the transaction that inserts the
message, so numbers are gap-free, unique and in commit order (the row lock serialises writers of
one conversation; a rolled-back send gives its number back).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import SHARED, Scoping
from cpaas.tenants.models import App


class ImUser(models.Model):
    id = id_field("imu")
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="+")
    tenant_id = models.CharField(max_length=40)
    # The mode of the key that created the user; its tokens, sessions and conversations share it.
    # User ids stay unique per app across modes, so presence and cursors keyed by user need no mode.
    mode = models.CharField(max_length=4)
    scoping = Scoping.app()
    user_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True, default="")
    avatar_url = models.URLField(max_length=1000, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    banned_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "user_id"], name="imuser_app_user_uniq")]

    def __str__(self) -> str:
        return self.user_id

    def is_banned(self, now=None) -> bool:
        return self.banned_until is not None and self.banned_until > (now or timezone.now())


class ImToken(models.Model):
    """A connection token. Only its SHA-256 is stored."""

    id = id_field("imt")
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(ImUser, on_delete=models.CASCADE, related_name="tokens")
    scoping = Scoping.app(mode="user__mode")  # a token has its user's mode
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["app", "user"], name="imtoken_app_user_idx")]


class ConversationKind(models.TextChoices):
    PRIVATE = "private"
    GROUP = "group"
    CHATROOM = "chatroom"
    BROADCAST = "broadcast"  # one per app; every user of the app is implicitly a member


class Conversation(models.Model):
    id = id_field("cnv")
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    mode = models.CharField(max_length=4)  # its members' mode; messages have their conversation's
    scoping = Scoping.app()
    # private: "p:<user_a>\n<user_b>" (sorted); broadcast: "broadcast"; group/chatroom: its id.
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True, default="")
    owner_user_id = models.CharField(max_length=64, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    last_seq = models.BigIntegerField(default=0)
    member_count = models.IntegerField(default=0)
    # Bumped by every membership change (add, remove, mute): senders cache the member list by it.
    members_version = models.IntegerField(default=0)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "key"], name="imconv_app_key_uniq")]
        indexes = [models.Index(fields=["app", "kind", "id"], name="imconv_app_kind_idx")]


class Member(models.Model):
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="members")
    scoping = Scoping.app(mode="conversation__mode")
    user = models.ForeignKey(ImUser, on_delete=models.CASCADE, related_name="memberships")
    # Messages with seq <= joined_seq were sent before the member joined: not theirs to sync.
    joined_seq = models.BigIntegerField(default=0)
    read_seq = models.BigIntegerField(default=0)
    muted_until = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="immember_conv_user_uniq")]
        indexes = [models.Index(fields=["app", "user"], name="immember_app_user_idx")]


class MessageType(models.TextChoices):
    TEXT = "text"
    IMAGE = "image"
    FILE = "file"
    VOICE = "voice"
    CUSTOM = "custom"
    COMMAND = "command"  # delivered to whoever is connected, never stored
    RECALL = "recall"  # stored by the platform when a message is recalled


class Message(models.Model):
    id = id_field("imm")
    app = models.ForeignKey(App, on_delete=models.PROTECT, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    scoping = Scoping.app(mode="conversation__mode")
    seq = models.BigIntegerField()
    sender_id = models.CharField(max_length=64, blank=True, default="")  # "" is the system
    type = models.CharField(max_length=10, choices=MessageType.choices)
    content = models.JSONField(default=dict)
    client_msg_id = models.CharField(max_length=64, blank=True, default="")
    recalled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The message row is its own outbox: its webhook event and usage are written by
    # cpaas.im.outbox in batches, off the send path, and this flag flips in the same transaction.
    published = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="immsg_conv_seq_uniq"),
            models.UniqueConstraint(
                fields=["conversation", "sender_id", "client_msg_id"], name="immsg_client_id_uniq",
                condition=~Q(client_msg_id=""),
            ),
        ]
        indexes = [
            models.Index(fields=["app", "created_at"], name="immsg_app_time_idx"),
            models.Index(fields=["created_at"], name="immsg_unpublished_idx", condition=Q(published=False)),
        ]


class ImSettings(models.Model):
    """Per-app IM policy: moderation and chatroom shedding."""

    app = models.OneToOneField(App, on_delete=models.CASCADE, primary_key=True, related_name="+")
    scoping = Scoping.app(mode=SHARED)  # the app's policy, for both modes
    blocklist = models.JSONField(default=list, blank=True)
    blocklist_action = models.CharField(max_length=6, default="reject")  # reject | mask
    # The pre-send hook receives every message's content and may rewrite it, so each mode has its
    # own: a test key sets and sees only ``test_hook_url`` and never receives live messages.
    hook_url = models.URLField(max_length=1000, blank=True, default="")  # live conversations
    test_hook_url = models.URLField(max_length=1000, blank=True, default="")  # test conversations
    hook_fail_closed = models.BooleanField(default=False)
    low_priority_types = models.JSONField(default=list, blank=True)
    whitelisted_senders = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def hook_for(self, mode: str) -> str:
        """The pre-send hook of ``mode``'s conversations (live: ``hook_url``)."""
        return self.hook_url if mode == "live" else self.test_hook_url
