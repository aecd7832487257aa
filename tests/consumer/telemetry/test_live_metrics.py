"""`/metrics` of a running `tiktok-capi run`: every metric from the start, assignment, rebalances
and lag per partition of the source and each retry tier (real broker, emulator, process)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.consumer.core_support import (
    RunProcess,
    produce_events,
    sample_events,
    settings_env,
)
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.failures.tiers import HEADER_DUE_AT, HEADER_GROUP

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Not primed on purpose (docs/metrics.md): histograms appear with their first observation,
# per-partition gauges with the partition's assignment.
NOT_AT_START = {
    "tiktok_capi_request_duration_seconds",
    "tiktok_capi_commit_duration_seconds",
    "tiktok_capi_batch_size",
    "tiktok_capi_consumer_lag",
    "tiktok_capi_committed_offset",
}


def documented() -> set[str]:
    """The Prometheus names of docs/metrics.md's reference tables."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(tiktok_capi_\w+)` \|", text, re.M))


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


@pytest.fixture
def connector(broker: Any, emulator: Any) -> Iterator[tuple[RunProcess, str, str]]:
    topic = broker.unique_topic("live", partitions=2)
    group = broker.unique_group("live")
    tier = broker.create_topic(f"{topic}.{group}.retry.1", 2)
    produce_events(broker, topic, sample_events(30, seed=31, prefix="live"))
    # Three retries due in a day: their partition stays paused, its lag is 3.
    due = [(HEADER_DUE_AT, str(int((time.time() + 86400) * 1000)).encode())]
    broker.produce(tier, [b"a", b"b", b"c"], headers=[*due, (HEADER_GROUP, group.encode())],
                   partition=0)  # fmt: skip
    env = settings_env(
        broker,
        emulator,
        topic,
        group,
        RETRY_DELAYS="24h",
        KAFKA_STATISTICS_INTERVAL_MS="200",
    )
    process = RunProcess(env)
    try:
        yield process, topic, tier
    finally:
        assert process.stop() == 0


def test_every_metric_is_there_from_the_start_and_lag_is_per_partition(
    connector: tuple[RunProcess, str, str],
) -> None:
    process, topic, tier = connector
    url = f"http://127.0.0.1:{process.health_port()}/metrics"
    first = httpx.get(url, timeout=10).text
    present = {name for name, _ in samples(first)}
    assert len(documented()) >= 20
    assert documented() - NOT_AT_START - present == set()
    assert value(first, "tiktok_capi_records_consumed_total", topic=topic) == 0
    assert value(first, "tiktok_capi_records_consumed_total", topic=f"{tier}") == 0
    assert value(first, "tiktok_capi_events_dead_lettered_total", reason="invalid_event") == 0
    assert value(first, "tiktok_capi_destination_state", state="running") == 1
    assert value(first, "tiktok_capi_partitions_assigned", topic=topic) == 0

    def settled() -> str | None:
        text = httpx.get(url, timeout=10).text
        wanted = {
            ("tiktok_capi_partitions_assigned", (("topic", topic),)): 2,
            ("tiktok_capi_partitions_assigned", (("topic", tier),)): 2,
            ("tiktok_capi_consumer_lag", (("partition", "0"), ("topic", tier))): 3,
            ("tiktok_capi_consumer_lag", (("partition", "1"), ("topic", tier))): 0,
            ("tiktok_capi_consumer_lag", (("partition", "0"), ("topic", topic))): 0,
            ("tiktok_capi_consumer_lag", (("partition", "1"), ("topic", topic))): 0,
        }
        got = samples(text)
        ok = all(got.get((name, frozenset(labels))) == n for (name, labels), n in wanted.items())
        return text if ok else None

    text = wait_for(
        settled, timeout=60, what="assignment and lag per partition on /metrics", interval=0.2
    )
    assert (value(text, "tiktok_capi_rebalances_total", kind="assigned") or 0) >= 1
    assert (value(text, "tiktok_capi_records_consumed_total", topic=topic) or 0) >= 30
