"""RTC settings, read through ``cpaas.core.env`` (documented in docs/configuration.md).

Read as module attributes at the moment of use, so tests can monkeypatch them.
"""

from __future__ import annotations

from cpaas.core.env import env

# Seconds the platform waits for a media server's answer before it calls it down (503 rtc_unavailable).
RTC_MEDIA_SERVER_TIMEOUT = env.float("RTC_MEDIA_SERVER_TIMEOUT", 5.0)
# Longest token lifetime a key may ask for, in seconds.
RTC_TOKEN_MAX_TTL_SECONDS = env.int("RTC_TOKEN_MAX_TTL_SECONDS", 86400)
# Most participants a room may allow (Janus AudioBridge mixes every participant on one thread).
RTC_MAX_PARTICIPANTS = env.int("RTC_MAX_PARTICIPANTS", 50)
# `make run` / `manage.py runplatform` starts one Janus (`manage.py rtc_media_server`) when true.
RTC_MEDIA_SERVER = env.bool("RTC_MEDIA_SERVER", False)
