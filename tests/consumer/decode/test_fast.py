"""Codec fast path: it decodes like fastavro, and gives up on anything else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.consumer.decode.schemas import StaticSchemas
from tiktok_capi.consumer.decode.codec import (
    DecodeError,
    _read,
    bundled_schema,
    encode_event,
    frame,
)
from tiktok_capi.consumer.decode.fast import has_bundled_layout, read_event
from tiktok_capi.consumer.decode.formats import RecordDecoder

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    # No lone surrogates: the encoder refuses them.
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["type", "event", "name", "messageId", "userId", "anonymousId", "timestamp", "properties",
     "context", "traits", "integrations", "sentAt", "limited_data_use"]
)  # fmt: skip
_EVENTS = st.dictionaries(_KEYS | st.text(max_size=6), _JSON, max_size=8)


def _slow(data: bytes) -> dict[str, Any] | DecodeError:
    try:
        return _read(data, bundled_schema(), None)
    except DecodeError as exc:
        return exc


@given(_EVENTS)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_decodes_every_encoded_event_like_fastavro(event: dict[str, Any]) -> None:
    data = encode_event(event)
    fast = read_event(data)
    assert fast is not None
    assert fast == _slow(data) == event


@given(_EVENTS, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_damaged_records_decode_alike_or_fall_back(event: dict[str, Any], data: Any) -> None:
    raw = bytearray(encode_event(event))
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "cut", "append"]))
        if action == "flip" and raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        elif action == "cut" and raw:
            del raw[data.draw(st.integers(0, len(raw) - 1)) :]
        else:
            raw += data.draw(st.binary(min_size=1, max_size=4))
    damaged = bytes(raw)
    fast = read_event(damaged)
    slow = _slow(damaged)
    if fast is not None:  # when the fast path answers, the answer is fastavro's
        assert fast == slow
    else:
        assert damaged == b"" or isinstance(slow, DecodeError | dict)


@pytest.mark.parametrize(
    "data",
    [
        b"\x04",  # union branch 2 does not exist
        b"\x80\x00",  # a non-minimal varint: left to fastavro
        b"\x02\x01",  # a negative length
        b"\x02\x08ab",  # truncated
        b"\x02\x04\xff\xfe" + b"\x00" * 6 + b"\x00" * 5,  # invalid UTF-8
        b"\x00" * 7 + b"\x02{" + b"\x00" * 4,  # invalid JSON
        b"\x00" * 7 + b"\x00" * 4 + b"\x04[]",  # extra is not an object
        b"\x00" * 12 + b"\x00",  # bytes left over
    ],
)
def test_fast_path_gives_up_on_anything_unusual(data: bytes) -> None:
    assert read_event(data) is None


def test_only_the_bundled_layout_takes_the_fast_path() -> None:
    assert has_bundled_layout(bundled_schema())
    uuid = {
        "type": "record",
        "name": "CdpEvent",
        "fields": [
            {"name": "type", "type": ["null", {"type": "string", "logicalType": "uuid"}]},
            *bundled_schema()["fields"][1:],
        ],
    }
    assert not has_bundled_layout(uuid)
    assert not has_bundled_layout({"type": "record", "fields": bundled_schema()["fields"][:-1]})
    assert not has_bundled_layout("string")


def test_registry_decoder_reads_the_bundled_layout_fast_and_still_reports_errors() -> None:
    decoder = RecordDecoder(registry=StaticSchemas())
    event = {"type": "track", "event": "Order Completed", "properties": {"total": 1.5}}
    assert decoder.decode(frame(7, encode_event(event))) == event
    with pytest.raises(DecodeError) as caught:
        decoder.decode(frame(7, encode_event(event))[:-3])
    assert caught.value.reason == "truncated"
