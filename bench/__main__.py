"""``python -m bench`` (``make bench``): the benchmark suite users size deployments from.

Prints a table (medians of ``--repeat`` runs, their range, ratios measured in the same run) and
writes ``bench/results.json`` (and the cost-curve plot). What each scenario measures and how to
read the figures: docs/performance.md. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from bench.internals import compiler_missing
from bench.processes import exit_on_sigterm
from bench.scenarios import SCENARIOS, Options, Suite

# --quick: every scenario in seconds, figures meaningless (the smoke test's sizes).
QUICK = {
    # Large enough that the drain outlasts the suite's first-fetch poll: a drain that ends
    # before its first snapshot has no events/s to report.
    "records": 20_000,
    "repeat": 1,
    "pool": 1500,
    "warmup_s": 0.5,
    "window_s": 1.0,
    "window_records": 60_000,
    "ceiling_records": 600,
    "latencies_ms": (100.0,),
    "steady_seconds": 1.5,
    "steady_warmup_s": 0.5,
    "backlogs": (20_000,),  # the end-to-end topic: its drain is reused
    "large_records": 4,
    "large_bytes": 200_000,
    "scaling_workers": (0,),  # one consumer with the default workers is reused
    "batch_sizes": (1, 1000),
    "in_flight": (4,),  # both cells are runs of the batching scenario
    "memory_cap_mib": 2048.0,
    "timeout_s": 180.0,
}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part)


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected VAR=VALUE, got {text!r}")
    return name.strip(), value


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return names


def parse(argv: list[str] | None = None) -> Options:
    """Options from the command line (``--quick`` first, then explicit options on top)."""
    d = Options()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--only",
        type=_names,
        default=None,
        help=f"comma-separated scenarios (default all): {','.join(SCENARIOS)}",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one run each, pure build: checks every scenario runs",
    )
    p.add_argument(
        "--builds",
        default=None,
        help="builds for the ceiling and end-to-end scenarios (default pure,compiled; "
        "compiled is dropped with a notice where it cannot be built)",
    )
    p.add_argument(
        "--main-build",
        default=None,
        help="build of the other scenarios (default: the last of --builds)",
    )
    p.add_argument(
        "--records",
        type=int,
        default=None,
        help=f"records in the end-to-end topic (default {d.records:,})",
    )
    p.add_argument("--repeat", type=int, default=None, help=f"runs per figure ({d.repeat})")
    p.add_argument(
        "--pool",
        type=int,
        default=None,
        help=f"distinct generated events topics are copied from ({d.pool:,})",
    )
    p.add_argument("--partitions", type=int, default=None, help=f"({d.partitions})")
    p.add_argument(
        "--window",
        dest="window_s",
        type=float,
        default=None,
        help=f"seconds of a steady-state window ({d.window_s:g})",
    )
    p.add_argument(
        "--warmup",
        dest="warmup_s",
        type=float,
        default=None,
        help=f"seconds after the first fetch before a window ({d.warmup_s:g})",
    )
    p.add_argument(
        "--window-records",
        type=int,
        default=None,
        help=f"records in the topic windows read ({d.window_records:,})",
    )
    p.add_argument("--ceiling-records", type=int, default=None, help=f"({d.ceiling_records:,})")
    p.add_argument(
        "--latencies",
        dest="latencies_ms",
        type=_floats,
        default=None,
        help="emulator answer latencies, ms (100,300,1000)",
    )
    p.add_argument("--steady-seconds", type=float, default=None, help=f"({d.steady_seconds:g})")
    p.add_argument(
        "--steady-load",
        type=float,
        default=None,
        help=f"share of the measured capacity produced ({d.steady_load:g})",
    )
    p.add_argument(
        "--steady-rate",
        type=float,
        default=None,
        help="records/s to produce instead (skips the capacity measurement)",
    )
    p.add_argument(
        "--steady-linger-ms",
        type=float,
        default=None,
        help=f"linger.ms of the steady-load producer ({d.steady_linger_ms:g})",
    )
    p.add_argument("--backlogs", type=_ints, default=None, help="memory backlogs (100000,1000000)")
    p.add_argument("--large-records", type=int, default=None, help=f"({d.large_records})")
    p.add_argument("--large-bytes", type=int, default=None, help=f"({d.large_bytes:,})")
    p.add_argument(
        "--scaling-workers",
        type=_ints,
        default=None,
        help="DECODE_WORKERS variants of the scaling scenario (0,1,2)",
    )
    p.add_argument("--batch-sizes", type=_ints, default=None, help="cost curves (1,10,100,1000)")
    p.add_argument("--in-flight", type=_ints, default=None, help="cost curves (1,2,4,8,16)")
    p.add_argument(
        "--memory-cap-mib",
        type=float,
        default=None,
        help=f"stop a run whose connector processes pass this ({d.memory_cap_mib:g})",
    )
    p.add_argument(
        "--timeout",
        dest="timeout_s",
        type=float,
        default=None,
        help=f"longest run, s ({d.timeout_s:g})",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--set",
        action="append",
        type=_assignment,
        default=None,
        metavar="VAR=VALUE",
        help="a connector variable for every run (repeatable), e.g. "
        "--set KAFKA_FETCH_WAIT_MAX_MS=100; a scenario's own variables win",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="also profile one end-to-end drain with py-spy into this file",
    )
    p.add_argument("--profile-build", default=None, help=f"({d.profile_build})")
    p.add_argument(
        "--profile-native",
        action="store_true",
        default=None,
        help="py-spy --native: C frames too, so compiled functions show by name",
    )
    p.add_argument("--out", type=Path, default=None, help="results file (bench/results.json)")
    p.add_argument("--plot", type=Path, default=None, help="cost-curve PNG (bench/cost_curves.png)")
    args = p.parse_args(argv)

    values: dict[str, Any] = dict(QUICK, builds=("pure",)) if args.quick else {}
    values["quick"] = args.quick
    for name, value in vars(args).items():
        if value is None or name in ("quick", "builds", "set"):
            continue
        values[name] = value
    if args.set:
        values["set"] = tuple(args.set)
    if args.builds:
        values["builds"] = tuple(b for b in args.builds.split(",") if b)
    builds = tuple(values.get("builds", d.builds))
    if unknown := [b for b in builds if b not in ("pure", "compiled")]:
        p.error(f"unknown builds: {', '.join(unknown)}")
    if "compiled" in builds and (missing := compiler_missing()):
        print(
            f"bench: no compiled build here ({missing}); measuring pure Python only",
            file=sys.stderr,
        )
        builds = tuple(b for b in builds if b != "compiled") or ("pure",)
    values["builds"] = builds
    values.setdefault("main_build", builds[-1])
    if values["main_build"] not in ("pure", "compiled"):
        p.error("--main-build: pure or compiled")
    fields = {f.name for f in dataclasses.fields(Options)}
    return dataclasses.replace(d, **{k: v for k, v in values.items() if k in fields})


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    options = parse(argv)
    suite = Suite(options)
    results = suite.run()
    print(suite.header())
    print(suite.table.render(""))
    print(f"\nresults: {options.out}")
    if "curves" in results["scenarios"] and results["scenarios"]["curves"].get("plot"):
        print(f"cost curves: {results['scenarios']['curves']['plot']}")
    if "profile" in results:
        from bench.profile import render

        profile = results["profile"]
        print("\n" + (render(profile) if "samples" in profile else f"profile: {profile}"))
    failed = [name for name, section in results["scenarios"].items() if _failed(section)]
    if failed:
        print(f"scenarios with failed runs: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _failed(section: object) -> bool:
    """Whether a section holds an error or a run that is not ok."""
    if isinstance(section, dict):
        if "error" in section or section.get("ok") is False:
            return True
        return any(_failed(v) for v in section.values())
    if isinstance(section, list):
        return any(_failed(v) for v in section)
    return False


if __name__ == "__main__":
    sys.exit(main())
