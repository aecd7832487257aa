"""The poll loop with in-memory fakes around it: outcomes, offsets, rebalances, limits.

The fakes stand in for the consumer, the sender and the outcome producer only; decoding is a
JSON stand-in, the mapping is the real one. Broker-level behaviour is covered by
``test_integration.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest

from tests.consumer.loop.support import Msg
from tests.fixtures.clock import JumpClock
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.decode.codec import DecodeError, RegistryUnavailable
from tiktok_capi.consumer.decode.pool import InlineDecoding
from tiktok_capi.consumer.decode.transform import Transformer
from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.failures.limit import DlqLimiter
from tiktok_capi.consumer.failures.tiers import RetryTiers, Route
from tiktok_capi.consumer.kafka.records import SourceRecord
from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.loop.flow import PAUSE_AFTER_S
from tiktok_capi.consumer.loop.intake import REGISTRY_BACKOFF_S
from tiktok_capi.consumer.loop.pipeline import Pipeline, PipelineConfig
from tiktok_capi.consumer.status import ExitStatus
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState
from tiktok_capi.consumer.telemetry.stats import StatsRecorder
from tiktok_capi.mapping import MappingSettings

TOPIC = "src"


def page_event(i: int) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": f"m-{i}",
        "anonymousId": f"a-{i}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        "context": {"page": {"url": f"https://shop.example/p/{i}"}},
    }


class FakeSource:
    """Hands out queued messages; records commits and pauses; rebalances on demand."""

    def __init__(self, listener: Any, partitions: Sequence[PartitionKey]) -> None:
        self.listener = listener
        self.partitions = list(partitions)
        self.queue: list[Msg] = []
        self.commits: list[dict[PartitionKey, int]] = []
        self.paused: set[str] = set()
        self.fatal_error: str | None = None
        self.next_timed_resume: float | None = None
        self.closed = False
        self.actions: list[Callable[[], None]] = []  # run inside the next consume (callbacks)
        self.commit_results: Callable[[Any, list[Any] | None], None] | None = None
        self._answers: list[list[Any]] = []
        self.answer_commits = True  # False: the coordinator is away, async commits wait

    def subscribe(self) -> None:
        self.listener.on_assigned(self.partitions)

    def consume(self, n: int, timeout: float) -> list[Msg]:
        while self.actions:
            self.actions.pop(0)()
        while self.answer_commits and self._answers:
            offsets = self._answers.pop(0)
            self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
            if self.commit_results is not None:
                self.commit_results(None, offsets)
        if self.paused:
            time.sleep(min(timeout, 0.005))
            return []
        out, self.queue = self.queue[:n], self.queue[n:]
        if not out:
            time.sleep(min(timeout, 0.005))
        return out

    def commit(self, offsets: list[Any]) -> list[Any]:
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
        return offsets

    def commit_async(self, offsets: list[Any]) -> None:
        self._answers.append(offsets)  # answered inside a later consume, as librdkafka does

    def committed(self) -> dict[PartitionKey, int]:
        merged: dict[PartitionKey, int] = {}
        for commit in self.commits:
            merged.update(commit)
        return merged

    def seek(self, topic: str, partition: int, offset: int) -> None:
        pass

    def pause_all(self, reason: str) -> None:
        self.paused.add(reason)

    def resume_all(self, reason: str) -> None:
        self.paused.discard(reason)

    def is_paused_for(self, reason: str) -> bool:
        return reason in self.paused

    def pause_until(self, key: PartitionKey, resume_at: float) -> None:
        pass

    def sync(self, now: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self.listener.on_revoked(self.partitions, lost=False)


class FakeSender:
    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.answer: Callable[[Sequence[bytes]], BatchOutcome] | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.probe_ok = False
        self.probe_error = ErrorInfo("auth", "token expired", code=40105)
        self.probes = 0
        self.closed = False
        self.links: list[Any] = []

    def encode(self, events: Sequence[bytes]) -> bytes:
        return b""

    def deliver(
        self, events: Sequence[bytes], links: Sequence[Any] = (), body: bytes | None = None
    ) -> BatchOutcome:
        self.links += links
        self.gate.wait(10)
        if self.closed:
            return BatchOutcome(held=tuple(range(len(events))))
        if self.answer is not None:
            return self.answer(events)
        self.delivered += [orjson.loads(e)["event_id"] for e in events]
        return BatchOutcome(delivered=tuple(range(len(events))), requests=1)

    def probe(self) -> ErrorInfo | None:
        self.probes += 1
        return None if self.probe_ok else self.probe_error

    def close(self) -> None:
        self.closed = True
        self.gate.set()


class FakeOutcomes:
    def __init__(self) -> None:
        self.written: list[tuple[SourceRecord, Route]] = []
        self._pending: list[Callable[[str | None], None]] = []

    def send(self, record: SourceRecord, route: Route, on_done: Callable[[Any], None]) -> None:
        self.written.append((record, route))
        self._pending.append(on_done)

    def poll(self, timeout: float = 0) -> int:
        done, self._pending = self._pending, []
        for callback in done:
            callback(None)
        return len(done)

    def pending(self) -> int:
        return len(self._pending)

    def flush(self, timeout: float) -> int:
        self.poll()
        return 0

    def close(self, timeout: float = 0) -> None:
        pass


class FakeDecoder:
    def __init__(self) -> None:
        self.registry_down = False

    def decode(self, value: bytes | None) -> dict[str, Any]:
        if self.registry_down:
            raise RegistryUnavailable("registry answered 503")
        if not value or not value.startswith(b"{"):
            raise DecodeError("garbage", "not an event")
        event: dict[str, Any] = orjson.loads(value)
        return event


class Harness:
    def __init__(self, partitions: int = 2, **config: Any) -> None:
        settings: dict[str, Any] = {
            "batch_size": 10,
            "batch_linger_s": 0.01,
            "max_in_flight_requests": 2,
            "max_in_flight_events": 1000,
            "commit_interval_s": 0.05,
            "shutdown_grace_s": 2.0,
            "probe_interval_s": 0.01,
        }
        dlq_max = config.pop("dlq_max_per_minute", 0)
        settings.update(config)
        self.sender = FakeSender()
        self.outcomes = FakeOutcomes()
        self.decoder = FakeDecoder()
        self.health = HealthState()
        self.stats = StatsRecorder()
        self.keys = [(TOPIC, p) for p in range(partitions)]
        self.source: FakeSource | None = None
        self.clock = JumpClock()

        def make_source(listener: Any) -> Any:
            self.source = FakeSource(listener, self.keys)
            return self.source

        self.pipeline = Pipeline(
            PipelineConfig(**settings),
            source_factory=make_source,
            decoding=InlineDecoding(Transformer(self.decoder, MappingSettings())),  # type: ignore[arg-type]
            sender=self.sender,
            tiers=RetryTiers("src.retry", (1.0,), "src.dlq"),
            producer=self.outcomes,  # type: ignore[arg-type]
            limiter=DlqLimiter(dlq_max),
            health=self.health,
            stats=self.stats,
            clock=self.clock,
        )
        assert self.source is not None
        self.offsets = {key: 0 for key in self.keys}
        self.status: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.status = self.pipeline.run()

    def produce(self, partition: int, values: Sequence[bytes | None]) -> None:
        assert self.source is not None
        key = (TOPIC, partition)
        for value in values:
            self.source.queue.append(Msg(TOPIC, partition, self.offsets[key], value))
            self.offsets[key] += 1

    def start(self) -> Harness:
        self.thread.start()
        return self

    def stop(self) -> int | None:
        self.pipeline.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive()
        return self.status

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
        wait_for(condition, timeout=timeout, interval=0.005, what=what)


def values(start: int, n: int) -> list[bytes | None]:
    return [orjson.dumps(page_event(i)) for i in range(start, start + n)]


def test_delivered_events_are_committed_to_the_end() -> None:
    h = Harness()
    h.produce(0, values(0, 25))
    h.produce(1, values(100, 7))
    h.start()
    h.wait(lambda: len(h.sender.delivered) == 32, "deliveries")
    assert h.stop() == 0
    assert h.source is not None
    assert h.source.committed() == {(TOPIC, 0): 25, (TOPIC, 1): 7}
    assert h.source.closed
    assert h.stats.snapshot().delivered == {"Pageview": 32}


def test_delivery_spans_link_to_the_records_trace_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tiktok_capi.consumer.loop.pipeline.tracing_enabled", lambda: True)
    traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    h = Harness(partitions=1)
    assert h.source is not None
    for offset, value in enumerate(values(0, 3)):
        headers = [("traceparent", traceparent)] if offset != 1 else None
        h.source.queue.append(Msg(TOPIC, 0, offset, value, headers))
    h.start()
    h.wait(lambda: len(h.sender.delivered) == 3, "deliveries")
    assert h.stop() == 0
    assert len(h.sender.links) == 2
    assert {format(link.context.span_id, "016x") for link in h.sender.links} == {"00f067aa0ba902b7"}


def test_undecodable_records_are_dead_lettered_and_committed() -> None:
    h = Harness(partitions=1)
    h.produce(0, [*values(0, 3), b"\x00garbage", None, *values(3, 2)])
    h.start()
    h.wait(lambda: len(h.sender.delivered) == 5 and len(h.outcomes.written) == 2, "outcomes")
    assert h.stop() == 0
    assert [route.reason for _, route in h.outcomes.written] == ["decode_error", "decode_error"]
    assert [record.offset for record, _ in h.outcomes.written] == [3, 4]
    assert h.source is not None and h.source.committed() == {(TOPIC, 0): 7}


def test_invalid_and_failed_events_go_to_the_dlq_and_the_retry_tier() -> None:
    h = Harness(partitions=1)
    h.sender.probe_ok = True  # TikTok answers the probe: the failure is the events' own
    invalid = ErrorInfo("invalid", "data.1.page.url: missing", code=40002)
    failure = ErrorInfo("transient", "HTTP 503", http_status=503)
    h.sender.answer = lambda events: BatchOutcome(
        delivered=tuple(range(2, len(events))),
        invalid=((1, invalid),),
        failed=(0,),
        failure=failure,
        requests=3,
    )
    h.produce(0, values(0, 10))
    h.start()
    h.wait(lambda: len(h.outcomes.written) == 2, "the two outcomes")
    h.wait(lambda: h.source is not None and h.source.committed().get((TOPIC, 0)) == 10, "commit")
    assert h.stop() == 0
    routes = {record.offset: route for record, route in h.outcomes.written}
    assert routes[0].topic == "src.retry.1" and routes[0].tier == 1
    assert routes[1].topic == "src.dlq" and routes[1].reason == "invalid_event"
    stats = h.stats.snapshot()
    assert stats.retried == {1: 1} and stats.dead_lettered == {"invalid_event": 1}


def test_nothing_is_committed_past_an_unresolved_record() -> None:
    h = Harness(partitions=1, batch_size=5)
    h.sender.gate.clear()  # the first request hangs
    h.produce(0, values(0, 5))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 5, "records in flight")
    h.produce(0, values(5, 3))
    h.wait(lambda: h.pipeline.in_flight == 8, "more records in flight")
    assert h.source is not None
    h.wait(lambda: h.source is not None and bool(h.source.commits), "an interval commit")
    assert all(offset == 0 for commit in h.source.commits for offset in commit.values())
    h.sender.gate.set()
    h.wait(lambda: h.source is not None and h.source.committed() == {(TOPIC, 0): 8}, "commit")
    assert h.stop() == 0


def test_results_for_a_revoked_partition_are_not_committed() -> None:
    h = Harness(partitions=2, batch_size=100, batch_linger_s=0.01, shutdown_grace_s=0.2)
    h.sender.gate.clear()
    h.produce(0, values(0, 4))
    h.produce(1, values(10, 4))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 8, "records in flight")
    assert h.source is not None
    revoked = [(TOPIC, 1)]
    done = threading.Event()

    def revoke() -> None:
        h.pipeline.on_revoked(revoked, lost=True)
        done.set()

    # Whether the 8 events were still batched (dropped) or already in the blocked request
    # (counted as orphans until it returns) depends on timing; either way nothing of the lost
    # partition may be committed.
    h.source.actions.append(revoke)
    h.wait(done.is_set, "the lost partition to be forgotten")
    assert h.pipeline.in_flight in (4, 8)
    h.sender.gate.set()
    h.wait(lambda: h.source is not None and h.source.committed().get((TOPIC, 0)) == 4, "commit")
    assert h.stop() == 0
    assert (TOPIC, 1) not in h.source.committed()


def test_revoked_token_holds_events_pauses_and_resends_after_the_probe() -> None:
    h = Harness(partitions=1)
    down = ErrorInfo("auth", "access token expired", code=40105)
    h.sender.answer = lambda events: BatchOutcome(
        held=tuple(range(len(events))), destination_down=down, requests=1
    )
    h.produce(0, values(0, 10))
    h.start()
    h.wait(lambda: h.health.snapshot().destination is DestinationState.PAUSED_AUTH, "pause")
    assert h.source is not None and "destination" in h.source.paused
    assert h.outcomes.written == []
    h.sender.answer = None
    h.sender.probe_ok = True
    h.wait(lambda: len(h.sender.delivered) == 10, "the held events to be re-sent")
    h.wait(lambda: h.health.snapshot().destination is DestinationState.RUNNING, "running")
    assert "destination" not in h.source.paused
    assert h.stop() == 0
    assert h.outcomes.written == []


def test_registry_outage_retries_records_and_never_dead_letters_them() -> None:
    h = Harness(partitions=1)
    h.decoder.registry_down = True
    h.produce(0, values(0, 6))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 6, "records held for the registry")
    h.decoder.registry_down = False
    h.clock.jump(REGISTRY_BACKOFF_S[0])  # the first backoff is over
    h.wait(lambda: len(h.sender.delivered) == 6, "records decoded after the outage")
    assert h.stop() == 0
    assert h.outcomes.written == []


def test_dead_letter_limit_stops_the_destination() -> None:
    h = Harness(partitions=1, dlq_max_per_minute=2)
    h.produce(0, [b"bad"] * 5)
    h.start()
    h.thread.join(10)
    assert h.status == ExitStatus.STOPPED
    assert h.health.snapshot().destination is DestinationState.STOPPED
    assert len(h.outcomes.written) == 2
    assert h.source is not None and h.source.committed().get((TOPIC, 0), 0) <= 2


def test_backpressure_pauses_when_the_excess_lasts() -> None:
    h = Harness(partitions=1, batch_size=5, max_in_flight_events=10)
    h.sender.gate.clear()
    h.produce(0, values(0, 40))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 10, "the limit to be reached")

    def paused() -> bool:
        h.clock.jump(PAUSE_AFTER_S / 4)  # the excess lasts
        return h.source is not None and "backpressure" in h.source.paused

    h.wait(paused, "pause", 5)
    assert h.pipeline.in_flight == 10
    h.sender.gate.set()
    h.wait(lambda: len(h.sender.delivered) == 40, "all deliveries")
    assert "backpressure" not in h.source.paused
    assert h.stop() == 0


def test_shutdown_waits_at_most_the_grace_period() -> None:
    grace = 0.3
    h = Harness(partitions=1, shutdown_grace_s=grace)
    h.sender.gate.clear()  # never answers until closed
    h.produce(0, values(0, 3))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 3, "records in flight")
    started = time.monotonic()
    assert h.stop() == 0
    assert time.monotonic() - started < grace + 5
    assert h.source is not None
    assert h.source.committed().get((TOPIC, 0), 0) == 0
