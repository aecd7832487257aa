"""Flow control for the poll loop: how much it takes from Kafka, and when it pauses.

- **Backpressure**: over ``MAX_IN_FLIGHT_EVENTS`` unresolved records, stop calling ``consume``
  for a moment; if the excess lasts :data:`PAUSE_AFTER_S`, pause every partition; resume at
  half the limit.
- **Retry tiers**: a tier record that is not due yet rewinds its partition and pauses it until
  the record's due time.
- **Pause reasons**: :data:`BACKPRESSURE`, :data:`DESTINATION` (held for the destination) and
  :data:`SHUTDOWN` pause independently (see
  :meth:`tiktok_capi.consumer.kafka.source.Source.pause_all`).

Everything here runs on the poll loop and never sleeps.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from tiktok_capi.consumer.failures.tiers import due_at_ms
from tiktok_capi.consumer.kafka.records import source_record
from tiktok_capi.consumer.kafka.source import PartitionKey, Source
from tiktok_capi.consumer.telemetry.metrics import IN_FLIGHT_EVENTS
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

__all__ = ["BACKPRESSURE", "DESTINATION", "PAUSE_AFTER_S", "SHUTDOWN", "FlowControl", "LoopState"]

# The poll loop's log records keep the logger name operators filter on.
log = logging.getLogger("tiktok_capi.consumer.loop.pipeline")

PAUSE_AFTER_S: Final = 1.0  # backpressure lasting longer than this pauses the partitions
BACKPRESSURE: Final = "backpressure"
DESTINATION: Final = "destination"
SHUTDOWN: Final = "shutdown"


class LoopState:
    """The poll loop's shared counters, read and written only on the poll loop.

    Attributes:
        in_flight: records consumed (tracked) and not resolved yet.
        shutting_down: set once shutdown began: nothing new is tracked, failed writes are not
            retried.
    """

    __slots__ = ("in_flight", "shutting_down")

    def __init__(self) -> None:
        self.in_flight = 0
        self.shutting_down = False


class FlowControl:
    """Backpressure, retry-tier due times and the in-flight gauge.

    Args:
        state: the loop's counters (``in_flight`` is what backpressure runs on).
        source: the consumer to pause, resume and rewind.
        max_in_flight_events: ``MAX_IN_FLIGHT_EVENTS``.
        stats: receives the in-flight count for :meth:`tiktok_capi.consumer.app.Connector.stats`.
    """

    __slots__ = ("_limit", "_over_since", "_reported", "_source", "_state", "_stats")

    def __init__(
        self, state: LoopState, source: Source, max_in_flight_events: int, stats: StatsRecorder
    ) -> None:
        self._state = state
        self._source = source
        self._limit = max_in_flight_events
        self._stats = stats
        self._reported = 0
        self._over_since: float | None = None  # since when in-flight records exceed the limit

    def held_back(self) -> bool:
        """Backpressure, step one: over ``MAX_IN_FLIGHT_EVENTS``, stop taking records.

        A short excess is absorbed by not calling ``consume`` for a moment (librdkafka's own
        pre-fetch queue is bounded); an excess that lasts :data:`PAUSE_AFTER_S` pauses every
        partition (step two, :meth:`release`), so the loop keeps polling and the member keeps
        its place in the group. Pausing is not the first resort because librdkafka drops
        pre-fetched messages of paused partitions and resuming costs a fetch round trip.

        Returns:
            ``True`` when the loop should only drain results this iteration.
        """
        in_flight = self._state.in_flight
        if in_flight < self._limit:
            self._over_since = None
            return False
        if self._source.is_paused_for(BACKPRESSURE):
            return False
        now = time.monotonic()
        if self._over_since is None:
            self._over_since = now
        if now - self._over_since < PAUSE_AFTER_S:
            return True
        log.debug("backpressure: %d records in flight; pausing", in_flight)
        self._source.pause_all(BACKPRESSURE)
        return False

    def release(self) -> None:
        """Backpressure, step two: resume paused partitions once half the work drained."""
        source = self._source
        if self._state.in_flight <= self._limit // 2 and source.is_paused_for(BACKPRESSURE):
            source.resume_all(BACKPRESSURE)

    def not_due(self, key: PartitionKey, msg: Any, offset: int, now: float) -> bool:
        """For a retry-tier record: rewind and pause its partition if it is not due yet.

        Args:
            key: the record's partition.
            msg: the consumed message (its ``tiktok-capi.due-at`` header is read).
            offset: the message's offset, where the partition is rewound to.
            now: wall-clock seconds the batch was consumed at.

        Returns:
            ``True`` when the record was not taken: the caller must skip the rest of this
            partition's records in the batch (they are read again after the pause).
        """
        due = due_at_ms(source_record(msg))
        if due is None:
            return False
        wait_s = due / 1000.0 - now
        if wait_s <= 0:
            return False
        topic, partition = key
        self._source.seek(topic, partition, offset)
        self._source.pause_until(key, time.monotonic() + wait_s)
        log.debug("%s[%d]@%d not due for %.1fs; partition paused", topic, partition, offset, wait_s)
        return True

    def report_in_flight(self) -> None:
        """Publish the in-flight count (metric and stats) when it changed since last time."""
        in_flight = self._state.in_flight
        delta = in_flight - self._reported
        if delta:
            IN_FLIGHT_EVENTS.add(delta)
            self._reported = in_flight
            self._stats.set_in_flight(in_flight)
