"""Equal work for known and unknown usernames: no username oracle by timing.

Django's ModelBackend hashes the submitted password once for an unknown username (to spend the
time a real check would), and verifies it once against a known user's hash. These tests hold it to
that under production's Argon2, with django-axes and the two-factor step in front.
"""

from __future__ import annotations

import statistics
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = reverse("console:login")


@pytest.fixture
def argon2_calls(monkeypatch) -> list[str]:
    """Every Argon2 hash computed, by kind: ``encode`` (a new hash) or ``verify`` (check a stored one)."""
    calls: list[str] = []
    encode, verify = Argon2PasswordHasher.encode, Argon2PasswordHasher.verify

    def counting_encode(self, password, salt):
        calls.append("encode")
        return encode(self, password, salt)

    def counting_verify(self, password, encoded):
        calls.append("verify")
        return verify(self, password, encoded)

    monkeypatch.setattr(Argon2PasswordHasher, "encode", counting_encode)
    monkeypatch.setattr(Argon2PasswordHasher, "verify", counting_verify)
    return calls


def login(username: str, ip: str, password: str = "wrong-password"):
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_known_and_an_unknown_username_each_cost_one_argon2_hash(production_password_hashing, provisioned,
                                                                   argon2_calls):
    argon2_calls.clear()  # provisioning hashed the owner's password
    assert login("owner@acme.test", "203.0.113.1").status_code == 200
    known = list(argon2_calls)
    argon2_calls.clear()
    assert login("nobody@acme.test", "203.0.113.2").status_code == 200
    unknown = list(argon2_calls)
    assert known == ["verify"]
    assert unknown == ["encode"]


def test_the_dummy_hash_costs_what_a_real_check_costs(production_password_hashing, provisioned):
    """Argon2 with the same parameters either way: the stored hash was made with today's settings."""
    stored = get_user_model().objects.get(username="owner@acme.test").password
    hasher = Argon2PasswordHasher()
    assert not hasher.must_update(stored)
    assert hasher.safe_summary(stored)["memory cost"] == hasher.memory_cost
    assert hasher.safe_summary(stored)["time cost"] == hasher.time_cost


def test_known_and_unknown_usernames_take_the_same_time(production_password_hashing, provisioned):
    """Medians of a few wrong-password logins each; without the dummy hash the unknown ones are
    ~50 times faster, far outside these bounds."""
    known, unknown = [], []
    for i in range(5):
        for username, times in (("owner@acme.test", known), (f"nobody{i}@acme.test", unknown)):
            started = time.perf_counter()
            login(username, f"198.51.100.{i + 10}")
            times.append(time.perf_counter() - started)
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, unknown)
