"""Codec throughput on realistic storefront events: `python -m bench.codec [--events N]`.

Prints events/s on one core for encoding, decoding plain Avro (bundled schema), decoding the
Confluent wire format (writer schema = reader schema) and decoding with schema resolution (an
older writer schema), plus the mean encoded size. The end-to-end target is 30,000 events/s per
process including mapping and HTTP, so decoding should stay well above 50,000/s.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bench.internals import (
    BundledDecoder,
    RegistryDecoder,
    bundled_schema_text,
    cdp_event_schema,
    encode_event,
    encode_event_framed,
    frame,
    generate,
    to_record,
)


class _Schemas:
    def __init__(self, texts: dict[int, str]) -> None:
        self._texts = texts

    def get_schema(self, schema_id: int) -> str:
        return self._texts[schema_id]


def _rate(label: str, items: list[Any], func: Callable[[Any], object], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            func(item)
        best = max(best, len(items) / (time.perf_counter() - start))
    print(f"{label:<56} {best:>10,.0f} events/s")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument(
        "--alternatives",
        action="store_true",
        help="also measure the designs not chosen (see schemas/README.md)",
    )
    args = parser.parse_args()

    events = list(generate(args.events, seed=7))
    plain = [encode_event(e) for e in events]
    framed = [encode_event_framed(e, 1) for e in events]
    older = cdp_event_schema()
    older["fields"] = [f for f in older["fields"] if f["name"] != "integrations"]
    older_parsed = parse_schema(older)
    resolved = []
    for event in events:
        record = to_record(event)
        record.pop("integrations", None)
        buffer = io.BytesIO()
        schemaless_writer(buffer, older_parsed, record)
        resolved.append(frame(2, buffer.getvalue()))
    registry = RegistryDecoder(_Schemas({1: bundled_schema_text(), 2: json.dumps(older)}))
    bundled = BundledDecoder()

    json_size = sum(len(json.dumps(e)) for e in events) / len(events)
    print(f"{len(events)} storefront events; mean JSON {json_size:.0f} B, "
          f"mean Avro {sum(map(len, plain)) / len(plain):.0f} B")  # fmt: skip
    _rate("encode (plain Avro)", events, encode_event, args.repeat)
    _rate("decode plain Avro (bundled schema)", plain, bundled.decode, args.repeat)
    _rate("decode Confluent framed (same schema)", framed, registry.decode, args.repeat)
    _rate("decode framed, resolved from older schema", resolved, registry.decode, args.repeat)
    if args.alternatives:
        _alternatives(events, args.repeat)


_TYPED = ("type", "event", "name", "messageId", "userId", "anonymousId", "timestamp")
_FREE = ("properties", "context", "traits", "integrations")


def _optional(name: str, kind: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", kind], "default": None}


def _alternatives(events: list[dict[str, Any]], repeat: int) -> None:
    """Designs not chosen: a recursive Avro JSON type, and one JSON blob for all free parts."""
    value = ["null", "boolean", "long", "double", "string",
             {"type": "array", "items": "Json"}, {"type": "map", "values": "Json"}]  # fmt: skip
    json_type = {"type": "record", "name": "Json", "fields": [{"name": "v", "type": value}]}
    fields = [_optional(n, "string") for n in _TYPED]
    fields.append(_optional(_FREE[0], {"type": "map", "values": json_type}))
    fields += [_optional(n, {"type": "map", "values": "Json"}) for n in _FREE[1:]]
    fields.append(_optional("extra", {"type": "map", "values": "Json"}))
    recursive = parse_schema({"type": "record", "name": "Recursive", "fields": fields})

    def wrap(v: Any) -> Any:
        if isinstance(v, dict):
            return {"v": {k: wrap(x) for k, x in v.items()}}
        if isinstance(v, list):
            return {"v": [wrap(x) for x in v]}
        return {"v": v}

    def unwrap(w: Any) -> Any:
        v = w["v"]
        if isinstance(v, dict):
            return {k: unwrap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [unwrap(x) for x in v]
        return v

    def encode_recursive(event: dict[str, Any]) -> bytes:
        record: dict[str, Any] = {"extra": {}}
        for key, val in event.items():
            if key in _TYPED and isinstance(val, str):
                record[key] = val
            elif key in _FREE and isinstance(val, dict):
                record[key] = {k: wrap(x) for k, x in val.items()}
            else:
                record["extra"][key] = wrap(val)
        buffer = io.BytesIO()
        schemaless_writer(buffer, recursive, record)
        return buffer.getvalue()

    def decode_recursive(data: bytes) -> dict[str, Any]:
        record = schemaless_reader(io.BytesIO(data), recursive, None)
        event = {k: record[k] for k in _TYPED if record[k] is not None}
        for key in _FREE:
            if record[key] is not None:
                event[key] = {k: unwrap(x) for k, x in record[key].items()}
        event.update({k: unwrap(x) for k, x in (record["extra"] or {}).items()})
        return event

    blob_schema = parse_schema(
        {"type": "record", "name": "Blob",
         "fields": [_optional(n, "string") for n in _TYPED] + [_optional("rest", "string")]}
    )  # fmt: skip

    def encode_blob(event: dict[str, Any]) -> bytes:
        record = {k: v for k, v in event.items() if k in _TYPED and isinstance(v, str)}
        rest = {k: v for k, v in event.items() if k not in record}
        record["rest"] = orjson.dumps(rest).decode() if rest else None
        buffer = io.BytesIO()
        schemaless_writer(buffer, blob_schema, record)
        return buffer.getvalue()

    def decode_blob(data: bytes) -> dict[str, Any]:
        record = schemaless_reader(io.BytesIO(data), blob_schema, None)
        rest = record.pop("rest")
        event: dict[str, Any] = orjson.loads(rest) if rest is not None else {}
        event.update({k: v for k, v in record.items() if v is not None})
        return event

    for label, encode, decode in (
        ("alternative: recursive Avro JSON type", encode_recursive, decode_recursive),
        ("alternative: one JSON blob for all free parts", encode_blob, decode_blob),
    ):
        encoded = [encode(e) for e in events]
        assert all(decode(d) == e for d, e in zip(encoded, events, strict=True))
        size = sum(map(len, encoded)) / len(encoded)
        _rate(f"{label} ({size:.0f} B)", encoded, decode, repeat)


if __name__ == "__main__":
    main()
