"""The collector is tuned so that consumed records do not set off collections."""

from __future__ import annotations

import json
import subprocess
import sys

from tiktok_capi.consumer.collector import THRESHOLDS

# Holds 20 consume-sized batches of Kafka messages (containers the collector tracks) in flight,
# 5 at a time as the poll loop does, and counts the collections they set off. In a fresh
# interpreter: the test process's own collector is not ours to change.
PROBE = """
import gc, json, sys
from confluent_kafka import Message
from tiktok_capi.consumer.collector import freeze_startup_heap, tune_collector
if sys.argv[1] == "tuned":
    tune_collector()
    freeze_startup_heap()
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
in_flight = []
for batch in range(20):
    in_flight.append([Message(topic="events", value=b"x" * 100, offset=i) for i in range(1000)])
    if len(in_flight) > 5:
        in_flight.pop(0)  # delivered: freed by reference counting
print(json.dumps({"collections": collections, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold()}))
"""


def _probe(mode: str) -> dict[str, list[int] | int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, list[int] | int] = json.loads(out)
    return result


def test_consumed_batches_set_off_collections_with_cpythons_defaults() -> None:
    collections = _probe("default")["collections"]
    assert isinstance(collections, list)
    assert len(collections) >= 20  # one per batch at least, walking it
    assert 1 in collections  # and the messages in flight again, a generation up


def test_tuned_collector_leaves_consumed_batches_to_reference_counting() -> None:
    result = _probe("tuned")
    assert result["threshold"] == list(THRESHOLDS)
    collections = result["collections"]
    assert isinstance(collections, list)
    assert len(collections) <= 2  # 20,000 messages made: one young collection per 10,000
    assert 2 not in collections
    assert isinstance(result["frozen"], int) and result["frozen"] > 1000  # start-up heap
