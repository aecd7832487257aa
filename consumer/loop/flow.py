"""Flow control for the poll loop: how much it takes from Kafka, and when it pauses.

- **Backpressure**: at ``MAX_IN_FLIGHT_EVENTS`` unresolved records or ``MAX_IN_FLIGHT_BYTES``
  of their values, whichever comes first, stop calling ``consume`` for a moment; if the excess
  lasts :data:`PAUSE_AFTER_S`, pause every partition; resume at half of both limits. One
  ``consume`` may overshoot the bytes limit by what librdkafka had pre-fetched (at most
  ``queued.max.messages.kbytes``).
- **Retry tiers**: a tier record that is not due yet rewinds its partition and pauses it until
  the record's due time.
- **Pause reasons**: :data:`BACKPRESSURE`, :data:`DESTINATION` (held for the destination) and
  :data:`SHUTDOWN` pause independently (see
  :meth:`~tiktok_capi.consumer.kafka.source.Source.pause_all`).

Everything here runs on the poll loop and never sleeps; the in-flight records and bytes come in
as arguments (the loop derives them from its lanes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, Protocol

from tiktok_capi.consumer.failures.tiers import due_in_s
from tiktok_capi.consumer.kafka.records import KafkaMessage
from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.telemetry.metrics import IN_FLIGHT_BYTES, IN_FLIGHT_EVENTS
from tiktok_capi.consumer.telemetry.stats import StatsRecorder
from tiktok_capi.consumer.telemetry.tally import STRAIGHT_THROUGH, Tally

__all__ = ["BACKPRESSURE", "DESTINATION", "PAUSE_AFTER_S", "SHUTDOWN", "FlowControl", "Pausable"]

log = logging.getLogger(__name__)

PAUSE_AFTER_S: Final = 1.0  # backpressure lasting longer than this pauses the partitions
BACKPRESSURE: Final = "backpressure"
DESTINATION: Final = "destination"
SHUTDOWN: Final = "shutdown"


class Pausable(Protocol):
    """What flow control does to the consumer (the Kafka ``Source``)."""

    def pause_all(self, reason: str) -> None:
        """Pause every assigned partition for ``reason``."""

    def resume_all(self, reason: str) -> None:
        """Lift the pause ``reason``."""

    def is_paused_for(self, reason: str) -> bool:
        """Whether the pause ``reason`` is in force."""

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Rewind a partition to ``offset``."""

    def pause_until(self, key: PartitionKey, resume_at: float) -> None:
        """Pause one partition until the monotonic time ``resume_at``."""


class FlowControl:
    """Backpressure, retry-tier due times and the in-flight gauge.

    Args:
        source: the consumer to pause, resume and rewind.
        max_in_flight_events: ``MAX_IN_FLIGHT_EVENTS``.
        stats: receives the in-flight count for the connector's stats.
        clock: monotonic seconds (injected in tests).
        max_in_flight_bytes: ``MAX_IN_FLIGHT_BYTES`` (0: records only).
    """

    __slots__ = (
        "_byte_limit",
        "_clock",
        "_limit",
        "_over_since",
        "_reported",
        "_reported_bytes",
        "_source",
        "_stats",
        "_tally",
    )

    def __init__(
        self,
        source: Pausable,
        max_in_flight_events: int,
        stats: StatsRecorder,
        clock: Callable[[], float] = time.monotonic,
        max_in_flight_bytes: int = 0,
        tally: Tally = STRAIGHT_THROUGH,
    ) -> None:
        self._tally = tally
        self._source = source
        self._limit = max_in_flight_events
        self._byte_limit = max_in_flight_bytes
        self._stats = stats
        self._clock = clock
        self._reported = 0
        self._reported_bytes = 0
        self._over_since: float | None = None  # since when in-flight records exceed the limit

    def room(self, in_flight: int, in_flight_bytes: int = 0) -> int:
        """How many more records may be taken now (0 at or over either limit)."""
        if self._byte_limit and in_flight_bytes >= self._byte_limit:
            return 0
        return max(0, self._limit - in_flight)

    def held_back(self, in_flight: int, in_flight_bytes: int = 0) -> bool:
        """Backpressure, step one: over ``MAX_IN_FLIGHT_EVENTS``, stop taking records.

        A short excess is absorbed by not calling ``consume`` for a moment (librdkafka's own
        pre-fetch queue is bounded); an excess that lasts :data:`PAUSE_AFTER_S` pauses every
        partition (step two, :meth:`release`), so the loop keeps polling and the member keeps
        its place in the group. Pausing is not the first resort because librdkafka drops
        pre-fetched messages of paused partitions and resuming costs a fetch round trip.

        Returns:
            ``True`` when the loop should only drain results this iteration.
        """
        if in_flight < self._limit and not (
            self._byte_limit and in_flight_bytes >= self._byte_limit
        ):
            self._over_since = None
            return False
        if self._source.is_paused_for(BACKPRESSURE):
            return False
        now = self._clock()
        if self._over_since is None:
            self._over_since = now
        if now - self._over_since < PAUSE_AFTER_S:
            return True
        log.debug(
            "backpressure: %d records (%d bytes) in flight; pausing", in_flight, in_flight_bytes
        )
        self._source.pause_all(BACKPRESSURE)
        return False

    def release(self, in_flight: int, in_flight_bytes: int = 0) -> None:
        """Backpressure, step two: resume paused partitions once half the work drained."""
        source = self._source
        if (
            in_flight <= self._limit // 2
            and (not self._byte_limit or in_flight_bytes <= self._byte_limit // 2)
            and source.is_paused_for(BACKPRESSURE)
        ):
            source.resume_all(BACKPRESSURE)

    def not_due(
        self, key: PartitionKey, msg: KafkaMessage, offset: int, now: float, delay_s: float
    ) -> bool:
        """For a retry-tier record: rewind and pause its partition if it is not due yet.

        The pause is never longer than the tier's delay, whatever the writer's clock said
        (:func:`~tiktok_capi.consumer.failures.tiers.due_in_s`).

        Args:
            key: the record's partition.
            msg: the consumed message (its ``tiktok-capi.due-at`` header and timestamp).
            offset: the message's offset, where the partition is rewound to.
            now: wall-clock seconds the batch was consumed at.
            delay_s: the delay of the partition's retry tier.

        Returns:
            ``True`` when the record was not taken: the caller must skip the rest of this
            partition's records in the batch (they are read again after the pause).
        """
        wait_s = due_in_s(msg.headers(), msg.timestamp(), delay_s, now)
        if wait_s <= 0:
            return False
        topic, partition = key
        self._source.seek(topic, partition, offset)
        self._source.pause_until(key, self._clock() + wait_s)
        log.debug("%s[%d]@%d not due for %.1fs; partition paused", topic, partition, offset, wait_s)
        return True

    def report_in_flight(self, in_flight: int, in_flight_bytes: int = 0) -> None:
        """Publish the in-flight count (metric and stats) when it changed since last time."""
        delta = in_flight - self._reported
        if delta:
            self._tally.add(IN_FLIGHT_EVENTS, delta)
            self._reported = in_flight
            self._stats.set_in_flight(in_flight)
        delta = in_flight_bytes - self._reported_bytes
        if delta:
            self._tally.add(IN_FLIGHT_BYTES, delta)
            self._reported_bytes = in_flight_bytes
