"""Start-up check: this group's retry tiers hold no record another consumer group wrote.

A group consumes its retry tiers like its source topic. If two deployments share tier topics (both
set the same ``RETRY_TOPIC``, or kept the old ``{SOURCE_TOPIC}.tiktok.retry`` default), each
consumes the other's retries and delivers them to its own pixel. Every retry and dead-letter record
names its writer in the ``tiktok-capi.group`` header (:mod:`.tiers`), so at start-up the connector
reads, in each tier partition, the records around the group's committed offset — up to
``window`` before it (what the group handled last) and ``window`` from it (what it would consume
next), or the first ``window`` without a committed offset — and refuses to start when one names
another group.

Records without the header (written before it existed) pass: a deployment upgraded with its old
topic names kept must start. The check reads with ``assign()`` and commits nothing: the group's
membership and offsets are untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from tiktok_capi.consumer.failures.tiers import HEADER_GROUP
from tiktok_capi.consumer.kafka.topics import read_metadata

__all__ = ["ForeignRecordsError", "check_retry_topics"]

log = logging.getLogger(__name__)

_WINDOW: Final = 100


class ForeignRecordsError(RuntimeError):
    """A retry topic holds records another consumer group wrote; the message says which."""


def _consumer(conf: dict[str, Any]) -> Any:
    from confluent_kafka import Consumer

    return Consumer(conf)


def check_retry_topics(
    conf: dict[str, Any],
    topics: Sequence[str],
    group: str,
    *,
    window: int = _WINDOW,
    timeout: float = 10.0,
    stopping: Callable[[], bool] = lambda: False,
    consumer_factory: Callable[[dict[str, Any]], Any] = _consumer,
) -> None:
    """Raise when a record near ``group``'s position in ``topics`` was written by another group.

    Args:
        conf: librdkafka consumer configuration with ``group.id`` = ``group`` (only read).
        topics: the retry tier topics; missing ones are skipped.
        group: this connector's consumer group.
        window: records read before and from the committed offset, per partition.
        timeout: seconds for the whole check; what was not read by then is not checked.
        stopping: polled while waiting and reading; true ends the check.
        consumer_factory: builds the consumer (a seam for tests).

    A cluster that does not answer is not this check's to report (the consumer will say so,
    and readiness stays false): it logs a warning and returns.

    Raises:
        ForeignRecordsError: names the topic, partition, offset and the other group.
        tiktok_capi.consumer.kafka.topics.StartupCancelled: ``stopping()`` turned true while
            waiting for the cluster.
    """
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    consumer = consumer_factory(
        {
            **conf,
            "group.id": group,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            # A fetch of an empty partition waits fetch.wait.max.ms (500 ms) before it says so:
            # a one-off read to the end should not wait at all.
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        try:
            metadata = read_metadata(consumer, timeout, stopping=stopping)
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                if (found := metadata.topics.get(topic)) is not None and found.error is None
                for p in sorted(found.partitions)
            ]
            if not partitions:
                return
            left = max(0.1, deadline - time.monotonic())
            committed = consumer.committed(partitions, timeout=left)
        except KafkaException as exc:
            log.warning("retry topics not checked for other groups' records: %s", exc.args[0])
            return
        starts = []
        stop_at: dict[tuple[str, int], int] = {}
        for tp in committed:
            if tp.offset >= 0:
                starts.append(TopicPartition(tp.topic, tp.partition, max(0, tp.offset - window)))
                stop_at[(tp.topic, tp.partition)] = tp.offset + window
            else:
                starts.append(TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING))
                stop_at[(tp.topic, tp.partition)] = -1  # the first `window` records
        consumer.assign(starts)
        read: dict[tuple[str, int], int] = dict.fromkeys(stop_at, 0)
        done: set[tuple[str, int]] = set()
        while len(done) < len(stop_at) and time.monotonic() < deadline and not stopping():
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                key = (msg.topic() or "", msg.partition() or 0)
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done.add(key)
                    continue
                if key in done:
                    continue
                _check(msg, group)
                read[key] += 1
                offset = msg.offset() or 0
                end = stop_at[key]
                if (end >= 0 and offset + 1 >= end) or (end < 0 and read[key] >= window):
                    done.add(key)
        if len(done) < len(stop_at):
            log.warning(
                "retry topic check: %d of %d partitions not read to the end in %.0fs",
                len(stop_at) - len(done),
                len(stop_at),
                timeout,
            )
    finally:
        consumer.close()


def _check(msg: Any, group: str) -> None:
    writer: bytes | None = None
    for name, value in msg.headers() or ():
        if name == HEADER_GROUP:
            writer = value
    if writer is None:
        return
    other = writer.decode("utf-8", "replace")
    if other != group:
        raise ForeignRecordsError(
            f"retry topic {msg.topic()} holds records written by consumer group {other!r} "
            f"(partition {msg.partition()}, offset {msg.offset()}), not by this group "
            f"{group!r}: two deployments share retry topics and would consume each other's "
            "retries. Give each group its own: leave RETRY_TOPIC and DLQ_TOPIC unset (they "
            "default to {SOURCE_TOPIC}.{KAFKA_GROUP_ID}.retry / .dlq) or set names of its own"
        )
