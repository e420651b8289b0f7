"""The per-app moderation hook: a keyword blocklist, then an optional synchronous HTTP pre-send hook.

The blocklist rejects (``message_blocked``) or masks matching words in text content. The HTTP hook
gets one try with a 3 s timeout and answers ``{"action": "allow" | "block" | "rewrite",
"content": {...}}``; when it fails (timeout, error status, a redirect, bad JSON, an answer over
``HOOK_MAX_ANSWER_BYTES``, or an address the SSRF guard refuses) the message passes (fail-open)
unless the app set ``hook_fail_closed``. The hook's answer is stored as the message, so the
request goes out only through the egress (``cpaas/core/egress``: guarded, pinned, no
redirects): a hook URL can never make the platform read an internal address back to a tenant.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from cpaas.core.egress import client, ssrf, sync
from cpaas.core.errors import ApiError
from cpaas.core.ttlcache import TtlCache
from cpaas.im import conf
from cpaas.im.models import ImSettings

log = logging.getLogger(__name__)

SETTINGS_CACHE_SECONDS = 5.0
_cache: TtlCache[str, ImSettings] = TtlCache(SETTINGS_CACHE_SECONDS)
# The largest hook answer read; a longer one is a failed call.
HOOK_MAX_ANSWER_BYTES = 64 * 1024


def app_settings(app_id: str) -> ImSettings:
    """The app's IM settings, cached a few seconds per process (settings change rarely)."""
    return _cache.get_or_load(
        app_id, lambda: ImSettings.objects.filter(app_id=app_id).first() or ImSettings(app_id=app_id))


def forget_settings(app_id: str) -> None:
    _cache.forget(app_id)


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


def _hook_call(policy: ImSettings, hook_url: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    try:
        response = sync.post(hook_url, body, {"content-type": "application/json",
                                              "user-agent": "cpaas-im-moderation/1"},
                             timeout=conf.HOOK_TIMEOUT_SECONDS, max_body=HOOK_MAX_ANSWER_BYTES + 1)
        if not 200 <= response.status < 300:  # a 3xx included: redirects are never followed
            raise ValueError(f"hook answered HTTP {response.status}")
        if response.truncated or len(response.body) > HOOK_MAX_ANSWER_BYTES:
            raise ValueError("hook answer too large")
        answer = json.loads(bytes(response.body))
        if not isinstance(answer, dict):
            raise ValueError("hook answer is not an object")
        return answer
    except (ssrf.BlockedAddress, client.HttpError, TimeoutError, ValueError, RecursionError) as exc:
        log.warning("im moderation hook failed: %s", exc, extra={"app_id": policy.app_id})
        return None


def moderate(*, app_id: str, mode: str, sender_id: str, conversation_id: str, conversation_type: str,
             msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """Return the content to store (maybe masked or rewritten) or raise ``message_blocked``.
    ``mode`` is the conversation's: only that mode's hook sees the message."""
    policy = app_settings(app_id)
    content = _blocklist_apply(policy, content)
    hook_url = policy.hook_for(mode)
    if not hook_url:
        return content
    answer = _hook_call(policy, hook_url, {
        "app": app_id, "from": sender_id or None, "conversation_id": conversation_id,
        "conversation_type": conversation_type, "type": msg_type, "content": content,
    })
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
