"""Codec: the bundled schema round-trips any Segment event; garbage only ever raises DecodeError."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.consumer.decode.schemas import NoSchemas, StaticSchemas
from tiktok_capi.consumer.config.settings import InputSettings
from tiktok_capi.consumer.decode.codec import (
    BundledDecoder,
    DecodeError,
    EncodeError,
    bundled_schema_text,
    encode_event,
    encode_event_framed,
)
from tiktok_capi.consumer.decode.formats import RecordDecoder, make_decoder
from tiktok_capi.schemas.loader import EXAMPLES_DIR

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- golden examples -------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_golden_example_encodes_to_committed_bytes_and_back(path: Path) -> None:
    event = _load(path)
    golden = path.with_suffix(".avro")
    encoded = encode_event(event)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(encoded)
    assert encoded == golden.read_bytes()
    assert BundledDecoder().decode(golden.read_bytes()) == event


def test_there_are_golden_examples() -> None:
    assert len(EXAMPLES) >= 4


def test_round_trip_keeps_ints_floats_nulls_and_absent_keys_apart() -> None:
    event = {"type": "track", "userId": None, "properties": {"a": 1, "b": 1.0, "c": None}}
    decoded = BundledDecoder().decode(encode_event(event))
    assert decoded == event
    assert type(decoded["properties"]["a"]) is int
    assert type(decoded["properties"]["b"]) is float
    assert "anonymousId" not in decoded
    assert decoded["userId"] is None


def test_non_string_typed_field_is_kept_as_is() -> None:
    event = {"type": "track", "userId": 42, "timestamp": 1732521165}
    assert BundledDecoder().decode(encode_event(event)) == event


@pytest.mark.parametrize(
    "event",
    [
        {"type": "track", "properties": {"n": 2**64}},  # beyond 64-bit: refused, not rounded
        {"type": "track", "event": "\ud800"},  # lone surrogate: not UTF-8
        {"type": "track", "properties": {"s": "\udfff"}},
        {"type": "track", "properties": {"x": object()}},
        {1: "non-string key"},
    ],
)
def test_unencodable_events_raise_encode_error(event: Any) -> None:
    with pytest.raises(EncodeError):
        encode_event(event)


def test_encode_rejects_non_objects() -> None:
    with pytest.raises(EncodeError):
        encode_event([1, 2])  # type: ignore[arg-type]


def test_framed_encoding_is_header_plus_plain() -> None:
    event = _load(EXAMPLES_DIR / "page.json")
    framed = encode_event_framed(event, 258)
    assert framed[:5] == b"\x00\x00\x00\x01\x02"
    assert framed[5:] == encode_event(event)


def test_bundled_schema_text_is_canonical_json() -> None:
    parsed = json.loads(bundled_schema_text())
    assert parsed["name"] == "tiktok_capi.CdpEvent"
    assert " " not in bundled_schema_text()


# -- poison records --------------------------------------------------------------------------
def _reason(decoder: Any, value: bytes | None) -> str:
    with pytest.raises(DecodeError) as info:
        decoder.decode(value)
    return info.value.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"\x02\x10abc", "truncated"),
        (b"\x0e", "garbage"),  # union branch 7 does not exist
        (b"\x02\x06\xff\xfe\xfd", "garbage"),  # not UTF-8
        (b"\x00" * 12 + b"trailing", "garbage"),
        (b"\x00" * 7 + b"\x06{x}" + b"\x00" * 4, "garbage"),  # properties not JSON
        (b"\x00" * 11 + b"\x04[]", "garbage"),  # extra not an object
    ],
)
def test_bundled_decoder_poison_records(value: bytes | None, reason: str) -> None:
    assert _reason(BundledDecoder(), value) == reason


def test_truncated_real_event_is_truncated() -> None:
    data = encode_event(_load(EXAMPLES_DIR / "order_completed.json"))
    for cut in (1, 10, len(data) // 2, len(data) - 1):
        assert _reason(BundledDecoder(), data[:cut]) in ("truncated", "garbage")
    assert _reason(BundledDecoder(), data[: len(data) - 1]) == "truncated"


def test_decode_error_message_does_not_echo_content() -> None:
    event = {"type": "track", "properties": {"email": "secret.person@example.com"}}
    data = encode_event(event)
    with pytest.raises(DecodeError) as info:
        BundledDecoder().decode(data[:-3])
    assert "secret.person" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x01\x00\x00\x00\x01", "wrong_magic_byte"),
        (b'{"type": "track"}', "wrong_magic_byte"),
        (b"\x00\x00\x00", "truncated"),
        (b"\x00", "truncated"),
    ],
)
def test_registry_decoder_header_errors(value: bytes, reason: str) -> None:
    assert _reason(RecordDecoder(registry=NoSchemas()), value) == reason


def test_make_decoder_without_registry_reads_the_bundled_schema() -> None:
    decoder = make_decoder(InputSettings())
    event = {"type": "track", "event": "x"}
    assert decoder.decode(encode_event(event)) == event
    assert _reason(decoder, encode_event_framed(event, 1)) == "garbage"


def test_make_decoder_with_registry_reads_framed_values() -> None:
    decoder = make_decoder(InputSettings(schema_registry_url="http://127.0.0.1:9"))
    assert _reason(decoder, b"\x01\x00\x00\x00\x01") == "wrong_magic_byte"
    decoder.close()


# -- properties ------------------------------------------------------------------------------
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)
_top_keys = st.sampled_from(
    ["type", "event", "name", "messageId", "userId", "anonymousId", "timestamp", "properties",
     "context", "traits", "integrations", "extra", "sentAt", "limited_data_use"]
) | _text  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_top_keys, _json | _text, max_size=10))
def test_any_json_object_round_trips(event: dict[str, Any]) -> None:
    assert BundledDecoder().decode(encode_event(event)) == event


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_top_keys, _json, max_size=8), st.integers(0, 2**32 - 1))
def test_any_json_object_round_trips_framed(event: dict[str, Any], schema_id: int) -> None:
    decoder = RecordDecoder(registry=StaticSchemas())
    assert decoder.decode(encode_event_framed(event, schema_id)) == event


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        decoded = BundledDecoder().decode(data)
    except DecodeError as exc:
        assert exc.reason in ("empty", "garbage", "truncated")
    else:
        assert isinstance(decoded, dict)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=100))
def test_random_framed_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        RecordDecoder(registry=StaticSchemas()).decode(b"\x00\x00\x00\x00\x07" + data)
    except DecodeError as exc:
        assert exc.reason in ("garbage", "truncated")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_events_only_raise_decode_error(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(EXAMPLES))
    encoded = bytearray(encode_event(_load(path)))
    for _ in range(data.draw(st.integers(1, 5))):
        index = data.draw(st.integers(0, len(encoded) - 1))
        encoded[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        BundledDecoder().decode(bytes(encoded))
