"""The Kafka record as the connector sees it: the consumed message seam and the kept copy.

:class:`KafkaMessage` is the seam: what the poll loop reads of a consumed
``confluent_kafka.Message`` (a Protocol, so tests hand in their own). Records stay messages on the
hot path; a :class:`SourceRecord` is made only for a record that leaves it (written to a retry
tier or the dead-letter topic), by :func:`source_record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ConsumedHeaders",
    "Headers",
    "KafkaMessage",
    "SourceRecord",
    "header_value",
    "source_record",
]

Headers = list[tuple[str, bytes | None]]
"""Headers as the connector writes them (a user's null header value stays null)."""

ConsumedHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None
"""Headers as a consumed message has them (librdkafka's ``HeadersType``: a value may be null)."""


class KafkaMessage(Protocol):
    """What the connector reads of a consumed record (``confluent_kafka.Message``'s methods)."""

    def error(self) -> Any:
        """``None``, or the ``KafkaError`` this message stands for (e.g. partition EOF)."""

    def topic(self) -> str | None:
        """The topic it was read from."""

    def partition(self) -> int | None:
        """Its partition."""

    def offset(self) -> int | None:
        """Its offset."""

    def key(self) -> bytes | None:
        """The key bytes."""

    def value(self) -> bytes | None:
        """The value bytes."""

    def headers(self) -> ConsumedHeaders:
        """The headers, in order (a name may repeat)."""

    def timestamp(self) -> tuple[int, int]:
        """``(timestamp type, epoch milliseconds)``."""


def header_value(headers: ConsumedHeaders, name: str) -> bytes | None:
    """The last value of header ``name`` in ``headers`` as bytes, or ``None`` (also when null)."""
    if not headers:
        return None
    found: str | bytes | None = None
    if isinstance(headers, Mapping):
        found = headers.get(name)
    else:
        for key, value in headers:
            if key == name:
                found = value
    return found.encode() if isinstance(found, str) else found


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
        return header_value(self.headers, name)


def source_record(message: KafkaMessage | SourceRecord) -> SourceRecord:
    """``message`` as a :class:`SourceRecord` (a record already is one).

    Called once for each record that leaves the fast path: one written to a retry tier or the
    dead-letter topic.
    """
    if isinstance(message, SourceRecord):
        return message
    return SourceRecord(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value(),
        headers=_kept_headers(message.headers()),
        timestamp_ms=message.timestamp()[1],
    )


def _kept_headers(headers: ConsumedHeaders) -> Headers | None:
    """Consumed headers as written again (text values as UTF-8 bytes)."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]
