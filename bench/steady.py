"""Latency under steady load: produce at a fixed rate, time each event to the emulator's receipt.

One run: an empty topic, one connector reading it, and this process producing records at
``rate`` per second (paced every few milliseconds; ``linger.ms`` 5 by default, librdkafka's
default). Each record's ``messageId`` carries the time ``produce()`` was called
(:meth:`bench.dataset.Pool.stamped`); the mapping sends it as ``event_id``, and the receiving
emulator (:mod:`bench.receiver`) notes the delay to the moment the request body arrived. The
broker's acknowledgement delay (produce -> ack) is recorded too: it is part of that figure. Only
events produced after the first delivery plus a warm-up count (the group join is not steady
state: until the first delivery only a trickle is produced). Records the mapping skips never
reach TikTok and have no delay.
"""

from __future__ import annotations

import array
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster import Cluster, Writer
from bench.dataset import Pool
from bench.internals import ROOT
from bench.measure import Bench, RunConfig, RunFailed
from bench.processes import PIXEL, TOKEN, EmulatorProcess

__all__ = ["run_steady"]

_TICK_S = 0.005
_TRICKLE_PER_S = 20.0


def _receiver(out: Path, env: dict[str, str]) -> EmulatorProcess:
    command = [
        sys.executable,
        "-m",
        "bench.receiver",
        "--port",
        "{port}",
        "--token",
        TOKEN,
        "--pixel-code",
        PIXEL,
        "--out",
        str(out),
    ]
    path = [str(ROOT), env.get("PYTHONPATH", "")]
    return EmulatorProcess(
        command, env={**env, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    )


def _quantiles(ordered: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of sorted delays (None when there are none)."""

    def at(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 4)

    return {"p50": at(0.50), "p99": at(0.99), "max": at(1.0)}


def run_steady(
    cluster: Cluster,
    pool: Pool,
    config: RunConfig,
    *,
    rate: float,
    seconds: float,
    warmup_s: float,
    partitions: int,
    name: str,
    build_env: dict[str, str],
    memory_cap_mib: float,
    linger_ms: float = 5.0,
) -> dict[str, Any]:
    """One steady-load run; p50/p99/max of produce -> receipt in seconds, and the CPU used."""
    with tempfile.TemporaryDirectory(prefix="bench-steady-") as tmp:
        out = Path(tmp) / "delays.f64"
        receiver = _receiver(out, build_env)
        with receiver:
            bench = Bench(cluster, receiver, memory_cap_mib=memory_cap_mib)
            topic = cluster.create(name, partitions)
            writer = Writer(cluster, topic, {"linger.ms": linger_ms}, track_acks=True)
            with bench.connectors(config, topic) as (group, connectors, _launched):
                tree = bench.process_tree(connectors)
                started = time.monotonic()
                # A trickle until the member has joined and delivered, then the full rate: a
                # backlog built up during the group join would not be steady state.
                pace_from, pace_base, pace_rate = started, 0, min(rate, _TRICKLE_PER_S)
                produced = 0
                first_at: float | None = None
                window: tuple[Any, Any] | None = None
                start_snapshot = None
                measure_from_wall = 0.0
                next_check = started
                while True:
                    now = time.monotonic()
                    due = pace_base + int((now - pace_from) * pace_rate)
                    while produced < due:
                        writer.write(*pool.stamped(produced, time.time_ns() // 1000))
                        produced += 1
                    writer.poll()
                    if now >= next_check:
                        next_check = now + 0.25
                        bench.check(tree, connectors)
                        if first_at is None and receiver.stats()["accepted_events"] > 0:
                            first_at = now
                            pace_from, pace_base, pace_rate = now, produced, rate
                        warm = first_at is not None and now >= first_at + warmup_s
                        if warm and start_snapshot is None:
                            tree.refresh()
                            start_snapshot = bench.snapshot(tree, connectors)
                            measure_from_wall = time.time()
                        if start_snapshot is not None and now >= start_snapshot.at + seconds:
                            window = (start_snapshot, bench.snapshot(tree, connectors))
                            measure_to_wall = time.time()
                            break
                        if now - started > warmup_s + seconds + 120:
                            raise RunFailed("no delivery within 120 s of producing")
                    time.sleep(_TICK_S)
                writer.close()
                deadline = time.monotonic() + 120
                while not cluster.at_end(group, topic):
                    bench.check(tree, connectors)
                    if time.monotonic() > deadline:
                        raise RunFailed("the steady-load backlog did not drain within 120 s")
                    time.sleep(0.25)
                memory = tree.peaks_mib()
            result = bench.figures(
                window[0], window[1], window[1].resolved - window[0].resolved, memory
            )
            result = bench.finish(result, config, connectors)
        pairs = array.array("d")
        with open(out, "rb") as data:
            pairs.frombytes(data.read())
    delays = sorted(
        pairs[i + 1]
        for i in range(0, len(pairs) - 1, 2)
        if measure_from_wall <= pairs[i] <= measure_to_wall
    )
    result.update(
        mode="steady",
        rate_records_per_s=round(rate),
        produced=produced,
        measured_events=len(delays),
        producer_linger_ms=linger_ms,
        latency_s=_quantiles(delays),
        # Part of the above spent before the broker acknowledged the write (all records).
        produce_ack_s=_quantiles(sorted(writer.ack_delays or [])),
    )
    if not delays:
        result["ok"] = False
        result["error"] = "no delivered event was produced inside the measured window"
    return result
