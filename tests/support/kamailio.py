"""A throwaway Kamailio (Debian's ``kamailio``) on a loopback port: registrar with digest auth + proxy,
or (``kamailio_trunk``) a carrier's SIP trunk in front of a far-end UA.

Tests use it as the registrar a SIP UA (``tests/support/sipua.py``) registers to, and as the proxy
that routes an INVITE for a registered user to the contact it registered. Users and passwords
are given at start (a ``htable`` filled at module init), so no database is needed. Kamailio runs
in the foreground (``-DD``) as a child of the test, logging to ``workdir/kamailio.log``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KAMAILIO = "kamailio"
MODULES_DIR = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

_CONFIG = """\
#!KAMAILIO
debug=1
log_stderror=yes
children=1
disable_tcp=yes
dns=no
rev_dns=no
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
loadpath "{modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "kex.so"
modparam("htable", "htable", "creds=>size=4;")
modparam("auth", "secret", "{secret}")

event_route[htable:mod-init] {{
{users}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) exit;
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) t_relay(); exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "$sht(creds=>$tU)", "0")) {{ www_challenge("$td", "0"); exit; }}
        if (!save("location")) sl_reply_error();
        exit;
    }}
    if (is_method("INVITE")) record_route();
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


def missing_binaries() -> list[str]:
    return [] if shutil.which(KAMAILIO) else [KAMAILIO]


@dataclass
class Registrar:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        """``host:port`` as ``baresip_ua(registrar=…)`` takes it."""
        return f"127.0.0.1:{self.port}"


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _kamailio(workdir: Path, config: Path, port: int, timeout: float) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Kamailio on ``config`` until it listens on ``port``; stopped (then killed) on the way out."""
    log = workdir / "kamailio.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [KAMAILIO, "-f", str(config), "-DD", "-E", "-m", "32", "-M", "4", "-Y", str(workdir),
             "-P", str(workdir / "kamailio.pid")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + timeout
        while _udp_free(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kamailio did not listen on {port}:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def kamailio_registrar(workdir: Path, users: dict[str, str], timeout: float = 10.0) -> Iterator[Registrar]:
    """A running Kamailio that accepts REGISTER from ``users`` (name → password); stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = "\n".join(f'    $sht(creds=>{name}) = "{password}";' for name, password in users.items())
    config = workdir / "kamailio.cfg"
    config.write_text(_CONFIG.format(port=port, modules=MODULES_DIR, users=lines, secret=f"test-{port}"))
    with _kamailio(workdir, config, port, timeout) as (process, log):
        yield Registrar(port=port, process=process, log=log)


# --- a carrier's SIP trunk -------------------------------------------------------------------------

_TRUNK_CONFIG = """\
#!KAMAILIO
debug=1
log_stderror=yes
children=1
disable_tcp=yes
dns=no
rev_dns=no
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
loadpath "{modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "kex.so"
modparam("htable", "htable", "creds=>size=4;")
modparam("auth", "secret", "{secret}")

event_route[htable:mod-init] {{
{users}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) exit;
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) t_relay(); exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
{auth}
{reply_all}
    if ($rU =~ "^[+]?1?2025559[0-9][0-9][0-9]$") {{
        $var(code) = $(rU{{s.substr,-3,0}}{{s.int}});
        sl_send_reply("$var(code)", "Scripted by the test trunk");
        exit;
    }}
    record_route();
{routes}
    $du = "sip:{target}";
    t_relay();
}}
"""

_AUTH = """\
    if (!pv_proxy_authenticate("trunk.test", "$sht(creds=>$au)", "0")) {
        proxy_challenge("trunk.test", "0");
        exit;
    }
    consume_credentials();
"""


@dataclass
class Trunk:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def kamailio_trunk(workdir: Path, *, target: str, users: dict[str, str] | None = None,
                   routes: dict[str, str] | None = None, reply_all: int | None = None,
                   timeout: float = 10.0) -> Iterator[Trunk]:
    """A carrier's trunk: INVITEs (digest-challenged when ``users`` is given) to ``+12025559CCC``
    are answered with SIP code CCC; a number in ``routes`` (digits, no +) is proxied
    (record-routed) to its "host:port", every other one to ``target`` (a far-end UA).
    ``reply_all``: every INVITE is answered with that code instead (a trunk in trouble: 503)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = "\n".join(f'    $sht(creds=>{name}) = "{password}";' for name, password in (users or {}).items())
    lines = lines or "    $var(nobody) = 0;"  # an empty route block is a syntax error
    config = workdir / "kamailio.cfg"
    routing = "\n".join(f'    if ($rU == "{number}") {{ $du = "sip:{where}"; t_relay(); exit; }}'
                         for number, where in (routes or {}).items())
    config.write_text(_TRUNK_CONFIG.format(port=port, modules=MODULES_DIR, users=lines, secret=f"trunk-{port}",
                                           target=target, auth=_AUTH if users else "", routes=routing,
                                           reply_all=f'    sl_send_reply("{reply_all}", "Scripted"); exit;'
                                           if reply_all else ""))
    with _kamailio(workdir, config, port, timeout) as (process, log):
        yield Trunk(port=port, process=process, log=log)
