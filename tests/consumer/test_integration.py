"""The streaming core end to end: real Tansu broker, real emulator over sockets, real connector.

Each test uses its own topics and group; waits are conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from tests.consumer.core_support import (
    delivered_ids,
    finish,
    headers_of,
    make_settings,
    produce_events,
    running,
    sample_events,
    settings_env,
    start_process,
)
from tests.fixtures.processes import alive, children
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.delivery.sender import HttpSender
from tiktok_capi.consumer.failures.tiers import (
    HEADER_ERROR_CLASS,
    HEADER_ORIGINAL_OFFSET,
    HEADER_REASON,
)
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState

pytestmark = pytest.mark.integration


def _lag_zero(broker: Any, group: str, topic: str, ends: dict[int, int], timeout: float) -> None:
    committed = broker.wait_committed(group, topic, ends, timeout=timeout)
    assert committed == ends, f"committed {committed}, expected the ends {ends}"


def test_mixed_stream_arrives_exactly_as_mapped(broker: Any, emulator: Any) -> None:
    topic = broker.unique_topic("core-mixed", partitions=3)
    group = broker.unique_group("core-mixed")
    stream = produce_events(broker, topic, sample_events(3000, seed=11, prefix="mixed"))
    settings = make_settings(settings_env(broker, emulator, topic, group, BATCH_SIZE="500"))
    with running(settings) as connector:
        _lag_zero(broker, group, topic, stream.ends, timeout=60)
        stats = connector.connector.stats()
    received = {e["event_id"]: e for e in emulator.events()}
    assert set(received) == set(stream.expected)
    for event_id, expected in stream.expected.items():
        got = {k: v for k, v in received[event_id].items() if k in expected}
        assert got == expected, event_id
    assert emulator.stats()["duplicates"] == 0
    assert stats.delivered_total == len(stream.expected)
    assert stats.delivered_total + stats.skipped_total == len(stream.events)
    assert dict(stats.delivered) == dict(Counter(e["event"] for e in stream.expected.values()))
    assert stats.dead_lettered_total == 0
    assert stats.requests >= len(stream.expected) // 500


def test_throttling_and_server_errors_are_retried(broker: Any, emulator: Any) -> None:
    topic = broker.unique_topic("core-faults", partitions=2)
    group = broker.unique_group("core-faults")
    emulator.set_faults(throttle_rate=0.3, error_5xx_rate=0.3, retry_after_s=0, seed=3)
    stream = produce_events(broker, topic, sample_events(1500, seed=12, prefix="faults"))
    env = settings_env(broker, emulator, topic, group, BATCH_SIZE="100", SEND_RETRY_ATTEMPTS="30")
    with running(make_settings(env)) as connector:
        _lag_zero(broker, group, topic, stream.ends, timeout=60)
        stats = connector.connector.stats()
    assert delivered_ids(emulator) == set(stream.expected)
    assert emulator.stats()["rejected_requests"] > 0  # the faults did happen
    assert stats.dead_lettered_total == 0


def test_invalid_event_is_dead_lettered_while_its_batch_mates_arrive(
    broker: Any, emulator: Any
) -> None:
    topic = broker.unique_topic("core-invalid", partitions=1)
    group = broker.unique_group("core-invalid")
    events = sample_events(300, seed=13, prefix="inv")
    # A server-side track call without a page URL: it maps, but TikTok rejects it (40002).
    bad = {
        "type": "track",
        "event": "Order Completed",
        "messageId": "inv-bad",
        "userId": "u-bad",
        "timestamp": events[0]["timestamp"],
        "properties": {"order_id": "o-1", "revenue": 10.0, "currency": "USD"},
    }
    events.insert(150, bad)
    stream = produce_events(broker, topic, events)
    assert "inv-bad" in stream.expected, "the bad event must map (TikTok is what rejects it)"
    dlq = f"{topic}.{group}.dlq"
    with running(make_settings(settings_env(broker, emulator, topic, group))) as connector:
        _lag_zero(broker, group, topic, stream.ends, timeout=60)
        stats = connector.connector.stats()
    assert delivered_ids(emulator) == set(stream.expected) - {"inv-bad"}
    [dead] = broker.read_all(dlq, 1, timeout=10)
    headers = headers_of(dead)
    assert headers[HEADER_REASON] == "invalid_event"
    assert headers[HEADER_ORIGINAL_OFFSET] == str(stream.positions[150][1])
    assert dead.value() == broker.read_all(topic, len(events))[150].value()
    assert dict(stats.dead_lettered) == {"invalid_event": 1}


def test_poison_records_are_dead_lettered(broker: Any, emulator: Any) -> None:
    topic = broker.unique_topic("core-poison", partitions=1)
    group = broker.unique_group("core-poison")
    good = produce_events(broker, topic, sample_events(100, seed=14, prefix="poison"))
    poison = [b"\x00\x00\x00\x00\x01garbage", b"\xff\xfe not avro at all", b"", None]
    broker.produce(topic, poison)
    more = produce_events(broker, topic, sample_events(50, seed=15, prefix="after"))
    ends = {0: more.ends[0]}
    with running(make_settings(settings_env(broker, emulator, topic, group))) as connector:
        _lag_zero(broker, group, topic, ends, timeout=60)
        stats = connector.connector.stats()
    assert delivered_ids(emulator) == set(good.expected) | set(more.expected)
    dead = broker.read_all(f"{topic}.{group}.dlq", len(poison), timeout=10)
    assert sorted(m.value() or b"" for m in dead) == sorted(p or b"" for p in poison)
    assert {headers_of(m)[HEADER_REASON] for m in dead} == {"decode_error"}
    assert stats.dead_lettered == {"decode_error": len(poison)}


def test_revoked_token_pauses_and_resumes_without_dead_letters(broker: Any, emulator: Any) -> None:
    topic = broker.unique_topic("core-auth", partitions=2)
    group = broker.unique_group("core-auth")
    emulator.set_faults(token_revoked_until=time.time() + 3600)
    stream = produce_events(broker, topic, sample_events(800, seed=16, prefix="auth"))
    health = HealthState()
    env = settings_env(broker, emulator, topic, group, BATCH_SIZE="200")
    with running(make_settings(env), health=health) as connector:
        wait_for(
            lambda: health.snapshot().destination is DestinationState.PAUSED_AUTH,
            timeout=30,
            what="the destination to pause",
        )
        ready, reason = health.ready()
        assert not ready and "paused_auth" in reason
        assert emulator.stats()["accepted_events"] == 0
        emulator.set_faults()  # the token works again
        _lag_zero(broker, group, topic, stream.ends, timeout=60)
        assert health.snapshot().destination is DestinationState.RUNNING
        stats = connector.connector.stats()
    assert delivered_ids(emulator) == set(stream.expected)
    assert stats.dead_lettered_total == 0
    assert stats.retried_total == 0


class FailsOnce:
    """The real HTTP sender, except that batches holding ``event_ids`` fail the first time.

    What a payload TikTok keeps failing on looks like: every attempt of that batch fails, while
    TikTok answers everything else (the circuit breaker's probe included).
    """

    def __init__(self, settings: Any, event_ids: set[str]) -> None:
        self._http = HttpSender(settings.tiktok)
        self._pending = set(event_ids)

    def encode(self, events: Sequence[bytes]) -> bytes:
        return self._http.encode(events)

    def deliver(
        self, events: Sequence[bytes], links: Sequence[Any] = (), body: bytes | None = None
    ) -> BatchOutcome:
        ids = {orjson.loads(e)["event_id"] for e in events}
        if ids & self._pending:
            self._pending -= ids
            failure = ErrorInfo("transient", "HTTP 500 with a non-JSON body", http_status=500)
            return BatchOutcome(failed=tuple(range(len(events))), failure=failure, requests=1)
        return self._http.deliver(events, links, body)

    def probe(self) -> ErrorInfo | None:
        return self._http.probe()

    def close(self) -> None:
        self._http.close()


def test_a_failure_of_particular_events_goes_through_a_retry_tier(
    broker: Any, emulator: Any
) -> None:
    topic = broker.unique_topic("core-tier", partitions=1)
    group = broker.unique_group("core-tier")
    stream = produce_events(broker, topic, sample_events(40, seed=17, prefix="tier"))
    settings = make_settings(settings_env(broker, emulator, topic, group, BATCH_SIZE="10"))
    unlucky = next(iter(stream.expected))
    sender = FailsOnce(settings, {unlucky})
    try:
        with running(settings, sender=sender) as connector:
            _lag_zero(broker, group, topic, stream.ends, timeout=60)
            wait_for(
                lambda: delivered_ids(emulator) == set(stream.expected),
                timeout=30,
                what="the retried events",
            )
            tier1 = settings.kafka.retry_topic + ".1"
            retried = broker.read_all(tier1, 1, timeout=10)
            tier_end = {0: max(m.offset() for m in retried) + 1}
            _lag_zero(broker, group, tier1, tier_end, timeout=30)
            stats = connector.connector.stats()
    finally:
        sender.close()
    assert {headers_of(m)[HEADER_ERROR_CLASS] for m in retried} == {"transient"}
    assert stats.retried.get(1, 0) >= 1
    assert stats.dead_lettered_total == 0


def test_a_total_outage_holds_everything_and_dead_letters_nothing(
    broker: Any, emulator: Any
) -> None:
    # Issue 12, defect 2: every batch walked the retry tiers (1 s, 2 s here) into the DLQ.
    topic = broker.unique_topic("core-outage", partitions=2)
    group = broker.unique_group("core-outage")
    emulator.set_faults(error_5xx_rate=1.0)
    stream = produce_events(broker, topic, sample_events(300, seed=18, prefix="outage"))
    health = HealthState()
    env = settings_env(broker, emulator, topic, group, BATCH_SIZE="50", SEND_RETRY_ATTEMPTS="2")
    with running(make_settings(env), health=health) as connector:
        wait_for(
            lambda: health.snapshot().destination is DestinationState.DOWN,
            timeout=30,
            what="the breaker",
        )
        ready, reason = health.ready()
        assert not ready and reason.startswith("destination down: ")
        # Longer than both tier delays together: before the fix, records reached the DLQ by now.
        outage_until = time.monotonic() + 4
        wait_for(lambda: time.monotonic() > outage_until, timeout=10, what="the outage to last")
        assert health.snapshot().destination is DestinationState.DOWN
        stats = connector.connector.stats()
        assert stats.retried_total == 0 and stats.dead_lettered_total == 0
        emulator.set_faults()
        _lag_zero(broker, group, topic, stream.ends, timeout=60)
        assert health.ready()[0]
        stats = connector.connector.stats()
    assert delivered_ids(emulator) == set(stream.expected)
    assert stats.retried_total == 0 and stats.dead_lettered_total == 0


def test_two_members_split_partitions_and_one_takes_over(broker: Any, emulator: Any) -> None:
    topic = broker.unique_topic("core-group", partitions=4)
    group = broker.unique_group("core-group")
    first = produce_events(broker, topic, sample_events(1200, seed=18, prefix="g1"))
    env = settings_env(broker, emulator, topic, group, BATCH_SIZE="100", RETRY_DELAYS="1s")
    settings = make_settings(env)
    with running(settings) as a:
        with running(settings) as b:

            def split() -> bool:
                mine_a = {p for t, p in a.connector.stats().assigned if t == topic}
                mine_b = {p for t, p in b.connector.stats().assigned if t == topic}
                both = bool(mine_a) and bool(mine_b)
                return both and not (mine_a & mine_b) and (mine_a | mine_b) == set(range(4))

            wait_for(split, timeout=40, what="the two members to split the source partitions")
            _lag_zero(broker, group, topic, first.ends, timeout=60)
        # b left the group: a takes every partition over
        wait_for(
            lambda: {p for t, p in a.connector.stats().assigned if t == topic} == set(range(4)),
            timeout=40,
            what="the remaining member to own every partition",
        )
        second = produce_events(broker, topic, sample_events(800, seed=19, prefix="g2"))
        _lag_zero(broker, group, topic, second.ends, timeout=60)
    assert delivered_ids(emulator) == set(first.expected) | set(second.expected)


def _wait_deliveries(emulator: Any, count: int) -> None:
    """Wait until the emulator has accepted ``count`` events (the connector is mid-stream)."""
    what = f"{count} deliveries"
    wait_for(lambda: emulator.stats()["accepted_events"] >= count, timeout=60, what=what)


def test_sigkill_mid_stream_then_restart_loses_nothing(
    broker: Any, emulator: Any, tmp_path: Any
) -> None:
    topic = broker.unique_topic("core-kill", partitions=2)
    group = broker.unique_group("core-kill")
    emulator.set_faults(latency_ms=40)
    stream = produce_events(broker, topic, sample_events(4000, seed=20, prefix="kill"))
    env = settings_env(
        broker,
        emulator,
        topic,
        group,
        BATCH_SIZE="100",
        MAX_IN_FLIGHT_REQUESTS="2",
        DECODE_WORKERS="2",
    )
    process = start_process(env, tmp_path / "first.log")
    try:
        _wait_deliveries(emulator, 400)
        workers = children(process.pid)
        assert workers, "expected decode worker processes (DECODE_WORKERS=2)"
    finally:
        process.send_signal(signal.SIGKILL)
        finish(process)
    assert len(delivered_ids(emulator)) < len(stream.expected), "killed too late to prove much"
    # its decode workers must not outlive it
    wait_for(
        lambda: not any(alive(pid) for pid in workers), timeout=30, what="orphaned workers to exit"
    )
    emulator.set_faults()
    process = start_process(env, tmp_path / "second.log")
    try:
        _lag_zero(broker, group, topic, stream.ends, timeout=90)
    finally:
        process.send_signal(signal.SIGTERM)
        assert finish(process) == 0
    events = emulator.events()
    assert {e["event_id"] for e in events} == set(stream.expected)
    # redelivered duplicates carry the same event_id (TikTok deduplicates them)
    per_id = Counter(e["event_id"] for e in events)
    assert sum(per_id.values()) >= len(stream.expected)


def test_sigterm_shuts_down_cleanly_within_the_grace_period(
    broker: Any, emulator: Any, tmp_path: Any
) -> None:
    topic = broker.unique_topic("core-term", partitions=2)
    group = broker.unique_group("core-term")
    emulator.set_faults(latency_ms=150)
    stream = produce_events(broker, topic, sample_events(3000, seed=21, prefix="term"))
    env = settings_env(broker, emulator, topic, group, BATCH_SIZE="100", SHUTDOWN_GRACE="5s")
    process = start_process(env, tmp_path / "run.log")
    try:
        _wait_deliveries(emulator, 300)
        process.send_signal(signal.SIGTERM)
        status = finish(process, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert status == 0
    log = (tmp_path / "run.log").read_text()
    assert "shutting down" in log
    assert emulator.token not in log
    # What was committed was delivered (or skipped): no record is lost by the commit.
    committed = broker.committed(group, topic)
    assert committed, "shutdown must commit"
    delivered = delivered_ids(emulator)
    for index, (partition, offset) in enumerate(stream.positions):
        if offset < committed.get(partition, 0):
            event_id = stream.events[index]["messageId"]
            assert event_id not in stream.expected or event_id in delivered


def test_backpressure_pauses_and_resumes_without_losing_records(
    broker: Any, emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tiktok_capi.consumer.loop")
    topic = broker.unique_topic("core-backpressure", partitions=2)
    group = broker.unique_group("core-backpressure")
    # A destination slower than a second per request: the excess lasts, partitions get paused.
    emulator.set_faults(latency_ms=1100)
    stream = produce_events(broker, topic, sample_events(400, seed=22, prefix="bp"))
    env = settings_env(
        broker,
        emulator,
        topic,
        group,
        BATCH_SIZE="100",
        MAX_IN_FLIGHT_REQUESTS="2",
        MAX_IN_FLIGHT_EVENTS="150",
    )
    with running(make_settings(env)) as connector:
        wait_for(
            lambda: connector.connector.stats().in_flight > 0,
            timeout=30,
            what="records to be in flight",
        )
        _lag_zero(broker, group, topic, stream.ends, timeout=60)
        peak = connector.connector.stats()
    assert delivered_ids(emulator) == set(stream.expected)
    assert peak.in_flight == 0
    assert any("backpressure" in r.getMessage() for r in caplog.records), "never paused"
