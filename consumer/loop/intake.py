"""Intake: consumed records become tracked offsets, then batched events, skips or dead letters.

::

    consumed records ─▶ track offsets ─▶ decode + map (tiktok_capi.consumer.decode.transform, inline
    or workers)
        mapped       ─▶ batcher (a full batch is submitted at once)
        skipped      ─▶ resolved at once
        undecodable  ─▶ dead-letter (decode_error)   · mapping bug ─▶ dead-letter (mapping_error)
        registry down ─▶ kept unresolved, decoded again after a backoff

Records of partitions that are not (or no longer) assigned are dropped untracked; a retry-tier
record that is not due rewinds and pauses its partition
(:meth:`tiktok_capi.consumer.loop.flow.FlowControl.not_due`). Everything here runs on the poll loop;
worker results come back through its queue.
"""

from __future__ import annotations

import logging
import queue
import time
from concurrent.futures import Future
from typing import Any, Final

from confluent_kafka import KafkaError

from tiktok_capi.consumer.decode.transform import (
    MAPPED,
    MAPPING_FAILED,
    SKIPPED,
    UNDECODABLE,
    Result,
    Transformer,
    WorkerPool,
)
from tiktok_capi.consumer.failures.tiers import FailureInfo
from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.loop.batcher import Batcher
from tiktok_capi.consumer.loop.flow import FlowControl, LoopState
from tiktok_capi.consumer.loop.outcomes import Outcomes
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.health_state import HealthState
from tiktok_capi.consumer.telemetry.metrics import (
    DECODE_FAILURES,
    EVENTS_MAPPED,
    EVENTS_SKIPPED,
    RECORDS_CONSUMED,
)
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

__all__ = ["Chunk", "Intake", "Lane"]

# The poll loop's log records keep the logger name operators filter on.
log = logging.getLogger("tiktok_capi.consumer.loop.pipeline")

_REGISTRY_BACKOFF_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0)


class Lane:
    """One assigned partition as the poll loop sees it."""

    __slots__ = ("key", "registry_failures", "tier", "tracker")

    def __init__(self, key: PartitionKey, tier: int | None) -> None:
        self.key = key
        self.tier = tier
        self.tracker = PartitionOffsets(key[0], key[1])
        self.registry_failures = 0


class Chunk:
    """Consumed records on their way through decode + map (index ``i`` of every list)."""

    __slots__ = ("messages", "now", "offsets", "trackers", "values")

    def __init__(self, now: float) -> None:
        self.now = now
        self.trackers: list[PartitionOffsets] = []
        self.offsets: list[int] = []
        self.messages: list[Any] = []
        self.values: list[bytes | None] = []


class Intake:
    """Tracks consumed records and turns them into batched events, skips and dead letters.

    Args:
        state: the loop's counters; tracking increments ``in_flight``, skips decrement it.
        flow: rewinds and pauses retry-tier partitions whose head is not due.
        by_topic: the assigned lanes by topic and partition (owned and updated by the loop).
        transformer: decode + map + encode in this thread.
        pool: worker processes doing the same off the poll loop (``None``: inline).
        results: the poll loop's queue; worker results are put on it as ``(chunk, future)``.
        batcher: collects mapped events.
        outcomes: submits full batches and writes dead letters.
        stats: counters for :meth:`tiktok_capi.consumer.app.Connector.stats`.
        health: told the broker is reachable when records arrive.
    """

    def __init__(
        self,
        *,
        state: LoopState,
        flow: FlowControl,
        by_topic: dict[str, dict[int, Lane]],
        transformer: Transformer,
        pool: WorkerPool | None,
        results: queue.SimpleQueue[Any],
        batcher: Batcher,
        outcomes: Outcomes,
        stats: StatsRecorder,
        health: HealthState,
    ) -> None:
        self._state = state
        self._flow = flow
        self._by_topic = by_topic
        self._inline = transformer
        self._pool = pool
        self._results = results
        self._batcher = batcher
        self._outcomes = outcomes
        self._stats = stats
        self._health = health
        self.pending_chunks: set[Chunk] = set()
        """Chunks in the worker processes whose result has not been handled yet."""
        self._redo: list[tuple[float, Chunk]] = []  # registry down: (retry at, records)
        self._registry_failures = 0

    def take(self, messages: list[Any]) -> None:
        """Track one consumed batch and hand its values to the transformer (the hot path)."""
        state = self._state
        if state.shutting_down:
            return  # not tracked, not committed: re-read by whoever owns them next
        now = time.time()
        by_topic = self._by_topic
        blocked: set[PartitionKey] = set()
        consumed: dict[str, int] = {}
        chunk = Chunk(now)
        trackers = chunk.trackers
        offsets = chunk.offsets
        kept = chunk.messages
        values = chunk.values
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error.str())
                continue
            topic = msg.topic()
            lanes = by_topic.get(topic)
            lane = lanes.get(msg.partition()) if lanes is not None else None
            if lane is None:
                continue  # not (or no longer) ours
            if blocked and lane.key in blocked:
                continue  # rewound in this batch: read again when due
            offset = msg.offset()
            if lane.tier is not None and self._flow.not_due(lane.key, msg, offset, now):
                blocked.add(lane.key)
                continue
            consumed[topic] = consumed.get(topic, 0) + 1
            tracker = lane.tracker
            tracker.track(offset)
            trackers.append(tracker)
            offsets.append(offset)
            kept.append(msg)
            values.append(msg.value())
        if not values:
            return
        state.in_flight += len(values)
        for topic, count in consumed.items():
            RECORDS_CONSUMED.add(count, {"topic": topic})
        self._stats.consumed(len(values), 0, {})
        self._health.set_broker_reachable(True)
        self._transform(chunk)

    def redo_due(self) -> None:
        """Decode again the records held back for the schema registry whose backoff is over."""
        now = time.monotonic()
        while self._redo and self._redo[0][0] <= now:
            _, chunk = self._redo.pop(0)
            chunk.now = time.time()
            self._transform(chunk)

    def on_transformed(self, chunk: Chunk, future: Future[list[Result]]) -> None:
        """Handle a worker's result for ``chunk`` (taken off the poll loop's results queue).

        A worker that died means decoding inline from now on; no record is lost.
        """
        self.pending_chunks.discard(chunk)
        if future.cancelled():
            return  # shutting down: the records stay unresolved and uncommitted
        try:
            results = future.result()
        except Exception:  # a worker died: carry on in this process, lose nothing
            log.exception("decode worker failed; decoding in the poll loop from now on")
            self.close_pool()
            results = self._inline.run(chunk.values, chunk.now)
        self._apply(chunk, results)

    def close_pool(self) -> None:
        """Close the worker processes (once); later chunks are decoded inline."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _transform(self, chunk: Chunk) -> None:
        """Decode and map ``chunk`` inline, or send it to a worker process."""
        pool = self._pool
        if pool is None:
            self._apply(chunk, self._inline.run(chunk.values, chunk.now))
            return
        future = pool.submit(chunk.values, chunk.now)
        self.pending_chunks.add(chunk)
        results = self._results

        def done(f: Future[list[Result]], c: Chunk = chunk) -> None:
            results.put((c, f))

        future.add_done_callback(done)

    def _apply(self, chunk: Chunk, results: list[Result]) -> None:
        """Turn transform results into batched events, resolved skips and dead letters."""
        trackers = chunk.trackers
        offsets = chunk.offsets
        messages = chunk.messages
        batcher = self._batcher
        submit = self._outcomes.submit
        names: dict[str, int] = {}
        skipped: dict[str, int] = {}
        redo: list[int] = []
        resolved = 0
        for i, result in enumerate(results):
            tracker = trackers[i]
            if not tracker.active:
                continue  # revoked meanwhile: the in-flight count was settled then
            kind = result[0]
            if kind == MAPPED:
                name = result[1]
                names[name] = names.get(name, 0) + 1
                full = batcher.add(result[2], tracker, offsets[i], messages[i], name)
                if full is not None:
                    submit(full)
            elif kind == SKIPPED:
                reason = result[1]
                skipped[reason] = skipped.get(reason, 0) + 1
                tracker.resolve(offsets[i])
                resolved += 1
            elif kind == UNDECODABLE:
                self._undecodable(tracker, offsets[i], messages[i], result[1], result[2])
            elif kind == MAPPING_FAILED:
                self._mapping_failed(tracker, offsets[i], messages[i], result[1])
            else:
                redo.append(i)
        self._state.in_flight -= resolved
        for name, count in names.items():
            EVENTS_MAPPED.add(count, {"event_name": name})
        for reason, count in skipped.items():
            EVENTS_SKIPPED.add(count, {"reason": reason})
        if names or skipped:
            self._stats.consumed(0, sum(names.values()), skipped)
            self._registry_failures = 0
        if redo:
            self._registry_down(chunk, redo, results[redo[0]][1])

    def _registry_down(self, chunk: Chunk, indexes: list[int], why: str) -> None:
        """Records the registry could not decode now: decode them again after a backoff.

        They stay tracked (unresolved), so their offsets are not committed and backpressure
        pauses consumption while the registry is away; they are never dead-lettered.
        """
        delay = _REGISTRY_BACKOFF_S[min(self._registry_failures, len(_REGISTRY_BACKOFF_S) - 1)]
        self._registry_failures += 1
        again = Chunk(chunk.now)
        for i in indexes:
            again.trackers.append(chunk.trackers[i])
            again.offsets.append(chunk.offsets[i])
            again.messages.append(chunk.messages[i])
            again.values.append(chunk.values[i])
        self._redo.append((time.monotonic() + delay, again))
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
        self, tracker: PartitionOffsets, offset: int, msg: Any, reason: str, message: str
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
        self._outcomes.dead_letter(tracker, offset, msg, "decode_error", failure, time.time())

    def _mapping_failed(self, tracker: PartitionOffsets, offset: int, msg: Any, why: str) -> None:
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
        self._outcomes.dead_letter(tracker, offset, msg, "mapping_error", failure, time.time())
