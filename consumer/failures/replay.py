"""Copying selected dead-letter records to a topic, with progress an interruption cannot double.

``tiktok-capi dlq replay`` (:mod:`tiktok_capi.consumer.commands.dlq`) drives a :class:`Replay`:

1. :meth:`Replay.plan` reads the dead-letter topic from the progress group's committed offsets
   to its end and counts what the :class:`~.selection.Selection` matches (commits nothing): the
   dry run, shown before anything is replayed;
2. :meth:`Replay.run` reads the same range again and produces the matching records to the target
   in batches; after the broker acknowledged a batch it commits the progress group's offsets
   past every record it acknowledged or passed over (records the selection leaves out count as
   done for this selection). Ctrl-C or SIGTERM waits for the acknowledgements of what was sent
   and commits exactly those, so running the command again replays nothing twice. Only a crash
   between an acknowledgement and its commit (SIGKILL) can send one batch again; the copies
   carry the same ``event_id``, which TikTok de-duplicates.

The reader uses ``assign()`` with the progress group's offsets: no group join, and the group
is only ever written by :meth:`Replay.run`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from tiktok_capi.consumer.failures.selection import Selection
from tiktok_capi.consumer.failures.tiers import (
    HEADER_FIRST_FAILURE,
    HEADER_GROUP,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
    HEADER_PREFIX,
    HEADER_REASON,
    HEADER_REPLAYED_FROM,
)

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

    from tiktok_capi.consumer.config.settings import KafkaSettings

__all__ = [
    "Plan",
    "Replay",
    "ReplayError",
    "header_texts",
    "message_headers",
    "read_to_end",
    "reader",
    "timestamp_ms",
]

log = logging.getLogger(__name__)

# Kept on records replayed into a retry tier, so a later dead letter still says where the
# event came from and when it first failed; everything else describes the old failure.
_KEPT_IN_TIERS: Final = (
    HEADER_ORIGINAL_TOPIC,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_OFFSET,
    HEADER_FIRST_FAILURE,
)


class ReplayError(RuntimeError):
    """The broker refused some replayed records; progress is committed up to the first one."""


def message_headers(msg: Message) -> list[tuple[str, bytes]]:
    """A consumed record's headers as ``(name, bytes)`` (``None`` values dropped)."""
    raw = msg.headers()
    if raw is None:
        return []
    pairs = list(raw.items()) if isinstance(raw, dict) else list(raw)
    found: list[tuple[str, bytes]] = []
    for name, value in pairs:
        if value is not None:
            found.append((name, value if isinstance(value, bytes) else str(value).encode()))
    return found


def header_texts(msg: Message) -> dict[str, str]:
    """The ``tiktok-capi.*`` headers as text (the last one of a name wins)."""
    return {
        name: value.decode("utf-8", "replace")
        for name, value in message_headers(msg)
        if name.startswith(HEADER_PREFIX)
    }


def read_to_end(
    consumer: Consumer, partitions: int, idle_timeout: float
) -> Iterator[list[Message]]:
    """Batches of records until every assigned partition reported its end (or ``idle_timeout``
    passed without progress)."""
    from confluent_kafka import KafkaError, KafkaException

    at_end: set[int] = set()
    last_progress = time.monotonic()
    while len(at_end) < partitions:
        if time.monotonic() - last_progress > idle_timeout:
            log.warning("stopped waiting for more records after %.0fs", idle_timeout)
            return
        batch: list[Message] = []
        for msg in consumer.consume(num_messages=500, timeout=0.2):
            error = msg.error()
            if error is None:
                batch.append(msg)
                at_end.discard(msg.partition() or 0)
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition() or 0)
                last_progress = time.monotonic()
            else:
                raise KafkaException(error)
        if batch:
            last_progress = time.monotonic()
            yield batch


def reader(settings: KafkaSettings, group: str) -> Consumer:
    """A consumer of ``group`` for reading by ``assign()``, reporting partition ends, whose
    librdkafka reports go through the logs."""
    from confluent_kafka import Consumer

    from tiktok_capi.consumer.config.kafka import consumer_config

    conf = consumer_config(settings, group_id=group)
    conf.pop("statistics.interval.ms", None)
    conf["enable.partition.eof"] = True
    conf["fetch.wait.max.ms"] = 10  # reading to the end: say "no more" at once, not in 500 ms
    conf["logger"] = logging.getLogger("librdkafka.consumer")
    return Consumer(conf)


def timestamp_ms(msg: Message) -> int | None:
    """The record's timestamp (epoch ms), ``None`` when it has none."""
    kind, value = msg.timestamp()
    return value if kind != 0 else None  # 0: TIMESTAMP_NOT_AVAILABLE


@dataclass
class Plan:
    """What a replay would do: the dry run's numbers and the range it covers.

    Attributes:
        read: dead-letter records read (not yet replayed by this progress group).
        matched: of those, the ones the selection matches.
        reasons: matched records by dead-letter reason.
        starts: partition -> first offset to read (the group's progress; -2 = beginning).
        ends: partition -> one past the last record read; the replay stops there.
    """

    read: int = 0
    matched: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    starts: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)


class _Progress:
    """Per partition, the records considered in order and what became of each."""

    _DONE: Final = ("skipped", "acked")

    def __init__(self) -> None:
        self._entries: dict[int, deque[list[Any]]] = {}
        self.acked = 0
        self.refused: set[int] = set()

    def skipped(self, partition: int, offset: int) -> None:
        self._entries.setdefault(partition, deque()).append([offset, "skipped"])

    def sent(self, partition: int, offset: int) -> Callable[[Any, Any], None]:
        entry = [offset, "pending"]
        self._entries.setdefault(partition, deque()).append(entry)

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is None:
                entry[1] = "acked"
                self.acked += 1
            else:
                entry[1] = "refused"
                self.refused.add(partition)

        return on_delivery

    def committable(self) -> dict[int, int]:
        """Partition -> next offset, past the done prefix of each (which is forgotten)."""
        offsets: dict[int, int] = {}
        for partition, entries in self._entries.items():
            while entries and entries[0][1] in self._DONE:
                offsets[partition] = entries.popleft()[0] + 1
        return offsets


class Replay:
    """Copies the dead-letter records a selection matches to ``target``.

    Args:
        settings: the Kafka settings (cluster, security properties).
        source: the dead-letter topic read.
        target: where records go (this group's first retry tier, by default of the command).
        group: the consumer group holding the progress.
        selection: which records.
        batch: records per acknowledged batch.
        keep_origin: keep the original-topic/partition/offset and first-failure headers (when
            the target is a retry tier the connector reads).
        writer_group: written as ``tiktok-capi.group`` (the connector's group, for a retry tier).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        source: str,
        target: str,
        group: str,
        selection: Selection,
        *,
        batch: int = 1000,
        keep_origin: bool = False,
        writer_group: str | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.target = target
        self.group = group
        self.selection = selection
        self.batch = batch
        self.keep_origin = keep_origin
        self.writer_group = writer_group
        self.replayed = 0
        self._now = time.time

    # ------------------------------------------------------------------------- clients
    def _reader(self) -> Consumer:
        return reader(self.settings, self.group)

    def _producer(self) -> Any:
        from confluent_kafka import Producer

        from tiktok_capi.consumer.config.kafka import producer_config

        conf = producer_config(self.settings)
        conf.setdefault("partitioner", "murmur2_random")
        conf["client.id"] = "tiktok-capi-dlq-replay"
        conf["logger"] = logging.getLogger("librdkafka.producer")
        return Producer(conf)

    def _assign(self, consumer: Consumer, starts: dict[int, int]) -> None:
        from confluent_kafka import TopicPartition

        consumer.assign([TopicPartition(self.source, p, o) for p, o in sorted(starts.items())])

    def _starts(self, consumer: Consumer, partitions: list[int], timeout: float) -> dict[int, int]:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        committed = consumer.committed(
            [TopicPartition(self.source, p) for p in partitions], timeout=timeout
        )
        return {tp.partition: tp.offset if tp.offset >= 0 else OFFSET_BEGINNING for tp in committed}

    # ------------------------------------------------------------------------- the passes
    def plan(self, partitions: list[int], idle_timeout: float) -> Plan:
        """Count what the selection matches from the group's progress on (commits nothing)."""
        consumer = self._reader()
        plan = Plan()
        try:
            plan.starts = self._starts(consumer, partitions, idle_timeout)
            self._assign(consumer, plan.starts)
            for batch in read_to_end(consumer, len(partitions), idle_timeout):
                for msg in batch:
                    partition, offset = msg.partition() or 0, msg.offset() or 0
                    plan.read += 1
                    plan.ends[partition] = max(plan.ends.get(partition, 0), offset + 1)
                    headers = header_texts(msg)
                    if self.selection.matches(headers, timestamp_ms(msg)):
                        plan.matched += 1
                        plan.reasons[headers.get(HEADER_REASON) or "-"] += 1
        finally:
            consumer.close()  # never commits: a dry run leaves no trace
        return plan

    def run(self, plan: Plan, targets: set[int], limit: int, idle_timeout: float) -> int:
        """Replay the matching records of ``plan``'s range (at most ``limit``, 0 = all).

        Returns how many were replayed; :attr:`replayed` says it too when interrupted.

        Raises:
            ReplayError: the broker refused records (progress stops before the first).
        """
        if not plan.ends:
            return 0
        consumer = self._reader()
        producer = self._producer()
        progress = _Progress()
        sent = 0
        try:
            self._assign(consumer, {p: plan.starts[p] for p in plan.ends})
            done: set[int] = set()
            reading = read_to_end(consumer, len(plan.ends), idle_timeout)
            for batch in reading:
                for msg in batch:
                    partition, offset = msg.partition() or 0, msg.offset() or 0
                    if partition in done or offset >= plan.ends[partition]:
                        done.add(partition)
                        continue
                    if offset + 1 >= plan.ends[partition]:
                        done.add(partition)
                    headers = header_texts(msg)
                    if not self.selection.matches(headers, timestamp_ms(msg)):
                        progress.skipped(partition, offset)
                        continue
                    self._produce(producer, msg, headers, targets, progress.sent(partition, offset))
                    sent += 1
                    if sent % self.batch == 0:
                        self._settle(consumer, producer, progress)
                    if limit and sent >= limit:
                        break
                if (limit and sent >= limit) or len(done) == len(plan.ends):
                    break
        finally:
            # Interrupted or not: wait for what was sent, commit exactly what was acknowledged.
            producer.flush(30)
            self._commit(consumer, progress)
            consumer.close()
        if progress.refused:
            raise ReplayError(
                f"the broker refused records of {self.source} partitions "
                f"{sorted(progress.refused)}; progress is committed up to them, run replay again "
                "to retry"
            )
        return progress.acked

    def _settle(self, consumer: Consumer, producer: Any, progress: _Progress) -> None:
        remaining = producer.flush(60)
        if remaining:
            raise ReplayError(f"{remaining} replayed records were not acknowledged in time")
        self._commit(consumer, progress)

    def _commit(self, consumer: Consumer, progress: _Progress) -> None:
        """Commit past what is acknowledged or passed over (synchronously)."""
        from confluent_kafka import TopicPartition

        offsets = progress.committable()
        if offsets:
            consumer.commit(
                offsets=[TopicPartition(self.source, p, o) for p, o in offsets.items()],
                asynchronous=False,
            )
        self.replayed = progress.acked

    def _produce(
        self,
        producer: Any,
        msg: Message,
        headers: dict[str, str],
        targets: set[int],
        on_delivery: Callable[[Any, Any], None],
    ) -> None:
        from tiktok_capi.consumer.kafka.produce import produce_waiting

        partition, offset = msg.partition() or 0, msg.offset() or 0
        out = [(k, v) for k, v in message_headers(msg) if not k.startswith(HEADER_PREFIX)]
        if self.keep_origin:
            out += [(k, headers[k].encode()) for k in _KEPT_IN_TIERS if k in headers]
        if self.writer_group is not None:
            out.append((HEADER_GROUP, self.writer_group.encode()))
        out.append((HEADER_REPLAYED_FROM, f"{self.source}/{partition}@{offset}".encode()))
        target_partition: int | None = None
        # Back to the partition it came from, next to the events of the same key.
        if headers.get(HEADER_ORIGINAL_TOPIC) == self.target:
            original = headers.get(HEADER_ORIGINAL_PARTITION, "")
            if original.isdigit() and int(original) in targets:
                target_partition = int(original)
        produce_waiting(
            producer,
            self.target,
            msg.value(),
            key=msg.key(),
            headers=out,
            partition=target_partition,
            on_delivery=on_delivery,
        )
