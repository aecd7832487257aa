"""FailureRouter: refused and failed writes never crash the loop, never vanish, never spin.

Issue 12, defects 4 (a produce error other than a full queue raised ``KafkaException`` out of the
dead-letter write; an oversized record turned it into a crash loop) and 5 (a failed write was sent
again at once, forever, uncounted).
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from tests.fixtures.broker import BrokerHelper
from tests.fixtures.clock import ManualClock as Clock
from tiktok_capi.consumer.failures import router as router_module
from tiktok_capi.consumer.failures.limit import DlqLimiter
from tiktok_capi.consumer.failures.producer import FailureProducer
from tiktok_capi.consumer.failures.router import (
    REASON_TOO_LARGE,
    RESEND_FIRST_S,
    FailureRouter,
)
from tiktok_capi.consumer.failures.tiers import (
    HEADER_ORIGINAL_OFFSET,
    HEADER_REASON,
    HEADER_VALUE_DROPPED,
    FailureInfo,
    RetryTiers,
)
from tiktok_capi.consumer.kafka.records import SourceRecord
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

T0 = 1_700_000_000.0


class FakeProducer:
    """librdkafka stand-in: acknowledges on poll, or fails/refuses as told."""

    def __init__(self) -> None:
        self.queue: list[Any] = []
        self.produced: list[tuple[str, bytes | None]] = []
        self.fail: list[KafkaError | None] = []  # delivery results to give, in order
        self.refuse: KafkaError | None = None  # raise this from produce()

    def produce(self, topic: str, **kwargs: Any) -> None:
        if self.refuse is not None:
            raise KafkaException(self.refuse)
        self.produced.append((topic, kwargs["value"]))
        self.queue.append(kwargs["on_delivery"])

    def poll(self, timeout: float) -> int:
        served = 0
        while self.queue:
            error = self.fail.pop(0) if self.fail else None
            self.queue.pop(0)(error, None)
            served += 1
        return served

    def flush(self, timeout: float) -> int:
        return self.poll(0)


def _router(
    producer: FailureProducer, clock: Clock | None = None
) -> tuple[FailureRouter, list[str]]:
    stops: list[str] = []
    router = FailureRouter(
        RetryTiers("r", [1.0], "d"),
        producer,
        DlqLimiter(0),
        StatsRecorder(),
        stops.append,
        clock=clock or Clock(),
    )
    return router, stops


def _record(offset: int, value: bytes | None = b"avro") -> SourceRecord:
    return SourceRecord("src", 0, offset, b"k", value, None, 0)


def test_a_write_refused_at_once_is_reported_not_raised() -> None:
    fake = FakeProducer()
    fake.refuse = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    router, stops = _router(FailureProducer({}, producer_factory=lambda conf: fake))
    tracker = PartitionOffsets("src", 0)
    tracker.track(0)
    # Before the fix the KafkaException came out of this call and ended the process.
    router.retry(tracker, 0, _record(0), FailureInfo("transient", "x"), T0)
    router.poll()
    assert tracker.unresolved == 1 and stops == []
    assert router.pending() == 1  # waiting to be sent again, not dropped
    fake.refuse = None


def test_a_failed_write_is_sent_again_after_a_growing_backoff_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(router_module, "WRITES_FAILED", provider.get_meter("t").create_counter("w"))
    fake = FakeProducer()
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
    fake.fail = [timed_out, timed_out]
    clock = Clock()
    router, stops = _router(FailureProducer({}, producer_factory=lambda conf: fake), clock)
    tracker = PartitionOffsets("src", 0)
    tracker.track(0)
    router.dead_letter(tracker, 0, _record(0), "invalid_event", FailureInfo("invalid", "x"), T0)
    router.poll()  # acknowledged with an error
    assert len(fake.produced) == 1
    for _ in range(3):
        router.poll()
    assert len(fake.produced) == 1, "a failed write must not be re-sent at once"
    clock.now += RESEND_FIRST_S
    router.poll()  # due: sent again, fails again
    router.poll()
    assert len(fake.produced) == 2
    clock.now += RESEND_FIRST_S  # the second backoff is twice as long
    router.poll()
    assert len(fake.produced) == 2
    clock.now += RESEND_FIRST_S
    router.poll()
    router.poll()
    assert len(fake.produced) == 3
    assert tracker.unresolved == 0 and router.pending() == 0 and stops == []
    data = reader.get_metrics_data()
    assert data is not None
    [point] = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points
    ]
    assert point.value == 2
    assert dict(point.attributes or {}) == {"topic_kind": "dead_letter", "code": "_MSG_TIMED_OUT"}
    provider.shutdown()


def test_a_fatal_producer_error_stops_the_connector() -> None:
    fake = FakeProducer()
    fatal = KafkaError(KafkaError._FATAL, "fatal idempotence error", fatal=True)
    fake.fail = [fatal]
    router, stops = _router(FailureProducer({}, producer_factory=lambda conf: fake))
    tracker = PartitionOffsets("src", 0)
    tracker.track(0)
    router.retry(tracker, 0, _record(0), FailureInfo("transient", "x"), T0)
    router.poll()
    assert len(stops) == 1 and "failed for good" in stops[0]
    assert tracker.unresolved == 1


@pytest.mark.integration
def test_a_record_too_large_for_the_topic_is_dead_lettered_without_its_value(
    broker: BrokerHelper,
) -> None:
    tiers = RetryTiers(broker.unique_group("big"), [1.0], broker.unique_group("big-dlq"))
    for topic in tiers.all_topics:
        broker.create_topic(topic, 1)
    # librdkafka refuses a record over message.max.bytes in produce(): MSG_SIZE_TOO_LARGE.
    producer = FailureProducer(
        {"bootstrap.servers": broker.bootstrap, "message.max.bytes": 20_000, "linger.ms": 1}
    )
    stops: list[str] = []
    router = FailureRouter(tiers, producer, DlqLimiter(0), StatsRecorder(), stops.append)
    try:
        tracker = PartitionOffsets("src", 3)
        for offset in (7, 8):
            tracker.track(offset)
        big = _record(7, b"x" * 50_000)
        router.retry(tracker, 7, big, FailureInfo("transient", "HTTP 503"), T0)
        router.retry(tracker, 8, _record(8), FailureInfo("transient", "HTTP 503"), T0)
        deadline_polls = 400
        while tracker.unresolved and deadline_polls:
            router.poll()
            router.flush(0.05)
            deadline_polls -= 1
        assert tracker.unresolved == 0 and stops == []
        [dead] = broker.read_all(tiers.dlq_topic, 1)
        headers = dict(dead.headers() or [])
        assert dead.value() is None and dead.key() == b"k"
        assert headers[HEADER_REASON] == REASON_TOO_LARGE.encode()
        assert headers[HEADER_VALUE_DROPPED] == b"50000"
        assert headers[HEADER_ORIGINAL_OFFSET] == b"7"
        [retried] = broker.read_all(tiers.topics[0], 1)
        assert retried.value() == b"avro"
    finally:
        router.close(5)
