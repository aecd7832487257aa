"""Writes failed records to retry-tier and dead-letter topics; acknowledged writes only count.

A record sent to "retry tier n" or "dead-letter" is resolved (its source offset may be committed)
only once the broker acknowledged the write: :class:`FailureProducer` reports each write through
a callback that runs on the poll loop's thread, inside :meth:`FailureProducer.poll` or
:meth:`FailureProducer.flush`, with ``None`` or a :class:`WriteError`. Records keep their original
key and value bytes; their own ``tiktok-capi.*`` headers are replaced by the route's (see
:mod:`~tiktok_capi.consumer.failures.tiers`). What to do with a failed write is the
:class:`~tiktok_capi.consumer.failures.router.FailureRouter`'s decision, not this module's.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaException

from tiktok_capi.consumer.failures.tiers import Route, strip_own_headers
from tiktok_capi.consumer.kafka.records import Headers, SourceRecord
from tiktok_capi.consumer.telemetry import metrics

__all__ = ["FailureProducer", "OnDone", "WriteError"]

log = logging.getLogger(__name__)

# How long flush() waits for room in a full librdkafka queue between two tries.
_QUEUE_FULL_WAIT_S: Final = 0.05


@dataclass(frozen=True, slots=True)
class WriteError:
    """Why one write failed, PII-free.

    Attributes:
        code: librdkafka's error name (``MSG_SIZE_TOO_LARGE``, ``_MSG_TIMED_OUT``,
            ``UNKNOWN_TOPIC_OR_PART``, ``TOPIC_AUTHORIZATION_FAILED``, ...); empty when unknown.
        text: the error as librdkafka words it.
        fatal: the producer cannot write any more (a fatal idempotence error).
    """

    code: str
    text: str
    fatal: bool = False

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of(cls, error: Any) -> WriteError:
        """From a ``KafkaError`` (or anything else, by its text)."""
        name = getattr(error, "name", None)
        fatal = getattr(error, "fatal", None)
        return cls(
            code=str(name()) if callable(name) else "",
            text=str(error),
            fatal=bool(fatal()) if callable(fatal) else False,
        )


OnDone = Callable[[WriteError | None], None]
"""Called once per write: ``None`` when acknowledged, else why it failed."""

_Write = tuple[str, bytes | None, bytes | None, Headers, Any]


class FailureProducer:
    """Produces records to retry tier and dead-letter topics; acknowledged writes only count.

    Not thread-safe: the poll loop alone calls it. Writes are idempotent and acknowledged by all
    in-sync replicas (``acks=all``), so a write reported done survives a broker failure.

    Args:
        producer_conf: librdkafka producer configuration (``config.kafka.producer_config``).
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
        self._parked: deque[_Write] = deque()
        # Writes librdkafka refused at once (too large, fatal state): reported by the next poll.
        self._refused: deque[tuple[Any, WriteError]] = deque()
        self._closed = False

    def send(self, record: SourceRecord, route: Route, on_done: OnDone) -> None:
        """Write ``record`` (original key and value bytes) to ``route.topic``.

        Headers are the record's own (minus old ``tiktok-capi.*`` ones) plus ``route.headers``;
        the partition follows the key (murmur2, as Java producers do), so one key stays in order.
        ``on_done`` runs later, exactly once, inside :meth:`poll`/:meth:`flush` (never before
        this returns, so it may call :meth:`send` again), also for a write librdkafka refuses at
        once (a record over ``message.max.bytes``). An error means the record is still
        unresolved: librdkafka already retried it until ``message.timeout.ms``.
        Never blocks: when librdkafka's queue is full the write is parked and retried, in order,
        by the next :meth:`poll` (:meth:`pending` counts it meanwhile).
        """
        if self._closed:
            raise RuntimeError("FailureProducer is closed")
        headers = strip_own_headers(record.headers) + list(route.headers)
        callback = self._callback(route, on_done)
        self._in_flight += 1
        write = (route.topic, record.key, record.value, headers, callback)
        if self._parked or not self._produce(write):
            self._parked.append(write)

    def poll(self, timeout: float = 0) -> int:
        """Serve delivery callbacks (and retry parked writes); returns callbacks served."""
        served = self._report_refused()
        self._unpark()
        served += self._producer.poll(timeout)
        if served:
            self._unpark()
        return served

    def pending(self) -> int:
        """Writes not yet acknowledged (or failed)."""
        return self._in_flight

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every write to finish; returns those still pending."""
        deadline = time.monotonic() + timeout
        self._report_refused()
        while self._parked and time.monotonic() < deadline:
            self._unpark()
            if self._parked:
                self._producer.poll(_QUEUE_FULL_WAIT_S)
            self._report_refused()
        self._producer.flush(max(0.0, deadline - time.monotonic()))
        self._report_refused()
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
        self._refused.clear()
        close = getattr(self._producer, "close", None)
        if close is not None:
            close()

    def _produce(self, write: _Write) -> bool:
        """Hand one write to librdkafka; False when its queue is full (park it)."""
        topic, key, value, headers, callback = write
        kafka_headers: list[tuple[str, str | bytes | None]] = list(headers)
        try:
            self._producer.produce(
                topic, value=value, key=key, headers=kafka_headers, on_delivery=callback
            )
        except BufferError:  # librdkafka's queue is full: callbacks must drain it first
            return False
        except KafkaException as exc:  # refused at once: report it like a failed delivery
            error = exc.args[0] if exc.args else exc
            self._refused.append((callback, WriteError.of(error)))
        return True

    def _report_refused(self) -> int:
        served = 0
        while self._refused:
            callback, error = self._refused.popleft()
            callback(error, None)
            served += 1
        return served

    def _unpark(self) -> None:
        while self._parked:
            if not self._produce(self._parked[0]):
                return
            self._parked.popleft()

    def _callback(self, route: Route, on_done: OnDone) -> Callable[[Any, Any], None]:
        def delivered(err: Any, _msg: Any) -> None:
            self._in_flight -= 1
            if err is not None:
                error = err if isinstance(err, WriteError) else WriteError.of(err)
                log.warning("write to %s failed: %s", route.topic, error)
                on_done(error)
                return
            if route.tier is None:
                metrics.EVENTS_DEAD_LETTERED.add(1, {"reason": route.reason or "unknown"})
            else:
                metrics.EVENTS_RETRIED.add(
                    1, {"tier": str(route.tier), "error_class": route.error_class}
                )
            on_done(None)

        return delivered
