"""Latency under steady load: produce at a fixed rate, time each event to the emulator's receipt.

One run: an empty topic, one connector reading it, and this process producing records at
``rate`` per second (paced every few milliseconds, ``linger.ms=5`` like a latency-minded
producer). Each record's ``messageId`` carries the time ``produce()`` was called
(:meth:`bench.dataset.Pool.stamped`); the mapping sends it as ``event_id``, and the receiving
emulator (:mod:`bench.receiver`) notes the delay to the moment the request body arrived. Only
events produced after the first delivery plus a warm-up count (the group join is not steady
state). Records the mapping skips never reach TikTok and have no delay.
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


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


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
) -> dict[str, Any]:
    """One steady-load run; p50/p99/max of produce -> receipt in seconds, and the CPU used."""
    with tempfile.TemporaryDirectory(prefix="bench-steady-") as tmp:
        out = Path(tmp) / "delays.f64"
        receiver = _receiver(out, build_env)
        with receiver:
            bench = Bench(cluster, receiver, memory_cap_mib=memory_cap_mib)
            topic = cluster.create(name, partitions)
            writer = Writer(cluster, topic, {"linger.ms": 5})
            with bench.connectors(config, topic) as (group, connectors, _launched):
                tree = bench.process_tree(connectors)
                started = time.monotonic()
                produced = 0
                first_at: float | None = None
                window: tuple[Any, Any] | None = None
                start_snapshot = None
                measure_from_wall = 0.0
                next_check = started
                while True:
                    now = time.monotonic()
                    due = int((now - started) * rate)
                    while produced < due:
                        writer.write(*pool.stamped(produced, time.time_ns() // 1000))
                        produced += 1
                    writer.poll()
                    if now >= next_check:
                        next_check = now + 0.25
                        bench.check(tree, connectors)
                        if first_at is None and receiver.stats()["accepted_events"] > 0:
                            first_at = now
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
        latency_s={
            "p50": round(_percentile(delays, 0.50), 4),
            "p99": round(_percentile(delays, 0.99), 4),
            "max": round(delays[-1], 4) if delays else None,
        },
    )
    if not delays:
        result["ok"] = False
        result["error"] = "no delivered event was produced inside the measured window"
    return result
