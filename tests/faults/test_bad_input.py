"""Bad input: each kind dead-lettered with its reason or mapped, none crashing the connector or
blocking its partition, memory bounded.

The records are Confluent-framed (a schema registry is in use), so wrong magic bytes and unknown
schema ids are meaningful, and they sit between good events of the same partition: the good
events after them must arrive too. The oversized kinds (10 MB values, 5 MB strings) are
issue-12 defect 4: ``test_defects.py``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.scenario import FaultRun
from tests.fixtures.accounting import expect_dead_letter
from tests.fixtures.capi import avro_framed, avro_record, frame

pytestmark = pytest.mark.integration

RSS_LIMIT = 700 * 1024 * 1024  # connector + 2 decode workers; ~300 MB is usual
UNKNOWN_SCHEMA_ID = 987_654
NON_UTF8 = b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"


def _track(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"bad-{random.getrandbits(40):x}",
        "userId": "user-bad-input",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "properties": {"product_id": "p-1", "name": "Jenga Classic", "price": 12.5},
        "context": {"page": {"url": "https://shop.example.com/p/1"}},
    }
    event.update(changes)
    return event


def test_bad_records_are_dead_lettered_or_mapped_without_blocking(
    fault_run: Callable[..., FaultRun], schema_registry: Any
) -> None:
    run = fault_run(partitions=2, registry=schema_registry)
    rng = random.Random(12)
    schema_id = run.schema_id
    assert schema_id is not None
    good = avro_framed(_track(), schema_id)
    undecodable = {
        "random bytes": [rng.randbytes(rng.randint(1, 400)) for _ in range(5)],
        "truncated Avro": [good[: len(good) // 2], good[:7]],
        "wrong magic byte": [b"\x01" + good[1:]],
        "unknown schema id": [frame(UNKNOWN_SCHEMA_ID, good[5:])],
        "10,000-level nesting": [
            frame(
                schema_id,
                avro_record(
                    {
                        "type": "track",
                        "event": "Product Viewed",
                        "messageId": "deep-1",
                        "properties": "[" * 10_000 + "]" * 10_000,
                    }
                ),
            )
        ],
        "non-UTF-8 in a string": [
            avro_framed(_track(userId="ZZZZZZZZ"), schema_id).replace(b"ZZZZZZZZ", NON_UTF8)
        ],
        "non-UTF-8 in JSON text": [
            avro_framed(_track(properties={"name": "ZZZZZZZZ"}), schema_id).replace(
                b"ZZZZZZZZ", NON_UTF8
            )
        ],
        "empty value": [b"", None],
    }
    odd_events = {
        "events missing every identifier": [
            {"type": "track", "event": "Product Viewed", "properties": {"price": 3}},
            {"type": "page", "properties": {"url": "https://shop.example.com/"}},
        ],
        "numbers where strings belong": [
            _track(event=42, userId=12345, messageId=777, timestamp=1_700_000_000),
            _track(
                event="Order Completed",
                userId=12345,
                properties={
                    "currency": 978,
                    "value": "abc",
                    "order_id": 5,
                    "products": "not a list",
                },
                context={"page": {"url": 5}, "traits": {"email": 5, "phone": 5}},
            ),
        ],
    }
    run.produce_events(run.storefront(300, seed=10), label="before", partition=0)
    for kind, values in undecodable.items():
        run.produce_values(values, expect_dead_letter("decode_error"), label=kind, partition=0)
    for kind, events in odd_events.items():
        run.produce_events(
            events, may_dead_letter=("invalid_event", "mapping_error"), label=kind, partition=0
        )
    run.produce_events(run.storefront(300, seed=11), label="after", partition=0)
    run.start(BATCH_SIZE="100")
    run.wait_settled(60)
    report = run.finish()
    assert report.dead_letter_reasons.get("decode_error") == sum(map(len, undecodable.values()))
    assert report.lost == 0
    assert 0 < run.peak_rss() < RSS_LIMIT
