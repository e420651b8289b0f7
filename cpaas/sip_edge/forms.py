"""The console's form for a new SIP endpoint (the service checks the username and password)."""

from __future__ import annotations

from django import forms

from cpaas.tenants.models import App, KeyMode


class EndpointForm(forms.Form):
    app = forms.ChoiceField()
    mode = forms.ChoiceField(choices=KeyMode.choices, initial=KeyMode.TEST, widget=forms.RadioSelect,
                             help_text="Test endpoints call only endpoints of their test domain.")
    username = forms.CharField(max_length=32, strip=True, help_text="a-z 0-9 . _ -, e.g. “frontdesk” or “101”.")
    display_name = forms.CharField(max_length=100, required=False)
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput,
                               help_text="Leave empty to have one generated (shown once).")

    def __init__(self, *args, apps: list[App], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [(app.id, f"{app.name} ({app.id})") for app in apps]
