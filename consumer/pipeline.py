"""The poll loop: the one thread that owns the consumer, the offsets and the commits.

Each iteration::

    consume a batch of records ─▶ decode ─▶ map ─▶ orjson-encode once ─▶ batcher
                                     │        └─ skipped: resolved at once
                                     └─ undecodable: dead-letter
    full or lingering batch ─▶ sender pool (``MAX_IN_FLIGHT_REQUESTS`` threads) ─▶ results queue
    results ─▶ delivered: resolved · invalid: dead-letter · failed: next retry tier
               held (destination down): kept, partitions paused, re-sent after the probe succeeds
    retry/dead-letter writes ─▶ resolved when the broker acknowledges them (producer poll)
    backpressure ─▶ pause every partition at MAX_IN_FLIGHT_EVENTS unresolved, resume at half
    every COMMIT_INTERVAL ─▶ commit resolved offsets (:mod:`consumer.commit`)

Nothing here sleeps beyond a short consume timeout: waiting (HTTP backoff, rate limits, retry
tiers not due, the destination down) happens in sender threads or by pausing partitions, so the
member keeps its place in the group. Results for partitions revoked meanwhile are ignored: their
tracker is retired (see :mod:`consumer.offsets`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

import orjson
from confluent_kafka import KafkaError

from consumer.batcher import Batch, Batcher
from consumer.commit import Committer
from consumer.deadletter import DlqLimiter, OutcomeProducer
from consumer.delivery import BatchOutcome, ErrorInfo, Sender
from consumer.destination import RECOVERED, Destination
from consumer.metrics import (
    DECODE_FAILURES,
    EVENTS_DELIVERED,
    EVENTS_MAPPED,
    EVENTS_SKIPPED,
    IN_FLIGHT_EVENTS,
    RECORDS_CONSUMED,
)
from consumer.offsets import PartitionOffsets
from consumer.records import SourceRecord
from consumer.retry_tiers import FailureInfo, RetryTiers, Route, due_at_ms
from consumer.source import PartitionKey, Source
from consumer.state import DestinationState, HealthState
from consumer.stats import StatsRecorder
from consumer.transform import (
    MAPPED,
    MAPPING_FAILED,
    SKIPPED,
    UNDECODABLE,
    Result,
    Transformer,
    WorkerPool,
)

__all__ = ["Pipeline", "PipelineConfig"]

log = logging.getLogger(__name__)

_CONSUME_BATCH: Final = 1000
_IDLE_TIMEOUT_S: Final = 0.1
_BUSY_TIMEOUT_S: Final = 0.01
_REGISTRY_BACKOFF_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0)
_REVOKE_WAIT_MAX_S: Final = 10.0
_PAUSE_AFTER_S: Final = 1.0  # backpressure lasting longer than this pauses the partitions
_BACKPRESSURE: Final = "backpressure"
_DESTINATION: Final = "destination"
_SHUTDOWN: Final = "shutdown"

EXIT_OK: Final = 0
EXIT_STOPPED: Final = 3  # the destination was stopped (dead-letter limit, fatal Kafka error)

SourceFactory = Callable[["Pipeline"], Source]


class PipelineConfig:
    """The numbers the poll loop runs by (from :class:`~consumer.settings.Settings`)."""

    __slots__ = (
        "batch_linger_s",
        "batch_size",
        "commit_interval_s",
        "max_in_flight_events",
        "max_in_flight_requests",
        "shutdown_grace_s",
    )

    def __init__(
        self,
        *,
        batch_size: int,
        batch_linger_s: float,
        max_in_flight_requests: int,
        max_in_flight_events: int,
        commit_interval_s: float,
        shutdown_grace_s: float,
    ) -> None:
        self.batch_size = batch_size
        self.batch_linger_s = batch_linger_s
        self.max_in_flight_requests = max_in_flight_requests
        self.max_in_flight_events = max_in_flight_events
        self.commit_interval_s = commit_interval_s
        self.shutdown_grace_s = shutdown_grace_s


class _Lane:
    """One assigned partition as the poll loop sees it."""

    __slots__ = ("key", "registry_failures", "tier", "tracker")

    def __init__(self, key: PartitionKey, tier: int | None) -> None:
        self.key = key
        self.tier = tier
        self.tracker = PartitionOffsets(key[0], key[1])
        self.registry_failures = 0


class _Chunk:
    """Consumed records on their way through decode + map (index ``i`` of every list)."""

    __slots__ = ("messages", "now", "offsets", "trackers", "values")

    def __init__(self, now: float) -> None:
        self.now = now
        self.trackers: list[PartitionOffsets] = []
        self.offsets: list[int] = []
        self.messages: list[Any] = []
        self.values: list[bytes | None] = []


def _record(message: Any) -> SourceRecord:
    if isinstance(message, SourceRecord):
        return message
    headers = message.headers()
    return SourceRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        headers=list(headers) if headers else None,
        timestamp_ms=message.timestamp()[1],
    )


class Pipeline:
    """The poll loop. Construct, then :meth:`run` on the thread that will own the consumer.

    Args:
        config: batch size, linger, concurrency, limits and intervals.
        source_factory: builds the :class:`~consumer.source.Source` with this pipeline as its
            rebalance listener.
        transformer: decode + map + encode in this thread.
        pool: worker processes doing the same off the poll loop (``None``: inline). The pipeline
            closes it.
        sender: delivers batches (thread-safe).
        tiers: retry tier topics and routing.
        outcomes: producer of retry and dead-letter records.
        limiter: dead-letter rate limit.
        health: health facts for the HTTP port.
        stats: counters for :meth:`consumer.app.Connector.stats`.
        probe_interval_s: seconds between two token probes while the destination is down.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        source_factory: SourceFactory,
        transformer: Transformer,
        pool: WorkerPool | None,
        sender: Sender,
        tiers: RetryTiers,
        outcomes: OutcomeProducer,
        limiter: DlqLimiter,
        health: HealthState,
        stats: StatsRecorder,
        probe_interval_s: float,
    ) -> None:
        self._config = config
        self._inline = transformer
        self._pool = pool
        self._pending_chunks: set[_Chunk] = set()
        self._redo: list[tuple[float, _Chunk]] = []  # registry down: (retry at, records)
        self._registry_failures = 0
        self._sender = sender
        self._tiers = tiers
        self._outcomes = outcomes
        self._limiter = limiter
        self._health = health
        self._stats = stats
        self._results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._destination = Destination(sender, health, self._results, probe_interval_s)
        self._batcher = Batcher(config.batch_size, config.batch_linger_s)
        self._executor = ThreadPoolExecutor(
            max_workers=config.max_in_flight_requests, thread_name_prefix="tiktok-capi-send"
        )
        self._lanes: dict[PartitionKey, _Lane] = {}
        self._by_topic: dict[str, dict[int, _Lane]] = {}
        self._in_flight_batches: set[Batch] = set()
        self._held: list[Batch] = []
        self._in_flight = 0  # tracked records not resolved yet
        self._reported_in_flight = 0
        self._over_since: float | None = None  # since when in-flight records exceed the limit
        self._stop_requested = False
        self._shutting_down = False
        self._exit_status = EXIT_OK
        self._sender_closed = False
        self._source = source_factory(self)
        self._committer = Committer(
            self._source.commit, config.commit_interval_s, on_committed=stats.set_committed
        )

    # =========================================================================== public
    def request_stop(self, status: int = EXIT_OK) -> None:
        """Ask the loop to shut down gracefully (safe from any thread and signal handlers)."""
        if status != EXIT_OK:
            self._exit_status = status
        self._stop_requested = True

    @property
    def in_flight(self) -> int:
        """Records consumed and not yet resolved."""
        return self._in_flight

    def run(self) -> int:
        """Poll until :meth:`request_stop`, then drain, commit and leave the group.

        Returns:
            ``0`` after a clean shutdown, :data:`EXIT_STOPPED` when the destination was stopped.
        """
        source = self._source
        try:
            source.subscribe()
            while not self._stop_requested:
                self._iteration()
                if source.fatal_error is not None:
                    self._stop_destination(f"fatal Kafka error: {source.fatal_error}")
        finally:
            self._shutdown()
        return self._exit_status

    # =========================================================================== the loop
    def _iteration(self) -> None:
        health = self._health
        health.tick()
        busy = bool(self._in_flight_batches or self._pending_chunks) or self._outcomes.pending() > 0
        timeout = _BUSY_TIMEOUT_S if busy else _IDLE_TIMEOUT_S
        if self._batcher.pending:
            timeout = min(timeout, self._config.batch_linger_s)
        if self._held_back():
            self._drain_results(wait_s=timeout)  # let results drain instead of fetching more
        else:
            room = self._config.max_in_flight_events - self._in_flight
            messages = self._source.consume(max(1, min(_CONSUME_BATCH, room)), timeout)
            if messages:
                self._handle(messages)
            self._drain_results()
        if self._redo:
            self._redo_due()
        batch = self._batcher.due()
        if batch is not None:
            self._submit(batch)
        self._outcomes.poll(0)
        self._backpressure()
        self._source.sync()
        self._committer.maybe_commit(lane.tracker for lane in self._lanes.values())
        self._report_in_flight()

    def _handle(self, messages: list[Any]) -> None:
        """Track one consumed batch and hand its values to the transformer (the hot path)."""
        if self._shutting_down:
            return  # not tracked, not committed: re-read by whoever owns them next
        now = time.time()
        by_topic = self._by_topic
        blocked: set[PartitionKey] = set()
        consumed: dict[str, int] = {}
        chunk = _Chunk(now)
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
            if lane.tier is not None and self._not_due(lane, msg, offset, now):
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
        self._in_flight += len(values)
        for topic, count in consumed.items():
            RECORDS_CONSUMED.add(count, {"topic": topic})
        self._stats.consumed(len(values), 0, {})
        self._health.set_broker_reachable(True)
        self._transform(chunk)

    def _transform(self, chunk: _Chunk) -> None:
        """Decode and map ``chunk`` inline, or send it to a worker process."""
        pool = self._pool
        if pool is None:
            self._apply(chunk, self._inline.run(chunk.values, chunk.now))
            return
        future = pool.submit(chunk.values, chunk.now)
        self._pending_chunks.add(chunk)
        results = self._results

        def done(f: Future[list[Result]], c: _Chunk = chunk) -> None:
            results.put((c, f))

        future.add_done_callback(done)

    def _on_transformed(self, chunk: _Chunk, future: Future[list[Result]]) -> None:
        self._pending_chunks.discard(chunk)
        if future.cancelled():
            return  # shutting down: the records stay unresolved and uncommitted
        try:
            results = future.result()
        except Exception:  # a worker died: carry on in this process, lose nothing
            log.exception("decode worker failed; decoding in the poll loop from now on")
            self._close_pool()
            results = self._inline.run(chunk.values, chunk.now)
        self._apply(chunk, results)

    def _apply(self, chunk: _Chunk, results: list[Result]) -> None:
        """Turn transform results into batched events, resolved skips and dead letters."""
        trackers = chunk.trackers
        offsets = chunk.offsets
        messages = chunk.messages
        batcher = self._batcher
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
                    self._submit(full)
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
        self._in_flight -= resolved
        for name, count in names.items():
            EVENTS_MAPPED.add(count, {"event_name": name})
        for reason, count in skipped.items():
            EVENTS_SKIPPED.add(count, {"reason": reason})
        if names or skipped:
            self._stats.consumed(0, sum(names.values()), skipped)
            self._registry_failures = 0
        if redo:
            self._registry_down(chunk, redo, results[redo[0]][1])

    def _registry_down(self, chunk: _Chunk, indexes: list[int], why: str) -> None:
        """Records the registry could not decode now: decode them again after a backoff.

        They stay tracked (unresolved), so their offsets are not committed and backpressure
        pauses consumption while the registry is away; they are never dead-lettered.
        """
        delay = _REGISTRY_BACKOFF_S[min(self._registry_failures, len(_REGISTRY_BACKOFF_S) - 1)]
        self._registry_failures += 1
        again = _Chunk(chunk.now)
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

    def _redo_due(self) -> None:
        now = time.monotonic()
        while self._redo and self._redo[0][0] <= now:
            _, chunk = self._redo.pop(0)
            chunk.now = time.time()
            self._transform(chunk)

    def _not_due(self, lane: _Lane, msg: Any, offset: int, now: float) -> bool:
        """For a retry-tier record: rewind and pause its partition if it is not due yet."""
        due = due_at_ms(_record(msg))
        if due is None:
            return False
        wait_s = due / 1000.0 - now
        if wait_s <= 0:
            return False
        topic, partition = lane.key
        self._source.seek(topic, partition, offset)
        self._source.pause_until(lane.key, time.monotonic() + wait_s)
        log.debug("%s[%d]@%d not due for %.1fs; partition paused", topic, partition, offset, wait_s)
        return True

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
        self._dead_letter(tracker, offset, msg, "decode_error", failure, time.time())

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
        self._dead_letter(tracker, offset, msg, "mapping_error", failure, time.time())

    # =========================================================================== delivery
    def _submit(self, batch: Batch) -> None:
        if not batch.events:
            return
        if not self._destination.running or self._sender_closed:
            self._held.append(batch)
            return
        self._in_flight_batches.add(batch)
        future = self._executor.submit(self._sender.deliver, batch.events)
        results = self._results

        def done(f: Future[BatchOutcome], b: Batch = batch) -> None:
            results.put((b, f))

        future.add_done_callback(done)

    def _drain_results(self, wait_s: float = 0.0) -> bool:
        """Turn queued delivery results into outcomes; returns whether anything was handled.

        With ``wait_s``, waits that long for the first result when none is queued.
        """
        results = self._results
        handled = False
        while True:
            try:
                if wait_s > 0 and not handled:
                    item = results.get(timeout=wait_s)
                else:
                    item = results.get_nowait()
            except queue.Empty:
                return handled
            handled = True
            if item == RECOVERED:
                self._on_recovered()
            elif isinstance(item[0], _Chunk):
                self._on_transformed(item[0], item[1])
            else:
                self._on_result(item[0], item[1])

    def _on_result(self, batch: Batch, future: Future[BatchOutcome]) -> None:
        self._in_flight_batches.discard(batch)
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
        self._in_flight -= resolved
        if outcome.invalid or outcome.failed:
            now = time.time()
            for i, error in outcome.invalid:
                if trackers[i].active:
                    self._log_event(batch, i, "rejected by TikTok as invalid", error)
                    failure = FailureInfo.from_error(error)
                    self._dead_letter(
                        trackers[i], offsets[i], batch.messages[i], "invalid_event", failure, now
                    )
            if outcome.failed:
                failure_error = outcome.failure or ErrorInfo("transient", "delivery failed")
                failure = FailureInfo.from_error(failure_error)
                for i in outcome.failed:
                    if trackers[i].active:
                        record = _record(batch.messages[i])
                        self._write(trackers[i], offsets[i], record,
                                    self._tiers.route(record, failure, now))  # fmt: skip
        if outcome.held and not self._sender_closed:
            held = Batch(batch.started)
            held.extend(batch, outcome.held)
            held.keep(lambda t: t.active)
            if held.events:
                self._held.append(held)
            self._source.pause_all(_DESTINATION)
            self._destination.hold(
                outcome.destination_down or ErrorInfo("auth", "destination refused the request")
            )

    def _on_recovered(self) -> None:
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
                if len(merged) >= self._config.batch_size:
                    self._submit(merged)
                    merged = None
        if merged is not None:
            self._submit(merged)
        self._source.resume_all(_DESTINATION)

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

    # =========================================================================== outcomes
    def _dead_letter(
        self,
        tracker: PartitionOffsets,
        offset: int,
        message: Any,
        reason: str,
        failure: FailureInfo,
        now: float,
    ) -> None:
        record = _record(message)
        self._write(tracker, offset, record, self._tiers.dead_letter(record, reason, failure, now))

    def _write(
        self, tracker: PartitionOffsets, offset: int, record: SourceRecord, route: Route
    ) -> None:
        """Send ``record`` to a retry tier or the DLQ; it resolves once the broker acks it."""
        if route.is_dead_letter:
            if self._destination.state is DestinationState.STOPPED:
                return  # stays unresolved: re-read after the fix
            if not self._limiter.record():
                self._stop_destination(
                    f"more than {self._limiter.max_per_minute} records dead-lettered in a minute"
                )
                return

        def done(error: str | None) -> None:
            if error is not None:
                if tracker.active and not self._shutting_down:
                    log.warning(
                        "write of %s[%d]@%d to %s failed (%s); retrying",
                        record.topic,
                        record.partition,
                        record.offset,
                        route.topic,
                        error,
                    )
                    self._outcomes.send(record, route, done)
                return
            self._stats.written(route.tier, route.reason)
            if tracker.active:
                tracker.resolve(offset)
                self._in_flight -= 1

        self._outcomes.send(record, route, done)

    def _stop_destination(self, reason: str) -> None:
        if self._destination.state is DestinationState.STOPPED:
            return
        log.error("stopping the destination: %s", reason)
        self._destination.stop(reason)
        self.request_stop(EXIT_STOPPED)

    # =========================================================================== flow control
    def _held_back(self) -> bool:
        """Backpressure, step one: over ``MAX_IN_FLIGHT_EVENTS``, stop taking records.

        A short excess is absorbed by not calling ``consume`` for a moment (librdkafka's own
        pre-fetch queue is bounded); an excess that lasts :data:`_PAUSE_AFTER_S` pauses every
        partition (step two, :meth:`_backpressure`), so the loop keeps polling and the member
        keeps its place in the group. Pausing is not the first resort because librdkafka
        drops pre-fetched messages of paused partitions and resuming costs a fetch round trip.
        """
        if self._in_flight < self._config.max_in_flight_events:
            self._over_since = None
            return False
        if self._source.is_paused_for(_BACKPRESSURE):
            return False
        now = time.monotonic()
        if self._over_since is None:
            self._over_since = now
        if now - self._over_since < _PAUSE_AFTER_S:
            return True
        log.debug("backpressure: %d records in flight; pausing", self._in_flight)
        self._source.pause_all(_BACKPRESSURE)
        return False

    def _backpressure(self) -> None:
        """Backpressure, step two: resume paused partitions once half the work drained."""
        source = self._source
        if self._in_flight <= self._config.max_in_flight_events // 2 and source.is_paused_for(
            _BACKPRESSURE
        ):
            source.resume_all(_BACKPRESSURE)

    def _report_in_flight(self) -> None:
        delta = self._in_flight - self._reported_in_flight
        if delta:
            IN_FLIGHT_EVENTS.add(delta)
            self._reported_in_flight = self._in_flight
            self._stats.set_in_flight(self._in_flight)

    # =========================================================================== rebalancing
    def on_assigned(self, partitions: Sequence[PartitionKey]) -> None:
        """New partitions: a fresh tracker (assignment generation) for each."""
        for key in partitions:
            lane = _Lane(key, self._tiers.tier_of(key[0]))
            self._lanes[key] = lane
            self._by_topic.setdefault(key[0], {})[key[1]] = lane
        self._stats.set_assigned(tuple(sorted(self._lanes)))

    def on_revoked(self, partitions: Sequence[PartitionKey], *, lost: bool) -> None:
        """Finish what can be finished quickly, commit it, and forget the partitions."""
        lanes = [self._lanes[key] for key in partitions if key in self._lanes]
        if not lanes:
            return
        if not lost:
            if not self._shutting_down:  # (shutdown drained already)
                self._finish(lanes)
            self._committer.commit([lane.tracker for lane in lanes], "revoke")
        for lane in lanes:
            del self._lanes[lane.key]
            self._by_topic.get(lane.key[0], {}).pop(lane.key[1], None)
            self._in_flight -= lane.tracker.retire()
        self._batcher.discard(lambda t: t.active)
        for part in self._held:
            part.keep(lambda t: t.active)
        self._held = [part for part in self._held if part.events]
        self._stats.set_assigned(tuple(sorted(self._lanes)))
        self._report_in_flight()

    def _finish(self, lanes: list[_Lane]) -> None:
        """Deliver what is batched for ``lanes`` and wait (bounded) for their results."""
        revoked = {lane.tracker for lane in lanes}
        deadline = time.monotonic() + min(self._config.shutdown_grace_s, _REVOKE_WAIT_MAX_S)
        while self._pending_chunks and time.monotonic() < deadline:
            self._drain_results(wait_s=0.05)
        batch = self._batcher.flush()
        if batch is not None:
            self._submit(batch)

        def touching() -> bool:
            return any(any(t in revoked for t in b.trackers) for b in self._in_flight_batches)

        while self._destination.running and touching() and time.monotonic() < deadline:
            self._drain_results(wait_s=min(0.05, max(0.0, deadline - time.monotonic())))
            self._outcomes.poll(0)
        self._outcomes.flush(max(0.0, min(5.0, deadline - time.monotonic())))

    # =========================================================================== shutdown
    def _shutdown(self) -> None:
        """Stop fetching, drain in-flight work within the grace period, commit, leave."""
        self._shutting_down = True
        source = self._source
        grace = self._config.shutdown_grace_s
        deadline = time.monotonic() + grace
        log.info("shutting down: draining in-flight deliveries (up to %.0fs)", grace)
        try:
            source.pause_all(_SHUTDOWN)
            while time.monotonic() < deadline:
                batch = self._batcher.flush()
                if batch is not None:
                    self._submit(batch)
                if not (
                    self._in_flight_batches or self._pending_chunks or self._outcomes.pending()
                ):
                    break
                self._health.tick()
                source.consume(_CONSUME_BATCH, 0.0)  # serve callbacks; messages are dropped
                self._drain_results(wait_s=0.05)
                self._outcomes.poll(0)
            if self._in_flight_batches:
                log.warning(
                    "grace period over with %d request(s) in flight; their records are not "
                    "committed and will be delivered again",
                    len(self._in_flight_batches),
                )
            self._close_sender()
            self._drain_results()
            self._outcomes.flush(max(0.0, deadline - time.monotonic()))
            self._committer.commit((lane.tracker for lane in self._lanes.values()), "shutdown")
            self._report_in_flight()
        finally:
            self._destination.close()
            self._close_pool()
            try:
                source.close()
            finally:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._outcomes.close(0)
        log.info("stopped (in flight at exit: %d records)", self._in_flight)

    def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _close_sender(self) -> None:
        if not self._sender_closed:
            self._sender_closed = True
            self._sender.close()
