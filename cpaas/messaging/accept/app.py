"""The lean send path's ASGI handler: ``POST /v1/messages`` without Django's request cycle.

1. http.py: the request is one the path takes (else Django serves it), its body read;
2. admit.py, on a thread of this module's pool: key, rate limit, scope, body, validation, caps,
   money, exactly as the Django view runs them;
3. commit.py, on the event loop: the message's row in the next group commit;
4. the answer, byte for byte the Django view's.

The pool (``conf.ACCEPT_THREADS`` threads, named ``sms-accept``) is this module's, started with
the first send of a process and stopped by the ASGI lifespan's shutdown; its threads keep one
Django database connection each (decision 1010).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time

from ulid import ULID

from cpaas.core.context import app_id_var, docs_url_var, key_id_var, request_id_var
from cpaas.core.db import DbThreads
from cpaas.core.errors import ServiceUnavailable
from cpaas.core.metrics import count_request
from cpaas.messaging import conf
from cpaas.messaging.accept import commit
from cpaas.messaging.accept.admit import Admitted, admit, created, not_written, opted_out
from cpaas.messaging.accept.http import Request, read_body, respond

log = logging.getLogger(__name__)

_threads = DbThreads(conf.ACCEPT_THREADS, "sms-accept")


async def _on_thread(fn, *args):
    """``fn(*args)`` on the pool, in this request's context (request id, docs URL)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_threads.executor(), context.run, fn, *args)


async def lean_send(request: Request, receive, send) -> None:
    started = time.perf_counter()
    body = await read_body(receive)
    if body is None:
        return  # the client left before sending its body
    request.body = body
    request_id = f"req_{ULID()}"
    request_id_var.set(request_id)
    docs_url_var.set(request.docs_url)
    app_id_var.set(None)
    key_id_var.set(None)
    admitted: Admitted = await _on_thread(admit, request)
    answer = admitted.answer
    if answer is None:
        try:
            written = await commit.committer().insert(admitted.message)
        except commit.OUTAGES as exc:
            log.warning("database unavailable for a send: %s: %s", type(exc).__name__, exc)
            answer = await _on_thread(not_written, admitted, ServiceUnavailable())
        except Exception as exc:
            answer = await _on_thread(not_written, admitted, exc)
        else:
            answer = (created(admitted.message, admitted.limit_headers) if written
                      else await _on_thread(opted_out, admitted))
    await respond(send, request, answer.status, answer.body, answer.headers, request_id)
    count_request("messages", "POST", answer.status, started)  # as Django would name the route


async def shutdown() -> None:
    """Close the group commit's connections and the pool threads' Django connections."""
    await commit.close()
    await asyncio.get_running_loop().run_in_executor(None, _threads.shutdown)
