"""Log records carry the request id, the Celery task id, and the tenant, app and key ids."""

from __future__ import annotations

import logging

import pytest

from cpaas.core.context import app_id_var, task_id_var
from cpaas.core.logging import ContextFilter
from cpaas.core.tasks import ping

pytestmark = pytest.mark.django_db


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collect():
    handler, touched = Collect(), {}

    def on(name: str) -> Collect:
        logger = logging.getLogger(name)
        touched[logger] = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        return handler

    yield on
    for logger, level in touched.items():
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_request_s_records_carry_its_request_tenant_app_and_key_ids(api, app, tenant, collect):
    records = collect("cpaas.access").records
    response = api.get("/v1/me")
    (record,) = [r for r in records if r.path == "/v1/me"]
    assert record.request_id == response["Request-Id"]
    assert (record.tenant_id, record.app_id) == (tenant.id, app.id)
    assert record.key_id.startswith("key_")
    assert not hasattr(record, "task_id")


def test_a_task_s_records_carry_its_id(collect):
    records = collect("celery.app.trace").records
    result = ping.apply(args=["log-test"], task_id="task-log-test-1")
    assert result.get() == "pong"
    (record,) = [r for r in records if "succeeded" in r.getMessage()]
    assert record.task_id == "task-log-test-1"
    assert task_id_var.get() is None  # gone when the task ends


def test_a_task_run_inside_a_request_gives_the_request_its_ids_back():
    token = app_id_var.set("app_request")
    try:
        ping.apply(args=["inner"], kwargs={}, task_id="task-inner")
        assert (app_id_var.get(), task_id_var.get()) == ("app_request", None)
    finally:
        app_id_var.reset(token)
