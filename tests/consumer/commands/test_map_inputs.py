"""`tiktok-capi map` on a user's own records: Avro files, Avro JSON lines, field paths, a topic."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from tests.fixtures.broker import BrokerHelper
from tests.fixtures.registry import FakeSchemaRegistry
from tests.mapping.test_map_command import _run as run_map
from tiktok_capi.consumer.decode.codec import frame
from tiktok_capi.consumer.demo import thirdparty
from tiktok_capi.consumer.demo.storefront import generate
from tiktok_capi.mapping import Mapped, MappingSettings, map_event

EVENTS = [e for e in generate(40, seed=5) if e["type"] in ("track", "page")]
RECORDS = [thirdparty.to_record(e) for e in EVENTS]
SCHEMA = fastavro.parse_schema(thirdparty.schema())


def _expected(records: list[dict[str, Any]]) -> list[Any]:
    out = []
    for record in records:
        result = map_event(thirdparty.segment_equivalent(record), MappingSettings(), 0.0)
        out.append(result.event if isinstance(result, Mapped) else None)
    return out


def _run(
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: bytes = b"",
) -> tuple[int, list[Any], str]:
    for name in ("SOURCE_FIELDS_FILE", "VALUE_FORMAT", "AVRO_SCHEMA_FILE", "EVENT_MAP_FILE"):
        monkeypatch.delenv(name, raising=False)
    return run_map(capsysbinary, monkeypatch, args, stdin)


def _same(got: list[Any], expected: list[Any]) -> None:
    # event_time comes from the records (they all have timestamps), so outputs compare exactly.
    assert got == expected


def test_an_avro_container_file(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.avro"
    with path.open("wb") as stream:
        fastavro.writer(stream, SCHEMA, RECORDS)
    status, out, err = _run(capsysbinary, monkeypatch, ["--format", "avro", str(path)])
    assert (status, err) == (0, "")
    _same(out, _expected(RECORDS))


def test_avro_json_lines_with_a_schema(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = tmp_path / "event.avsc"
    schema.write_text(json.dumps(thirdparty.schema()))
    lines = io.StringIO()
    fastavro.json_writer(lines, SCHEMA, RECORDS[:5])
    stdin = lines.getvalue().rstrip("\n").encode() + b"\nnot a record\n"
    status, out, err = _run(
        capsysbinary, monkeypatch, ["--format", "avro", "--schema", str(schema)], stdin
    )
    assert status == 1
    _same(out[:5], _expected(RECORDS[:5]))
    assert out[5] is None
    assert err == "tiktok-capi map: line 6: not a record of the schema (JSONDecodeError)\n"


def test_field_paths_turn_other_names_into_segment_ones(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = tmp_path / "fields.yaml"
    fields.write_text(
        "event: event_name\ntimestamp: ts\nmessageId: id\ncontext.traits.email: user.email\n"
        "properties.products: items\nproperties.products[].price: items[].unit_price\n"
    )
    theirs = {
        "type": "track",
        "event_name": "Order Completed",
        "ts": "2024-11-25T08:00:00.000Z",
        "id": "m-77",
        "user": {"email": "pat@example.com"},
        "items": [{"product_id": "p-1", "unit_price": 12.5, "quantity": 2}],
        "properties": {"currency": "EUR"},
    }
    segment = {
        "type": "track",
        "event": "Order Completed",
        "timestamp": "2024-11-25T08:00:00.000Z",
        "messageId": "m-77",
        "context": {"traits": {"email": "pat@example.com"}},
        "properties": {
            "currency": "EUR",
            "products": [{"product_id": "p-1", "price": 12.5, "quantity": 2}],
        },
    }
    status, out, _ = _run(
        capsysbinary, monkeypatch, ["--fields", str(fields)], orjson.dumps(theirs)
    )
    assert status == 0
    assert out == [map_event(segment, MappingSettings(), 0.0).event]  # type: ignore[union-attr]
    fields.write_text("contxt.ip: ip\n")
    status, out, err = _run(capsysbinary, monkeypatch, ["--fields", str(fields)], b"{}")
    assert (status, out) == (2, [])
    assert f"--fields={fields}: entry 'contxt.ip'" in err


@pytest.mark.integration
def test_from_a_topic_through_the_registry(
    broker: BrokerHelper,
    schema_registry: FakeSchemaRegistry,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema_id = schema_registry.register("shop-value", thirdparty.schema())
    bodies = thirdparty.encode(RECORDS[:6])
    topic = broker.unique_topic("map-from-topic")
    values = (
        [frame(schema_id, b) for b in bodies[:3]]
        + [b"\x07garbage"]
        + [frame(schema_id, b) for b in bodies[3:]]
    )
    broker.produce(topic, values)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry.url)
    status, out, err = _run(capsysbinary, monkeypatch, ["--from-topic", topic, "--limit", "5"])
    assert status == 1
    expected = _expected(RECORDS[:4])
    assert out == [*expected[:3], None, expected[3]]
    assert err == (
        "tiktok-capi map: partition 0 offset 3: undecodable (wrong_magic_byte): first byte is 7, "
        "not the Confluent magic byte 0, and the value is not plain Avro of the pinned schema "
        "either\n"
    )
    status, _, err = _run(capsysbinary, monkeypatch, ["--from-topic", f"{topic}-missing"])
    assert status == 2 and "not found" in err
