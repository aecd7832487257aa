"""The demo's dataset: the shipped storefront events, moved to now, produced to the broker."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from tiktok_capi.consumer.demo import DemoError
from tiktok_capi.consumer.kafka.produce import produce_waiting


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
