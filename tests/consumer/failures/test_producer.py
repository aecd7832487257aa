"""FailureProducer against a real broker: bytes, headers, acknowledgements, metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from tests.fixtures.broker import BrokerHelper
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.failures.producer import FailureProducer, WriteError
from tiktok_capi.consumer.failures.tiers import (
    HEADER_ATTEMPT,
    HEADER_REASON,
    FailureInfo,
    RetryTiers,
)
from tiktok_capi.consumer.kafka.records import SourceRecord
from tiktok_capi.consumer.telemetry import metrics

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


def settle(condition: Callable[[], object], producer: FailureProducer, timeout: float = 20) -> None:
    """Serve ``producer``'s delivery reports until ``condition`` holds."""
    wait_for(
        lambda: producer.poll(0.05) >= 0 and condition(),
        timeout=timeout,
        interval=0,
        what="delivery reports",
    )


@pytest.fixture
def tiers(broker: BrokerHelper) -> RetryTiers:
    prefix = broker.unique_group("retry")  # a unique name, not a topic yet
    tiers = RetryTiers(prefix, [1, 2], f"{prefix}.dlq")
    for topic in tiers.all_topics:
        broker.create_topic(topic, 2)
    return tiers


@pytest.fixture
def producer(broker: BrokerHelper) -> Iterator[FailureProducer]:
    out = FailureProducer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
    yield out
    out.close(5)


def source(offset: int, key: bytes | None = b"user-1") -> SourceRecord:
    headers = [("traceparent", b"00-trace"), (HEADER_ATTEMPT, b"99")]
    return SourceRecord("cdp", 1, offset, key, b"\x00\x01avro-bytes", headers, 0)


def test_writes_original_bytes_and_route_headers_and_acknowledges(
    broker: BrokerHelper, tiers: RetryTiers, producer: FailureProducer
) -> None:
    done: list[tuple[int, WriteError | None]] = []
    routes = []
    for offset in range(3):
        record = source(offset)
        route = tiers.route(record, FailureInfo("transient", "HTTP 503"), T0)
        routes.append(route)
        producer.send(record, route, lambda err, o=offset: done.append((o, err)))
    assert done == []  # callbacks run only inside poll()/flush()
    assert producer.pending() == 3
    assert producer.flush(20) == 0
    assert sorted(done) == [(0, None), (1, None), (2, None)]
    assert producer.pending() == 0

    messages = sorted(broker.read_all(tiers.topics[0], 3), key=lambda m: m.offset() or 0)
    assert len(messages) == 3
    for msg, route in zip(messages, routes, strict=True):
        assert msg.key() == b"user-1"
        assert msg.value() == b"\x00\x01avro-bytes"
        headers = msg.headers()
        assert headers is not None
        assert headers[0] == ("traceparent", b"00-trace")  # the user's headers first
        assert (HEADER_ATTEMPT, b"99") not in headers  # old own headers replaced
        assert headers[1:] == route.headers
    # Same key, same partition: order within the key is kept.
    assert len({m.partition() for m in messages}) == 1


def test_dead_letter_with_null_key_and_value(
    broker: BrokerHelper, tiers: RetryTiers, producer: FailureProducer
) -> None:
    record = SourceRecord("cdp", 0, 5, None, None, None, 0)
    route = tiers.dead_letter(record, "decode_error", FailureInfo.from_reason("decode_error"), T0)
    done: list[WriteError | None] = []
    producer.send(record, route, done.append)
    settle(lambda: done, producer)
    assert done == [None]
    [msg] = broker.read_all(tiers.dlq_topic, 1)
    assert msg.key() is None and msg.value() is None
    assert (HEADER_REASON, b"decode_error") in (msg.headers() or [])


class FakeProducer:
    """Acknowledges (or fails, as told) every write on the next poll; no broker needed."""

    def __init__(self, fail_first: int = 0) -> None:
        self.queue: list[Any] = []
        self.produced: list[str] = []
        self.fail_first = fail_first

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.produced.append(topic)
        self.queue.append(kwargs["on_delivery"])

    def poll(self, timeout: float) -> int:
        served = 0
        while self.queue:
            callback = self.queue.pop(0)
            error = "KafkaError{_MSG_TIMED_OUT}" if self.fail_first > 0 else None
            self.fail_first -= 1
            callback(error, None)
            served += 1
        return served

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return len(self.queue)


def test_a_failed_write_can_be_sent_again_from_its_callback() -> None:
    fake = FakeProducer(fail_first=2)
    out = FailureProducer({}, producer_factory=lambda conf: fake)
    tiers = RetryTiers("r", [1], "d")
    record = source(1)
    route = tiers.route(record, FailureInfo("transient", "x"), T0)
    outcomes: list[str | None] = []

    def done(error: WriteError | None) -> None:
        outcomes.append(None if error is None else str(error))
        if error is not None:
            out.send(record, route, done)  # what the poll loop does: try again

    out.send(record, route, done)
    wait_for(lambda: out.poll(0) >= 0 and not out.pending(), timeout=5, interval=0, what="writes")
    assert outcomes == ["KafkaError{_MSG_TIMED_OUT}"] * 2 + [None]
    assert fake.produced == ["r.1"] * 3
    out.close()


def test_acknowledged_writes_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    retried = provider.get_meter("t").create_counter("retried")
    dead = provider.get_meter("t").create_counter("dead")
    tiers = RetryTiers("r", [1], "d")
    out = FailureProducer({}, producer_factory=lambda conf: FakeProducer())
    monkeypatch.setattr(metrics, "EVENTS_RETRIED", retried)
    monkeypatch.setattr(metrics, "EVENTS_DEAD_LETTERED", dead)
    try:
        record = source(1)
        out.send(record, tiers.route(record, FailureInfo("throttled", "x"), T0), lambda e: None)
        reason = "invalid_event"
        failure = FailureInfo("invalid", "x")
        out.send(record, tiers.dead_letter(record, reason, failure, T0), lambda e: None)
        out.send(record, tiers.dead_letter(record, reason, failure, T0), lambda e: None)
        assert out.poll() == 3
    finally:
        out.close()
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    provider.shutdown()
    assert points["retried"] == [({"tier": "1", "error_class": "throttled"}, 1)]
    assert points["dead"] == [({"reason": "invalid_event"}, 2)]


def test_full_queue_parks_writes_in_order_without_blocking(
    broker: BrokerHelper, tiers: RetryTiers
) -> None:
    conf = {
        "bootstrap.servers": broker.bootstrap,
        "queue.buffering.max.messages": 5,
        "linger.ms": 50,
    }
    out = FailureProducer(conf)
    try:
        order: list[int] = []
        for offset in range(40):
            record = source(offset)
            route = tiers.route(record, FailureInfo("transient", "x"), T0)
            out.send(record, route, lambda err, o=offset: order.append(o) if err is None else None)
        assert out.pending() == 40
        assert out._parked  # the queue was full: writes wait their turn instead of blocking
        assert out.flush(30) == 0
        assert order == list(range(40))  # same key -> same partition -> acknowledged in order
    finally:
        out.close(5)
    offsets = [
        int(dict(m.headers() or [])["tiktok-capi.original-offset"])
        for m in sorted(broker.read_all(tiers.topics[0], 40), key=lambda m: m.offset() or 0)
    ]
    assert offsets == list(range(40))


def test_failed_write_reports_an_error(broker: BrokerHelper) -> None:
    # A topic that does not exist and is not auto-created: the write times out with an error.
    conf = {
        "bootstrap.servers": broker.bootstrap,
        "message.timeout.ms": 500,
        "allow.auto.create.topics": False,
    }
    out = FailureProducer(conf)
    try:
        tiers = RetryTiers(broker.unique_group("missing"), [1], "never-created-dlq")
        record = source(1)
        done: list[WriteError | None] = []
        out.send(record, tiers.route(record, FailureInfo("transient", "x"), T0), done.append)
        settle(lambda: done, out)
        assert done[0] is not None and str(done[0]) != ""
        assert out.pending() == 0
    finally:
        out.close()


def test_send_after_close_is_refused(broker: BrokerHelper) -> None:
    out = FailureProducer({"bootstrap.servers": broker.bootstrap})
    out.close()
    out.close()  # idempotent
    tiers = RetryTiers("r", [1], "d")
    record = source(1)
    with pytest.raises(RuntimeError):
        out.send(record, tiers.route(record, FailureInfo("transient", "x"), T0), lambda e: None)
