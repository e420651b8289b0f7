"""Structured logs: every record carries the request id (and app/key when known)."""

from __future__ import annotations

import logging

from cpaas.core.context import app_id_var, key_id_var, request_id_var


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id_var.get()
        if rid and not hasattr(record, "request_id"):
            record.request_id = rid
        app_id = app_id_var.get()
        if app_id and not hasattr(record, "app_id"):
            record.app_id = app_id
        key_id = key_id_var.get()
        if key_id and not hasattr(record, "key_id"):
            record.key_id = key_id
        return True
