"""Source: pause reasons combine (one never undoes another); callbacks reach the listener."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, TopicPartition

import tiktok_capi.consumer.kafka.source as source_module
from tiktok_capi.consumer.kafka.source import PartitionKey, Source
from tiktok_capi.consumer.telemetry.health_state import HealthState


class FakeConsumer:
    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.paused: set[PartitionKey] = set()
        self.calls: list[tuple[str, list[PartitionKey]]] = []
        self.callbacks: dict[str, Any] = {}

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def pause(self, tps: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in tps]
        self.calls.append(("pause", keys))
        self.paused.update(keys)

    def resume(self, tps: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in tps]
        self.calls.append(("resume", keys))
        self.paused.difference_update(keys)


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, list[PartitionKey], bool]] = []

    def on_assigned(self, partitions: Sequence[PartitionKey]) -> None:
        self.events.append(("assigned", list(partitions), False))

    def on_revoked(self, partitions: Sequence[PartitionKey], *, lost: bool) -> None:
        self.events.append(("revoked", list(partitions), lost))


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> tuple[Source, FakeConsumer, Listener, HealthState]:
    monkeypatch.setattr(source_module, "Consumer", FakeConsumer)
    listener, health = Listener(), HealthState()
    source = Source({"group.id": "g"}, ["t"], listener, health, clock=Clock())
    source.subscribe()
    fake: FakeConsumer = source._consumer
    tps = [TopicPartition("t", p) for p in range(3)]
    fake.callbacks["on_assign"](fake, tps)
    source.sync()  # fresh partitions are resumed once (a pause flag may survive reassignment)
    fake.calls.clear()
    return source, fake, listener, health


def test_assignment_reaches_listener_and_health(parts: Any) -> None:
    source, fake, listener, health = parts
    assert listener.events == [("assigned", [("t", 0), ("t", 1), ("t", 2)], False)]
    snap = health.snapshot()
    assert snap.assigned and not snap.waiting_for_assignment
    fake.callbacks["on_revoke"](fake, [TopicPartition("t", 2)])
    assert listener.events[-1] == ("revoked", [("t", 2)], False)
    assert source.assigned == {("t", 0), ("t", 1)}
    fake.callbacks["on_lost"](fake, [TopicPartition("t", 0), TopicPartition("t", 1)])
    assert listener.events[-1] == ("revoked", [("t", 0), ("t", 1)], True)
    assert not health.snapshot().assigned


def test_global_reasons_combine(parts: Any) -> None:
    source, fake, _, _ = parts
    source.pause_all("backpressure")
    assert fake.paused == {("t", 0), ("t", 1), ("t", 2)}
    source.pause_all("destination")
    source.resume_all("backpressure")
    assert fake.paused == {("t", 0), ("t", 1), ("t", 2)}, "destination still holds"
    source.resume_all("destination")
    assert fake.paused == set()


def test_timed_pause_survives_a_global_resume_and_expires(parts: Any) -> None:
    source, fake, _, _ = parts
    source.pause_until(("t", 1), 105.0)
    assert fake.paused == {("t", 1)}
    source.pause_all("backpressure")
    source.resume_all("backpressure")
    assert fake.paused == {("t", 1)}
    assert source.next_timed_resume == 105.0
    source.sync(now=104.0)
    assert fake.paused == {("t", 1)}
    source.sync(now=105.0)
    assert fake.paused == set()


def test_new_partitions_join_a_global_pause(parts: Any) -> None:
    source, fake, _, _ = parts
    source.pause_all("destination")
    fake.callbacks["on_assign"](fake, [TopicPartition("t", 3)])
    source.sync()
    assert ("t", 3) in fake.paused


def test_all_brokers_down_marks_broker_unreachable(parts: Any) -> None:
    _, fake, _, health = parts
    health.set_broker_reachable(True)
    fake.conf["error_cb"](KafkaError(KafkaError._ALL_BROKERS_DOWN, "down"))
    assert not health.snapshot().broker_reachable
    stats = {"brokers": {"b": {"state": "UP"}}, "topics": {}}
    fake.conf["stats_cb"](orjson.dumps(stats).decode())
    assert health.snapshot().broker_reachable
