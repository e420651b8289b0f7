"""CPU per message of the SMS worker side alone, in one process: dispatch (claim, submit, settle),
receipts, status callbacks; the Python process and its PostgreSQL backend measured apart.

The per-message scenario (bench/sms_per_message.py) measures the whole chain, but its rate is
set by the web side and, on a shared two-core machine, by everyone else: a worker batch costs a
fixed number of statements whatever its size, so CPU per message moves with the rate. This
script fixes the batch size instead and runs the stages one after the other in one process
(sandbox connector, no receipt from it; the receipts are then applied as the flusher applies
them; the callbacks posted to a local receiver process), counting process CPU
(``time.process_time``: every thread, the callback sender's loop included) and the CPU of this
connection's backend (``/proc/<pg_backend_pid>/stat``). Test mode: no spend settle.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/sms_worker_cost.py [--batch 10,50] [--messages 2000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

RECEIVER = r'''
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    print("READY", flush=True)
    await server.serve_forever()
asyncio.run(main())
'''


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measure(backend: int, messages: int, run, *args) -> tuple[float, float]:
    """(process, PostgreSQL backend) CPU milliseconds per message of ``run(*args)``."""
    cpu, pg = time.process_time(), _backend_cpu(backend)
    run(*args)
    return (time.process_time() - cpu) * 1000 / messages, (_backend_cpu(backend) - pg) * 1000 / messages


def _dispatch(dispatch_batch, size: int) -> None:
    while dispatch_batch(size)["claimed"]:
        pass


def _receipts(receipts_apply, receipt, keys: list[tuple[str, str]], size: int) -> None:
    """As the sink's flusher applies them: batches of ``size``."""
    for start in range(0, len(keys), size):
        receipts_apply([receipt(connector, carrier_id, "delivered", "")
                        for connector, carrier_id in keys[start:start + size]])


def _callbacks(callbacks_deliver, size: int) -> None:
    while sum(callbacks_deliver(limit=size).values()):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", default="10,50", help="batch sizes (messages per claim, receipt flush, "
                                                         "callback claim)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per batch size")
    args = parser.parse_args()
    os.environ.setdefault("EGRESS_ALLOWED_CIDRS", "127.0.0.0/8")
    os.environ.setdefault("SECRET_KEY", "bench-worker-cost")
    os.environ["DJANGO_SETTINGS_MODULE"] = "cpaas.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from cpaas.carriers.base import DeliveryReceipt
    from cpaas.carriers.sandbox import connector as sandbox
    from cpaas.core.ids import new_id
    from cpaas.messaging import queries
    from cpaas.messaging.dispatch import dispatch_batch
    from cpaas.messaging.models import Message
    from cpaas.messaging.receipts import receipts_apply
    from cpaas.messaging.services import callback_secret_rotate
    from cpaas.messaging.validation import Caller
    from cpaas.tenants.services import tenant_provision
    from webhooks.callbacks import callbacks_deliver

    call_command("migrate", verbosity=0)
    provisioned = tenant_provision(name="sms worker cost")
    app = provisioned.app
    callback_secret_rotate(caller=Caller(tenant_id=app.tenant_id, app_id=app.id, mode="test"))
    Message.objects.filter(status__in=["queued", "sending"]).update(status="canceled")
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout.readline().startswith("READY")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
        for table in ("messaging_message", "webhooks_callback", "webhooks_event", "webhooks_subjectsequence",
                      "billing_usageevent"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"SMS worker side, one process, test mode (sandbox), status_callback_events final; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'batch':>5} {'stage':<10} {'process ms/msg':>15} {'PostgreSQL ms/msg':>18}")
    try:
        for size in [int(b) for b in args.batch.split(",")]:
            now = timezone.now()
            messages = [Message(id=new_id("msg"), app_id=app.id, tenant_id=app.tenant_id, mode="test",
                                to=sandbox.NO_RECEIPT, sender="Acme", body=f"Your code is {i}", encoding="GSM-7",
                                segments=1, country="US", status="queued", created_at=now, queued_at=now,
                                status_callback=f"http://127.0.0.1:{port}/hook",
                                status_callback_events=["delivered", "undelivered", "failed", "canceled"])
                        for i in range(args.messages)]
            queries.messages_copy(messages)
            ids = [m.id for m in messages]
            stages = {
                "dispatch": _measure(backend, args.messages, _dispatch, dispatch_batch, size),
            }
            keys = list(Message.objects.filter(id__in=ids).values_list("connector", "carrier_message_id"))
            stages["receipts"] = _measure(backend, args.messages, _receipts, receipts_apply, DeliveryReceipt, keys,
                                          size)
            stages["callbacks"] = _measure(backend, args.messages, _callbacks, callbacks_deliver, size)
            done = Message.objects.filter(id__in=ids, status="delivered").count()
            for name, (proc, pg) in stages.items():
                print(f"{size:>5} {name:<10} {proc:>15.3f} {pg:>18.3f}")
            total = [sum(v[i] for v in stages.values()) for i in (0, 1)]
            print(f"{size:>5} {'total':<10} {total[0]:>15.3f} {total[1]:>18.3f}   ({done} of {args.messages} "
                  f"delivered; load {os.getloadavg()[0]:.1f})")
    finally:
        receiver.terminate()


if __name__ == "__main__":
    main()
