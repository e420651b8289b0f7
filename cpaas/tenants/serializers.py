"""Input and output shapes of the management API."""

from __future__ import annotations

from rest_framework import serializers

from cpaas.core.serializers import StrictSerializer
from cpaas.tenants.models import PRODUCTS, ApiKey, App, Invitation, KeyAccess, KeyMode, Membership, Role


class AppIn(StrictSerializer):
    name = serializers.CharField(max_length=200)


class AppOut(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    tenant = serializers.CharField(source="tenant_id")

    class Meta:
        model = App
        fields = ["id", "object", "name", "tenant", "created_at"]

    def get_object(self, _obj) -> str:
        return "app"


class ApiKeyIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    app = serializers.CharField(max_length=40, required=False)
    mode = serializers.ChoiceField(choices=KeyMode.choices, required=False)
    access = serializers.ChoiceField(choices=KeyAccess.choices, default=KeyAccess.FULL)
    products = serializers.ListField(
        child=serializers.ChoiceField(choices=PRODUCTS), required=False, default=list
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    # No `rate_limit`: only the operator sets a key's limit (403 operator_only, decision 0840).


class ApiKeyOut(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    app = serializers.CharField(source="app_id")
    redacted = serializers.CharField()
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "object", "app", "name", "mode", "access", "products", "redacted",
                  "rate_limit", "expires_at", "revoked", "revoked_at", "created_at"]

    def get_object(self, _obj) -> str:
        return "api_key"

    def get_revoked(self, obj) -> bool:
        return obj.revoked_at is not None


class ApiKeyCreatedOut(ApiKeyOut):
    secret = serializers.SerializerMethodField()

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "secret"]

    def get_secret(self, _obj) -> str:
        return self.context["secret"]


class IdentityKeyOut(serializers.Serializer):
    id = serializers.CharField()
    mode = serializers.ChoiceField(choices=KeyMode.choices)
    access = serializers.ChoiceField(choices=KeyAccess.choices)
    products = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)


class RateLimitOut(serializers.Serializer):
    per_second = serializers.IntegerField()
    burst = serializers.IntegerField()


class IdentityOut(serializers.Serializer):
    """``GET /v1/me``: built from the cached key principal, so it costs no database query."""

    object = serializers.CharField(default="identity")
    key = IdentityKeyOut()
    app = serializers.CharField()
    account_sid = serializers.CharField(help_text="The app as an Account SID, the username of the "
                                        "Twilio-compatible API (docs/twilio-compatibility.md).")
    tenant = serializers.CharField()
    livemode = serializers.BooleanField()
    rate_limit = RateLimitOut()


# --- The team -------------------------------------------------------------------------------------


class InvitationIn(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)


class RoleIn(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberOut(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    email = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["id", "object", "email", "name", "role", "created_at"]

    def get_object(self, _obj) -> str:
        return "member"

    def get_name(self, obj) -> str:
        return obj.user.get_full_name()


class MemberRemovedOut(MemberOut):
    deleted = serializers.BooleanField(default=True)

    class Meta(MemberOut.Meta):
        fields = [*MemberOut.Meta.fields, "deleted"]


class InvitationOut(serializers.ModelSerializer):
    """The link's secret is never in the API: it goes to the invited address only."""

    object = serializers.SerializerMethodField()
    status = serializers.CharField()
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "object", "email", "role", "status", "invited_by", "created_at", "expires_at",
                  "accepted_at", "revoked_at"]

    def get_object(self, _obj) -> str:
        return "invitation"

    def get_invited_by(self, obj) -> str | None:
        if obj.invited_by_id:
            return obj.invited_by.get_username()
        return obj.invited_by_key_id or None
