"""The broker side of the suite: one embedded broker, topics filled in bulk, group offsets.

One broker serves every scenario of a suite run: each connector run reads a topic from the
start under a group of its own (``auto.offset.reset=earliest``), so a topic filled once is
read as often as needed. Filling goes at ~150,000 records/s: pre-encoded values, a producer
with large batches and a queue big enough that ``produce`` rarely waits. A topic's end per
partition comes from the delivery reports (Tansu's ListOffsets(latest) answers wrongly).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.internals import EmbeddedBroker, produce_waiting

__all__ = ["Cluster", "Topic", "Writer"]

_BULK_PRODUCER = {
    "linger.ms": 50,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}


@dataclass
class Topic:
    """A filled topic: its name, partitions, end offset of each partition and fill time."""

    name: str
    partitions: int
    ends: dict[int, int] = field(default_factory=dict)
    fill_seconds: float = 0.0
    record_bytes: float = 0.0

    @property
    def records(self) -> int:
        """Records in the topic."""
        return sum(self.ends.values())


class Cluster:
    """An embedded broker with helpers; use as a context manager."""

    def __init__(self) -> None:
        self.broker = EmbeddedBroker()
        self._admin: AdminClient | None = None
        self.topics: dict[str, Topic] = {}

    def __enter__(self) -> Cluster:
        self.broker.start()
        self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self

    def __exit__(self, *exc: object) -> None:
        self._admin = None
        self.broker.stop()

    @property
    def bootstrap(self) -> str:
        """``host:port`` of the broker."""
        return self.broker.bootstrap

    @property
    def pid(self) -> int:
        """The broker's process id (for its CPU), 0 when unknown."""
        process = getattr(self.broker, "_process", None)
        return int(getattr(process, "pid", 0) or 0)

    @property
    def admin(self) -> AdminClient:
        """An admin client of the broker."""
        assert self._admin is not None, "the cluster is not started"
        return self._admin

    def create(self, name: str, partitions: int) -> Topic:
        """Create an empty topic (before anything touches it: Tansu auto-creates with 4)."""
        self.admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
            name
        ].result(30)
        topic = Topic(name, partitions, {p: 0 for p in range(partitions)})
        self.topics[name] = topic
        return topic

    def fill(
        self,
        name: str,
        partitions: int,
        records: Iterable[tuple[bytes, bytes]],
        *,
        max_record_bytes: int = 0,
    ) -> Topic:
        """Create topic ``name`` and produce ``records`` (key, value) into it; returns it."""
        topic = self.create(name, partitions)
        started = time.monotonic()
        extra = {"message.max.bytes": max_record_bytes + 65_536} if max_record_bytes else {}
        writer = Writer(self, topic, _BULK_PRODUCER | extra)
        for key, value in records:
            writer.write(key, value)
        writer.close()
        topic.fill_seconds = time.monotonic() - started
        topic.record_bytes = writer.bytes / max(writer.count, 1)
        return topic

    def committed(self, group: str, topic: Topic) -> dict[int, int]:
        """The group's committed offsets on ``topic`` (partitions without one are left out)."""
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        )
        try:
            result = self.admin.list_consumer_group_offsets([request])[group].result(10)
        except Exception:
            return {}
        return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0}

    def at_end(self, group: str, topic: Topic) -> bool:
        """Whether ``group`` has committed the end of every non-empty partition (lag 0)."""
        committed = self.committed(group, topic)
        return all(committed.get(p, 0) >= end for p, end in topic.ends.items() if end)


class Writer:
    """Produces into a :class:`Topic`, keeping its partition ends from the delivery reports."""

    def __init__(
        self, cluster: Cluster, topic: Topic, conf: dict[str, Any], *, track_acks: bool = False
    ) -> None:
        self.topic = topic
        self.errors: list[Any] = []
        # Seconds from produce() (the record's CreateTime, ms) to the broker's acknowledgement.
        self.ack_delays: list[float] | None = [] if track_acks else None
        self.count = 0
        self.bytes = 0
        self._producer: Producer | None = Producer({"bootstrap.servers": cluster.bootstrap, **conf})

    def write(self, key: bytes, value: bytes) -> None:
        """Produce one record (waits while the local queue is full)."""
        producer = self._producer
        assert producer is not None, "the writer is closed"
        self.count += 1
        self.bytes += len(value)
        produce_waiting(producer, self.topic.name, value, key=key, on_delivery=self._report)

    def poll(self) -> None:
        """Serve delivery reports without waiting."""
        if self._producer is not None:
            self._producer.poll(0)

    def close(self, timeout_s: float = 300.0) -> None:
        """Flush and close; raises RuntimeError when a record was not acknowledged."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        left = producer.flush(timeout_s)
        del producer  # closed now: a producer left for the broker's shutdown logs errors
        if left or self.errors:
            raise RuntimeError(
                f"producing to {self.topic.name} failed: {left} unsent, errors {self.errors[:3]}"
            )

    def _report(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(err)
            return
        if self.ack_delays is not None:
            self.ack_delays.append(time.time() - msg.timestamp()[1] / 1000)
        ends = self.topic.ends
        partition, offset = msg.partition(), msg.offset()
        if offset + 1 > ends.get(partition, 0):
            ends[partition] = offset + 1
