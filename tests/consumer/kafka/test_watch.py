"""BrokerWatch alone: a metadata request left unanswered turns readiness off, an answer on."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException

from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.kafka.watch import BrokerWatch
from tiktok_capi.consumer.telemetry.health_state import HealthState


class Admin:
    def __init__(self) -> None:
        self.answers = True
        self.asked: list[tuple[str, float]] = []

    def list_topics(self, topic: str, timeout: float) -> Any:
        self.asked.append((topic, timeout))
        if not self.answers:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed to get metadata"))
        return object()


def _ready_health() -> HealthState:
    health = HealthState()
    health.set_broker_reachable(True)
    health.set_assignment(assigned=True, waiting=False)
    return health


def test_an_unanswered_metadata_request_turns_readiness_off_until_an_answer() -> None:
    health, admin = _ready_health(), Admin()
    watch = BrokerWatch({}, "cdp", health, 10.0, admin_factory=lambda conf: admin)
    assert watch.check(admin) and health.ready() == (True, "ok")
    admin.answers = False
    assert not watch.check(admin)
    ready, reason = health.ready()
    assert not ready and reason.startswith("broker not answering: no metadata answer within 10s")
    admin.answers = True
    assert watch.check(admin) and health.ready() == (True, "ok")
    assert admin.asked == [("cdp", 10.0)] * 3


def test_the_thread_asks_every_half_timeout_and_stops() -> None:
    health, admin = _ready_health(), Admin()
    admin.answers = False
    watch = BrokerWatch({}, "cdp", health, 0.02, admin_factory=lambda conf: admin)
    watch.start()
    try:
        wait_for(lambda: not health.ready()[0], timeout=5, interval=0.01, what="not ready")
    finally:
        watch.stop()
