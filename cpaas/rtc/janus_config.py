"""Janus configuration written from our code: a folder of ``.jcfg`` files for one media server.

Only what the platform uses is loaded (the AudioBridge and VideoRoom plugins, the HTTP transport
with its admin API); everything else Debian's package ships is disabled, so a fresh install needs
no edits under /etc/janus. Sessions never time out on their own: the platform holds them for its
participants and destroys them when they leave (decision 1501).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

JANUS_BINARY = "/usr/bin/janus"
PLUGINS_FOLDER = "/usr/lib/x86_64-linux-gnu/janus/plugins"
TRANSPORTS_FOLDER = "/usr/lib/x86_64-linux-gnu/janus/transports"
_DISABLED_PLUGINS = ",".join(f"libjanus_{p}.so" for p in (
    "duktape", "lua", "echotest", "nosip", "recordplay", "sip", "streaming", "textroom", "videocall", "voicemail"))
_DISABLED_TRANSPORTS = ",".join(f"libjanus_{t}.so" for t in ("mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"))


@dataclass(frozen=True)
class JanusPorts:
    http: int
    admin: int
    rtp_min: int
    rtp_max: int


def _janus_jcfg(ports: JanusPorts, admin_secret: str, interface: str) -> str:
    return f"""general: {{
\tconfigs_folder = "."
\tplugins_folder = "{PLUGINS_FOLDER}"
\ttransports_folder = "{TRANSPORTS_FOLDER}"
\tdebug_level = 3
\tadmin_secret = "{admin_secret}"
\tsession_timeout = 0
\treclaim_session_timeout = 0
\tprotected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr", "/var"]
}}
media: {{
\trtp_port_range = "{ports.rtp_min}-{ports.rtp_max}"
}}
nat: {{
\tice_enforce_list = "{interface}"
}}
plugins: {{
\tdisable = "{_DISABLED_PLUGINS}"
}}
transports: {{
\tdisable = "{_DISABLED_TRANSPORTS}"
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
events: {{
\tbroadcast = false
}}
"""


def _http_jcfg(ports: JanusPorts, bind: str) -> str:
    return f"""general: {{
\tjson = "plain"
\tbase_path = "/janus"
\thttp = true
\tport = {ports.http}
\tip = "{bind}"
\thttps = false
}}
admin: {{
\tadmin_base_path = "/admin"
\tadmin_http = true
\tadmin_port = {ports.admin}
\tadmin_ip = "{bind}"
\tadmin_https = false
}}
"""


def _plugin_jcfg(admin_key: str) -> str:
    # admin_key: rooms are created only by the platform (which knows the key), never by a client.
    return f"""general: {{
\tadmin_key = "{admin_key}"
\tstring_ids = true
\tevents = false
}}
"""


def write_janus_config(folder: Path, *, ports: JanusPorts, admin_secret: str, admin_key: str,
                       bind: str = "127.0.0.1", interface: str = "") -> Path:
    """Write janus.jcfg and the transport/plugin files into ``folder``; returns the main file.

    ``bind``: the address the HTTP and admin APIs listen on (loopback: only the platform talks to
    them). ``interface``: the only interface or address ICE gathers on (empty: every one).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "janus.jcfg").write_text(_janus_jcfg(ports, admin_secret, interface))
    (folder / "janus.transport.http.jcfg").write_text(_http_jcfg(ports, bind))
    (folder / "janus.plugin.audiobridge.jcfg").write_text(_plugin_jcfg(admin_key))
    (folder / "janus.plugin.videoroom.jcfg").write_text(_plugin_jcfg(admin_key))
    return folder / "janus.jcfg"


def janus_command(folder: Path) -> list[str]:
    """The command line that starts Janus on the configuration in ``folder`` (in the foreground)."""
    return [JANUS_BINARY, "-F", str(folder), "-C", str(folder / "janus.jcfg"), "-P", PLUGINS_FOLDER]
