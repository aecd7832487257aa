"""The records the benchmarks send: realistic storefront events, encoded once, copied cheaply.

Generating a realistic event (the demo's storefront generator) costs ~100 µs and encoding it ~45 µs;
a million of them would take minutes before the first measurement. So a :class:`Pool` of
distinct events (``--pool``, 50,000 by default) is generated and encoded once, and the topics
are filled with copies whose ``messageId`` is rewritten in the encoded bytes (same length, so
the Avro length prefix stays right): every record is a distinct event to TikTok's
deduplication, the content repeats every pool-size records. Real streams repeat users too;
a pool of 50,000 events has ~6,000 shoppers.

Two special shapes: :meth:`Pool.stamped` puts the produce time into the message id (the
latency scenario reads it back from ``event_id`` at the receiver), :func:`large_events`
makes ~1 MB records (a big property the mapping does not send).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.internals import encode_event, sample_events

__all__ = ["ID_PREFIX", "Pool", "large_events", "produce_time_us"]

ID_PREFIX = b"ajs-next-"  # sample_data's message ids: "ajs-next-" + a 36-character UUID
_ID_LENGTH = len(ID_PREFIX) + 36
_STAMP_DIGITS = 27  # "ajs-next-" + 8 hex (sequence) + "-" + 27 digits (µs) = 45 characters


@dataclass
class _Template:
    prefix: bytes  # encoded bytes before the message id's variable part
    suffix: bytes  # after it
    key: bytes


class Pool:
    """``size`` distinct generated events, encoded with the bundled schema, to copy from.

    Args:
        size: distinct events.
        seed: generator seed (same seed, same events).
        now: the events' timestamps end a second before it (TikTok takes 7 days back).
    """

    def __init__(self, size: int, seed: int = 7, now: datetime | None = None) -> None:
        started = time.monotonic()
        now = now or datetime.now(UTC)
        self.events: list[dict[str, Any]] = list(sample_events(size, seed, now))
        self.values: list[bytes] = [encode_event(e) for e in self.events]
        self._templates = [
            self._template(e, v) for e, v in zip(self.events, self.values, strict=True)
        ]
        self.seconds = time.monotonic() - started
        self.mean_bytes = sum(map(len, self.values)) / max(len(self.values), 1)

    @staticmethod
    def _template(event: dict[str, Any], value: bytes) -> _Template:
        message_id = str(event["messageId"]).encode()
        if len(message_id) != _ID_LENGTH or not message_id.startswith(ID_PREFIX):
            raise ValueError(f"unexpected messageId shape: {message_id[:12]!r}...")
        before, found, after = value.partition(message_id)
        if not found or message_id in after:
            raise ValueError("the messageId must occur exactly once in the encoded record")
        # Keep the id's last 28 characters (UUID tail); the first 8 become the copy's number.
        return _Template(
            before + ID_PREFIX,
            message_id[len(ID_PREFIX) + 8 :] + after,
            str(event.get("userId") or event.get("anonymousId") or "").encode(),
        )

    def __len__(self) -> int:
        return len(self._templates)

    def copies(self, count: int, start: int = 0) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` of records ``start .. start+count-1``, each with its own message id."""
        templates = self._templates
        size = len(templates)
        for number in range(start, start + count):
            t = templates[number % size]
            yield t.key, t.prefix + b"%08x" % (number & 0xFFFFFFFF) + t.suffix

    def stamped(self, number: int, produce_us: int) -> tuple[bytes, bytes]:
        """Record ``number`` with message id ``ajs-next-<number:08x>-<produce_us:027d>``."""
        t = self._templates[number % len(self._templates)]
        stamp = b"%08x-%027d" % (number & 0xFFFFFFFF, produce_us)
        # prefix + 8 hex + suffix is the normal copy; a stamp replaces the 36-character UUID.
        return t.key, t.prefix + stamp + t.suffix[28:]


def produce_time_us(event_id: bytes) -> int | None:
    """The produce time (µs since the epoch) in a :meth:`Pool.stamped` id, else None."""
    if len(event_id) != _ID_LENGTH or event_id[len(ID_PREFIX) + 8 : len(ID_PREFIX) + 9] != b"-":
        return None
    digits = event_id[-_STAMP_DIGITS:]
    return int(digits) if digits.isdigit() else None


def large_events(pool: Pool, count: int, size_bytes: int) -> Iterator[tuple[bytes, bytes]]:
    """``count`` records of ~``size_bytes`` each: pool events with a large ``page_html`` property.

    The mapping sends only the properties TikTok knows, so the request stays small: what the
    figure shows is what holding and decoding large records costs the connector.
    """
    filler = (b"<div class='product-card'>lorem ipsum dolor sit amet</div>" * 64).decode()
    tracks = [e for e in pool.events if e.get("type") == "track" and e.get("properties")]
    for number in range(count):
        event = dict(tracks[number % len(tracks)])
        event["messageId"] = f"large-{number:08d}"
        properties = dict(event["properties"])
        properties["page_html"] = ""
        overhead = len(encode_event({**event, "properties": properties}))
        repeat = max(size_bytes - overhead, 0) // len(filler) + 1
        properties["page_html"] = (filler * repeat)[: max(size_bytes - overhead, 0)]
        event["properties"] = properties
        key = str(event.get("userId") or event.get("anonymousId") or number).encode()
        yield key, encode_event(event)
