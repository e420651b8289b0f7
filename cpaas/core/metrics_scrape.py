"""Metrics computed when Prometheus scrapes, and the ``/metrics`` page itself.

Queue depths and the oldest task's age come from the broker's lists (one Redis pipeline); the
callback backlog and active calls are counts over partial or narrow indexes. Nothing here costs
anything per request or per message.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time

from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from cpaas.core.broker import QUEUES, broker_client
from cpaas.core.metrics import SENT_AT_HEADER
from cpaas.voice import states as call_states
from cpaas.voice.models import Call
from webhooks.callback_models import Callback

# kombu's Redis transport keeps priorities 3, 6 and 9 in sibling lists (default priority_steps).
_PRIORITY_SUFFIXES = ("", *(f"\x06\x16{step}" for step in (3, 6, 9)))
log = logging.getLogger(__name__)
ACTIVE_CALL_STATES = (call_states.INITIATED, call_states.RINGING, call_states.IN_PROGRESS)


def queue_depths() -> dict[str, tuple[int, float | None]]:
    """``{queue: (messages waiting, age in seconds of the oldest or None)}`` from the broker's lists."""
    client = broker_client()
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
            pipe.lindex(queue, -1)
        answers = pipe.execute()
    now, result, per_queue = time.time(), {}, len(_PRIORITY_SUFFIXES) + 1
    for index, queue in enumerate(QUEUES):
        chunk = answers[index * per_queue:(index + 1) * per_queue]
        result[queue] = (sum(chunk[:-1]), _age(chunk[-1], now))
    return result


def _age(raw: bytes | None, now: float) -> float | None:
    if not raw:
        return None
    try:
        sent_at = json.loads(raw)["headers"][SENT_AT_HEADER]
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, now - float(sent_at))


def callback_backlog() -> int:
    """Status callbacks waiting (the partial index callback_due_idx holds exactly these rows)."""
    return Callback.objects.filter(status=Callback.Status.PENDING).count()


def calls_active() -> int:
    return Call.objects.filter(status__in=ACTIVE_CALL_STATES).count()


class ScrapeTimeCollector:
    """Values read when Prometheus scrapes; a source that fails is left out, not the whole page."""

    def collect(self):
        try:
            depths = queue_depths()
        except Exception:  # a broker outage must not fail the scrape
            depths = {}
        depth = GaugeMetricFamily("cpaas_celery_queue_depth", "Tasks waiting in a Celery queue.", labels=["queue"])
        age = GaugeMetricFamily("cpaas_celery_queue_oldest_age_seconds",
                                "Age of the oldest task waiting in a Celery queue (0 when empty).", labels=["queue"])
        for queue, (count, oldest) in depths.items():
            depth.add_metric([queue], count)
            age.add_metric([queue], oldest or 0.0)
        yield depth
        yield age
        for name, doc, read in (
            ("cpaas_callback_outbox_backlog", "Status callbacks waiting to be delivered.", callback_backlog),
            ("cpaas_calls_active", "Calls initiated, ringing or in progress.", calls_active),
        ):
            try:
                value = read()
            except Exception:  # a database outage must not fail the scrape
                log.warning("metrics: %s not read", name, exc_info=True)
                continue
            yield GaugeMetricFamily(name, doc, value=value)


def multiprocess_dir() -> str:
    return settings.PROMETHEUS_MULTIPROC_DIR


def _forget_dead_processes(directory: str) -> None:
    """Live gauges (IM sockets) of a process that died without saying so would count forever."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:
            pass


def exposition() -> bytes:
    """The text page: every process's values (multiprocess mode) or this one's, plus scrape-time ones."""
    directory = multiprocess_dir()
    if directory:
        _forget_dead_processes(directory)
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted, path=directory)
    else:
        counted = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(ScrapeTimeCollector())
    return generate_latest(counted) + generate_latest(scraped)
