"""What the cache of normalised-and-hashed user data buys, and what it costs.

    python -m bench.hash_cache [--records 20000] [--repeat 5]

Maps the same events with the cache on and off (``mapping.user.CACHE_SIZE = 0`` empties it on
every insert), in one process, CPU time per event, on two streams:

- ``repeating``: the storefront sample, whose shoppers come back as real traffic's do;
- ``unique``: the same events with every e-mail, phone, user id and name made unique (no hit).

Prints a JSON object: medians (and ranges) of µs per event, the hit ratio, and the ratio
cache-on / cache-off per stream (below 1: the cache helps). Run it in the interpreter of the
build to measure (``PYTHONPATH`` of the compiled copy for the compiled build).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.internals import MappingSettings, build_name, map_event, mapping_user, sample_events

__all__ = ["measure"]


def _unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(events)
    for i, event in enumerate(out):
        if event.get("userId") is not None:
            event["userId"] = f"user-u{i}"
        traits = (event.get("context") or {}).get("traits")
        if isinstance(traits, dict):
            if "email" in traits:
                traits["email"] = f"u{i}@example.com"
            if "phone" in traits:
                traits["phone"] = f"+1 415 {200 + i // 10000 % 800:03d} {i % 10000:04d}"
            for name in ("firstName", "lastName"):
                if name in traits:
                    traits[name] = f"{traits[name]}{i}"
    return out


def _pass(events: list[dict[str, Any]], settings: MappingSettings, now: float) -> float:
    started = time.process_time()
    for event in events:
        map_event(event, settings, now)
    return (time.process_time() - started) / len(events) * 1e6


def measure(records: int, repeat: int) -> dict[str, Any]:
    """µs per event with the cache on and off, on a repeating and a unique stream.

    Each measured pass maps events the cache has not seen, after a warm-up pass over as many
    others of the same stream (the population of a repeating stream is the same in both).
    """
    now = time.time()
    sample = list(sample_events(2 * records, 7, datetime.fromtimestamp(now, UTC)))
    streams = {"repeating": sample, "unique": _unique(sample)}
    settings = MappingSettings()
    size = mapping_user.CACHE_SIZE
    result: dict[str, Any] = {"build": build_name(), "records": records, "cache_entries": size}
    try:
        for name, events in streams.items():
            warm, measured = events[:records], events[records:]
            runs: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(repeat):  # alternate, so a busy neighbour slows both alike
                for state in ("on", "off"):
                    mapping_user.CACHE_SIZE = size if state == "on" else 0
                    mapping_user._CONVERTED.clear()
                    _pass(warm, settings, now)
                    runs[state].append(_pass(measured, settings, now))
            mapping_user.CACHE_SIZE = size
            mapping_user._CONVERTED.clear()
            _pass(warm, settings, now)
            before = len(mapping_user._CONVERTED)
            _pass(measured, settings, now)
            new = len(mapping_user._CONVERTED) - before
            lookups = sum(_lookups(e) for e in measured)
            result[name] = {
                "us_per_event_cache_on": _figure(runs["on"]),
                "us_per_event_cache_off": _figure(runs["off"]),
                "ratio_on_off": statistics.median(runs["on"]) / statistics.median(runs["off"]),
                "hit_ratio": 1 - new / lookups if lookups else 0.0,
            }
    finally:
        mapping_user.CACHE_SIZE = size
        mapping_user._CONVERTED.clear()
    return result


def _figure(runs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs)}


def _lookups(event: dict[str, Any]) -> int:
    traits = (event.get("context") or {}).get("traits") or {}
    keys = ("email", "phone", "firstName", "lastName")
    return sum(1 for k in keys if isinstance(traits, dict) and traits.get(k)) + (
        1 if event.get("userId") else 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hash_cache", description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    json.dump(measure(args.records, args.repeat), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
