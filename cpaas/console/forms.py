"""Console forms. They only validate input; the services do the writing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.utils import timezone

from cpaas.tenants.models import PRODUCTS, KeyAccess, KeyMode, Role

PRODUCT_LABELS = {"sms": "SMS", "im": "IM", "voice": "Voice", "rtc": "RTC", "billing": "Billing",
                  "webhooks": "Webhooks"}

EXPIRY_CHOICES = [
    ("never", "Never"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In 1 year"),
    ("date", "On a date…"),
]


class AppForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=200, strip=True, help_text="So you can tell keys apart, e.g. “Production server”."
    )
    mode = forms.ChoiceField(
        choices=KeyMode.choices, initial=KeyMode.TEST, widget=forms.RadioSelect,
        help_text="Test keys never reach a real carrier.",
    )
    access = forms.ChoiceField(choices=KeyAccess.choices, initial=KeyAccess.FULL, widget=forms.RadioSelect)
    products = forms.MultipleChoiceField(
        choices=[(p, PRODUCT_LABELS[p]) for p in PRODUCTS], required=False,
        widget=forms.CheckboxSelectMultiple, help_text="Leave all unchecked to allow every product.",
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="never", label="Expires")
    expires_on = forms.DateField(
        required=False, label="Expiry date (UTC)", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at 00:00 UTC on this date.",
    )

    def clean(self):
        data = super().clean()
        choice = data.get("expires")
        now = timezone.now()
        if choice == "never" or choice is None:
            data["expires_at"] = None
        elif choice == "date":
            day = data.get("expires_on")
            if day is None:
                self.add_error("expires_on", "Pick the date the key stops working.")
                return data
            expires_at = datetime.combine(day, time.min, tzinfo=UTC)
            if expires_at <= now:
                self.add_error("expires_on", "The date must be in the future.")
                return data
            data["expires_at"] = expires_at
        else:
            data["expires_at"] = now + timedelta(days=int(choice))
        return data


class CodeForm(forms.Form):
    """A six-digit code from the authenticator app, or one of the recovery codes."""

    code = forms.CharField(
        max_length=32, strip=True, label="Code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class TenantSecurityForm(forms.Form):
    require_two_factor = forms.BooleanField(
        required=False, label="Require two-factor sign-in for every member",
        help_text="Members without it are asked to set it up before they can open any other page.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address",
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=(), label="Role")

    def __init__(self, *args, roles: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles
        self.fields["role"].initial = Role.DEVELOPER


class AcceptForm(forms.Form):
    """The invited person's new password, checked by the platform's password validators."""

    password1 = forms.CharField(label="Choose a password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Type it again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same.")
        elif first:
            try:
                password_validation.validate_password(first, get_user_model()(username=self.email, email=self.email))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
