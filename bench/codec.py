"""Decoding throughput on realistic storefront events: `python -m bench.codec [--events N]`.

Prints, per format, the median per-record cost (µs) and rate on one core of: encoding; the
bundled schema (plain, Confluent-framed, resolved from an older version); a third-party nested
schema (``consumer/demo/data/acme_storefront.avsc``: records, an enum, timestamp-millis,
decimals) read by the generated reader, and by fastavro's ``schemaless_reader`` for comparison;
Segment JSON with orjson; then decode + field paths + mapping per record for each input, and
the ratio of the third-party schema to the bundled path (issue 11's bound: 1.5x). Runs are
interleaved (each round times every case once) and the median of ``--repeat`` rounds is kept,
so a noisy neighbour shifts all cases alike.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bench.internals import (
    MappingSettings,
    RecordDecoder,
    RegisteredWriter,
    bundled_schema_text,
    cdp_event_schema,
    compiled,
    encode_event,
    encode_event_framed,
    frame,
    generate,
    map_event,
    thirdparty,
    to_record,
)


class _Schemas:
    """Writer schemas from memory (what the registry would answer)."""

    def __init__(self, texts: dict[int, tuple[str, str]]) -> None:
        self._texts = texts

    def writer(self, schema_id: int) -> RegisteredWriter:
        kind, text = self._texts[schema_id]
        return RegisteredWriter("JSON" if kind == "JSON" else "AVRO", text)

    def close(self) -> None:
        pass


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    build = "compiled (mypyc)" if compiled() else "pure Python"
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, mapping {build}"


def _measure(
    cases: list[tuple[str, list[Any], Callable[[Any], object]]], repeat: int
) -> dict[str, float]:
    """Median seconds per item of each case, over ``repeat`` interleaved rounds."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for _ in range(repeat):
        for label, items, func in cases:
            start = time.perf_counter()
            for item in items:
                func(item)
            times[label].append((time.perf_counter() - start) / len(items))
    return {label: statistics.median(values) for label, values in times.items()}


def _print(label: str, seconds: float) -> None:
    print(f"  {label:<58} {seconds * 1e6:7.2f} µs {1 / seconds:>10,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the median is kept")
    parser.add_argument(
        "--alternatives",
        action="store_true",
        help="also measure the designs not chosen (see schemas/README.md)",
    )
    args = parser.parse_args()

    events = [e for e in generate(args.events, seed=7) if e["type"] != "screen"]
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
    records = [thirdparty.to_record(e) for e in events]
    bodies = thirdparty.encode(records)
    third = [frame(3, body) for body in bodies]
    segment = [thirdparty.segment_equivalent(r) for r in records]
    json_values = [orjson.dumps(e) for e in segment]
    schemas = _Schemas(
        {
            1: ("AVRO", bundled_schema_text()),
            2: ("AVRO", json.dumps(older)),
            3: ("AVRO", json.dumps(thirdparty.schema())),
        }
    )
    registry = RecordDecoder(registry=schemas)
    bundled = RecordDecoder()
    as_json = RecordDecoder("json")
    nested = parse_schema(thirdparty.schema())
    for value in (framed[0], resolved[0], third[0]):
        registry.decode(value)  # readers are built once per schema id, before timing

    settings = MappingSettings()
    now = time.time()

    def mapped(decode: Callable[[bytes], dict[str, Any]]) -> Callable[[bytes], object]:
        return lambda value: map_event(decode(value), settings, now)

    # The data sets are not part of a connector's heap (it holds a chunk at a time): kept out of
    # the collector's way, or every full collection walks them and the figures measure that.
    gc.collect()
    gc.freeze()
    print(f"{len(events):,} storefront events on {_machine()}")
    print(
        f"mean size: bundled Avro {sum(map(len, plain)) / len(plain):.0f} B, third-party Avro "
        f"{sum(map(len, bodies)) / len(bodies):.0f} B, JSON "
        f"{sum(map(len, json_values)) / len(json_values):.0f} B; median of {args.repeat} rounds"
    )
    decode = _measure(
        [
            ("encode (bundled schema, plain Avro)", events, encode_event),
            ("decode bundled schema, plain (fast path)", plain, bundled.decode),
            ("decode bundled schema, Confluent-framed", framed, registry.decode),
            ("decode bundled, resolved from an older version", resolved, registry.decode),
            ("decode third-party nested schema (generated reader)", third, registry.decode),
            (
                "  the same with fastavro schemaless_reader (not used)",
                bodies,
                lambda body: schemaless_reader(io.BytesIO(body), nested, None),
            ),
            ("decode Segment JSON (orjson)", json_values, as_json.decode),
        ],
        args.repeat,
    )
    print("decoding only")
    for label, seconds in decode.items():
        _print(label, seconds)
    full = _measure(
        [
            ("decode + map: bundled schema (plain)", plain, mapped(bundled.decode)),
            ("decode + map: third-party schema (framed)", third, mapped(registry.decode)),
            ("decode + map: Segment JSON", json_values, mapped(as_json.decode)),
            ("map only (the decoded Segment JSON)", segment, lambda e: map_event(e, settings, now)),
        ],
        args.repeat,
    )
    print("decoding and mapping, per record")
    for label, seconds in full.items():
        _print(label, seconds)
    base = decode["decode bundled schema, plain (fast path)"]
    third_cost = decode["decode third-party nested schema (generated reader)"]
    fastavro_cost = decode["  the same with fastavro schemaless_reader (not used)"]
    base_full = full["decode + map: bundled schema (plain)"]
    third_full = full["decode + map: third-party schema (framed)"]
    print("third-party schema / bundled path")
    print(f"  decoding: {third_cost / base:.2f}x (fastavro would be {fastavro_cost / base:.2f}x)")
    print(f"  decoding + mapping: {third_full / base_full:.2f}x (bound: 1.50x)")
    print(f"  JSON decoding + mapping: {full['decode + map: Segment JSON'] / base_full:.2f}x")
    if args.alternatives:
        _alternatives(events, args.repeat)


def _rate(label: str, items: list[Any], func: Callable[[Any], object], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            func(item)
        best = max(best, len(items) / (time.perf_counter() - start))
    print(f"{label:<56} {best:>10,.0f} events/s")
    return best


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
