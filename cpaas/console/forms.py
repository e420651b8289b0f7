"""Console forms. They only validate input; the services do the writing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils import timezone

from cpaas.tenants.models import PRODUCTS, KeyAccess, KeyMode

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
