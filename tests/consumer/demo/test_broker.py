"""The embedded broker and the broker fixture: what integration tests rely on."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.demo.broker import BrokerStartError, EmbeddedBroker, free_port

pytestmark = pytest.mark.integration


def test_produce_then_read_all_round_trips_keys_values_and_headers(broker: BrokerHelper) -> None:
    topic = broker.unique_topic("rt", partitions=3)
    values = [f"v{i}".encode() for i in range(30)]
    keys = [f"k{i % 7}".encode() for i in range(30)]
    positions = broker.produce(topic, values, keys=keys, headers=[("h", b"1")])

    assert len(positions) == 30
    assert {p for p, _ in positions} <= {0, 1, 2}
    messages = broker.read_all(topic, expected=30, timeout=20)
    assert sorted(m.value() or b"" for m in messages) == sorted(values)
    assert all(m.headers() == [("h", b"1")] for m in messages)
    by_value = {m.value(): (m.partition(), m.offset()) for m in messages}
    assert [by_value[v] for v in values] == positions


def test_same_key_goes_to_same_partition_in_order(broker: BrokerHelper) -> None:
    topic = broker.unique_topic("order", partitions=4)
    positions = broker.produce(topic, [b"a", b"b", b"c"], keys=[b"user-1"] * 3)
    assert len({p for p, _ in positions}) == 1
    assert [o for _, o in positions] == sorted(o for _, o in positions)


def test_per_record_headers(broker: BrokerHelper) -> None:
    topic = broker.unique_topic("hdr")
    broker.produce(topic, [b"a", b"b"], headers=[[("x", b"1")], None])
    values = {m.value(): m.headers() for m in broker.read_all(topic, expected=2)}
    assert values == {b"a": [("x", b"1")], b"b": None}


def test_create_topic_twice_fails_and_partitions_are_honoured(broker: BrokerHelper) -> None:
    topic = broker.unique_topic("twice", partitions=5)
    assert broker.partitions(topic) == 5
    with pytest.raises(KafkaException):
        broker.create_topic(topic, partitions=5)


def test_committed_offsets_are_visible(broker: BrokerHelper) -> None:
    topic = broker.unique_topic("commit", partitions=2)
    group = broker.unique_group()
    broker.produce(topic, [b"x"] * 4, partition=1)
    assert broker.committed(group, topic) == {}

    consumer = Consumer(broker.consumer_config(group))
    try:
        consumer.commit(offsets=[TopicPartition(topic, 1, 3)], asynchronous=False)
    finally:
        consumer.close()
    assert broker.wait_committed(group, topic, {1: 3}) == {1: 3}


def test_read_all_returns_what_there_is_at_the_deadline(broker: BrokerHelper) -> None:
    topic = broker.unique_topic("short")
    broker.produce(topic, [b"only"])
    assert [m.value() for m in broker.read_all(topic, expected=2, timeout=1.0)] == [b"only"]


def test_broker_starts_on_a_given_port_and_stops(tmp_path: object) -> None:
    port = free_port()
    broker = EmbeddedBroker(port)
    with broker:
        assert broker.bootstrap == f"127.0.0.1:{port}"
        assert broker.running
    assert not broker.running
    broker.stop()  # idempotent


def test_start_fails_clearly_when_the_broker_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tiktok_capi.consumer.demo.broker._broker_binary", lambda: "false")
    broker = EmbeddedBroker(start_timeout=5)
    with pytest.raises(BrokerStartError, match="exited"):
        broker.start()
    assert not broker.running


def test_tansu_auto_creates_unknown_topics_with_four_partitions(broker: BrokerHelper) -> None:
    # Documented in consumer/demo/broker.py: create topics explicitly when the count matters.
    topic = f"auto-{broker.unique_group()}"
    assert broker.partitions(topic) == 0
    broker.produce(topic, [b"x"])
    assert broker.partitions(topic) == 4
