"""The retry schedule (as Svix's), pure functions of the attempt number and the response.

Attempt 1 goes immediately; after attempt n fails, attempt n+1 waits ``SCHEDULE[n]`` ±20 %.
After a timeout or a 429 the wait is at least 60 s; a ``Retry-After`` header makes it
``max(backoff, header)``, the header counting for at most 2 h.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# Seconds to wait before attempt n+1, indexed by n (the number of attempts already made).
SCHEDULE = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
MAX_ATTEMPTS = len(SCHEDULE)
JITTER = 0.2
MIN_AFTER_THROTTLE = 60.0
MAX_RETRY_AFTER = 2 * 3600.0
FAILING_AFTER_ATTEMPTS = 4


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date); None if absent or garbage."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempts_made: int,
    *,
    status_code: int | None = None,
    timed_out: bool = False,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt, or None when the schedule is exhausted."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    rng = rng or random
    base = SCHEDULE[attempts_made]
    delay = base * rng.uniform(1 - JITTER, 1 + JITTER)
    if timed_out or status_code == 429:
        delay = max(delay, MIN_AFTER_THROTTLE)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def next_attempt_at(now: datetime, attempts_made: int, **kwargs) -> datetime | None:
    delay = next_delay(attempts_made, **kwargs)
    return None if delay is None else now + timedelta(seconds=delay)
