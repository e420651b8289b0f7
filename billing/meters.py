"""The meters: what a usage event's ``meter`` may name, and how each aggregates."""

from __future__ import annotations

from dataclasses import dataclass

AGGREGATIONS = ("count", "sum", "max", "unique_count")


@dataclass(frozen=True)
class Meter:
    name: str
    aggregation: str
    unit: str
    description: str
    dimensions: tuple[str, ...] = ()


METERS: dict[str, Meter] = {m.name: m for m in (
    Meter("sms_segments", "sum", "segment", "SMS segments sent or received", ("country", "direction")),
    Meter("voice_seconds", "sum", "second", "Connected call seconds (billed per call with increments)",
          ("direction", "country", "leg", "destination")),
    Meter("im_dau", "unique_count", "user", "IM daily active users (unique subjects per day)"),
    Meter("im_messages", "sum", "message", "IM messages sent", ("kind",)),
    Meter("api_requests", "count", "request", "API requests"),
    Meter("im_peak_connections", "max", "connection", "Peak concurrent IM connections"),
    Meter("rtc_participant_minutes", "sum", "minute", "RTC participant-minutes (per join, rounded up)",
          ("media", "tier", "room")),
)}


def meter_get(name: str) -> Meter | None:
    return METERS.get(name)
