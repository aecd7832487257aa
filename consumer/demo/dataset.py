"""The demo's dataset: the shipped storefront events, moved to now, produced to the broker."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tiktok_capi.consumer.demo import DemoError
from tiktok_capi.consumer.kafka.produce import produce_waiting

# TikTok accepts events up to 7 days old; the dataset is squeezed into the last 6 if it spans more.
_MAX_SPAN = timedelta(days=6)
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rebase_timestamps(events: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Move the events' times so the newest is ``now``, keeping their order and spacing.

    A dataset spanning more than six days is squeezed into the last six (TikTok rejects
    events older than seven days). Events without a parsable time are left as they are.
    """
    times = [t for e in events for t in (_parse_time(e.get(f)) for f in _TIME_FIELDS) if t]
    if not times:
        return [dict(e) for e in events]
    newest, oldest = max(times), min(times)
    span = newest - oldest
    scale = min(1.0, _MAX_SPAN / span) if span else 1.0
    out = []
    for event in events:
        copy = dict(event)
        for name in _TIME_FIELDS:
            moment = _parse_time(event.get(name))
            if moment is not None:
                moved = now - (newest - moment) * scale
                copy[name] = moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(copy)
    return out


def load_dataset(limit: int | None) -> list[dict[str, Any]]:
    """The shipped storefront dataset, or its first ``limit`` events.

    More events than it holds are generated with the same seeded generator (same mix of event
    types and shoppers, unique message ids).
    """
    from tiktok_capi.consumer.demo import storefront as sample_data

    events = sample_data.load_events()
    if limit is None:
        return events
    if limit <= len(events):
        return events[:limit]
    return list(sample_data.generate(limit, switches=True))


def _key(event: Mapping[str, Any]) -> bytes | None:
    for name in ("userId", "anonymousId"):
        value = event.get(name)
        if isinstance(value, str) and value:
            return value.encode()
    return None


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 15.0) -> None:
    """Create ``topic`` and wait until its metadata shows ``partitions`` partitions."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
    )
    futures[topic].result(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        found = admin.list_topics(timeout=timeout).topics.get(topic)
        if found is not None and found.error is None and len(found.partitions) == partitions:
            return
        if time.monotonic() > deadline:
            raise DemoError(f"topic {topic} did not appear with {partitions} partitions")
        time.sleep(0.05)


def produce(bootstrap: str, topic: str, events: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Encode and produce ``events``; returns each partition's end offset (last + 1).

    Ends come from delivery reports: the broker's ListOffsets(latest) cannot be trusted.
    """
    from confluent_kafka import KafkaError, Message, Producer

    from tiktok_capi.consumer.decode.codec import encode_event

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all", "log_level": 3}
    )
    ends: dict[int, int] = {}
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(str(err))
            return
        partition, offset = msg.partition(), msg.offset()
        if partition is not None and offset is not None:
            ends[partition] = max(ends.get(partition, 0), offset + 1)

    for event in events:
        value = encode_event(event)
        produce_waiting(producer, topic, value, key=_key(event), on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(30)
    if errors or left:
        raise DemoError(f"producing the dataset failed: {errors[:3] or f'{left} undelivered'}")
    return ends
