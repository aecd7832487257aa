"""Where a failed record goes, in one place: retry tier, dead-letter topic, or nowhere yet.

Every step that gives up on a record calls the :class:`FailureRouter`: intake for records that
cannot be decoded or mapped, outcomes for events TikTok rejected or that kept failing. It owns::

    failed record ─▶ route (failures.tiers)  ─▶ FailureProducer ─▶ acknowledged: resolved
                       │ retry tier n, or the DLQ after the last tier      │
                       │                                                   └▶ failed: see below
                       ├▶ dead-letter limit crossed ─▶ stop the connector (record unresolved)
                       └▶ destination stopped ─────▶ not written (unresolved: re-read after a fix)

A write that fails is never lost and never dropped: it is sent again after a backoff that
doubles up to :data:`RESEND_MAX_S` (counted in ``tiktok_capi.writes.failed``), while its offset
stays uncommitted and backpressure bounds what piles up behind it. A record too large for the
topic (``MSG_SIZE_TOO_LARGE``) goes to the dead-letter topic without its value, its original
topic/partition/offset in the headers, so it can be recovered from the source topic. A fatal
producer error stops the connector. Everything here runs on the poll loop.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from typing import Final

from tiktok_capi.consumer.failures.limit import DlqLimiter
from tiktok_capi.consumer.failures.producer import FailureProducer, WriteError
from tiktok_capi.consumer.failures.tiers import (
    HEADER_VALUE_DROPPED,
    FailureInfo,
    RetryTiers,
    Route,
)
from tiktok_capi.consumer.kafka.records import KafkaMessage, SourceRecord, source_record
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.metrics import WRITES_FAILED
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

__all__ = ["REASON_TOO_LARGE", "RESEND_FIRST_S", "RESEND_MAX_S", "FailureRouter"]

log = logging.getLogger(__name__)

RESEND_FIRST_S: Final = 0.5
RESEND_MAX_S: Final = 30.0
REASON_TOO_LARGE: Final = "record_too_large"
_TOO_LARGE: Final = frozenset({"MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"})


class _Write:
    """One record on its way to a retry tier or the DLQ, with its resend state."""

    __slots__ = ("attempts", "offset", "record", "route", "tracker")

    def __init__(
        self, tracker: PartitionOffsets, offset: int, record: SourceRecord, route: Route
    ) -> None:
        self.tracker = tracker
        self.offset = offset
        self.record = record
        self.route = route
        self.attempts = 0


class FailureRouter:
    """Routes failed records and resolves them once their write is acknowledged.

    Args:
        tiers: the retry tier topics and the dead-letter topic, and the headers of each route.
        producer: writes the records.
        limiter: the dead-letter limit; crossing it calls ``stop``.
        stats: counts acknowledged writes.
        stop: stops the destination and the connector, with a reason (called on the poll loop).
        clock: monotonic seconds (injected in tests), for resend backoffs.
    """

    def __init__(
        self,
        tiers: RetryTiers,
        producer: FailureProducer,
        limiter: DlqLimiter,
        stats: StatsRecorder,
        stop: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tiers = tiers
        self._producer = producer
        self._limiter = limiter
        self._stats = stats
        self._stop = stop
        self._clock = clock
        self._resend: list[tuple[float, int, _Write]] = []  # (due, sequence, write) heap
        self._sequence = 0
        self.stopped = False
        """Set when the destination stopped: dead letters are no longer written."""
        self.draining = False
        """Set at shutdown: failed writes are not sent again (their records stay uncommitted)."""

    # --- routing ----------------------------------------------------------------------------------
    def dead_letter(
        self,
        tracker: PartitionOffsets,
        offset: int,
        message: KafkaMessage | SourceRecord,
        reason: str,
        failure: FailureInfo,
        now: float,
    ) -> None:
        """Send ``message`` to the dead-letter topic; it resolves once the broker acks it."""
        record = source_record(message)
        route = self.tiers.dead_letter(record, reason, failure, now)
        self._write(_Write(tracker, offset, record, route))

    def retry(
        self,
        tracker: PartitionOffsets,
        offset: int,
        message: KafkaMessage | SourceRecord,
        failure: FailureInfo,
        now: float,
    ) -> None:
        """Send ``message`` to its next retry tier (after the last one, the dead-letter topic)."""
        record = source_record(message)
        self._write(_Write(tracker, offset, record, self.tiers.route(record, failure, now)))

    # --- the loop ---------------------------------------------------------------------------------
    def poll(self) -> None:
        """Serve the producer's acknowledgements and send again the failed writes now due."""
        resend = self._resend
        if resend and not self.draining:
            now = self._clock()
            while resend and resend[0][0] <= now:
                _, _, write = heapq.heappop(resend)
                if write.tracker.active:
                    self._send(write)
        self._producer.poll(0)

    def pending(self) -> int:
        """Writes not acknowledged yet, including those waiting to be sent again."""
        return self._producer.pending() + len(self._resend)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the writes in flight; returns those still pending."""
        return self._producer.flush(timeout)

    def close(self, timeout: float = 0) -> None:
        """Flush for up to ``timeout`` seconds and release the producer."""
        self._resend.clear()
        self._producer.close(timeout)

    # --- writes -----------------------------------------------------------------------------------
    def _write(self, write: _Write) -> None:
        route = write.route
        if route.is_dead_letter:
            if self.stopped:
                return  # stays unresolved: re-read after the fix
            if not self._limiter.record():
                self._stop(
                    f"more than {self._limiter.max_per_minute} records dead-lettered in a minute"
                )
                return
        self._send(write)

    def _send(self, write: _Write) -> None:
        write.attempts += 1

        def done(error: WriteError | None) -> None:
            if error is None:
                self._stats.written(write.route.tier, write.route.reason)
                if write.tracker.active:
                    write.tracker.resolve(write.offset)
            else:
                self._failed(write, error)

        self._producer.send(write.record, write.route, done)

    def _failed(self, write: _Write, error: WriteError) -> None:
        record, route = write.record, write.route
        kind = "dead_letter" if route.is_dead_letter else "retry"
        WRITES_FAILED.add(1, {"topic_kind": kind, "code": error.code or "unknown"})
        if not write.tracker.active or self.draining:
            return  # the next owner (or the next run) re-reads it
        if error.fatal:
            self._stop(f"the retry/dead-letter producer failed for good: {error}")
            return
        if error.code in _TOO_LARGE and record.value is not None:
            log.error(
                "%s[%d]@%d is too large for %s (%d bytes): dead-lettered without its value",
                record.topic,
                record.partition,
                record.offset,
                route.topic,
                len(record.value),
                extra={"topic": record.topic, "partition": record.partition},
            )
            self._too_large(write)
            return
        delay = min(RESEND_MAX_S, RESEND_FIRST_S * 2 ** (write.attempts - 1))
        level = logging.WARNING if write.attempts < 5 else logging.ERROR
        log.log(
            level,
            "write of %s[%d]@%d to %s failed %d time(s) (%s); sending again in %.1fs",
            record.topic,
            record.partition,
            record.offset,
            route.topic,
            write.attempts,
            error,
            delay,
            extra={"topic": record.topic, "partition": record.partition},
        )
        self._sequence += 1
        heapq.heappush(self._resend, (self._clock() + delay, self._sequence, write))

    def _too_large(self, write: _Write) -> None:
        """Dead-letter ``write``'s record without its value (it fits nowhere as it is)."""
        record = write.record
        size = len(record.value or b"")
        slim = SourceRecord(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            None,
            record.headers,
            record.timestamp_ms,
        )
        failure = FailureInfo.from_reason(
            REASON_TOO_LARGE, f"record of {size} bytes is over the topic's size limit"
        )
        route = self.tiers.dead_letter(slim, REASON_TOO_LARGE, failure, time.time())
        route.headers.append((HEADER_VALUE_DROPPED, str(size).encode()))
        self._write(_Write(write.tracker, write.offset, slim, route))
