"""Users' own topics end to end: real broker, registry and emulator over sockets, the connector.

Every mapped event must arrive with exactly the fields the mapping gives for the equivalent
Segment JSON, every undecodable record must be in the dead-letter topic with its reason, and
committed offsets must reach the end of the topic: nothing lost.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.consumer.core_support import (
    expected_events,
    headers_of,
    make_settings,
    running,
    sample_events,
    settings_env,
)
from tests.fixtures.registry import FakeSchemaRegistry
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.decode.codec import frame
from tiktok_capi.consumer.demo import thirdparty
from tiktok_capi.consumer.failures.tiers import HEADER_ERROR_MESSAGE, HEADER_REASON

pytestmark = pytest.mark.integration


def _records(n: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    events = [e for e in sample_events(n, seed=seed, prefix=prefix) if e["type"] != "screen"]
    return [thirdparty.to_record(e) for e in events]


def _segment(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [thirdparty.segment_equivalent(r) for r in records]


def _ends(positions: list[tuple[int, int]]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for partition, offset in positions:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def _arrived_as_expected(emulator: Any, expected: dict[str, dict[str, Any]]) -> None:
    received = {e["event_id"]: e for e in emulator.events()}
    assert set(received) == set(expected)
    for event_id, want in expected.items():
        assert {k: v for k, v in received[event_id].items() if k in want} == want, event_id


def _drain(broker: Any, group: str, topic: str, ends: dict[int, int]) -> None:
    committed = broker.wait_committed(group, topic, ends, timeout=90)
    assert committed == ends, f"committed {committed}, expected the ends {ends}"


def _v2() -> dict[str, Any]:
    schema = copy.deepcopy(thirdparty.schema())
    schema["fields"].insert(3, {"name": "channel", "type": "string", "default": "web"})
    return schema


def test_a_third_party_schema_in_two_versions_through_the_registry(
    broker: Any, emulator: Any, schema_registry: FakeSchemaRegistry
) -> None:
    topic = broker.unique_topic("inputs-avro", partitions=2)
    group = broker.unique_group("inputs-avro")
    v1 = schema_registry.register(f"{topic}-value", thirdparty.schema())
    v2 = schema_registry.register(f"{topic}-value", _v2())
    records = _records(600, seed=21, prefix="avro")
    values = []
    for i, body in enumerate(thirdparty.encode(records[::2])):
        values.append(frame(v1, body))
        newer = records[2 * i + 1] if 2 * i + 1 < len(records) else None
        if newer is not None:
            encoded = thirdparty.encode([{**newer, "channel": "server"}], _v2())[0]
            values.append(frame(v2, encoded))
    positions = broker.produce(topic, values)
    expected = expected_events(_segment(records))
    env = settings_env(
        broker, emulator, topic, group, SCHEMA_REGISTRY_URL=schema_registry.url, DECODE_WORKERS="1"
    )
    with running(make_settings(env)) as connector:
        _drain(broker, group, topic, _ends(positions))
        stats = connector.connector.stats()
    _arrived_as_expected(emulator, expected)
    assert len(expected) > 300
    assert stats.dead_lettered_total == 0
    assert schema_registry.lookups(v1) == 1 and schema_registry.lookups(v2) == 1


def test_a_json_topic_with_field_paths(broker: Any, emulator: Any, tmp_path: Path) -> None:
    topic = broker.unique_topic("inputs-json", partitions=2)
    group = broker.unique_group("inputs-json")
    events = sample_events(400, seed=22, prefix="json")
    fields = tmp_path / "fields.yaml"
    fields.write_text(
        "event: event_name\ntimestamp: ts\ncontext.traits.email: user.email\n"
        "properties.products: items\n"
    )
    theirs = []
    for event in events:
        renamed = copy.deepcopy(event)
        renamed["event_name"] = renamed.pop("event", None)
        renamed["ts"] = renamed.pop("timestamp")
        traits = (renamed.get("context") or {}).get("traits") or {}
        if "email" in traits:
            renamed["user"] = {"email": traits.pop("email")}
        props = renamed.get("properties") or {}
        if "products" in props:
            renamed["items"] = props.pop("products")
        theirs.append({k: v for k, v in renamed.items() if v is not None})
    positions = broker.produce(topic, [orjson.dumps(e) for e in theirs])
    env = settings_env(
        broker, emulator, topic, group,
        VALUE_FORMAT="json", SOURCE_FIELDS_FILE=str(fields), DECODE_WORKERS="0",
    )  # fmt: skip
    with running(make_settings(env)) as connector:
        _drain(broker, group, topic, _ends(positions))
        stats = connector.connector.stats()
    _arrived_as_expected(emulator, expected_events(events))
    assert stats.dead_lettered_total == 0


def test_a_mixed_topic_is_handled_record_by_record(
    broker: Any, emulator: Any, schema_registry: FakeSchemaRegistry
) -> None:
    topic = broker.unique_topic("inputs-mixed", partitions=1)
    group = broker.unique_group("inputs-mixed")
    avro_id = schema_registry.register(f"{topic}-value", thirdparty.schema())
    json_id = schema_registry.register(f"{topic}-value", '{"type": "object"}', schema_type="JSON")
    records = _records(90, seed=23, prefix="mixed-avro")
    plain = sample_events(90, seed=24, prefix="mixed-json")
    framed_json = sample_events(90, seed=25, prefix="mixed-jsonschema")
    poison = {
        b"\x00\x00\x00\x04\x57{}": "unknown_schema_id",
        b"<html>not json</html>": "not_json",
        b"[1, 2, 3]": "not_an_object",
        frame(avro_id, b"\x0d"): "garbage",
    }
    values: list[bytes] = []
    bodies = thirdparty.encode(records)
    for i in range(90):
        values.append(frame(avro_id, bodies[i]))
        values.append(orjson.dumps(plain[i]))
        values.append(frame(json_id, orjson.dumps(framed_json[i])))
        if i % 30 == 0:
            values.extend(poison)
    positions = broker.produce(topic, values)
    expected = expected_events([*_segment(records), *plain, *framed_json])
    env = settings_env(
        broker, emulator, topic, group,
        VALUE_FORMAT="json", SCHEMA_REGISTRY_URL=schema_registry.url, DECODE_WORKERS="0",
    )  # fmt: skip
    settings = make_settings(env)
    with running(settings) as connector:
        _drain(broker, group, topic, _ends(positions))
        stats = connector.connector.stats()
    _arrived_as_expected(emulator, expected)
    dead = broker.read_all(settings.kafka.dlq_topic, 3 * len(poison), timeout=10)
    assert {headers_of(m)[HEADER_REASON] for m in dead} == {"decode_error"}
    reasons = sorted(poison[m.value()] for m in dead)
    assert reasons == sorted(list(poison.values()) * 3)
    for message in dead:
        assert f"({poison[message.value()]})" in headers_of(message)[HEADER_ERROR_MESSAGE]
    assert stats.dead_lettered == {"decode_error": 3 * len(poison)}


def test_registry_down_then_up_loses_nothing(
    broker: Any, emulator: Any, schema_registry: FakeSchemaRegistry
) -> None:
    topic = broker.unique_topic("inputs-outage", partitions=2)
    group = broker.unique_group("inputs-outage")
    schema_id = schema_registry.register(f"{topic}-value", thirdparty.schema())
    records = _records(500, seed=26, prefix="outage")
    positions = broker.produce(topic, [frame(schema_id, b) for b in thirdparty.encode(records)])
    schema_registry.fail_status = 503
    env = settings_env(
        broker, emulator, topic, group, SCHEMA_REGISTRY_URL=schema_registry.url, DECODE_WORKERS="0"
    )
    with running(make_settings(env)) as connector:
        # Backed off at least twice while it is down (1 s, then 2 s), nothing sent meanwhile.
        wait_for(
            lambda: schema_registry.lookups(schema_id) >= 4, timeout=30, what="registry retried"
        )
        assert emulator.events() == []
        schema_registry.fail_status = None
        _drain(broker, group, topic, _ends(positions))
        stats = connector.connector.stats()
    _arrived_as_expected(emulator, expected_events(_segment(records)))
    assert stats.dead_lettered_total == 0
    # Not one request per record (500), nor per chunk per retry: a few per backoff step.
    assert schema_registry.lookups(schema_id) < 40
