"""The Kafka record as the pipeline carries it, from the poll loop to its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Headers", "SourceRecord", "source_record"]

Headers = list[tuple[str, bytes]]


@dataclass(slots=True)
class SourceRecord:
    """One consumed record: where it came from and its original bytes (kept for retry/DLQ).

    ``topic`` is the topic it was read from (the source topic or a retry tier topic).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name``, or ``None``."""
        if not self.headers:
            return None
        found: bytes | None = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


def source_record(message: Any) -> SourceRecord:
    """``message`` (a confluent-kafka ``Message``, or already a record) as a :class:`SourceRecord`.

    Called for the few records that leave the fast path: a retry-tier head whose due time is
    read, and every record written to a retry tier or the dead-letter topic.
    """
    if isinstance(message, SourceRecord):
        return message
    headers = message.headers()
    return SourceRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        headers=list(headers) if headers else None,
        timestamp_ms=message.timestamp()[1],
    )
