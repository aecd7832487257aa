"""Realistic storefront Segment events for demos, tests and benchmarks (placeholder: rebase)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = ["TIMESTAMP_FIELDS", "format_timestamp", "rebase_timestamps"]

TIMESTAMP_FIELDS: Final = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, as analytics libraries write it."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rebase_timestamps(events: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Shift the timestamps of ``events`` so that the latest ``timestamp`` becomes ``now``.

    Every field of :data:`TIMESTAMP_FIELDS` that parses as ISO-8601 moves by the same amount,
    so the events keep their spacing and order. Returns new dicts; the inputs are untouched.
    """
    copies = [dict(event) for event in events]
    moments = [m for m in (_parse(e.get("timestamp")) for e in copies) if m is not None]
    if not moments:
        return copies
    shift: timedelta = now - max(moments)
    for event in copies:
        for name in TIMESTAMP_FIELDS:
            moment = _parse(event.get(name))
            if moment is not None:
                event[name] = format_timestamp(moment + shift)
    return copies
