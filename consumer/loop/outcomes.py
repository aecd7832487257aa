"""Outcomes: batches go to the sender pool, and what comes back resolves records or routes them.

::

    batch ─▶ sender pool ─▶ results queue ─▶ BatchOutcome
      delivered ─▶ resolved
      invalid   ─▶ dead-letter topic (reason invalid_event)
      failed    ─▶ next retry tier (after the last one, the dead-letter topic)
      held      ─▶ kept, partitions paused for the destination, re-sent after the probe succeeds
    retry / dead-letter writes ─▶ resolved when the broker acknowledges them

Past ``DLQ_MAX_PER_MINUTE`` dead letters the destination is stopped (the record that crossed
the limit stays unresolved). Everything here runs on the poll loop, except the sender threads
that run :meth:`~tiktok_capi.consumer.delivery.base.Sender.deliver`; their results come back through
the queue. Nothing here commits: resolving a record only lets
:mod:`tiktok_capi.consumer.offsets.commit` move past it.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo, Sender
from tiktok_capi.consumer.delivery.destination import Destination
from tiktok_capi.consumer.failures.producer import DlqLimiter, OutcomeProducer
from tiktok_capi.consumer.failures.tiers import FailureInfo, RetryTiers, Route
from tiktok_capi.consumer.kafka.records import SourceRecord, source_record
from tiktok_capi.consumer.kafka.source import Source
from tiktok_capi.consumer.loop.batcher import Batch
from tiktok_capi.consumer.loop.flow import DESTINATION, LoopState
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.health_state import DestinationState
from tiktok_capi.consumer.telemetry.metrics import EVENTS_DELIVERED
from tiktok_capi.consumer.telemetry.stats import StatsRecorder
from tiktok_capi.consumer.telemetry.tracing import record_links, tracing_enabled

__all__ = ["Outcomes"]

# The poll loop's log records keep the logger name operators filter on.
log = logging.getLogger("tiktok_capi.consumer.loop.pipeline")


class Outcomes:
    """Submits batches and turns their outcomes and the producer's acks into resolutions.

    Args:
        state: the loop's counters; resolutions decrement ``in_flight``.
        results: the poll loop's queue; delivery results are put on it as ``(batch, future)``.
        executor: the sender pool (``MAX_IN_FLIGHT_REQUESTS`` threads).
        sender: delivers batches (thread-safe).
        destination: the destination's state; holds events while it is down.
        source: paused and resumed for :data:`~tiktok_capi.consumer.loop.flow.DESTINATION`.
        tiers: retry tier topics and routing.
        producer: writes retry and dead-letter records.
        limiter: dead-letter rate limit.
        stats: counters for :meth:`tiktok_capi.consumer.app.Connector.stats`.
        batch_size: ``BATCH_SIZE``, for re-batching held events.
        stop: stops the destination and the loop, with a reason (the dead-letter limit).
    """

    def __init__(
        self,
        *,
        state: LoopState,
        results: queue.SimpleQueue[Any],
        executor: ThreadPoolExecutor,
        sender: Sender,
        destination: Destination,
        source: Source,
        tiers: RetryTiers,
        producer: OutcomeProducer,
        limiter: DlqLimiter,
        stats: StatsRecorder,
        batch_size: int,
        stop: Callable[[str], None],
    ) -> None:
        self._state = state
        self._results = results
        self._executor = executor
        self._sender = sender
        self._destination = destination
        self._source = source
        self._tiers = tiers
        self._producer = producer
        self._limiter = limiter
        self._stats = stats
        self._batch_size = batch_size
        self._stop = stop
        self.in_flight_batches: set[Batch] = set()
        """Batches submitted whose result has not been handled yet."""
        self._held: list[Batch] = []
        self._sender_closed = False

    def submit(self, batch: Batch) -> None:
        """Hand ``batch`` to the sender pool, or hold it while the destination is down."""
        if not batch.events:
            return
        if not self._destination.running or self._sender_closed:
            self._held.append(batch)
            return
        self.in_flight_batches.add(batch)
        links = record_links(batch.messages) if tracing_enabled() else ()
        future = self._executor.submit(self._sender.deliver, batch.events, links)
        results = self._results

        def done(f: Future[BatchOutcome], b: Batch = batch) -> None:
            results.put((b, f))

        future.add_done_callback(done)

    def close_sender(self) -> None:
        """Close the sender (aborting its backoffs); later batches and held events are kept."""
        if not self._sender_closed:
            self._sender_closed = True
            self._sender.close()

    def forget_revoked(self) -> None:
        """Drop held events of retired trackers (after a revocation)."""
        for part in self._held:
            part.keep(lambda t: t.active)
        self._held = [part for part in self._held if part.events]

    def on_result(self, batch: Batch, future: Future[BatchOutcome]) -> None:
        """Resolve, dead-letter, retry or hold the events of ``batch`` by its outcome.

        Events of trackers retired meanwhile are ignored. A sender that raised (it promises
        not to) counts as a transient failure of the whole batch: nothing is lost.
        """
        self.in_flight_batches.discard(batch)
        try:
            outcome = future.result()
        except Exception as exc:  # the sender promises not to raise; never lose the records
            log.exception("sender failed unexpectedly; records go to the retry tier")
            error = ErrorInfo("transient", f"sender error: {type(exc).__name__}")
            outcome = BatchOutcome(failed=tuple(range(len(batch))), failure=error)
        trackers = batch.trackers
        offsets = batch.offsets
        resolved = 0
        if outcome.delivered:
            names = batch.names
            by_name: dict[str, int] = {}
            for i in outcome.delivered:
                tracker = trackers[i]
                if tracker.active:
                    tracker.resolve(offsets[i])
                    resolved += 1
                name = names[i]
                by_name[name] = by_name.get(name, 0) + 1
            for name, count in by_name.items():
                EVENTS_DELIVERED.add(count, {"event_name": name})
            self._stats.delivered(by_name, outcome.requests)
        elif outcome.requests:
            self._stats.delivered({}, outcome.requests)
        self._state.in_flight -= resolved
        if outcome.invalid or outcome.failed:
            now = time.time()
            for i, error in outcome.invalid:
                if trackers[i].active:
                    self._log_event(batch, i, "rejected by TikTok as invalid", error)
                    failure = FailureInfo.from_error(error)
                    self.dead_letter(
                        trackers[i], offsets[i], batch.messages[i], "invalid_event", failure, now
                    )
            if outcome.failed:
                failure_error = outcome.failure or ErrorInfo("transient", "delivery failed")
                failure = FailureInfo.from_error(failure_error)
                for i in outcome.failed:
                    if trackers[i].active:
                        record = source_record(batch.messages[i])
                        self._write(trackers[i], offsets[i], record,
                                    self._tiers.route(record, failure, now))  # fmt: skip
        if outcome.held and not self._sender_closed:
            held = Batch(batch.started)
            held.extend(batch, outcome.held)
            held.keep(lambda t: t.active)
            if held.events:
                self._held.append(held)
            self._source.pause_all(DESTINATION)
            self._destination.hold(
                outcome.destination_down or ErrorInfo("auth", "destination refused the request")
            )

    def on_recovered(self) -> None:
        """The probe succeeded: re-send held events in ``BATCH_SIZE`` batches and resume."""
        if not self._destination.recovered():
            return
        held, self._held = self._held, []
        merged: Batch | None = None
        for part in held:
            part.keep(lambda t: t.active)
            for i in range(len(part)):
                if merged is None:
                    merged = Batch(part.started)
                merged.extend(part, (i,))
                if len(merged) >= self._batch_size:
                    self.submit(merged)
                    merged = None
        if merged is not None:
            self.submit(merged)
        self._source.resume_all(DESTINATION)

    def _log_event(self, batch: Batch, i: int, what: str, error: ErrorInfo) -> None:
        try:
            event_id = orjson.loads(batch.events[i]).get("event_id")
        except orjson.JSONDecodeError:  # pragma: no cover - we encoded it ourselves
            event_id = None
        tracker = batch.trackers[i]
        log.warning(
            "event %s at %s[%d]@%d %s: %s (code %s)",
            event_id,
            tracker.topic,
            tracker.partition,
            batch.offsets[i],
            what,
            error.message,
            error.code,
            extra={
                "topic": tracker.topic,
                "partition": tracker.partition,
                "offset": batch.offsets[i],
                "event_id": event_id,
            },
        )

    def dead_letter(
        self,
        tracker: PartitionOffsets,
        offset: int,
        message: Any,
        reason: str,
        failure: FailureInfo,
        now: float,
    ) -> None:
        """Write ``message`` to the dead-letter topic; it resolves once the broker acks it.

        While the destination is stopped, or when this write crosses the dead-letter limit
        (which stops it), the record is not written and stays unresolved.
        """
        record = source_record(message)
        self._write(tracker, offset, record, self._tiers.dead_letter(record, reason, failure, now))

    def _write(
        self, tracker: PartitionOffsets, offset: int, record: SourceRecord, route: Route
    ) -> None:
        """Send ``record`` to a retry tier or the DLQ; it resolves once the broker acks it."""
        if route.is_dead_letter:
            if self._destination.state is DestinationState.STOPPED:
                return  # stays unresolved: re-read after the fix
            if not self._limiter.record():
                self._stop(
                    f"more than {self._limiter.max_per_minute} records dead-lettered in a minute"
                )
                return
        state = self._state

        def done(error: str | None) -> None:
            if error is not None:
                if tracker.active and not state.shutting_down:
                    log.warning(
                        "write of %s[%d]@%d to %s failed (%s); retrying",
                        record.topic,
                        record.partition,
                        record.offset,
                        route.topic,
                        error,
                    )
                    self._producer.send(record, route, done)
                return
            self._stats.written(route.tier, route.reason)
            if tracker.active:
                tracker.resolve(offset)
                state.in_flight -= 1

        self._producer.send(record, route, done)
