"""The per-app moderation hook: a keyword blocklist, then an optional synchronous HTTP pre-send hook.

The blocklist rejects (``message_blocked``) or masks matching words in text content. The HTTP hook
gets one try with a 3 s timeout and answers ``{"action": "allow" | "block" | "rewrite",
"content": {...}}``; when it fails (timeout, error status, bad JSON) the message passes
(fail-open) unless the app set ``hook_fail_closed``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import httpx

from cpaas.core.errors import ApiError
from cpaas.im import conf
from cpaas.im.models import ImSettings

log = logging.getLogger(__name__)

_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, ImSettings]] = {}
SETTINGS_CACHE_SECONDS = 5.0
# Tests point this at an httpx.MockTransport (the edge of the world); None is the real network.
transport: httpx.BaseTransport | None = None


def app_settings(app_id: str) -> ImSettings:
    """The app's IM settings, cached a few seconds per process (settings change rarely)."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(app_id)
    if hit and hit[0] > now:
        return hit[1]
    found = ImSettings.objects.filter(app_id=app_id).first() or ImSettings(app_id=app_id)
    with _cache_lock:
        _cache[app_id] = (now + SETTINGS_CACHE_SECONDS, found)
    return found


def forget_settings(app_id: str) -> None:
    with _cache_lock:
        _cache.pop(app_id, None)


def _blocklist_apply(policy: ImSettings, content: dict[str, Any]) -> dict[str, Any]:
    text = content.get("text")
    if not policy.blocklist or not isinstance(text, str):
        return content
    words = [w for w in policy.blocklist if isinstance(w, str) and w]
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    if not pattern.search(text):
        return content
    if policy.blocklist_action == "mask":
        return {**content, "text": pattern.sub(lambda m: "*" * len(m.group(0)), text)}
    raise ApiError("The message contains a blocked word.", code="message_blocked", param="content")


def _hook_call(policy: ImSettings, payload: dict[str, Any], client: httpx.Client | None) -> dict[str, Any] | None:
    own = client is None
    client = client or httpx.Client(timeout=conf.HOOK_TIMEOUT_SECONDS, follow_redirects=False, transport=transport)
    try:
        response = client.post(policy.hook_url, json=payload, timeout=conf.HOOK_TIMEOUT_SECONDS)
        response.raise_for_status()
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError("hook answer is not an object")
        return answer
    except (httpx.HTTPError, ValueError):
        log.warning("im moderation hook failed", extra={"app_id": policy.app_id})
        return None
    finally:
        if own:
            client.close()


def moderate(*, app_id: str, sender_id: str, conversation_id: str, conversation_type: str,
             msg_type: str, content: dict[str, Any], client: httpx.Client | None = None) -> dict[str, Any]:
    """Return the content to store (maybe masked or rewritten) or raise ``message_blocked``."""
    policy = app_settings(app_id)
    content = _blocklist_apply(policy, content)
    if not policy.hook_url:
        return content
    answer = _hook_call(policy, {
        "app": app_id, "from": sender_id or None, "conversation_id": conversation_id,
        "conversation_type": conversation_type, "type": msg_type, "content": content,
    }, client)
    if answer is None:
        if policy.hook_fail_closed:
            raise ApiError("The moderation hook did not answer; the app fails closed.",
                           code="message_blocked", param="content", retryable=True)
        return content
    action = answer.get("action", "allow")
    if action == "block":
        raise ApiError(str(answer.get("reason") or "The message was blocked by moderation."),
                       code="message_blocked", param="content")
    if action == "rewrite" and isinstance(answer.get("content"), dict):
        return answer["content"]
    return content
