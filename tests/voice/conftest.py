"""Fixtures of the voice tests: a fast password hasher, the engine on a virtual clock."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The shared fixtures create owners with passwords; argon2 would dominate these tests' time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
