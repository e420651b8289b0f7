"""What a digest REGISTER costs at the SIP edge (Kamailio reading HA1 from, and writing the
registration to, PostgreSQL: decision 1121).

    export DATABASE_URL=postgres://...
    .venv/bin/python bench/sip_register.py [--clients 8 --per-client 250]

``--clients`` UDP clients (tests/support/digest_client.py), each one endpoint, register
``--per-client`` times in a row: each registration is the challenge (401) and the digest answer
(200: auth_db query, usrloc DB write). Baseline in the same run: the same number of OPTIONS
pings, which Kamailio answers statelessly with no database (the SIP round trip's floor).
Prints registrations/s, latency p50/p99 and Kamailio's CPU (all its processes, from /proc) per
registration and per ping. PostgreSQL's own CPU is not in it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
os.environ.setdefault("DEBUG", "1")  # cpaas.settings wants a SECRET_KEY otherwise


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its children (Kamailio forks its workers)."""
    ticks = 0
    for child in [pid, *[int(x) for x in os.popen(f"pgrep -P {pid}").read().split()]]:
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def ping(port: int, count: int) -> list[float]:
    """OPTIONS to the edge itself, one after another; the latency of each."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        local = sock.getsockname()[1]
        for n in range(count):
            request = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK"
                       f"{secrets.token_hex(6)}\r\nMax-Forwards: 70\r\nFrom: <sip:ping@127.0.0.1>;tag=1\r\n"
                       f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: p{n}-{local}\r\nCSeq: 1 OPTIONS\r\n"
                       "Content-Length: 0\r\n\r\n")
            started = time.perf_counter()
            sock.sendto(request.encode(), ("127.0.0.1", port))
            sock.recv(65535)
            out.append(time.perf_counter() - started)
    return out


def concurrently(clients: int, work) -> tuple[float, list[float], list[int]]:
    latencies: list[float] = []
    codes: list[int] = []
    threads = [threading.Thread(target=work, args=(k, latencies, codes)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sorted(latencies), codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=250)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    from cpaas.core.scoping import Scope
    from cpaas.sip_edge.credentials import domain_for
    from cpaas.sip_edge.models import SipEndpoint, SipRegistration
    from cpaas.sip_edge.process import edge_config, start
    from cpaas.sip_edge.services import endpoint_create
    from cpaas.tenants.services import tenant_provision
    from tests.sip_edge.conftest import free_sip_port
    from tests.support.digest_client import DigestRegistrar

    call_command("migrate", verbosity=0)
    provisioned = tenant_provision(name=f"sip bench {secrets.token_hex(3)}")
    scope = Scope(provisioned.tenant.id, provisioned.app.id, "test")
    endpoints = [endpoint_create(principal=scope, username=f"u{k}", password="correct-horse-battery").endpoint
                 for k in range(args.clients)]
    domain = domain_for(endpoints[0].realm)
    port = free_sip_port()
    total = args.clients * args.per_client
    config = edge_config(listen_host="127.0.0.1", listen_port=port, failures_per_address=10**6,
                         pike_requests_per_2s=10**6)

    def register(k, latencies, codes):
        client = DigestRegistrar(("127.0.0.1", port), f"u{k}", domain)
        for _ in range(args.per_client):
            started = time.perf_counter()
            codes.append(client.register("correct-horse-battery").code)
            latencies.append(time.perf_counter() - started)
        client.close()

    def pings(k, latencies, codes):
        latencies.extend(ping(port, args.per_client))

    try:
        with start(config, ROOT / "var" / "bench" / "sip_edge") as process:
            time.sleep(0.5)
            cpu0 = cpu_seconds(process.pid)
            ping_wall, ping_lat, _ = concurrently(args.clients, pings)
            cpu1 = cpu_seconds(process.pid)
            reg_wall, reg_lat, codes = concurrently(args.clients, register)
            cpu2 = cpu_seconds(process.pid)
    finally:
        SipRegistration.objects.filter(domain=endpoints[0].realm).delete()
        SipEndpoint.objects.filter(app=provisioned.app).delete()

    def pct(values, q):
        return values[min(len(values) - 1, int(len(values) * q))] * 1000

    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"load average {load} on {os.cpu_count()} cores; {args.clients} clients")
    print(f"baseline OPTIONS: {total / ping_wall:.0f}/s, p50 {pct(ping_lat, .5):.1f} ms,"
          f" p99 {pct(ping_lat, .99):.1f} ms, Kamailio CPU {(cpu1 - cpu0) / total * 1000:.3f} ms per ping")
    print(f"REGISTER (401 + 200): {total / reg_wall:.0f}/s, p50 {pct(reg_lat, .5):.1f} ms,"
          f" p99 {pct(reg_lat, .99):.1f} ms, Kamailio CPU {(cpu2 - cpu1) / total * 1000:.3f} ms per registration;"
          f" {codes.count(200)}/{total} ok")
    print(f"ratio: a registration costs {(cpu2 - cpu1) / max(cpu1 - cpu0, 1e-9):.1f}x a ping in Kamailio CPU")
    return 0 if codes.count(200) == total else 1


if __name__ == "__main__":
    sys.exit(main())
