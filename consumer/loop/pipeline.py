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
    every COMMIT_INTERVAL ─▶ commit resolved offsets (:mod:`tiktok_capi.consumer.offsets.commit`)

The steps live next to this module: :mod:`tiktok_capi.consumer.loop.intake` (records to batched
events, skips and dead letters), :mod:`tiktok_capi.consumer.loop.outcomes` (batches to the sender
pool, results to resolutions, retry and dead-letter writes) and
:mod:`tiktok_capi.consumer.loop.flow` (backpressure, retry-tier due times). This module is the loop
that composes them; it owns the consumer, the assignment, the offset trackers and the
:class:`~tiktok_capi.consumer.offsets.commit.Committer` (the only code that commits).

Nothing here sleeps beyond a short consume timeout: waiting (HTTP backoff, rate limits, retry
tiers not due, the destination down) happens in sender threads or by pausing partitions, so the
member keeps its place in the group. Results for partitions revoked meanwhile are ignored: their
tracker is retired (see :mod:`tiktok_capi.consumer.offsets.tracker`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from tiktok_capi.consumer.decode.transform import Transformer, WorkerPool
from tiktok_capi.consumer.delivery.base import Sender
from tiktok_capi.consumer.delivery.destination import RECOVERED, Destination
from tiktok_capi.consumer.failures.producer import DlqLimiter, OutcomeProducer
from tiktok_capi.consumer.failures.tiers import RetryTiers
from tiktok_capi.consumer.kafka.source import PartitionKey, Source
from tiktok_capi.consumer.loop.batcher import Batcher
from tiktok_capi.consumer.loop.flow import SHUTDOWN, FlowControl, LoopState
from tiktok_capi.consumer.loop.intake import Chunk, Intake, Lane
from tiktok_capi.consumer.loop.outcomes import Outcomes
from tiktok_capi.consumer.offsets.commit import Committer
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

__all__ = ["Pipeline", "PipelineConfig"]

log = logging.getLogger(__name__)

_CONSUME_BATCH: Final = 1000
_IDLE_TIMEOUT_S: Final = 0.1
_BUSY_TIMEOUT_S: Final = 0.01
_REVOKE_WAIT_MAX_S: Final = 10.0

EXIT_OK: Final = 0
EXIT_STOPPED: Final = 3  # the destination was stopped (dead-letter limit, fatal Kafka error)

SourceFactory = Callable[["Pipeline"], Source]


class PipelineConfig:
    """The numbers the poll loop runs by (from the connector's ``Settings``)."""

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


class Pipeline:
    """The poll loop. Construct, then :meth:`run` on the thread that will own the consumer.

    Args:
        config: batch size, linger, concurrency, limits and intervals.
        source_factory: builds the :class:`~tiktok_capi.consumer.kafka.source.Source` with this
        pipeline as its
            rebalance listener.
        transformer: decode + map + encode in this thread.
        pool: worker processes doing the same off the poll loop (``None``: inline). The pipeline
            closes it.
        sender: delivers batches (thread-safe).
        tiers: retry tier topics and routing.
        outcomes: producer of retry and dead-letter records.
        limiter: dead-letter rate limit.
        health: health facts for the HTTP port.
        stats: counters for :meth:`tiktok_capi.consumer.app.Connector.stats`.
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
        self._tiers = tiers
        self._health = health
        self._stats = stats
        self._producer = outcomes
        self._state = LoopState()
        self._results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._destination = Destination(sender, health, self._results, probe_interval_s)
        self._batcher = Batcher(config.batch_size, config.batch_linger_s)
        self._executor = ThreadPoolExecutor(
            max_workers=config.max_in_flight_requests, thread_name_prefix="tiktok-capi-send"
        )
        self._lanes: dict[PartitionKey, Lane] = {}
        self._by_topic: dict[str, dict[int, Lane]] = {}
        self._stop_requested = False
        self._exit_status = EXIT_OK
        self._source = source_factory(self)
        self._committer = Committer(
            self._source.commit, config.commit_interval_s, on_committed=stats.set_committed
        )
        self._flow = FlowControl(self._state, self._source, config.max_in_flight_events, stats)
        self._outcomes = Outcomes(
            state=self._state,
            results=self._results,
            executor=self._executor,
            sender=sender,
            destination=self._destination,
            source=self._source,
            tiers=tiers,
            producer=outcomes,
            limiter=limiter,
            stats=stats,
            batch_size=config.batch_size,
            stop=self._stop_destination,
        )
        self._intake = Intake(
            state=self._state,
            flow=self._flow,
            by_topic=self._by_topic,
            transformer=transformer,
            pool=pool,
            results=self._results,
            batcher=self._batcher,
            outcomes=self._outcomes,
            stats=stats,
            health=health,
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
        return self._state.in_flight

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
        intake = self._intake
        outcomes = self._outcomes
        busy = (
            bool(outcomes.in_flight_batches or intake.pending_chunks)
            or self._producer.pending() > 0
        )
        timeout = _BUSY_TIMEOUT_S if busy else _IDLE_TIMEOUT_S
        if self._batcher.pending:
            timeout = min(timeout, self._config.batch_linger_s)
        if self._flow.held_back():
            self._drain_results(wait_s=timeout)  # let results drain instead of fetching more
        else:
            room = self._config.max_in_flight_events - self._state.in_flight
            messages = self._source.consume(max(1, min(_CONSUME_BATCH, room)), timeout)
            if messages:
                intake.take(messages)
            self._drain_results()
        intake.redo_due()
        batch = self._batcher.due()
        if batch is not None:
            outcomes.submit(batch)
        self._producer.poll(0)
        self._flow.release()
        self._source.sync()
        self._committer.maybe_commit(lane.tracker for lane in self._lanes.values())
        self._flow.report_in_flight()

    def _drain_results(self, wait_s: float = 0.0) -> bool:
        """Hand queued results to their step; returns whether anything was handled.

        The queue carries worker results ``(chunk, future)`` for
        :class:`~tiktok_capi.consumer.loop.intake.Intake`, delivery results ``(batch, future)`` for
        :class:`~tiktok_capi.consumer.loop.outcomes.Outcomes`, and
        :data:`~tiktok_capi.consumer.delivery.destination.RECOVERED` from the probe. With
        ``wait_s``, waits that long for the first result when none is queued.
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
                self._outcomes.on_recovered()
            elif isinstance(item[0], Chunk):
                self._intake.on_transformed(item[0], item[1])
            else:
                self._outcomes.on_result(item[0], item[1])

    def _stop_destination(self, reason: str) -> None:
        if self._destination.state is DestinationState.STOPPED:
            return
        log.error("stopping the destination: %s", reason)
        self._destination.stop(reason)
        self.request_stop(EXIT_STOPPED)

    # =========================================================================== rebalancing
    def on_assigned(self, partitions: Sequence[PartitionKey]) -> None:
        """New partitions: a fresh tracker (assignment generation) for each."""
        for key in partitions:
            lane = Lane(key, self._tiers.tier_of(key[0]))
            self._lanes[key] = lane
            self._by_topic.setdefault(key[0], {})[key[1]] = lane
        self._stats.set_assigned(tuple(sorted(self._lanes)))

    def on_revoked(self, partitions: Sequence[PartitionKey], *, lost: bool) -> None:
        """Finish what can be finished quickly, commit it, and forget the partitions."""
        lanes = [self._lanes[key] for key in partitions if key in self._lanes]
        if not lanes:
            return
        if not lost:
            if not self._state.shutting_down:  # (shutdown drained already)
                self._finish(lanes)
            self._committer.commit([lane.tracker for lane in lanes], "revoke")
        for lane in lanes:
            del self._lanes[lane.key]
            self._by_topic.get(lane.key[0], {}).pop(lane.key[1], None)
            self._state.in_flight -= lane.tracker.retire()
        self._batcher.discard(lambda t: t.active)
        self._outcomes.forget_revoked()
        self._stats.set_assigned(tuple(sorted(self._lanes)))
        self._flow.report_in_flight()

    def _finish(self, lanes: list[Lane]) -> None:
        """Deliver what is batched for ``lanes`` and wait (bounded) for their results."""
        revoked = {lane.tracker for lane in lanes}
        deadline = time.monotonic() + min(self._config.shutdown_grace_s, _REVOKE_WAIT_MAX_S)
        while self._intake.pending_chunks and time.monotonic() < deadline:
            self._drain_results(wait_s=0.05)
        batch = self._batcher.flush()
        if batch is not None:
            self._outcomes.submit(batch)
        in_flight_batches = self._outcomes.in_flight_batches

        def touching() -> bool:
            return any(any(t in revoked for t in b.trackers) for b in in_flight_batches)

        while self._destination.running and touching() and time.monotonic() < deadline:
            self._drain_results(wait_s=min(0.05, max(0.0, deadline - time.monotonic())))
            self._producer.poll(0)
        self._producer.flush(max(0.0, min(5.0, deadline - time.monotonic())))

    # =========================================================================== shutdown
    def _shutdown(self) -> None:
        """Stop fetching, drain in-flight work within the grace period, commit, leave."""
        self._state.shutting_down = True
        source = self._source
        intake = self._intake
        outcomes = self._outcomes
        grace = self._config.shutdown_grace_s
        deadline = time.monotonic() + grace
        log.info("shutting down: draining in-flight deliveries (up to %.0fs)", grace)
        try:
            source.pause_all(SHUTDOWN)
            while time.monotonic() < deadline:
                batch = self._batcher.flush()
                if batch is not None:
                    outcomes.submit(batch)
                if not (
                    outcomes.in_flight_batches or intake.pending_chunks or self._producer.pending()
                ):
                    break
                self._health.tick()
                source.consume(_CONSUME_BATCH, 0.0)  # serve callbacks; messages are dropped
                self._drain_results(wait_s=0.05)
                self._producer.poll(0)
            if outcomes.in_flight_batches:
                log.warning(
                    "grace period over with %d request(s) in flight; their records are not "
                    "committed and will be delivered again",
                    len(outcomes.in_flight_batches),
                )
            outcomes.close_sender()
            self._drain_results()
            self._producer.flush(max(0.0, deadline - time.monotonic()))
            self._committer.commit((lane.tracker for lane in self._lanes.values()), "shutdown")
            self._flow.report_in_flight()
        finally:
            self._destination.close()
            intake.close_pool()
            try:
                source.close()
            finally:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._producer.close(0)
        log.info("stopped (in flight at exit: %d records)", self._state.in_flight)
