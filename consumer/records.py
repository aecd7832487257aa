"""The Kafka record as the pipeline carries it, from the poll loop to its outcome."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Headers", "SourceRecord"]

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
