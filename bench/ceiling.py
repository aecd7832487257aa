"""The ceiling: decode + map + request encoding in one process, no Kafka, no network.

    python -m bench.ceiling [--records 20000] [--repeat 3] [--formats bundled_avro,json]
    python -m bench.ceiling --stream VALUES.pickle --records N [--repeat 2]

What a decode worker does per record (the connector's own ``Transformer``: decode, map,
``orjson.dumps`` of the TikTok event) plus joining the mapped events into 1,000-event request
bodies as the sender does, for each value format of :mod:`bench.formats`. Measured in CPU time
(``time.process_time``: one thread, so CPU µs per record, and records/s per core = 10⁶ / that).
Formats take turns within each repeat, so a busy neighbour slows them alike.

With ``--stream``, the records are those of an end-to-end topic instead: the pool's encoded
values (a pickled list the suite writes), cycled to ``--records`` as the topic repeats them, each
pass from empty mapping caches as a connector starts. That is the ceiling an end-to-end drain of
that topic is divided by ("decode + map + encode the same records"): the generated set above has
fewer shoppers than a 50,000-event pool, so its hashed-value cache is warmer and its figure
~2 % lower than the same work on the topic's records.

The process runs as the connector's does with these records: glibc's default mmap threshold
(the connector fixes it only once it meets records of 64 KiB or more,
:mod:`~tiktok_capi.consumer.malloc`) and the collector tuned
(:mod:`~tiktok_capi.consumer.collector`), so the same work costs the same on both sides of the
overhead ratio.

Run it in the interpreter of the build to measure: the suite starts it once per build
(``PYTHONPATH`` of the compiled copy for ``compiled``). Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.formats import FORMATS, Format
from bench.internals import (
    MAPPED,
    build_name,
    ceiling_step,
    freeze_startup_heap,
    mapping_user,
    request_body,
    sample_events,
    tune_collector,
)
from bench.processes import PIXEL, TOKEN

__all__ = ["measure"]

_CHUNK = 1000  # values per decode-worker call and events per request, as the defaults
_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # required by the settings, never used here
    "TIKTOK_ACCESS_TOKEN": TOKEN,
    "TIKTOK_PIXEL_CODE": PIXEL,
}


def _one_pass(
    step: Any, values: list[bytes], now: float, *, keep: bool = False
) -> tuple[int, list[bytes]]:
    """Transform every value and build the request bodies; (events mapped, bodies if ``keep``).

    Timed passes drop each body once built, as the connector does once it is sent: keeping
    them all would make the pass page in hundreds of megabytes the connector never holds.
    """
    transform, head, tail = step.transform, step.head, step.tail
    pending: list[bytes] = []
    bodies: list[bytes] = []
    mapped = 0
    for start in range(0, len(values), _CHUNK):
        for result in transform(values[start : start + _CHUNK], now):
            if result[0] == MAPPED:
                pending.append(result[2])
        while len(pending) >= _CHUNK:
            body = request_body(head, pending[:_CHUNK], tail)
            if keep:
                bodies.append(body)
            mapped += _CHUNK
            del pending[:_CHUNK]
    if pending:
        body = request_body(head, pending, tail)
        if keep:
            bodies.append(body)
        mapped += len(pending)
    return mapped, bodies


def measure(
    formats: list[Format], records: int, repeat: int, seed: int, now: float
) -> dict[str, Any]:
    """CPU per record of each format, ``repeat`` times; see the module docstring."""
    events = list(sample_events(records, seed, datetime.fromtimestamp(now, UTC)))
    prepared = []
    reference: list[bytes] | None = None
    for fmt in formats:
        values = [fmt.encode(e) for e in events]
        step = ceiling_step({**_ENV, **fmt.env}, fmt.decoder() if fmt.decoder else None)
        mapped, bodies = _one_pass(step, values, now, keep=True)  # warms caches; checks output
        if reference is None:
            reference = bodies
        prepared.append((fmt, values, step, mapped, bodies == reference))
    # The prepared values and events are not part of a connector's heap (it holds a chunk at a
    # time): kept out of the collector's way, or every full collection walks them. The
    # collector's thresholds are the connector's (consumer/collector.py).
    freeze_startup_heap()
    tune_collector()
    runs: dict[str, list[float]] = {fmt.name: [] for fmt in formats}
    for _ in range(repeat):
        for fmt, values, step, _mapped, _same in prepared:
            started = time.process_time()
            _one_pass(step, values, now)
            runs[fmt.name].append((time.process_time() - started) / len(values) * 1e6)
    return {
        "build": build_name(),
        "records": records,
        "formats": {
            fmt.name: {
                "label": fmt.label,
                "stand_in": fmt.stand_in,
                "mean_value_bytes": round(sum(map(len, values)) / len(values)),
                "mapped_share": round(mapped / len(values), 4),
                # The same request bodies as the first format: the same mapping work was done.
                "same_requests_as_first_format": same,
                "cpu_us_per_record_runs": [round(v, 3) for v in runs[fmt.name]],
            }
            for fmt, values, _step, mapped, same in prepared
        },
    }


def measure_stream(pool: list[bytes], records: int, repeat: int, now: float) -> dict[str, Any]:
    """CPU per record over ``records`` values cycling ``pool`` (bundled Avro, as the topics),
    ``repeat`` passes, each from empty mapping caches."""
    fmt = next(f for f in FORMATS if f.name == "bundled_avro")
    step = ceiling_step({**_ENV, **fmt.env}, fmt.decoder() if fmt.decoder else None)
    values = [pool[i % len(pool)] for i in range(records)]
    _one_pass(step, pool[:_CHUNK], now)  # imports, first-call set-up
    freeze_startup_heap()
    tune_collector()  # as the connector runs (consumer/collector.py)
    runs: list[float] = []
    for _ in range(repeat):
        mapping_user._CONVERTED.clear()
        started = time.process_time()
        _one_pass(step, values, now)
        runs.append((time.process_time() - started) / len(values) * 1e6)
    return {
        "build": build_name(),
        "records": records,
        "pool": len(pool),
        "cpu_us_per_record_runs": [round(v, 3) for v in runs],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", type=float, default=None, help="events end at this Unix time")
    parser.add_argument(
        "--formats",
        default=",".join(f.name for f in FORMATS),
        help="comma-separated, of: " + ", ".join(f.name for f in FORMATS),
    )
    parser.add_argument(
        "--stream",
        type=Path,
        default=None,
        help="a pickled list of encoded values: measure those, cycled to --records",
    )
    args = parser.parse_args(argv)
    now = args.now if args.now is not None else time.time()
    if args.stream is not None:
        pool = pickle.loads(args.stream.read_bytes())
        json.dump(measure_stream(pool, args.records, args.repeat, now), sys.stdout)
        sys.stdout.write("\n")
        return 0
    known = {f.name: f for f in FORMATS}
    names = [n for n in args.formats.split(",") if n]
    if unknown := [n for n in names if n not in known]:
        parser.error(f"unknown formats: {', '.join(unknown)}")
    result = measure([known[n] for n in names], args.records, args.repeat, args.seed, now)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
