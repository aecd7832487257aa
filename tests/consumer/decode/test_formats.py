"""Formats record by record: a user's Avro schema, plain JSON, framed JSON Schema, mixed topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.consumer.decode.schemas import StaticSchemas
from tiktok_capi.consumer.config.files import InputFileError
from tiktok_capi.consumer.config.settings import InputSettings
from tiktok_capi.consumer.decode.codec import DecodeError, encode_event, frame
from tiktok_capi.consumer.decode.formats import RecordDecoder, avro_reader, make_decoder
from tiktok_capi.consumer.demo import thirdparty
from tiktok_capi.consumer.demo.storefront import generate
from tiktok_capi.mapping import MappingSettings, map_event

EVENTS = [e for e in generate(300, seed=11) if e["type"] in ("track", "page", "identify")]
RECORDS = [thirdparty.to_record(e) for e in EVENTS]
BODIES = thirdparty.encode(RECORDS)
SCHEMA_TEXT = json.dumps(thirdparty.schema())
NOW = 1_735_689_600.0


def _reason(decoder: RecordDecoder, value: bytes | None) -> str:
    with pytest.raises(DecodeError) as info:
        decoder.decode(value)
    return info.value.reason


def test_a_third_party_schema_maps_like_its_segment_json() -> None:
    decoder = RecordDecoder(registry=StaticSchemas({3: SCHEMA_TEXT}))
    settings = MappingSettings()
    sent = 0
    for record, body in zip(RECORDS, BODIES, strict=True):
        decoded = decoder.decode(frame(3, body))
        expected = map_event(thirdparty.segment_equivalent(record), settings, NOW)
        got = map_event(decoded, settings, NOW)
        assert got == expected
        sent += hasattr(got, "event")
    assert sent > 100  # most of the sample is mapped, not skipped


def test_nulls_are_absent_and_logical_types_are_usable() -> None:
    order = next(r for r in RECORDS if r["properties"] and r["properties"]["revenue"])
    decoded = RecordDecoder(registry=StaticSchemas({3: SCHEMA_TEXT})).decode(
        frame(3, thirdparty.encode([order])[0])
    )
    assert "name" not in decoded  # null in the record: absent, as a missing key
    assert decoded["timestamp"] == order["timestamp"]
    assert decoded["timestamp"].tzinfo is not None
    assert decoded["properties"]["revenue"] == float(order["properties"]["revenue"])
    assert isinstance(decoded["anonymousId"], str)
    assert decoded["type"] == "track"  # the enum's symbol


def test_two_versions_of_a_schema_on_one_topic_each_decode_with_their_own() -> None:
    v2 = thirdparty.schema() | {"fields": [*thirdparty.schema()["fields"]]}
    v2["fields"].insert(2, {"name": "channel", "type": "string", "default": "web"})
    record = RECORDS[0] | {"channel": "server"}
    schemas = StaticSchemas({1: SCHEMA_TEXT, 2: json.dumps(v2)})
    decoder = RecordDecoder(registry=schemas)
    old = decoder.decode(frame(1, BODIES[0]))
    new = decoder.decode(frame(2, thirdparty.encode([record], v2)[0]))
    assert new == old | {"channel": "server"}
    assert sorted(set(schemas.asked)) == [1, 2]


def test_plain_avro_of_a_pinned_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "event.avsc"
    path.write_text(SCHEMA_TEXT, encoding="utf-8")
    decoder = make_decoder(InputSettings(avro_schema_file=str(path)))
    assert decoder.decode(BODIES[0]) == thirdparty.segment_equivalent(RECORDS[0]) | {
        "timestamp": RECORDS[0]["timestamp"]
    }
    assert _reason(decoder, BODIES[0][:-2]) in ("truncated", "garbage")


def test_a_bad_schema_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "event.avsc"
    path.write_text('{"type": "record", "name": "E", "fields": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"AVRO_SCHEMA_FILE=.*not a valid Avro schema"):
        make_decoder(InputSettings(avro_schema_file=str(path)))
    with pytest.raises(InputFileError, match="cannot read"):
        make_decoder(InputSettings(avro_schema_file=str(tmp_path / "missing.avsc")))


def test_json_values() -> None:
    decoder = make_decoder(InputSettings(value_format="json"))
    assert decoder.decode(orjson.dumps(EVENTS[0])) == EVENTS[0]
    assert _reason(decoder, b"not json") == "not_json"
    assert _reason(decoder, b"\xff\xfe{}") == "not_json"
    assert _reason(decoder, b"[1, 2]") == "not_an_object"
    assert _reason(decoder, b'"text"') == "not_an_object"
    assert _reason(decoder, b"") == "empty"
    assert _reason(decoder, None) == "empty"
    assert _reason(decoder, b"[" * 5000 + b"]" * 5000) == "not_json"  # nesting past orjson's


def test_a_mixed_topic_is_read_record_by_record() -> None:
    schemas = StaticSchemas({1: SCHEMA_TEXT, 9: '{"type": "object"}'}, json_ids=frozenset({9}))
    decoder = RecordDecoder("json", registry=schemas)
    segment = EVENTS[1]
    cases: list[tuple[bytes | None, Any]] = [
        (frame(1, BODIES[1]), "avro"),  # framed Avro of the team's schema
        (frame(9, orjson.dumps(segment)), segment),  # framed JSON Schema value
        (orjson.dumps(segment), segment),  # plain Segment JSON
        (frame(1, b"\x0d"), "garbage"),  # enum index -7
        (frame(4242, b"{}"), "unknown_schema_id"),
        (frame(9, b"[]"), "not_an_object"),
        (b"\x00\x00\x00", "truncated"),
        (b"<html>", "not_json"),
        (None, "empty"),
    ]
    for value, expected in cases:
        if expected == "avro":
            assert decoder.decode(value)["messageId"] == RECORDS[1]["messageId"]
        elif isinstance(expected, dict):
            assert decoder.decode(value) == expected
        else:
            assert _reason(decoder, value) == expected, value


def test_an_avro_topic_with_a_registry_reads_unframed_bundled_records_too() -> None:
    decoder = RecordDecoder(registry=StaticSchemas({1: SCHEMA_TEXT}))
    plain = {"type": "track", "event": "Order Completed", "messageId": "m-9"}
    assert decoder.decode(encode_event(plain)) == plain
    assert decoder.decode(frame(1, BODIES[2]))["messageId"] == RECORDS[2]["messageId"]
    assert _reason(decoder, b"\x07garbage") == "wrong_magic_byte"


def test_a_protobuf_or_unreadable_schema_is_dead_lettered_with_its_reason() -> None:
    assert _reason(RecordDecoder(registry=StaticSchemas({1: '"int"'})), frame(1, b"\x02")) == (
        "not_an_object"
    )
    with pytest.raises(DecodeError) as info:
        avro_reader('{"type": "nope"}')
    assert info.value.reason == "incompatible_schema"
