"""The reader generated for any Avro writer schema: values, logical types, nulls, bad bytes."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_capi.consumer.decode import generic
from tiktok_capi.consumer.decode.codec import DecodeError
from tiktok_capi.consumer.decode.fields import put_optional_string, put_string
from tiktok_capi.consumer.decode.generic import AvroReader, plain_values

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _optional(name: str, kind: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", kind], "default": None}


ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [{"name": "city", "type": "string"}, _optional("zip", "string")],
}
NODE = {  # a recursive type: a linked list
    "type": "record",
    "name": "Node",
    "fields": [{"name": "label", "type": "string"}, _optional("next", "Node")],
}
EVERYTHING = {
    "type": "record",
    "name": "Everything",
    "namespace": "com.example",
    "fields": [
        {"name": "call", "type": {"type": "enum", "name": "Call", "symbols": ["track", "page"]}},
        {"name": "flag", "type": "boolean"},
        {"name": "count", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "small", "type": "float"},
        {"name": "text", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "clock", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
        {
            "name": "units",
            "type": {
                "type": "fixed",
                "name": "Units",
                "size": 8,
                "logicalType": "decimal",
                "precision": 18,
                "scale": 0,
            },
        },
        _optional("maybe", "string"),
        {"name": "first", "type": ["string", "null"]},
        {"name": "either", "type": ["null", "long", "string", ADDRESS]},
        {"name": "home", "type": "Address"},
        {"name": "tags", "type": {"type": "array", "items": ["null", "string"]}},
        {"name": "places", "type": {"type": "array", "items": "Address"}},
        {"name": "attrs", "type": {"type": "map", "values": ["null", "long"]}},
        _optional("chain", NODE),
    ],
}
PARSED = parse_schema(EVERYTHING)

_text = st.text(max_size=12)
_address = st.fixed_dictionaries({"city": _text, "zip": st.none() | _text})


def _address_out(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


@st.composite
def _chains(draw: st.DrawFn) -> tuple[Any, Any]:
    labels = draw(st.lists(_text, max_size=4))
    written: Any = None
    expected: Any = None
    for label in reversed(labels):
        written = {"label": label, "next": written}
        expected = {"label": label} if expected is None else {"label": label, "next": expected}
    return written, expected


@st.composite
def records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record to write with fastavro, and what the reader must give back."""
    at = draw(st.integers(-(10**12), 10**13))
    at_us = draw(st.integers(-(10**15), 10**16))
    day = draw(st.integers(-(10**5), 10**5))
    clock = draw(st.integers(0, 86_399_999))
    price = draw(st.integers(-(10**11), 10**11))
    units = draw(st.integers(-(10**18) + 1, 10**18 - 1))
    either = draw(st.none() | st.integers(-(2**63), 2**63 - 1) | _text | _address)
    tags = draw(st.lists(st.none() | _text, max_size=4))
    attrs = draw(st.dictionaries(_text, st.none() | st.integers(-5, 5), max_size=4))
    chain, chain_out = draw(_chains())
    ratio = draw(st.floats(allow_nan=False))
    small = draw(st.floats(width=32, allow_nan=False))
    written = {
        "call": draw(st.sampled_from(["track", "page"])),
        "flag": draw(st.booleans()),
        "count": draw(st.integers(-(2**31), 2**31 - 1)),
        "big": draw(st.integers(-(2**63), 2**63 - 1)),
        "ratio": ratio,
        "small": small,
        "text": draw(_text),
        "blob": draw(st.binary(max_size=8)),
        "tag": draw(st.binary(min_size=3, max_size=3)),
        "at": at,
        "at_us": at_us,
        "local": at,
        "day": day,
        "clock": clock,
        "id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "price": Decimal(price).scaleb(-2),
        "units": Decimal(units),
        "maybe": draw(st.none() | _text),
        "first": draw(st.none() | _text),
        "either": either,
        "home": draw(_address),
        "tags": tags,
        "places": draw(st.lists(_address, max_size=3)),
        "attrs": attrs,
        "chain": chain,
    }
    expected = dict(written)
    expected.update(
        at=EPOCH + timedelta(milliseconds=at),
        at_us=EPOCH + timedelta(microseconds=at_us),
        local=datetime(1970, 1, 1) + timedelta(milliseconds=at),
        day=datetime.combine(date(1970, 1, 1) + timedelta(days=day), time(), UTC),
        clock=(datetime(1970, 1, 1) + timedelta(milliseconds=clock)).time(),
        price=price / 100,
        units=units,
        home=_address_out(written["home"]),
        places=[_address_out(p) for p in written["places"]],
        attrs={k: v for k, v in attrs.items() if v is not None},
        either=_address_out(either) if isinstance(either, dict) else either,
        small=schemaless_reader(io.BytesIO(_encode("float", small)), "float", None),
    )
    for key in ("maybe", "first", "either", "chain"):
        if written[key] is None:
            del expected[key]
    if chain_out is not None:
        expected["chain"] = chain_out
    return written, expected


def _encode(schema: Any, value: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), value)
    return buffer.getvalue()


def _reader(schema: Any, *, calls: bool) -> AvroReader:
    """A reader whose string fields are inline code, or calls of decode/fields (compiled build)."""
    saved = generic.COMPILED
    generic.COMPILED = calls
    try:
        return AvroReader(schema)
    finally:
        generic.COMPILED = saved


# Both ways of generating string fields, whichever build this is.
READERS = {style: _reader(EVERYTHING, calls=style == "calls") for style in ("inline", "calls")}
READER = READERS["inline"]
STYLES = pytest.mark.parametrize("style", list(READERS))


def test_string_fields_are_calls_only_in_the_compiled_build() -> None:
    assert "_put_string" not in READERS["inline"].source
    assert "_put_optional_string" in READERS["calls"].source
    assert ("_put_string" in AvroReader(EVERYTHING).source) is generic.COMPILED


@STYLES
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_every_type_reads_as_the_mapping_wants_it(
    style: str, case: tuple[dict[str, Any], Any]
) -> None:
    written, expected = case
    data = _encode(PARSED, written)
    assert READERS[style].read(data) == expected
    # And it is fastavro's own reading of the same bytes (the reference decoder), converted.
    reference = plain_values(schemaless_reader(io.BytesIO(data), PARSED, None))
    assert reference == expected


@STYLES
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.data())
def test_damaged_bytes_only_raise_decode_error(
    style: str, case: tuple[Any, Any], data: st.DataObject
) -> None:
    encoded = bytearray(_encode(PARSED, case[0]))
    if data.draw(st.booleans()):
        del encoded[data.draw(st.integers(0, len(encoded) - 1)) :]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            encoded[data.draw(st.integers(0, len(encoded) - 1))] = data.draw(st.integers(0, 255))
    try:
        READERS[style].read(bytes(encoded))
    except DecodeError as exc:
        assert exc.reason in ("garbage", "truncated")


@STYLES
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_error(style: str, data: bytes) -> None:
    try:
        READERS[style].read(data)
    except DecodeError as exc:
        assert exc.reason in ("garbage", "truncated")


@STYLES
def test_errors_say_what_went_wrong(style: str) -> None:
    fields = [{"name": "s", "type": "string"}, {"name": "o", "type": ["null", "string"]}]
    reader = _reader({"type": "record", "name": "R", "fields": fields}, calls=style == "calls")
    assert reader.read(b"\x04hi\x00") == {"s": "hi"}
    assert reader.read(b"\x04hi\x02\x02!") == {"s": "hi", "o": "!"}
    for data, reason in [
        (b"\x04h", "truncated"),
        (b"\x04hi", "truncated"),
        (b"\x04hi\x00!", "garbage"),  # left-over bytes
        (b"\x03hi\x00", "garbage"),  # a negative length
        (b"\x04\xff\xfe\x00", "garbage"),  # not UTF-8
        (b"\x04hi\x04", "garbage"),  # no such union branch
    ]:
        with pytest.raises(DecodeError) as info:
            reader.read(data)
        assert info.value.reason == reason, data


def test_a_huge_block_count_is_refused_not_looped() -> None:
    reader = AvroReader({"type": "array", "items": "null"})
    with pytest.raises(DecodeError) as info:
        reader.read(b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f")  # 2**62 items of nothing
    assert info.value.reason == "garbage"


def test_negative_block_counts_carry_their_size() -> None:
    reader = AvroReader({"type": "array", "items": "long"})
    assert reader.read(b"\x03\x04\x02\x04\x00") == [1, 2]  # count -2, size 2, then 1, 2


def test_deep_nesting_is_generated_as_functions() -> None:
    schema: Any = "long"
    value: Any = 7
    for _ in range(30):  # past Python's 20 nested blocks
        schema = {"type": "array", "items": schema}
        value = [value]
    reader = AvroReader(schema)
    assert reader.read(_encode(schema, value)) == value


def test_a_timestamp_past_year_9999_stays_a_number() -> None:
    schema = {"type": "long", "logicalType": "timestamp-millis"}
    big = 300_000_000_000_000
    assert AvroReader(schema).read(_encode({"type": "long"}, big)) == big


def test_names_cannot_inject_code() -> None:
    evil = "x'] = 1\nimport os\nos._exit(3)\n#"
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
        ],
    }
    schema["fields"][0]["name"] = evil  # fastavro accepts any field name
    reader = AvroReader(schema)
    assert reader.read(b"\x00") == {evil: "A"}


def test_an_invalid_schema_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid Avro schema"):
        AvroReader({"type": "record", "name": "R", "fields": [{"name": "x", "type": "Nope"}]})


def test_the_string_field_readers_store_and_skip() -> None:
    out: dict[str, Any] = {}
    long_text = "é" * 100  # a two-byte length varint
    body = _encode("string", long_text)
    assert put_string(body + b"!", 0, out, "a") == len(body)
    assert put_optional_string(b"\x00", 0, out, "b", 1) == 1  # ["null", "string"]: null, absent
    assert put_optional_string(b"\x00\x02x", 0, out, "c", 0) == 3  # ["string", "null"]: "x"
    assert put_optional_string(b"\x02", 0, out, "d", 0) == 1  # ... and its null
    assert out == {"a": long_text, "c": "x"}


@STYLES
def test_a_decimal_too_large_for_a_float_is_garbage_not_a_crash(style: str) -> None:
    # Damaged bytes found it: a long "bytes" length turned into a decimal beyond float range.
    schema = {
        "type": "record",
        "name": "Price",
        "fields": [
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            }
        ],
    }
    huge = b"\x7f" + b"\xff" * 300  # 2400 bits: more than a float holds
    data = _encode({"type": "bytes"}, huge)
    with pytest.raises(DecodeError) as caught:
        _reader(schema, calls=style == "calls").read(data)
    assert caught.value.reason == "garbage"
