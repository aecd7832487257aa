"""ensure_topics against a real broker: creates what is missing, leaves the rest alone."""

from __future__ import annotations

import socket
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.kafka.topics import TopicSetupError, ensure_topics

pytestmark = pytest.mark.integration


def admin_conf(broker: BrokerHelper) -> dict[str, Any]:
    return {"bootstrap.servers": broker.bootstrap}


def test_creates_missing_topics_with_the_source_partition_count(broker: BrokerHelper) -> None:
    source = broker.unique_topic("src", partitions=3)
    existing = broker.create_topic(f"{source}.retry.1", 1)
    wanted = [existing, f"{source}.retry.2", f"{source}.dlq"]

    created = ensure_topics(admin_conf(broker), source, wanted, timeout=10)

    assert created == [f"{source}.retry.2", f"{source}.dlq"]
    assert broker.partitions(f"{source}.retry.2") == 3
    assert broker.partitions(f"{source}.dlq") == 3
    assert broker.partitions(existing) == 1  # left as it was
    # Idempotent: a second start-up creates nothing.
    assert ensure_topics(admin_conf(broker), source, wanted, timeout=10) == []


def test_missing_source_topic_is_a_clear_error(broker: BrokerHelper) -> None:
    source = broker.unique_group("no-such-topic")
    with pytest.raises(TopicSetupError, match=f"source topic '{source}' does not exist"):
        ensure_topics(admin_conf(broker), source, [f"{source}.dlq"], timeout=10)
    assert broker.partitions(f"{source}.dlq") == 0


class RefusingAdmin:
    """Lists the real cluster but is refused creation, as a cluster with ACLs would."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._admin = AdminClient(conf)

    def list_topics(self, timeout: float) -> Any:
        return self._admin.list_topics(timeout=timeout)

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Future[None]]:
        futures: dict[str, Future[None]] = {}
        for topic in new_topics:
            future: Future[None] = Future()
            error = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")
            future.set_exception(KafkaException(error))
            futures[topic.topic] = future
        return futures


def test_creation_failure_is_a_clear_error(broker: BrokerHelper) -> None:
    source = broker.unique_topic("src")
    with pytest.raises(TopicSetupError, match="cannot create topics") as info:
        ensure_topics(
            admin_conf(broker), source, [f"{source}.dlq"], timeout=10, admin_factory=RefusingAdmin
        )
    assert f"{source}.dlq: Topic authorization failed" in str(info.value)
    assert "CREATE_TOPICS=false" in str(info.value)


def test_unreachable_cluster_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    conf = {"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0}
    with pytest.raises(
        TopicSetupError, match=r"cannot reach the Kafka cluster within 1s .*: connection refused"
    ):
        ensure_topics(conf, "src", ["src.dlq"], timeout=1)


@pytest.mark.parametrize("bad", ["bad name!", "x" * 250, "..", ""])
def test_illegal_names_are_refused_before_any_request(bad: str) -> None:
    with pytest.raises(TopicSetupError, match="illegal topic names"):
        ensure_topics({"bootstrap.servers": "127.0.0.1:1"}, "src", [bad], timeout=1)


def test_bad_replication_factor_is_refused() -> None:
    with pytest.raises(TopicSetupError, match="replication factor"):
        ensure_topics({}, "src", ["src.dlq"], replication_factor=0)
