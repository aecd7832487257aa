"""Writes retry and dead-letter records, and the dead-letter rate limit.

An outcome "retry tier n" or "dead-letter" counts (its source offset may be committed) only once
the broker acknowledged the write: :class:`OutcomeProducer` reports each write through a callback
that runs on the poll loop's thread, inside :meth:`OutcomeProducer.poll` or
:meth:`OutcomeProducer.flush`. Records keep their original key and value bytes; their own
``tiktok-capi.*`` headers are replaced by the route's (see
:mod:`tiktok_capi.consumer.failures.tiers`).

:class:`DlqLimiter` is the insurance against a bad deploy dead-lettering a whole stream
(arroyo's ``DlqLimit``): past ``DLQ_MAX_PER_MINUTE`` the caller stops the destination.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from tiktok_capi.consumer.failures.tiers import Route, strip_own_headers
from tiktok_capi.consumer.kafka.records import Headers, SourceRecord
from tiktok_capi.consumer.telemetry import metrics

__all__ = ["DlqLimiter", "OnDone", "OutcomeProducer"]

log = logging.getLogger(__name__)

OnDone = Callable[[str | None], None]
"""Called once per write: ``None`` when acknowledged, else a (PII-free) error text."""

# How long flush() waits for room in a full librdkafka queue between two tries.
_QUEUE_FULL_WAIT_S: Final = 0.05


class OutcomeProducer:
    """Produces records to retry tier and dead-letter topics; acknowledged writes only count.

    Not thread-safe: the poll loop alone calls it. Writes are idempotent and acknowledged by all
    in-sync replicas (``acks=all``), so a write reported done survives a broker failure.

    Args:
        producer_conf: librdkafka producer configuration (``kafka_config.producer_config``).
        producer_factory: builds the producer from the configuration (a seam for tests).
    """

    def __init__(
        self,
        producer_conf: dict[str, Any],
        *,
        producer_factory: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        conf = dict(producer_conf)
        conf.setdefault("partitioner", "murmur2_random")  # the Java client's key -> partition
        conf.update({"acks": "all", "enable.idempotence": True})
        if producer_factory is None:
            from confluent_kafka import Producer

            producer_factory = Producer
        self._producer = producer_factory(conf)
        self._in_flight = 0
        # Writes that found librdkafka's queue full; retried, in order, by poll()/flush().
        self._parked: deque[tuple[str, bytes | None, bytes | None, Headers, Any]] = deque()
        self._closed = False

    def send(self, record: SourceRecord, route: Route, on_done: OnDone) -> None:
        """Write ``record`` (original key and value bytes) to ``route.topic``.

        Headers are the record's own (minus old ``tiktok-capi.*`` ones) plus ``route.headers``;
        the partition follows the key (murmur2, as Java producers do), so one key stays in order.
        ``on_done`` runs later, exactly once, inside :meth:`poll`/:meth:`flush` (never before
        this returns, so it may call :meth:`send` again). An error means the record is still
        unresolved: librdkafka already retried it until ``message.timeout.ms``; the caller
        decides whether to send it again.
        Never blocks: when librdkafka's queue is full the write is parked and retried, in order,
        by the next :meth:`poll` (:meth:`pending` counts it meanwhile).
        """
        if self._closed:
            raise RuntimeError("OutcomeProducer is closed")
        headers = strip_own_headers(record.headers) + list(route.headers)
        callback = self._callback(route, on_done)
        self._in_flight += 1
        write = (route.topic, record.key, record.value, headers, callback)
        if self._parked or not self._produce(write):
            self._parked.append(write)

    def poll(self, timeout: float = 0) -> int:
        """Serve delivery callbacks (and retry parked writes); returns callbacks served."""
        self._unpark()
        served: int = self._producer.poll(timeout)
        if served:
            self._unpark()
        return served

    def pending(self) -> int:
        """Writes not yet acknowledged (or failed)."""
        return self._in_flight

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every write to finish; returns those still pending."""
        deadline = time.monotonic() + timeout
        while self._parked and time.monotonic() < deadline:
            self._unpark()
            if self._parked:
                self._producer.poll(_QUEUE_FULL_WAIT_S)
        self._producer.flush(max(0.0, deadline - time.monotonic()))
        return self._in_flight

    def close(self, timeout: float = 0) -> None:
        """Flush for up to ``timeout`` seconds and release the producer.

        Writes still pending are abandoned and their callbacks never run: their source offsets
        are not committed, so the next owner re-processes those records.
        """
        if self._closed:
            return
        remaining = self.flush(timeout)
        if remaining:
            log.warning("closing with %d retry/dead-letter writes unacknowledged", remaining)
        self._closed = True
        self._parked.clear()
        close = getattr(self._producer, "close", None)
        if close is not None:
            close()

    def _produce(self, write: tuple[str, bytes | None, bytes | None, Headers, Any]) -> bool:
        topic, key, value, headers, callback = write
        kafka_headers: list[tuple[str, str | bytes | None]] = list(headers)
        try:
            self._producer.produce(
                topic, value=value, key=key, headers=kafka_headers, on_delivery=callback
            )
        except BufferError:  # librdkafka's queue is full: callbacks must drain it first
            return False
        return True

    def _unpark(self) -> None:
        while self._parked:
            if not self._produce(self._parked[0]):
                return
            self._parked.popleft()

    def _callback(self, route: Route, on_done: OnDone) -> Callable[[Any, Any], None]:
        def delivered(err: Any, _msg: Any) -> None:
            self._in_flight -= 1
            if err is not None:
                log.warning("write to %s failed: %s", route.topic, err)
                on_done(str(err))
                return
            if route.tier is None:
                metrics.EVENTS_DEAD_LETTERED.add(1, {"reason": route.reason or "unknown"})
            else:
                metrics.EVENTS_RETRIED.add(
                    1, {"tier": str(route.tier), "error_class": route.error_class}
                )
            on_done(None)

        return delivered


class DlqLimiter:
    """Counts dead letters in a sliding minute; :meth:`record` is False past the limit.

    Args:
        max_per_minute: ``DLQ_MAX_PER_MINUTE``; 0 means no limit.
        clock: monotonic seconds (injected in tests).
    """

    WINDOW_S: Final = 60.0

    def __init__(self, max_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_per_minute < 0:
            raise ValueError("max_per_minute must not be negative")
        self.max_per_minute = max_per_minute
        self._clock = clock
        # Only the newest max+1 times matter to decide "more than max in a minute".
        self._times: deque[float] = deque(maxlen=max_per_minute + 1 if max_per_minute else 1)

    def record(self) -> bool:
        """Count one dead letter now; False when more than the limit fell in the last minute."""
        if not self.max_per_minute:
            return True
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.WINDOW_S:
            self._times.popleft()
        return len(self._times) <= self.max_per_minute

    def count(self) -> int:
        """Dead letters in the last minute (capped at the limit + 1)."""
        if not self.max_per_minute:
            return 0
        now = self._clock()
        return sum(1 for t in self._times if t > now - self.WINDOW_S)
