"""The poll loop: the one thread that owns the consumer, the offsets and the commits.

Each iteration::

    consume ─▶ intake.take ─▶ Chunk ─▶ decoding (inline or worker processes) ─▶ Decoded
    Decoded ─▶ intake.apply ─▶ full batches ─▶ delivery pool (sender threads) ─▶ Delivered
                    └─ skipped: resolved · undecodable, mapping bug: failure router
    Delivered ─▶ outcomes ─▶ delivered: resolved · invalid: failure router
                             failed past the retry budget: kept; circuit breaker opens (down)
                             held (auth): kept; paused_auth
                             (partitions paused while the destination is not running)
    DestinationRecovered ─▶ kept events sent again (or, when TikTok answered the first probe,
                            the failed ones to the failure router); partitions resumed
    failure router ─▶ retry / dead-letter writes, resolved when the broker acknowledges them
    flow ─▶ backpressure at MAX_IN_FLIGHT_EVENTS, retry tiers paused until due
    every COMMIT_INTERVAL ─▶ committer commits resolved offsets (the only code that commits)

Other threads (decode workers, sender threads, the destination probe) only put typed events
(:mod:`~tiktok_capi.consumer.loop.events`) on the loop's queue; the loop dispatches them by type.
The steps (:mod:`.intake`, :mod:`.outcomes`, :mod:`.flow`) return what should happen next and
the loop does it: it alone sends batches, pauses and resumes partitions, and commits.

Nothing here sleeps beyond a short consume timeout: waiting (HTTP backoff, rate limits, retry
tiers not due, the destination down) happens in sender threads or by pausing partitions, so the
member keeps its place in the group. Results for partitions revoked meanwhile are ignored: their
tracker is retired (see :mod:`~tiktok_capi.consumer.offsets.tracker`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from tiktok_capi.consumer.decode.pool import Decoding
from tiktok_capi.consumer.decode.transform import Result
from tiktok_capi.consumer.delivery.base import BatchOutcome, Sender
from tiktok_capi.consumer.delivery.destination import Destination
from tiktok_capi.consumer.delivery.pool import DeliveryPool
from tiktok_capi.consumer.failures.limit import DlqLimiter
from tiktok_capi.consumer.failures.producer import FailureProducer
from tiktok_capi.consumer.failures.router import FailureRouter
from tiktok_capi.consumer.failures.tiers import RetryTiers
from tiktok_capi.consumer.kafka.records import KafkaMessage
from tiktok_capi.consumer.kafka.source import PartitionKey, Source
from tiktok_capi.consumer.loop.batcher import Batch, Batcher
from tiktok_capi.consumer.loop.chunk import Chunk
from tiktok_capi.consumer.loop.events import (
    Decoded,
    Delivered,
    DestinationRecovered,
    LoopEvent,
    LoopEvents,
)
from tiktok_capi.consumer.loop.flow import DESTINATION, SHUTDOWN, FlowControl
from tiktok_capi.consumer.loop.intake import Intake
from tiktok_capi.consumer.loop.lanes import Lane, Lanes
from tiktok_capi.consumer.loop.outcomes import Outcomes
from tiktok_capi.consumer.offsets.commit import Committer
from tiktok_capi.consumer.status import ExitStatus
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState
from tiktok_capi.consumer.telemetry.stats import StatsRecorder
from tiktok_capi.consumer.telemetry.tally import Tally
from tiktok_capi.consumer.telemetry.tracing import record_links, tracing_enabled

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import Settings

__all__ = ["Pipeline", "PipelineConfig"]

log = logging.getLogger(__name__)

_CONSUME_BATCH: Final = 1000
_IDLE_TIMEOUT_S: Final = 0.1
_BUSY_TIMEOUT_S: Final = 0.01
_REVOKE_WAIT_MAX_S: Final = 10.0
_COMMIT_WAIT_MIN_S: Final = 2.0  # the final commit may wait this long even past the grace
_TALLY_INTERVAL_S: Final = 1.0  # metric counts of the steps reach OpenTelemetry this late at most

SourceFactory = Callable[["Pipeline"], Source]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """The numbers the poll loop runs by."""

    batch_size: int
    batch_linger_s: float
    max_in_flight_requests: int
    max_in_flight_events: int
    commit_interval_s: float
    shutdown_grace_s: float
    probe_interval_s: float = 30.0
    max_in_flight_bytes: int = 0  # 0: records only
    max_record_bytes: int = 0  # 0: no cap

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        """The loop's numbers from the connector's settings."""
        return cls(
            batch_size=settings.tiktok.batch_size,
            batch_linger_s=settings.tiktok.batch_linger_s,
            max_in_flight_requests=settings.tiktok.max_in_flight_requests,
            max_in_flight_events=settings.process.max_in_flight_events,
            commit_interval_s=settings.kafka.commit_interval_s,
            shutdown_grace_s=settings.process.shutdown_grace_s,
            probe_interval_s=settings.tiktok.auth_probe_interval_s,
            max_in_flight_bytes=settings.process.max_in_flight_bytes,
            max_record_bytes=settings.process.max_record_bytes,
        )


class Pipeline:
    """The poll loop. Construct, then :meth:`run` on the thread that will own the consumer.

    Args:
        config: batch size, linger, concurrency, limits and intervals.
        source_factory: builds the :class:`~tiktok_capi.consumer.kafka.source.Source` with this
            pipeline as its rebalance listener.
        decoding: decode + map + encode, inline or in worker processes (the pipeline closes it).
        sender: delivers batches (thread-safe).
        tiers: retry tier topics and routing.
        producer: writes retry and dead-letter records (the pipeline closes it).
        limiter: the dead-letter limit.
        health: health facts for the HTTP port.
        stats: counters for the connector's stats.
        clock: monotonic seconds for the steps' timers (backpressure, registry backoff,
            commit interval); injected by tests.
        on_large_record: called once, at the first record of ``LARGE_RECORD_BYTES`` or more
            (:mod:`~tiktok_capi.consumer.malloc`).
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        source_factory: SourceFactory,
        decoding: Decoding,
        sender: Sender,
        tiers: RetryTiers,
        producer: FailureProducer,
        limiter: DlqLimiter,
        health: HealthState,
        stats: StatsRecorder,
        clock: Callable[[], float] = time.monotonic,
        on_large_record: Callable[[], object] | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._tiers = tiers
        self._health = health
        self._stats = stats
        self._decoding = decoding
        self._events: LoopEvents = queue.SimpleQueue()
        self._lanes = Lanes()
        self._decoding_chunks: set[Chunk] = set()
        self._stop_requested = False
        self._shutting_down = False
        self._exit_status = ExitStatus.OK
        self._destination = Destination(
            sender, health, self._post_recovered, config.probe_interval_s
        )
        self._delivery: DeliveryPool[Batch] = DeliveryPool(
            sender, config.max_in_flight_requests, self._post_delivered, _events_of
        )
        self._batcher = Batcher(config.batch_size, config.batch_linger_s)
        self._source = source_factory(self)
        self._committer = Committer(
            self._source.commit,
            config.commit_interval_s,
            clock=clock,
            on_committed=stats.set_committed,
            commit_async=self._source.commit_async,
        )
        self._source.commit_results = self._committer.on_result
        self._router = FailureRouter(tiers, producer, limiter, stats, self._stop_destination)
        self._tally = Tally(_TALLY_INTERVAL_S, clock)  # the steps' metric counts
        self._flow = FlowControl(
            self._source,
            config.max_in_flight_events,
            stats,
            clock,
            config.max_in_flight_bytes,
            tally=self._tally,
        )
        self._intake = Intake(
            self._lanes,
            self._flow,
            self._batcher,
            self._router,
            stats,
            clock=clock,
            max_record_bytes=config.max_record_bytes,
            tally=self._tally,
            on_large_record=on_large_record,
        )
        self._outcomes = Outcomes(self._router, stats, config.batch_size, tally=self._tally)

    # --- public -----------------------------------------------------------------------------------
    def request_stop(self, status: int = ExitStatus.OK) -> None:
        """Ask the loop to shut down gracefully (safe from any thread and signal handlers)."""
        if status != ExitStatus.OK:
            self._exit_status = ExitStatus(status)
        self._stop_requested = True

    @property
    def in_flight(self) -> int:
        """Records consumed and not yet resolved (orphans of revoked partitions included)."""
        return self._lanes.in_flight()

    @property
    def in_flight_bytes(self) -> int:
        """Value bytes of the records :attr:`in_flight` counts."""
        return self._lanes.in_flight_bytes()

    def run(self) -> int:
        """Poll until :meth:`request_stop`, then drain, commit and leave the group.

        Returns:
            ``ExitStatus.OK`` after a clean shutdown, ``ExitStatus.STOPPED`` when the
            destination was stopped.
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
        return int(self._exit_status)

    # --- the loop ---------------------------------------------------------------------------------
    def _iteration(self) -> None:
        self._health.tick()
        busy = self._delivery.busy or bool(self._decoding_chunks) or self._router.pending()
        timeout = _BUSY_TIMEOUT_S if busy else _IDLE_TIMEOUT_S
        if self._batcher.pending:
            timeout = min(timeout, self._config.batch_linger_s)
        resume_at = self._source.next_timed_resume
        if resume_at is not None:  # a retry tier partition becomes due: resume it on time
            timeout = min(timeout, max(0.0, resume_at - self._clock()))
        lanes = self._lanes
        in_flight, in_flight_bytes = lanes.in_flight(), lanes.in_flight_bytes()
        if self._flow.held_back(in_flight, in_flight_bytes):
            self._drain(wait_s=timeout)  # let results drain instead of fetching more
        else:
            room = self._flow.room(in_flight, in_flight_bytes)
            messages = self._source.consume(max(1, min(_CONSUME_BATCH, room)), timeout)
            if messages:
                self._health.set_broker_reachable(True)
                chunk = self._intake.take(messages)
                if chunk is not None:
                    self._decode(chunk)
            self._drain()
        for chunk in self._intake.redo_due():
            self._decode(chunk)
        batch = self._batcher.due()
        if batch is not None:
            self._send(batch)
        self._router.poll()
        in_flight, in_flight_bytes = lanes.in_flight(), lanes.in_flight_bytes()
        self._flow.release(in_flight, in_flight_bytes)
        self._source.sync()
        self._committer.maybe_commit(lanes.trackers())
        self._flow.report_in_flight(in_flight, in_flight_bytes)
        self._tally.flush_due()

    def _drain(self, wait_s: float = 0.0) -> bool:
        """Handle queued events; returns whether anything was handled.

        With ``wait_s``, waits that long for the first event when none is queued.
        """
        events = self._events
        handled = False
        while True:
            try:
                if wait_s > 0 and not handled:
                    event = events.get(timeout=wait_s)
                else:
                    event = events.get_nowait()
            except queue.Empty:
                return handled
            handled = True
            self._handle(event)

    def _handle(self, event: LoopEvent) -> None:
        if isinstance(event, Decoded):
            chunk = event.chunk
            self._decoding_chunks.discard(chunk)
            self._lanes.release(chunk)
            results = self._decoding.collect(chunk, event.future, self._decode)
            if results is None:
                return  # submitted again (a worker died), or dropped at shutdown
            for batch in self._intake.apply(chunk, results):
                self._send(batch)
        elif isinstance(event, Delivered):
            self._delivery.done(event.batch)
            self._lanes.release(event.batch)
            pause = self._outcomes.on_delivered(event.batch, event.future)
            if pause is not None and self._destination.running:
                self._source.pause_all(DESTINATION)  # first: readiness never runs ahead
                if pause.refused:
                    self._destination.hold(pause.error)
                else:
                    self._destination.suspect(pause.error)
        elif isinstance(event, DestinationRecovered):
            self._recovered(event.outage)

    # --- posting (any thread) ---------------------------------------------------------------------
    def _post_decoded(self, chunk: Chunk, future: Future[list[Result]]) -> None:
        self._events.put(Decoded(chunk, future))

    def _post_delivered(self, batch: Batch, future: Future[BatchOutcome]) -> None:
        self._events.put(Delivered(batch, future))

    def _post_recovered(self, outage: bool) -> None:
        self._events.put(DestinationRecovered(outage))

    # --- doing (poll loop) ------------------------------------------------------------------------
    def _decode(self, chunk: Chunk) -> None:
        self._decoding_chunks.add(chunk)
        self._decoding.submit(chunk, self._post_decoded)

    def _send(self, batch: Batch) -> None:
        """Deliver ``batch``, or keep it while the destination is down (or shutdown closed it)."""
        if not batch.events:
            return
        if not self._destination.running or self._delivery.closed:
            self._outcomes.hold(batch)
            return
        links = record_links(batch.messages) if tracing_enabled() else ()
        self._delivery.submit(batch, links)

    def _recovered(self, outage: bool) -> None:
        """The probe succeeded: resume, then report running, then send the held events.

        ``outage``: a probe had failed first; otherwise the events that failed past the retry
        budget go to the retry tiers (their failure was their own).
        """
        if self._destination.state not in (DestinationState.PAUSED_AUTH, DestinationState.DOWN):
            return  # stopped meanwhile
        self._source.resume_all(DESTINATION)
        self._destination.recovered()
        for batch in self._outcomes.release_held(outage):
            self._send(batch)

    def _stop_destination(self, reason: str) -> None:
        if self._destination.state is DestinationState.STOPPED:
            return
        log.error("stopping the destination: %s", reason)
        self._router.stopped = True
        self._destination.stop(reason)
        self.request_stop(ExitStatus.STOPPED)

    # --- rebalancing ------------------------------------------------------------------------------
    def on_assigned(self, partitions: Sequence[PartitionKey]) -> None:
        """New partitions: a fresh tracker (assignment generation) for each."""
        for key in partitions:
            tier = self._tiers.tier_of(key[0])
            self._lanes.add(key, tier, 0.0 if tier is None else self._tiers.delay_of(tier))
        self._stats.set_assigned(self._lanes.keys())

    def on_revoked(self, partitions: Sequence[PartitionKey], *, lost: bool) -> None:
        """Finish what can be finished quickly, commit it, and forget the partitions."""
        lanes = self._lanes.pick(partitions)
        if not lanes:
            return
        if not lost:
            if not self._shutting_down:  # (shutdown drained already)
                self._finish(lanes)
            self._committer.commit([lane.tracker for lane in lanes], "revoke")
        self._lanes.remove(lanes)
        self._forget_revoked()
        self._stats.set_assigned(self._lanes.keys())
        self._flow.report_in_flight(self._lanes.in_flight(), self._lanes.in_flight_bytes())

    def _forget_revoked(self) -> None:
        """Drop what is queued for retired trackers; count what is still out as orphans.

        Batched, held, waiting-for-a-thread and waiting-for-the-registry records of revoked
        partitions are dropped: sending them would only duplicate what the new owner sends.
        Records in a running request or a decode worker cannot be called back; they still take
        memory until those return, so they go on counting toward the in-flight bounds.
        """
        self._batcher.discard(lambda t: t.active)
        self._outcomes.forget_revoked()
        self._intake.forget_revoked()
        for batch, _ in self._delivery.waiting:
            batch.keep(lambda t: t.active)
        self._delivery.drop_waiting(lambda b: not b.events)
        lanes = self._lanes
        for batch in self._delivery.running:
            gone = [i for i, t in enumerate(batch.trackers) if not t.active]
            lanes.release(batch)  # (a second revocation recounts the whole batch)
            lanes.orphan(batch, len(gone), sum(_size(batch.messages[i]) for i in gone))
        for chunk in self._decoding_chunks:
            gone = [i for i, t in enumerate(chunk.trackers) if not t.active]
            lanes.release(chunk)
            lanes.orphan(chunk, len(gone), sum(len(chunk.values[i] or b"") for i in gone))

    def _finish(self, lanes: list[Lane]) -> None:
        """Deliver what is batched for ``lanes`` and wait (bounded) for their results."""
        revoked = {lane.tracker for lane in lanes}
        deadline = time.monotonic() + min(self._config.shutdown_grace_s, _REVOKE_WAIT_MAX_S)
        while self._decoding_chunks and time.monotonic() < deadline:
            self._drain(wait_s=0.05)
        batch = self._batcher.flush()
        if batch is not None:
            self._send(batch)

        def touching() -> bool:
            return any(any(t in revoked for t in b.trackers) for b in self._delivery.in_flight)

        while self._destination.running and touching() and time.monotonic() < deadline:
            self._drain(wait_s=min(0.05, max(0.0, deadline - time.monotonic())))
            self._router.poll()
        self._router.flush(max(0.0, min(5.0, deadline - time.monotonic())))

    # --- shutdown ---------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        """Stop fetching, drain in-flight work within the grace period, commit, leave."""
        self._shutting_down = True
        source = self._source
        grace = self._config.shutdown_grace_s
        deadline = time.monotonic() + grace
        log.info("shutting down: draining in-flight deliveries (up to %.0fs)", grace)
        try:
            source.pause_all(SHUTDOWN)
            while time.monotonic() < deadline:
                batch = self._batcher.flush()
                if batch is not None:
                    self._send(batch)
                if not (self._delivery.busy or self._decoding_chunks or self._router.pending()):
                    break
                self._health.tick()
                source.consume(_CONSUME_BATCH, 0.0)  # serve callbacks; messages are dropped
                self._drain(wait_s=0.05)
                self._router.poll()
            if self._delivery.busy:
                log.warning(
                    "grace period over with %d request(s) in flight; their records are not "
                    "committed and will be delivered again",
                    len(self._delivery.in_flight),
                )
            self._outcomes.closing = True
            self._router.draining = True
            self._delivery.close_sender()
            self._drain()
            self._router.flush(max(0.0, deadline - time.monotonic()))
            self._commit_at_shutdown(deadline)
            self._flow.report_in_flight(self._lanes.in_flight())
        finally:
            self._tally.flush()
            # First, whatever happened above: no sender thread may sit out a retry budget (or a
            # probe a request timeout) past the grace period.
            self._delivery.close_sender()
            self._destination.close()
            self._decoding.close()
            try:
                source.close()
            finally:
                self._delivery.shutdown()
                self._router.close(0)
        log.info("stopped (in flight at exit: %d records)", self._lanes.in_flight())

    def _commit_at_shutdown(self, deadline: float) -> None:
        """Commit what is resolved and wait for the answer, but not past the grace period.

        A coordinator that does not answer (a stalled broker) would hold a synchronous commit
        for minutes; past the deadline the records are simply delivered again by the next owner.
        """
        committer = self._committer
        if not committer.commit_async(self._lanes.trackers(), "shutdown"):
            return
        wait_until = max(deadline, time.monotonic() + _COMMIT_WAIT_MIN_S)
        while committer.waiting and time.monotonic() < wait_until:
            self._source.consume(_CONSUME_BATCH, 0.05)  # serves the commit callback
        if committer.waiting:
            log.warning("the final offset commit was not answered in time; not committed")


def _events_of(batch: Batch) -> list[bytes]:
    return batch.events


def _size(message: KafkaMessage) -> int:
    value = message.value()
    return len(value) if value is not None else 0
