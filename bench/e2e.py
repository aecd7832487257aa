"""One end-to-end configuration, read to the end: ``python -m bench.e2e [options]``.

    python -m bench.e2e [--events 200000] [--partitions 4] [--batch-size 1000] [--in-flight 4]
                        [--workers N] [--compiled] [--repeat N] [--profile STACKS]

A pre-filled topic of realistic storefront events -> ``tiktok-capi run`` -> ``tiktok-capi
emulate``, each its own process, as the suite's end-to-end scenario measures it
(:meth:`bench.measure.Bench.drain`: first fetch to lag 0, CPU of the connector and its decode
workers from /proc, peak RSS) but for one configuration chosen on the command line. Prints
each run's figures as JSON and, with ``--repeat``, the median and range. The whole suite
(every scenario, ratios, results.json): ``python -m bench`` (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.cluster import Cluster
from bench.dataset import Pool
from bench.figures import figure
from bench.internals import compiler_missing
from bench.measure import Bench, RunConfig
from bench.processes import EmulatorProcess, exit_on_sigterm
from bench.profile import render, summarise

__all__ = ["main"]


def _report(run: dict[str, Any]) -> dict[str, Any]:
    """A run's figures, under the names this command has always printed, and the rest."""
    emulator = run["emulator"]
    return {
        "events": run["topic_records"],
        "accepted_events": emulator["accepted_events"],
        "unique_events": emulator["unique_events"],
        "requests": emulator["requests"],
        "rejected_requests": run["rejected_requests"],
        "records_per_s_steady": run["records_per_s"],
        "events_per_s_steady": run["events_per_s"],
        "cpu_us_per_record": run["cpu_us_per_record"],
        "cpu_us_per_record_by_process": run["cpu_us_per_record_by_process"],
        "cpu_us_per_record_by_thread": run["cpu_us_per_record_by_thread"],
        "connector_peak_rss_mib": run["peak_rss_mib"]["connector"],
        "decode_workers_peak_rss_mib": run["peak_rss_mib"]["workers"],
        "seconds_first_fetch_to_last_delivery": run["seconds"],
        "seconds_to_lag0": run["seconds_to_lag0"],
        "startup_seconds": run["startup_seconds"],
        "committed_to_end": True,  # a drain returns only once the group's lag is 0
        "exit_status": max(run["exit_statuses"]),
        "ok": run["ok"],
        "config": run["config"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=None, help="BATCH_SIZE")
    parser.add_argument("--in-flight", type=int, default=None, help="MAX_IN_FLIGHT_REQUESTS")
    parser.add_argument("--workers", type=int, default=None, help="DECODE_WORKERS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pool", type=int, default=50_000, help="distinct events copied from")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the connector")
    parser.add_argument("--profile-native", action="store_true", help="py-spy --native")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="the mypyc-compiled hot path, as the Docker image ships it (docs/architecture.md)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs (median and range printed)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    if args.compiled and (missing := compiler_missing()):
        parser.error(f"--compiled: cannot compile here ({missing}); run without it (pure Python)")
    settings = {
        name: value
        for name, value in (
            ("BATCH_SIZE", args.batch_size),
            ("MAX_IN_FLIGHT_REQUESTS", args.in_flight),
            ("DECODE_WORKERS", args.workers),
        )
        if value is not None
    }
    config = RunConfig.of("compiled" if args.compiled else "pure", **settings)
    reports = []
    with Cluster() as cluster, EmulatorProcess() as emulator:
        pool = Pool(max(1, min(args.pool, args.events)), args.seed)
        topic = cluster.fill("bench-e2e", args.partitions, pool.copies(args.events))
        print(
            f"filled {topic.name}: {topic.records:,} records in {topic.fill_seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )
        bench = Bench(cluster, emulator, timeout_s=args.timeout)
        for number in range(args.repeat):
            profile = args.profile if number == 0 else None
            run = bench.drain(config, topic, profile=profile, native=args.profile_native)
            report = _report(run)
            print(json.dumps(report, indent=2), flush=True)
            reports.append(report)
    if args.profile is not None and args.profile.exists():
        print(render(summarise(args.profile)), file=sys.stderr)
    if args.repeat > 1:
        summary = {
            key: figure([r[key] for r in reports], unit)
            for key, unit in (
                ("records_per_s_steady", "records/s"),
                ("events_per_s_steady", "events/s"),
                ("cpu_us_per_record", "µs/record"),
                ("connector_peak_rss_mib", "MiB"),
            )
        }
        print(json.dumps({"runs": len(reports), **summary}, indent=2))
    return 0 if all(r["ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
