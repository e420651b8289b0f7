"""The edge's configuration and process: rendered from the settings, refused without TCP PostgreSQL,
and the command that prints it masks the database password."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cpaas.core.management.commands.runplatform import sip_edge_children
from cpaas.sip_edge import conf, process
from cpaas.sip_edge.kamailio import db_url_of, nonce_secret_from, render
from cpaas.sip_edge.process import EdgeError, command, edge_config


def test_the_database_url_is_kamailios_and_a_socket_goes_to_libpq_as_pghost(tmp_path):
    tcp = db_url_of({"HOST": "db", "PORT": 5433, "USER": "u", "PASSWORD": "p@ss", "NAME": "cpaas"})
    assert tcp.url == "postgres://u:p%40ss@db:5433/cpaas" and tcp.libpq_env == {}
    socket = db_url_of({"HOST": "/srv/var/run", "NAME": "cpaas", "USER": "postgres"})
    assert socket.url == "postgres://postgres@/cpaas"
    assert socket.libpq_env == {"PGHOST": "/srv/var/run", "PGPORT": "5432"}
    config = edge_config(db_url=socket.url, db_env=socket.libpq_env)
    assert command(config, tmp_path / "k.cfg", tmp_path)[:5] == ["env", "TZ=UTC", "PGTZ=UTC", "PGHOST=/srv/var/run",
                                                                "PGPORT=5432"]


def test_the_worker_route_exists_only_when_a_worker_is_configured(monkeypatch):
    monkeypatch.setattr(conf, "SIP_WORKER_ADDRESS", "")
    without = render(edge_config())
    assert 'sl_send_reply("480", "No SIP worker")' in without and "$du" not in without
    monkeypatch.setattr(conf, "SIP_WORKER_ADDRESS", "10.0.0.7:5070")
    with_worker = render(edge_config())
    assert '$du = "sip:10.0.0.7:5070";' in with_worker and '$si == "10.0.0.7" && $sp == 5070' in with_worker


def test_platform_uas_are_trusted_from_the_trusted_networks_with_a_token(monkeypatch):
    """Decision 1140: the worker's host by default, SIP_TRUSTED_NETWORKS when set; a bad one names it."""
    monkeypatch.setattr(conf, "SIP_WORKER_ADDRESS", "10.0.0.7:5070")
    monkeypatch.setattr(conf, "SIP_TRUSTED_NETWORKS", "")
    text = render(edge_config())
    assert 'is_in_subnet("$si", "10.0.0.7/32")' in text and "$hdr(X-Cpaas-Trust) == $(var(token){s.sha256})" in text
    monkeypatch.setattr(conf, "SIP_TRUSTED_NETWORKS", "10.1.0.0/16, 192.168.1.5")
    assert edge_config().trusted_networks == ("10.1.0.0/16", "192.168.1.5/32")
    monkeypatch.setattr(conf, "SIP_TRUSTED_NETWORKS", "voice-workers")
    with pytest.raises(EdgeError, match="SIP_TRUSTED_NETWORKS"):
        edge_config()


def test_settings_reach_the_configuration(monkeypatch):
    monkeypatch.setattr(conf, "SIP_EDGE_ADDRESS", "0.0.0.0:5080")
    monkeypatch.setattr(conf, "SIP_DOMAIN", "sip.example.com")
    monkeypatch.setattr(conf, "SIP_AUTH_FAILURES_PER_ADDRESS", 7)
    text = render(edge_config())
    assert "listen=udp:0.0.0.0:5080" in text and "listen=tcp:0.0.0.0:5080" in text
    assert '".sip.example.com"' in text and "$sht(authfail=>a:$si) >= 7" in text


def test_a_bad_address_is_an_error_naming_the_setting(monkeypatch):
    monkeypatch.setattr(conf, "SIP_WORKER_ADDRESS", "worker")
    with pytest.raises(EdgeError, match="SIP_WORKER_ADDRESS"):
        edge_config()
    with pytest.raises(CommandError, match="SIP_WORKER_ADDRESS"):
        call_command("sip_edge", "--print-config")


def test_print_config_masks_the_database_password(monkeypatch, capsys):
    monkeypatch.setattr(process, "db_url_of", lambda database: db_url_of(
        {**database, "PASSWORD": "hunter2-secret", "HOST": "127.0.0.1"}))
    call_command("sip_edge", "--print-config")
    out = capsys.readouterr().out
    assert "#!KAMAILIO" in out and "hunter2-secret" not in out and ":***@127.0.0.1" in out


def test_print_config_masks_the_nonce_secret(settings, capsys):
    call_command("sip_edge", "--print-config")
    out = capsys.readouterr().out
    assert nonce_secret_from(settings.SECRET_KEY) not in out
    assert 'modparam("auth", "secret", "***")' in out


def test_the_written_config_is_never_readable_by_others(tmp_path, monkeypatch):
    """Created 0600, not written then narrowed: a process stopped before any chmod leaves no
    world-readable copy of the database password (Path.chmod disabled to stand for that)."""
    stale = tmp_path / "kamailio.cfg"
    stale.write_text("old")
    stale.chmod(0o644)
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    path = process.write_config(edge_config(), tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("#!KAMAILIO")


def test_runplatform_starts_the_edge_only_when_sip_is_configured(monkeypatch):
    monkeypatch.setattr(conf, "SIP_EDGE_ADDRESS", "")
    assert sip_edge_children("python") == []
    monkeypatch.setattr(conf, "SIP_EDGE_ADDRESS", "127.0.0.1:5060")
    [(name, argv)] = sip_edge_children("python")
    assert name == "sip-edge" and argv[-2:] == [argv[-2], "sip_edge"] and argv[-2].endswith("manage.py")
