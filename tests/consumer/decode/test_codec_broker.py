"""Through a real broker: framed records of several schema versions and poison records."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from tests.fixtures.broker import BrokerHelper
from tests.fixtures.registry import FakeSchemaRegistry
from tiktok_capi.consumer.config.settings import InputSettings
from tiktok_capi.consumer.decode.codec import (
    DecodeError,
    bundled_schema_text,
    encode_event_framed,
    frame,
    to_record,
)
from tiktok_capi.consumer.decode.formats import RecordDecoder
from tiktok_capi.consumer.decode.registry import SchemaRegistry
from tiktok_capi.schemas.loader import cdp_event_schema

pytestmark = pytest.mark.integration

EVENT = {
    "type": "track",
    "event": "Order Completed",
    "messageId": "m-42",
    "userId": "u-42",
    "timestamp": "2024-11-25T08:00:00.000Z",
    "properties": {
        "order_id": "o-1",
        "value": 12.5,
        "products": [{"product_id": "p", "quantity": 1}],
    },
    "context": {"traits": {"email": "someone@example.com"}},
    "integrations": {"All": True},
}


def _encode_with(schema: dict[str, Any], record: dict[str, Any], schema_id: int) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return frame(schema_id, buffer.getvalue())


def test_versions_and_poison_records_after_a_trip_through_kafka(
    broker: BrokerHelper, schema_registry: FakeSchemaRegistry
) -> None:
    current = schema_registry.register("cdp-events-value", bundled_schema_text())
    older = cdp_event_schema()
    older["fields"] = [f for f in older["fields"] if f["name"] != "integrations"]
    older_id = schema_registry.register("cdp-events-value", json.dumps(older))
    newer = cdp_event_schema()
    newer["fields"].append({"name": "source", "type": ["null", "string"], "default": None})
    newer_id = schema_registry.register("cdp-events-value", json.dumps(newer))
    older_record = {k: v for k, v in to_record(EVENT).items() if k != "integrations"}
    without_integrations = {k: v for k, v in EVENT.items() if k != "integrations"}

    cases: list[tuple[bytes | None, object]] = [
        (encode_event_framed(EVENT, current), EVENT),
        (_encode_with(older, older_record, older_id), without_integrations),
        (_encode_with(newer, {**to_record(EVENT), "source": "pos"}, newer_id), EVENT),
        (b"\x00\x00\x00\x03\xe7" + b"\x00" * 12, "unknown_schema_id"),
        (b"\x07garbage", "wrong_magic_byte"),
        (encode_event_framed(EVENT, current)[:-4], "truncated"),
        (frame(current, b"\x00" * 12 + b"\xff\xff"), "garbage"),
        (None, "empty"),
    ]
    topic = broker.unique_topic("codec", partitions=2)
    broker.produce(topic, [value for value, _ in cases], keys=[b"same-key"] * len(cases))
    messages = broker.read_all(topic, expected=len(cases))
    messages.sort(key=lambda m: m.offset())
    assert len(messages) == len(cases)

    with SchemaRegistry.from_settings(InputSettings(schema_registry_url=schema_registry.url)) as r:
        decoder = RecordDecoder(registry=r)
        for message, (_, expected) in zip(messages, cases, strict=True):
            if isinstance(expected, dict):
                assert decoder.decode(message.value()) == expected
            else:
                with pytest.raises(DecodeError) as info:
                    decoder.decode(message.value())
                assert info.value.reason == expected
                assert "someone@example.com" not in str(info.value)
