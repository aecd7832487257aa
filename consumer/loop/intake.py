"""Intake: consumed records become tracked offsets, then batched events, skips or dead letters.

::

    consumed records ─▶ track offsets ─▶ Chunk ─▶ (the loop) decode pool ─▶ results
        mapped        ─▶ batcher (full batches go back to the loop to be sent)
        skipped       ─▶ resolved at once
        undecodable   ─▶ failure router: dead-letter (decode_error)
        mapping bug   ─▶ failure router: dead-letter (mapping_error)
        registry down ─▶ kept unresolved, decoded again after a backoff
    over MAX_RECORD_BYTES ─▶ failure router: dead-letter (record_too_large), never decoded

Records of partitions that are not (or no longer) assigned are dropped untracked; a retry-tier
record that is not due rewinds and pauses its partition
(:meth:`~tiktok_capi.consumer.loop.flow.FlowControl.not_due`). Everything here runs on the poll
loop; intake never sends or decodes itself: it returns chunks and batches to the loop.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Final, cast

from confluent_kafka import KafkaError

from tiktok_capi.consumer.decode.transform import (
    MAPPED,
    MAPPING_FAILED,
    SKIPPED,
    UNDECODABLE,
    Result,
)
from tiktok_capi.consumer.failures.router import REASON_TOO_LARGE, FailureRouter
from tiktok_capi.consumer.failures.tiers import FailureInfo
from tiktok_capi.consumer.kafka.records import KafkaMessage
from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.loop.batcher import Batch, Batcher
from tiktok_capi.consumer.loop.chunk import Chunk
from tiktok_capi.consumer.loop.flow import FlowControl
from tiktok_capi.consumer.loop.lanes import Lane, Lanes
from tiktok_capi.consumer.malloc import LARGE_RECORD_BYTES
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.metrics import (
    DECODE_FAILURES,
    EVENTS_MAPPED,
    EVENTS_SKIPPED,
    RECORDS_CONSUMED,
)
from tiktok_capi.consumer.telemetry.stats import StatsRecorder
from tiktok_capi.consumer.telemetry.tally import STRAIGHT_THROUGH, Tally

__all__ = ["REGISTRY_BACKOFF_S", "Intake"]

log = logging.getLogger(__name__)

# A record over MAX_RECORD_BYTES, dead-lettered once its batch is taken.
_TooLarge = tuple[PartitionOffsets, int, KafkaMessage, int]

REGISTRY_BACKOFF_S: Final[tuple[float, ...]] = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits before decoding again records the schema registry could not serve, by failure count."""


class Intake:
    """Tracks consumed records and turns decode results into batches, skips and dead letters.

    Args:
        lanes: the assigned partitions (owned and updated by the loop).
        flow: rewinds and pauses retry-tier partitions whose head is not due.
        batcher: collects mapped events.
        router: where undecodable records and mapping failures go.
        stats: counters for the connector's stats.
        clock: monotonic seconds, for the registry backoff (injected in tests).
        wall_clock: epoch seconds, what records are consumed and failures written at.
        max_record_bytes: ``MAX_RECORD_BYTES``; a larger value is dead-lettered undecoded
            (0: no cap).
        tally: where the counts for metrics go (the loop's; by default straight through).
        on_large_record: called once, at the first record of ``LARGE_RECORD_BYTES`` or more
            (the connector fixes its allocator's mmap threshold then: consumer/malloc.py).
    """

    def __init__(
        self,
        lanes: Lanes,
        flow: FlowControl,
        batcher: Batcher,
        router: FailureRouter,
        stats: StatsRecorder,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_record_bytes: int = 0,
        tally: Tally = STRAIGHT_THROUGH,
        on_large_record: Callable[[], object] | None = None,
    ) -> None:
        self._tally = tally
        self._on_large_record = on_large_record
        self._lanes = lanes
        self._flow = flow
        self._batcher = batcher
        self._router = router
        self._stats = stats
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_record = max_record_bytes
        self._redo: list[tuple[float, Chunk]] = []  # registry down: (decode again at, records)
        self._registry_failures = 0

    def take(self, messages: Sequence[KafkaMessage]) -> Chunk | None:
        """Track one consumed batch; returns the chunk to decode (``None``: nothing to decode)."""
        chunk = Chunk(self._wall_clock())
        consumed: dict[str, int] = {}
        too_large: list[_TooLarge] = []
        if [msg.error() for msg in messages].count(None) == len(messages):
            self._take_runs(messages, chunk, consumed, too_large)
        else:  # an error or end-of-partition event among them (rare): one record at a time
            self._take_each(messages, chunk, consumed, too_large, set())
        tally = self._tally
        for topic, count in consumed.items():
            tally.add(RECORDS_CONSUMED, count, "topic", topic)
        if consumed:
            self._stats.consumed(sum(consumed.values()), 0, {})
        for tracker, offset, msg, size in too_large:
            self._too_large(tracker, offset, msg, size)
        return chunk if chunk.values else None

    def _take_runs(
        self,
        messages: Sequence[KafkaMessage],
        chunk: Chunk,
        consumed: dict[str, int],
        too_large: list[_TooLarge],
    ) -> None:
        """Take error-free messages by runs of one partition (a fetch returns them so).

        A run of a source partition is tracked in one step; a retry tier's run, or one that
        needs a closer look (a tombstone, a record over the size cap, an offset not new), is
        taken one record at a time.
        """
        by_topic = self._lanes.by_topic
        blocked: set[PartitionKey] = set()
        topics = [msg.topic() for msg in messages]
        partitions = [msg.partition() for msg in messages]
        runs: list[tuple[str | None, int | None, int]]  # (topic, partition, length)
        if topics and topics.count(topics[0]) == len(topics):  # one topic: runs by partition
            first = topics[0]
            runs = [(first, p, len(list(group))) for p, group in groupby(partitions)]
        else:
            keys = zip(topics, partitions, strict=True)
            runs = [(t, p, len(list(group))) for (t, p), group in groupby(keys)]
        start = 0
        for topic, partition, length in runs:
            end = start + length
            run = messages[start:end]
            start = end
            lanes = by_topic.get(topic) if topic is not None else None
            lane = lanes.get(partition or 0) if lanes is not None else None
            if lane is None:
                continue  # not (or no longer) ours
            if lane.tier is None and self._take_run(lane, run, chunk, consumed):
                continue
            self._take_each(run, chunk, consumed, too_large, blocked)

    def _take_run(
        self, lane: Lane, run: Sequence[KafkaMessage], chunk: Chunk, consumed: dict[str, int]
    ) -> bool:
        """Track a run of one source partition at once; ``False`` (nothing done) when one of its
        records needs :meth:`_take_each`."""
        values = [msg.value() for msg in run]
        if None in values:
            return False
        sizes = list(map(len, cast("list[bytes]", values)))
        largest = max(sizes)
        if largest >= LARGE_RECORD_BYTES:
            self._large_record()
        if self._max_record and largest > self._max_record:
            return False
        offsets = [msg.offset() for msg in run]
        if None in offsets or not lane.tracker.track_run(cast("list[int]", offsets), sizes):
            return False
        chunk.trackers += [lane.tracker] * len(run)
        chunk.offsets += cast("list[int]", offsets)
        chunk.messages += run
        chunk.values += values
        topic = lane.key[0]
        consumed[topic] = consumed.get(topic, 0) + len(run)
        return True

    def _take_each(
        self,
        messages: Sequence[KafkaMessage],
        chunk: Chunk,
        consumed: dict[str, int],
        too_large: list[_TooLarge],
        blocked: set[PartitionKey],
    ) -> None:
        """Take messages one at a time: errors, retry tiers (due or not), anything unusual."""
        now = chunk.now
        by_topic = self._lanes.by_topic
        cap = self._max_record
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error.str())
                continue
            topic = msg.topic()
            lanes = by_topic.get(topic) if topic is not None else None
            lane = lanes.get(msg.partition() or 0) if lanes is not None else None
            if lane is None:
                continue  # not (or no longer) ours
            if blocked and lane.key in blocked:
                continue  # rewound in this batch: read again when due
            offset = msg.offset() or 0
            if lane.tier is not None and self._flow.not_due(
                lane.key, msg, offset, now, lane.delay_s
            ):
                blocked.add(lane.key)
                continue
            tracker = lane.tracker
            value = msg.value()
            size = len(value) if value is not None else 0
            if size >= LARGE_RECORD_BYTES:
                self._large_record()
            if not tracker.track(offset, size):
                log.warning(
                    "%s[%d]@%d consumed again after offset %s: dropped (already taken)",
                    lane.key[0],
                    lane.key[1],
                    offset,
                    tracker.last,
                )
                continue
            consumed[lane.key[0]] = consumed.get(lane.key[0], 0) + 1
            if cap and size > cap:
                too_large.append((tracker, offset, msg, size))
                continue
            chunk.trackers.append(tracker)
            chunk.offsets.append(offset)
            chunk.messages.append(msg)
            chunk.values.append(value)

    def _large_record(self) -> None:
        call, self._on_large_record = self._on_large_record, None
        if call is not None:
            call()

    def redo_due(self) -> list[Chunk]:
        """Chunks held back for the schema registry whose backoff is over (decode them again)."""
        now = self._clock()
        due: list[Chunk] = []
        while self._redo and self._redo[0][0] <= now:
            _, chunk = self._redo.pop(0)
            chunk.now = self._wall_clock()
            due.append(chunk)
        return due

    def forget_revoked(self) -> None:
        """Drop the records of retired trackers from the chunks waiting for the registry."""
        kept: list[tuple[float, Chunk]] = []
        for at, chunk in self._redo:
            alive = [i for i, tracker in enumerate(chunk.trackers) if tracker.active]
            if len(alive) == len(chunk):
                kept.append((at, chunk))
            elif alive:
                kept.append((at, chunk.subset(alive)))
        self._redo = kept

    def apply(self, chunk: Chunk, results: Sequence[Result]) -> list[Batch]:
        """Turn decode results into batched events, resolved skips and dead letters.

        Returns:
            The batches that became full (the loop sends them).
        """
        trackers = chunk.trackers
        offsets = chunk.offsets
        messages = chunk.messages
        # By list operations rather than one step per record: this runs for every record.
        kinds = [result[0] for result in results]
        live = all(tracker.active for tracker in set(trackers))
        if live and kinds.count(MAPPED) == len(kinds):  # the common case: all mapped, all ours
            others: list[int] = []
            events = [result[2] for result in results]
            names = [result[1] for result in results]
            full = self._batcher.add_many(events, trackers, offsets, messages, names)
        else:
            keep = [i for i, kind in enumerate(kinds) if kind == MAPPED]
            others = [i for i, kind in enumerate(kinds) if kind != MAPPED]
            if not live:  # revoked meanwhile: the new owner reads them again
                keep = [i for i in keep if trackers[i].active]
                others = [i for i in others if trackers[i].active]
            names = [results[i][1] for i in keep]
            full = self._batcher.add_many(
                [results[i][2] for i in keep],
                [trackers[i] for i in keep],
                [offsets[i] for i in keep],
                [messages[i] for i in keep],
                names,
            )
        skipped: dict[str, int] = {}
        redo: list[int] = []
        for i in others:
            result = results[i]
            kind = result[0]
            tracker = trackers[i]
            if kind == SKIPPED:
                reason = result[1]
                skipped[reason] = skipped.get(reason, 0) + 1
                tracker.resolve(offsets[i])
            elif kind == UNDECODABLE:
                self._undecodable(tracker, offsets[i], messages[i], result[1], result[2])
            elif kind == MAPPING_FAILED:
                self._mapping_failed(tracker, offsets[i], messages[i], result[1])
            else:
                redo.append(i)
        tally = self._tally
        for name, count in Counter(names).items():
            tally.add(EVENTS_MAPPED, count, "event_name", name)
        for reason, count in skipped.items():
            tally.add(EVENTS_SKIPPED, count, "reason", reason)
        if names or skipped:
            self._stats.consumed(0, len(names), skipped)
            self._registry_failures = 0
        if redo:
            self._registry_down(chunk, redo, results[redo[0]][1])
        return full

    def _registry_down(self, chunk: Chunk, indexes: list[int], why: str) -> None:
        """Records the registry could not decode now: decode them again after a backoff.

        They stay tracked (unresolved), so their offsets are not committed and backpressure
        pauses consumption while the registry is away; they are never dead-lettered.
        """
        delay = REGISTRY_BACKOFF_S[min(self._registry_failures, len(REGISTRY_BACKOFF_S) - 1)]
        self._registry_failures += 1
        again = chunk.subset(indexes)
        self._redo.append((self._clock() + delay, again))
        first = again.trackers[0]
        log.warning(
            "schema registry unavailable (%s): %d record(s) from %s[%d]@%d retried in %.0fs",
            why,
            len(indexes),
            first.topic,
            first.partition,
            again.offsets[0],
            delay,
            extra={"topic": first.topic, "partition": first.partition},
        )

    def _undecodable(
        self,
        tracker: PartitionOffsets,
        offset: int,
        msg: KafkaMessage,
        reason: str,
        message: str,
    ) -> None:
        topic, partition = tracker.topic, tracker.partition
        DECODE_FAILURES.add(1, {"reason": reason})
        log.warning(
            "undecodable record %s[%d]@%d (%s): dead-lettered",
            topic,
            partition,
            offset,
            reason,
            extra={"topic": topic, "partition": partition, "offset": offset},
        )
        failure = FailureInfo.from_reason(
            "decode_error", f"undecodable record ({reason}): {message}"
        )
        self._router.dead_letter(tracker, offset, msg, "decode_error", failure, self._wall_clock())

    def _too_large(
        self, tracker: PartitionOffsets, offset: int, msg: KafkaMessage, size: int
    ) -> None:
        topic, partition = tracker.topic, tracker.partition
        log.warning(
            "%s[%d]@%d is %d bytes, over MAX_RECORD_BYTES (%d): dead-lettered undecoded",
            topic,
            partition,
            offset,
            size,
            self._max_record,
            extra={"topic": topic, "partition": partition, "offset": offset},
        )
        failure = FailureInfo.from_reason(
            REASON_TOO_LARGE,
            f"record of {size} bytes is over MAX_RECORD_BYTES ({self._max_record})",
        )
        self._router.dead_letter(
            tracker, offset, msg, REASON_TOO_LARGE, failure, self._wall_clock()
        )

    def _mapping_failed(
        self, tracker: PartitionOffsets, offset: int, msg: KafkaMessage, why: str
    ) -> None:
        topic, partition = tracker.topic, tracker.partition
        log.error(
            "%s for %s[%d]@%d: dead-lettered",
            why,
            topic,
            partition,
            offset,
            extra={"topic": topic, "partition": partition, "offset": offset},
        )
        failure = FailureInfo.from_reason("mapping_error", why)
        self._router.dead_letter(tracker, offset, msg, "mapping_error", failure, self._wall_clock())
