"""Retry tiers another consumer group writes to are refused at start-up (real broker)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.consumer.core_support import make_settings, settings_env
from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.app import Connector
from tiktok_capi.consumer.failures.ownership import ForeignRecordsError, check_retry_topics
from tiktok_capi.consumer.failures.tiers import HEADER_GROUP

pytestmark = pytest.mark.integration


def conf(broker: BrokerHelper) -> dict[str, Any]:
    return {"bootstrap.servers": broker.bootstrap, "auto.offset.reset": "earliest"}


def test_records_of_another_group_are_refused(broker: BrokerHelper) -> None:
    tier = broker.unique_topic("own-tier", 2)
    broker.produce(tier, [b"a", b"b"], headers=[(HEADER_GROUP, b"shop-eu")], partition=0)
    broker.produce(tier, [b"c"], headers=[(HEADER_GROUP, b"shop-us")], partition=1)
    with pytest.raises(ForeignRecordsError) as excinfo:
        check_retry_topics(conf(broker), [tier], "shop-eu")
    message = str(excinfo.value)
    assert f"retry topic {tier}" in message and "'shop-us'" in message and "'shop-eu'" in message
    assert "partition 1, offset 0" in message and "RETRY_TOPIC" in message
    # Nothing was committed for the group: the check only reads.
    assert broker.committed("shop-eu", tier) == {}


def test_own_and_unlabelled_records_pass(broker: BrokerHelper) -> None:
    """Records written before the header existed must not stop an upgraded deployment."""
    tier = broker.unique_topic("own-tier", 1)
    missing = f"{tier}-never-created"
    broker.produce(tier, [b"old", b"older"])  # no header
    broker.produce(tier, [b"mine"], headers=[(HEADER_GROUP, b"shop-eu")])
    check_retry_topics(conf(broker), [tier, missing], "shop-eu")
    assert broker.partitions(missing) == 0


def test_only_records_near_the_committed_offset_are_read(broker: BrokerHelper) -> None:
    from confluent_kafka import Consumer, TopicPartition

    tier = broker.unique_topic("own-tier", 1)
    group = broker.unique_group("own")
    broker.produce(tier, [b"x"], headers=[(HEADER_GROUP, b"someone-else")])
    broker.produce(tier, [b"y"] * 5, headers=[(HEADER_GROUP, group.encode())])
    committer = Consumer(broker.consumer_config(group))
    try:
        committer.commit(offsets=[TopicPartition(tier, 0, 6)], asynchronous=False)
    finally:
        committer.close()
    check_retry_topics(conf(broker), [tier], group, window=3)  # offsets 3..5: all the group's
    with pytest.raises(ForeignRecordsError):
        check_retry_topics(conf(broker), [tier], group, window=10)


def test_the_connector_refuses_to_start(broker: BrokerHelper, emulator: Any) -> None:
    topic = broker.unique_topic("own-src", 1)
    group = broker.unique_group("own")
    settings = make_settings(settings_env(broker, emulator, topic, group))
    broker.create_topic(f"{settings.kafka.retry_topic}.1", 1)
    broker.produce(f"{settings.kafka.retry_topic}.1", [b"v"], headers=[(HEADER_GROUP, b"other")])
    with pytest.raises(ForeignRecordsError, match="'other'"):
        Connector(settings).run()
