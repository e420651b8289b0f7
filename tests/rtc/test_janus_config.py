"""The Janus configuration our code writes: only what the platform uses, APIs on the bind address."""

from __future__ import annotations

from cpaas.rtc.janus_config import JanusPorts, janus_command, write_janus_config


def test_the_configuration_loads_two_plugins_and_the_http_transport_on_loopback(tmp_path):
    main = write_janus_config(tmp_path, ports=JanusPorts(18088, 17088, 20000, 20099), admin_secret="s",
                              admin_key="key")
    text = main.read_text()
    assert 'rtp_port_range = "20000-20099"' in text and "session_timeout = 0" in text
    assert "libjanus_streaming.so" in text and "libjanus_audiobridge" not in text  # disabled list only
    http = (tmp_path / "janus.transport.http.jcfg").read_text()
    assert 'ip = "127.0.0.1"' in http and "port = 18088" in http and 'admin_ip = "127.0.0.1"' in http
    assert 'admin_key = "key"' in (tmp_path / "janus.plugin.audiobridge.jcfg").read_text()
    assert janus_command(tmp_path)[:3] == ["/usr/bin/janus", "-F", str(tmp_path)]
