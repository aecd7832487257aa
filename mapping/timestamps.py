"""Event times: ``event_time`` reads one (integer Unix seconds from the event's ``timestamp``, or
the current time); ``iso_utc`` writes one (the project's one ISO-8601 formatter: dead-letter
headers, the demo's data)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from tiktok_capi.mapping.values import kind

__all__ = ["event_time", "iso_utc"]

# Numbers above this are taken as milliseconds (1e11 seconds is the year 5138).
_MILLISECONDS_ABOVE = 1e11
_YEAR_10000 = 253_402_300_800


def _from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:  # Segment timestamps are UTC
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def event_time(value: object, now: float, notes: list[str]) -> int:
    """Unix seconds of ``value`` (ISO-8601 text, a datetime, or a Unix number); else ``now``.

    Naive times are UTC. Numbers above 1e11 are read as milliseconds. Unusable values are
    noted and replaced by ``now``.
    """
    fallback = math.floor(now)
    if value is None:
        return fallback
    try:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return fallback
            return _from_datetime(datetime.fromisoformat(text))
        if isinstance(value, datetime):  # fastavro decodes timestamp-millis to datetime
            return _from_datetime(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(value)
            seconds = value / 1000 if abs(value) > _MILLISECONDS_ABOVE else value
            if not 0 <= seconds < _YEAR_10000:
                raise ValueError(value)
            notes.append("timestamp: a number, read as Unix time")
            return math.floor(seconds)
    except (ValueError, OverflowError, OSError):
        notes.append("timestamp: not a usable time; the current time is used")
        return fallback
    notes.append(f"timestamp: expected an ISO-8601 string, got {kind(value)}; current time used")
    return fallback


def iso_utc(moment: datetime | float) -> str:
    """``2026-11-25T08:30:00.123Z``: a datetime (naive = UTC) or Unix seconds, in UTC, to ms."""
    if isinstance(moment, datetime):
        when = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    else:
        when = datetime.fromtimestamp(moment, UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
