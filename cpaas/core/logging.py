"""Structured logs: every record carries the request id or the Celery task id, and the tenant,
app and key when known (cpaas/core/context.py)."""

from __future__ import annotations

import logging

from cpaas.core.context import app_id_var, key_id_var, request_id_var, task_id_var, tenant_id_var

_FIELDS = (("request_id", request_id_var), ("task_id", task_id_var), ("tenant_id", tenant_id_var),
           ("app_id", app_id_var), ("key_id", key_id_var))


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _FIELDS:
            value = var.get()
            if value and not hasattr(record, name):
                setattr(record, name, value)
        return True
