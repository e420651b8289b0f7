"""Call-control dialects: how a call's documents are fetched and read, besides our own.

A call's ``dialect`` is "" for the platform's own documents (JSON fetches signed with Standard
Webhooks headers, docs/voice.md) or the name of a dialect another surface registered at startup:
the Twilio-compatible API (cpaas/twilio) registers ``twilio`` (TwiML fetched with Twilio's form
parameters and signed with ``X-Twilio-Signature``). The engine asks this registry, so voice never
imports the surface; the call's status callbacks follow the dialect through its outbox channel
(signing.callback_channel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cpaas.voice.document import Document, DocumentError, parse_document


@dataclass(frozen=True)
class Dialect:
    """``request(call, url, params, secret) -> (body, headers)``: the signed POST of a fetch, from
    the engine's native ``params`` (call_id, from, to, call_status, digits, recording_url…).
    ``parse(source, base_url) -> Document``: read a document; raises DocumentError."""

    request: Callable[[Any, str, dict[str, Any], str], tuple[bytes, dict[str, str]]]
    parse: Callable[[str | bytes, str | None], Document]


_dialects: dict[str, Dialect] = {}


def register(name: str, dialect: Dialect) -> None:
    """Called from the registering app's ``AppConfig.ready``."""
    _dialects[name] = dialect


def get(name: str) -> Dialect:
    dialect = _dialects.get(name)
    if dialect is None:
        raise DocumentError(f"unknown call-control dialect {name!r}")
    return dialect


def parse(name: str, source: str | bytes, *, base_url: str | None = None) -> Document:
    """A document in the call's dialect ("" for ours); raises DocumentError."""
    if not name:
        return parse_document(source, base_url=base_url)
    return get(name).parse(source, base_url)
