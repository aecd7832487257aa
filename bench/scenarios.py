"""The scenarios of ``make bench`` (issue 13), and what they share within one suite run.

One broker holds every topic (filled once, read by a fresh consumer group per run) and one
emulator answers every run (reset, and its latency set, before each). Each scenario measures
its own reference beside what it compares with it (the default configuration's window in the
batching, latency, cost-curve and scaling scenarios, and again as the steady scenario's
capacity): shared machines drift by 2x within a suite, so a ratio is only worth its name when
both sides were measured in turn. Repeats take turns (run 1 of every configuration, then run
2...), so a busy neighbour slows them alike. Drains to lag 0 are shared (each topic is drained
by one scenario).

The ``scenario_*`` methods each return their section of ``results.json`` and add their lines
to the printed table. What each measures: docs/performance.md.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import proc
from bench.cluster import Cluster, Topic
from bench.dataset import Pool, large_events
from bench.figures import Figure, figure, median, ratio
from bench.internals import ROOT, connector_defaults
from bench.measure import Bench, RunConfig, RunFailed
from bench.processes import EmulatorProcess
from bench.profile import summarise
from bench.report import Table, plot_curves, write_json
from bench.steady import run_steady

__all__ = ["SCENARIOS", "Options", "Suite"]

SCENARIOS = ("ceiling", "e2e", "batching", "latency", "curves", "scaling", "steady", "memory")

_PROCESSES = ("connector", "decode_workers", "emulator", "broker")
_THREADS = ("poll_loop", "librdkafka", "other_threads")
_MEMORY = ("connector", "workers", "total", "sampled_total")


@dataclass
class Options:
    """Every knob of the suite (``python -m bench --help`` documents them)."""

    only: tuple[str, ...] = SCENARIOS
    builds: tuple[str, ...] = ("pure", "compiled")
    main_build: str = "compiled"
    records: int = 500_000
    repeat: int = 3
    pool: int = 50_000
    partitions: int = 6
    warmup_s: float = 3.0
    window_s: float = 10.0
    window_records: int = 1_000_000
    ceiling_records: int = 20_000
    latencies_ms: tuple[float, ...] = (100.0, 300.0, 1000.0)
    steady_seconds: float = 30.0
    steady_warmup_s: float = 5.0
    steady_load: float = 0.5
    steady_rate: float | None = None
    steady_linger_ms: float = 5.0
    backlogs: tuple[int, ...] = (100_000, 1_000_000)
    large_records: int = 300
    large_bytes: int = 1_000_000
    scaling_consumers: tuple[int, ...] = (1, 2)
    scaling_workers: tuple[int, ...] = (0, 1, 2)
    batch_sizes: tuple[int, ...] = (1, 10, 100, 1000)
    in_flight: tuple[int, ...] = (1, 2, 4, 8, 16)
    memory_cap_mib: float = 4096.0
    timeout_s: float = 900.0
    seed: int = 7
    profile: Path | None = None
    profile_build: str = "pure"
    profile_native: bool = False
    set: tuple[tuple[str, str], ...] = ()  # connector variables of every run (--set)
    out: Path = field(default_factory=lambda: ROOT / "bench" / "results.json")
    plot: Path = field(default_factory=lambda: ROOT / "bench" / "cost_curves.png")
    quick: bool = False


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _case(config: RunConfig) -> str:
    parts = [config.build]
    if config.consumers != 1:
        parts.append(f"{config.consumers} consumers")
    parts += [f"{k}={v}" for k, v in config.settings]
    if config.latency_ms:
        parts.append(f"latency {config.latency_ms:g} ms")
    if len(parts) == 1:
        parts.append("defaults")
    return " · ".join(parts)


def _steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU ticks stolen between two :func:`proc.cpu_times`."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 3) if total > 0 else 0.0


def _row(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Figures of the successful runs of one configuration, and the runs themselves."""
    good = [r for r in runs if r.get("ok")]

    def fig(key: str, unit: str, group: str = "") -> Any:
        return figure([(r[group][key] if group else r.get(key)) for r in good], unit)

    row: dict[str, Any] = {
        "records_per_s": fig("records_per_s", "records/s"),
        "events_per_s": fig("events_per_s", "events/s"),
        "cpu_us_per_record": fig("cpu_us_per_record", "µs/record"),
        "cpu_cores_used": fig("cpu_cores_used", "cores"),
        "cpu_us_per_record_by_process": {
            name: fig(name, "µs/record", "cpu_us_per_record_by_process") for name in _PROCESSES
        },
        "cpu_us_per_record_by_thread": {
            name: fig(name, "µs/record", "cpu_us_per_record_by_thread") for name in _THREADS
        },
        "peak_rss_mib": {name: fig(name, "MiB", "peak_rss_mib") for name in _MEMORY},
        "runs_ok": len(good),
        "runs_failed": len(runs) - len(good),
        "drained_early": any(r.get("drained_early") for r in good),
        "runs": list(runs),
    }
    if row["cpu_us_per_record"]:
        row["records_per_cpu_second"] = figure(
            [1e6 / v for v in row["cpu_us_per_record"]["runs"] if v], "records/CPU-s"
        )
    return row


class Suite:
    """One run of the benchmark suite; :meth:`run` returns (and writes) ``results.json``."""

    def __init__(self, options: Options, log: Callable[[str], None] = _log) -> None:
        self.o = options
        self.log = log
        self.table = Table()
        self._pool: Pool | None = None
        # Steady-state windows by (scenario, configuration): measured again in each scenario.
        self._windows: dict[tuple[str, RunConfig], list[dict[str, Any]]] = {}
        self._scope = ""  # the scenario running
        self._drains: dict[tuple[RunConfig, str], list[dict[str, Any]]] = {}
        self._ceiling: dict[str, dict[str, Any]] = {}
        self._now = time.time()
        self._scratch: Path | None = None  # the run's temporary files (the pool for ceilings)
        self.cluster: Cluster | None = None
        self.bench: Bench | None = None
        self.results: dict[str, Any] = {}

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Every selected scenario; results.json is rewritten after each one."""
        started = time.monotonic()
        suite_steal = proc.cpu_times()
        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.o).items()}
        self.results = {
            "suite": "tiktok-capi benchmarks (issue 13)",
            "format_version": 1,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": proc.machine(),
            "options": options,
            "connector_defaults": connector_defaults(),
            "dataset": {},
            "scenarios": {},
            "table": self.table.lines,
        }
        with (
            tempfile.TemporaryDirectory(prefix="tiktok-capi-bench-") as scratch,
            Cluster() as cluster,
            EmulatorProcess() as emulator,
        ):
            self._scratch = Path(scratch)
            self.cluster = cluster
            self.bench = Bench(
                cluster,
                emulator,
                memory_cap_mib=self.o.memory_cap_mib,
                timeout_s=self.o.timeout_s,
                log=self.log,
            )
            for name in SCENARIOS:
                if name not in self.o.only:
                    continue
                self.log(f"== {name}")
                self._scope = name
                begun = time.monotonic()
                steal_before = proc.cpu_times()
                try:
                    section = getattr(self, f"scenario_{name}")()
                except Exception as exc:  # one scenario failing must not lose the others
                    self.log(f"!! {name} failed: {type(exc).__name__}: {exc}")
                    section = {"error": f"{type(exc).__name__}: {exc}"}
                section["seconds"] = round(time.monotonic() - begun, 1)
                section["cpu_steal_share"] = _steal_share(steal_before, proc.cpu_times())
                if section["cpu_steal_share"] >= 0.05:
                    self.log(
                        f"   {name}: {section['cpu_steal_share']:.0%} of the CPU was stolen by "
                        "the hypervisor (other guests): its figures are slower than this "
                        "machine's"
                    )
                self.results["scenarios"][name] = section
                self._save(started)
            if self.o.profile is not None:
                self.log("== profile")
                self.results["profile"] = self.profile(self.o.profile)
        self.results["machine_after"] = {
            "load_average": proc.machine()["load_average"],
            "cpu_steal_share": _steal_share(suite_steal, proc.cpu_times()),
        }
        self._save(started)
        return self.results

    def _save(self, started: float) -> None:
        self.results["duration_s"] = round(time.monotonic() - started, 1)
        write_json(self.results, self.o.out)

    def header(self) -> str:
        """The first line of the table: the machine and the builds."""
        m = self.results.get("machine") or proc.machine()
        return (
            f"tiktok-capi benchmarks — {m['nproc']} x {m['cpu_model']}, Python {m['python']}, "
            f"load {' '.join(map(str, m['load_average']))}; builds {', '.join(self.o.builds)} "
            f"(others: {self.o.main_build}); medians of {self.o.repeat} runs"
        )

    # -- shared measurements ------------------------------------------------------------------
    @property
    def pool(self) -> Pool:
        """The distinct generated events every topic is copied from (made once)."""
        if self._pool is None:
            size = max(1, min(self.o.pool, max(self.o.records, self.o.window_records)))
            self.log(f"generating {size:,} distinct events ...")
            self._pool = Pool(size, self.o.seed, datetime.fromtimestamp(self._now, UTC))
            self.results["dataset"].update(
                pool_events=size,
                pool_seconds=round(self._pool.seconds, 1),
                mean_record_bytes=round(self._pool.mean_bytes),
                topics={},
            )
        return self._pool

    def topic(self, records: int) -> Topic:
        """A topic of ``records`` copies of the pool (filled on first use)."""
        name = f"bench-{records}"
        assert self.cluster is not None
        if name not in self.cluster.topics:
            pool = self.pool
            self.log(f"filling {name} ({records:,} records, {self.o.partitions} partitions) ...")
            topic = self.cluster.fill(name, self.o.partitions, pool.copies(records))
            self._note_topic(topic)
        return self.cluster.topics[name]

    def large_topic(self) -> Topic:
        """A topic of ``large_records`` records of ~``large_bytes`` each."""
        name = f"bench-large-{self.o.large_records}x{self.o.large_bytes}"
        assert self.cluster is not None
        if name not in self.cluster.topics:
            self.log(f"filling {name} ...")
            records = large_events(self.pool, self.o.large_records, self.o.large_bytes)
            topic = self.cluster.fill(
                name, self.o.partitions, records, max_record_bytes=self.o.large_bytes
            )
            self._note_topic(topic)
        return self.cluster.topics[name]

    def _note_topic(self, topic: Topic) -> None:
        self.results["dataset"]["topics"][topic.name] = {
            "records": topic.records,
            "partitions": topic.partitions,
            "mean_record_bytes": round(topic.record_bytes),
            "fill_seconds": round(topic.fill_seconds, 1),
            "fill_records_per_s": round(topic.records / topic.fill_seconds)
            if topic.fill_seconds
            else None,
        }

    def _attempt(
        self, label: str, measure: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """``measure(*args, **kwargs)``, logged; a failed run becomes ``{"ok": False, ...}``."""
        try:
            result = measure(*args, **kwargs)
        except RunFailed as exc:
            self.log(f"   {label}: FAILED {exc}")
            return {"ok": False, "error": str(exc)}
        rate = result.get("records_per_s")
        cpu = result.get("cpu_us_per_record")
        self.log(
            f"   {label}: {rate or 0:,} records/s, {cpu} µs CPU/record"
            + ("" if result.get("ok") else " (NOT OK)")
        )
        if not result.get("ok"):
            self.log(
                f"      exit statuses {result.get('exit_statuses')}, "
                f"{result.get('rejected_requests')} request(s) rejected; the connector's stderr "
                f"ends:\n{result.get('stderr_tail', '')}"
            )
        return result

    def windowed(self, configs: Sequence[RunConfig]) -> dict[RunConfig, list[dict[str, Any]]]:
        """``repeat`` steady-state windows of each configuration, taking turns (shared within the
        running scenario only)."""
        bench = self.bench
        assert bench is not None
        topic = self.topic(self.o.window_records)
        for number in range(self.o.repeat):
            for config in configs:
                runs = self._windows.setdefault((self._scope, config), [])
                if len(runs) > number:
                    continue
                latency_s = config.latency_ms / 1000
                warmup = max(self.o.warmup_s, 2 * latency_s)
                window = max(self.o.window_s, 10 * latency_s)
                label = f"{_case(config)} window {number + 1}/{self.o.repeat}"
                runs.append(
                    self._attempt(
                        label, bench.window, config, topic, warmup_s=warmup, window_s=window
                    )
                )
        return {config: self._windows[(self._scope, config)] for config in configs}

    def drained(
        self, config: RunConfig, topic: Topic, *, paired_ceiling: bool = False
    ) -> list[dict[str, Any]]:
        """``repeat`` reads of ``topic`` to lag 0 under ``config`` (shared across scenarios).

        ``paired_ceiling``: measure the ceiling of the run's build on the topic's own records
        in one pass right before and one right after each run; their mean is the run's
        ``ceiling_cpu_us_per_record``. A ratio then compares the same work measured around
        the same minute, and a machine that speeds up or slows down during the run moves both
        sides alike: these machines drift by more than the difference being measured.
        """
        assert self.bench is not None
        runs = self._drains.setdefault((config, topic.name), [])
        while len(runs) < self.o.repeat:
            label = f"{_case(config)} drain {topic.name} {len(runs) + 1}/{self.o.repeat}"
            before = self._ceiling_now(config.build, topic) if paired_ceiling else None
            run = self._attempt(label, self.bench.drain, config, topic)
            if before is not None:
                after = self._ceiling_now(config.build, topic)
                run["ceiling_cpu_us_per_record"] = round((before + after) / 2, 3)
                run["ceiling_before_after"] = [before, after]
            runs.append(run)
        return runs

    def ceiling(self, build: str) -> dict[str, Any]:
        """The ceiling of ``build`` (one subprocess in that build's interpreter), measured once."""
        if build not in self._ceiling:
            self._ceiling[build] = self._run_ceiling(build, self.o.repeat)
        return self._ceiling[build]

    def _ceiling_now(self, build: str, topic: Topic) -> float:
        """The ceiling of ``build`` now, on ``topic``'s records: one pass.

        The records an end-to-end drain of ``topic`` reads (the pool cycled to its length,
        mapping caches empty at the start, :func:`bench.ceiling.measure_stream`), not the
        ceiling scenario's generated set: "decode + map + encode the same records".
        """
        assert self._scratch is not None
        stream = self._scratch / "pool.pickle"
        if not stream.exists():
            stream.write_bytes(pickle.dumps(self.pool.values))
        extra = ["--stream", str(stream), "--records", str(topic.records)]
        runs = self._run_ceiling(build, 1, extra=extra)["cpu_us_per_record_runs"]
        return float(runs[0])

    def _run_ceiling(
        self, build: str, repeat: int, formats: str | None = None, extra: Sequence[str] = ()
    ) -> dict[str, Any]:
        assert self.bench is not None
        command = [
            sys.executable,
            "-m",
            "bench.ceiling",
            "--records",
            str(self.o.ceiling_records),
            "--repeat",
            str(repeat),
            "--seed",
            str(self.o.seed),
            "--now",
            str(self._now),
            *(["--formats", formats] if formats else []),
            *extra,  # later options win: --records of a stream
        ]
        done = subprocess.run(
            command,
            env=self.bench.build_env(build),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=self.o.timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.ceiling ({build}) failed: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def _ceiling_cpu(self, build: str, fmt: str = "bundled_avro") -> Figure | None:
        runs = self.ceiling(build)["formats"].get(fmt, {}).get("cpu_us_per_record_runs")
        return figure(runs or [], "µs/record")

    def _add_rate_lines(
        self,
        scenario: str,
        case: str,
        row: dict[str, Any],
        reference: dict[str, Any] | None = None,
        reference_name: str = "",
    ) -> None:
        ref = reference or {}
        self.table.add(
            scenario,
            case,
            "records/s",
            row["records_per_s"],
            ratio(row["records_per_s"], ref.get("records_per_s")),
            reference_name,
        )
        self.table.add(
            scenario,
            case,
            "CPU µs/record",
            row["cpu_us_per_record"],
            ratio(row["cpu_us_per_record"], ref.get("cpu_us_per_record")),
            reference_name,
        )

    def _config(
        self, build: str, consumers: int = 1, latency_ms: float = 0.0, **settings: object
    ) -> RunConfig:
        """A run configuration, with ``--set`` variables under the scenario's own."""
        return RunConfig.of(build, consumers, latency_ms, **{**dict(self.o.set), **settings})

    def _default(self) -> RunConfig:
        return self._config(self.o.main_build)

    # -- 1. ceiling ---------------------------------------------------------------------------
    def scenario_ceiling(self) -> dict[str, Any]:
        rows = []
        for build in self.o.builds:
            measured = self.ceiling(build)
            if measured["build"] != build:
                self.log(f"!! the {build} interpreter ran the {measured['build']} mapping")
            for name, fmt in measured["formats"].items():
                cpu = figure(fmt["cpu_us_per_record_runs"], "µs/record")
                per_core = figure(
                    [1e6 / v for v in fmt["cpu_us_per_record_runs"]], "records/s/core"
                )
                rows.append(
                    {
                        "build": build,
                        "format": name,
                        "label": fmt["label"],
                        "stand_in": fmt["stand_in"],
                        "imported_build": measured["build"],
                        "mean_value_bytes": fmt["mean_value_bytes"],
                        "mapped_share": fmt["mapped_share"],
                        "same_requests_as_bundled": fmt["same_requests_as_first_format"],
                        "cpu_us_per_record": cpu,
                        "records_per_s_per_core": per_core,
                    }
                )
        ratios: dict[str, Any] = {}
        by_key = {(r["build"], r["format"]): r for r in rows}
        for row in rows:
            base = by_key.get((row["build"], "bundled_avro"))
            pure = by_key.get(("pure", row["format"]))
            vs_bundled = (
                ratio(row["cpu_us_per_record"], base["cpu_us_per_record"])
                if base and base is not row
                else None
            )
            vs_pure = (
                ratio(row["cpu_us_per_record"], pure["cpu_us_per_record"])
                if pure and pure is not row
                else None
            )
            if vs_bundled:
                ratios[f"{row['build']}.{row['format']}_vs_bundled_avro.cpu"] = vs_bundled
            if vs_pure:
                ratios[f"{row['build']}.{row['format']}_vs_pure.cpu"] = vs_pure
            case = f"{row['build']} · {row['format']}" + (" (stand-in)" if row["stand_in"] else "")
            self.table.add(
                "ceiling",
                case,
                "CPU µs/record",
                row["cpu_us_per_record"],
                vs_pure or vs_bundled,
                "vs pure" if vs_pure else "vs bundled_avro",
            )
            self.table.add("ceiling", case, "records/s/core", row["records_per_s_per_core"])
        return {"records": self.o.ceiling_records, "rows": rows, "ratios": ratios}

    # -- 2. end to end ------------------------------------------------------------------------
    def scenario_e2e(self) -> dict[str, Any]:
        topic = self.topic(self.o.records)
        rows = []
        for build in self.o.builds:
            config = self._config(build)
            runs = self.drained(config, topic, paired_ceiling=True)
            row = _row(runs)
            # Each run against the ceiling measured around it (the ceiling scenario's
            # figure when the runs were made earlier, by another scenario).
            paired = [r for r in runs if r.get("ok") and r.get("ceiling_cpu_us_per_record")]
            if paired:
                ceiling = figure([r["ceiling_cpu_us_per_record"] for r in paired], "µs/record")
                overhead = figure(
                    [r["cpu_us_per_record"] / r["ceiling_cpu_us_per_record"] for r in paired], "x"
                )
            else:
                ceiling = self._ceiling_cpu(build)
                overhead = ratio(row["cpu_us_per_record"], ceiling)
            row.update(
                build=build,
                config=config.describe(),
                ceiling_cpu_us_per_record=ceiling,
                overhead=overhead,
                overhead_paired=bool(paired),
            )
            row["seconds_to_lag0"] = figure(
                [r.get("seconds_to_lag0") for r in row["runs"] if r.get("ok")], "s"
            )
            rows.append(row)
        pure = next((r for r in rows if r["build"] == "pure"), None)
        for row in rows:
            case = f"{row['build']} · {topic.records:,} records"
            vs_pure = pure if pure is not None and row is not pure else None
            self._add_rate_lines("e2e", case, row, vs_pure, "vs pure")
            self.table.add("e2e", case, "events/s delivered", row["events_per_s"])
            self.table.add("e2e", case, "overhead (CPU ÷ ceiling)", row["overhead"])
            for thread in _THREADS:
                figure_ = row["cpu_us_per_record_by_thread"][thread]
                self.table.add("e2e", case, f"CPU µs/record: {thread}", figure_)
            self.table.add("e2e", case, "peak RSS total", row["peak_rss_mib"]["total"])
        targets = {
            f"{r['build']}.overhead<=1.25": (median(r["overhead"]) or 99) <= 1.25 for r in rows
        }
        return {"topic": topic.name, "records": topic.records, "rows": rows, "targets": targets}

    # -- 3. one event per request -------------------------------------------------------------
    def scenario_batching(self) -> dict[str, Any]:
        default, single = self._default(), self._config(self.o.main_build, BATCH_SIZE=1)
        runs = self.windowed([default, single])
        rows = {"default": _row(runs[default]), "batch_size_1": _row(runs[single])}
        self._add_rate_lines("batching", _case(default), rows["default"])
        self._add_rate_lines(
            "batching", _case(single), rows["batch_size_1"], rows["default"], "vs defaults"
        )
        return {
            "rows": rows,
            "ratios": {
                "batched_vs_single.records_per_s": ratio(
                    rows["default"]["records_per_s"], rows["batch_size_1"]["records_per_s"]
                ),
                "single_vs_batched.cpu": ratio(
                    rows["batch_size_1"]["cpu_us_per_record"], rows["default"]["cpu_us_per_record"]
                ),
            },
        }

    # -- 4. API latency -----------------------------------------------------------------------
    def scenario_latency(self) -> dict[str, Any]:
        zero = self._default()
        slow = [self._config(self.o.main_build, latency_ms=ms) for ms in self.o.latencies_ms]
        runs = self.windowed([zero, *slow])
        reference = _row(runs[zero])
        rows = [{"latency_ms": 0.0, **reference}]
        self._add_rate_lines("latency", "0 ms", reference)
        targets = {}
        for config in slow:
            row = _row(runs[config])
            row["latency_ms"] = config.latency_ms
            row["vs_zero_latency"] = ratio(row["records_per_s"], reference["records_per_s"])
            rows.append(row)
            self._add_rate_lines("latency", f"{config.latency_ms:g} ms", row, reference, "vs 0 ms")
            if config.latency_ms == 300:
                targets["300ms>=0.9x"] = (median(row["vs_zero_latency"]) or 0) >= 0.9
        return {"rows": rows, "targets": targets}

    # -- 8. cost curves -----------------------------------------------------------------------
    def scenario_curves(self) -> dict[str, Any]:
        grid = [
            (
                batch,
                flight,
                self._config(self.o.main_build, BATCH_SIZE=batch, MAX_IN_FLIGHT_REQUESTS=flight),
            )
            for batch in self.o.batch_sizes
            for flight in self.o.in_flight
        ]
        default = self._default()
        configs = [config for _, _, config in grid]
        runs = self.windowed(configs if default in configs else [*configs, default])
        reference = _row(runs[default])
        rows = []
        for batch, flight, config in grid:
            row = _row(runs[config])
            row.update(batch_size=batch, in_flight=flight)
            rows.append(row)
            self._add_rate_lines(
                "curves", f"batch {batch} x in-flight {flight}", row, reference, "vs defaults"
            )
        title = (
            f"tiktok-capi cost curves ({self.o.main_build}; "
            f"{self.results['machine']['nproc']} x {self.results['machine']['cpu_model']})"
        )
        why_not = plot_curves(rows, self.o.plot, title)
        if why_not:
            self.log(f"   no plot: {why_not}")
        return {
            "rows": rows,
            "plot": None if why_not else str(self.o.plot),
            "plot_missing": why_not,
        }

    # -- 7. scaling ---------------------------------------------------------------------------
    def scenario_scaling(self) -> dict[str, Any]:
        configs = {
            (consumers, workers): self._config(
                self.o.main_build, consumers=consumers, DECODE_WORKERS=workers
            )
            for consumers in self.o.scaling_consumers
            for workers in self.o.scaling_workers
        }
        runs = self.windowed(list(configs.values()))
        rows = []
        by_key = {}
        for (consumers, workers), config in configs.items():
            row = _row(runs[config])
            row.update(consumers=consumers, decode_workers=workers)
            by_key[(consumers, workers)] = row
            rows.append(row)
        single = min(self.o.scaling_consumers)
        ratios = {}
        for (consumers, workers), row in by_key.items():
            base = by_key.get((single, workers)) if consumers != single else None
            case = f"{consumers} consumer{'s' if consumers > 1 else ''} · DECODE_WORKERS={workers}"
            self._add_rate_lines("scaling", case, row, base, f"vs {single} consumer")
            self.table.add(
                "scaling",
                case,
                "records/CPU-s",
                row.get("records_per_cpu_second"),
                ratio(
                    row.get("records_per_cpu_second"), (base or {}).get("records_per_cpu_second")
                ),
                f"vs {single} consumer",
            )
            if base:
                ratios[f"{consumers}x_vs_{single}x.workers={workers}.records_per_s"] = ratio(
                    row["records_per_s"], base["records_per_s"]
                )
        return {"partitions": self.o.partitions, "rows": rows, "ratios": ratios}

    # -- 5. latency under steady load ---------------------------------------------------------
    def scenario_steady(self) -> dict[str, Any]:
        assert self.cluster is not None and self.bench is not None
        config = self._default()
        capacity_source = "--steady-rate"
        if self.o.steady_rate:
            rate = self.o.steady_rate
            capacity = None
        else:
            # A steady-state window of the defaults measured right before (a drain includes its
            # ramp-up; a figure from minutes ago may be from a faster machine).
            capacity = median(_row(self.windowed([config])[config])["records_per_s"])
            capacity_source = "steady-state window of the defaults, just before"
            if not capacity:
                raise RuntimeError("no capacity figure to take half of")
            rate = capacity * self.o.steady_load
        self.log(f"   {rate:,.0f} records/s ({capacity_source})")
        runs = []
        for number in range(self.o.repeat):
            label = f"steady {number + 1}/{self.o.repeat}"
            runs.append(
                self._attempt(
                    label,
                    run_steady,
                    self.cluster,
                    self.pool,
                    config,
                    rate=rate,
                    seconds=self.o.steady_seconds,
                    warmup_s=self.o.steady_warmup_s,
                    partitions=self.o.partitions,
                    name=f"bench-steady-{number}",
                    build_env=self.bench.build_env("pure"),
                    memory_cap_mib=self.o.memory_cap_mib,
                    linger_ms=self.o.steady_linger_ms,
                )
            )
        good = [r for r in runs if r.get("ok")]
        latency = {q: figure([r["latency_s"][q] for r in good], "s") for q in ("p50", "p99", "max")}
        acks = {q: figure([r["produce_ack_s"][q] for r in good], "s") for q in ("p50", "p99")}
        row = _row(runs)
        for q, fig in latency.items():
            self.table.add("steady", f"{rate:,.0f} records/s", f"{q} produce→receipt", fig)
        for q, fig in acks.items():
            self.table.add("steady", f"{rate:,.0f} records/s", f"{q} produce→broker ack", fig)
        self.table.add(
            "steady", f"{rate:,.0f} records/s", "records/s consumed", row["records_per_s"]
        )
        self.table.add(
            "steady", f"{rate:,.0f} records/s", "CPU µs/record", row["cpu_us_per_record"]
        )
        return {
            "rate_records_per_s": round(rate),
            "capacity_records_per_s": capacity,
            "capacity_source": capacity_source,
            "load": self.o.steady_load,
            "latency_s": latency,
            "produce_ack_s": acks,
            "producer_linger_ms": self.o.steady_linger_ms,
            "row": row,
            "targets": {"p99<1s": (median(latency["p99"]) or 99) < 1.0},
        }

    # -- 6. memory ----------------------------------------------------------------------------
    def scenario_memory(self) -> dict[str, Any]:
        config = self._default()
        rows = []
        for backlog in self.o.backlogs:
            topic = self.topic(backlog)
            row = _row(self.drained(config, topic))
            row.update(backlog=topic.records, record_bytes=round(topic.record_bytes))
            rows.append(row)
        large = self.large_topic()
        row = _row(self.drained(config, large))
        row.update(backlog=large.records, record_bytes=round(large.record_bytes))
        rows.append(row)
        smallest = rows[0]
        targets = {}
        for row in rows:
            case = f"backlog {row['backlog']:,} x {row['record_bytes']:,} B"
            total = row["peak_rss_mib"]["total"]
            ref = smallest if row is not smallest else None
            self.table.add(
                "memory",
                case,
                "peak RSS total",
                total,
                ratio(total, ref["peak_rss_mib"]["total"]) if ref else None,
                f"vs backlog {smallest['backlog']:,}",
            )
            self.table.add("memory", case, "peak RSS connector", row["peak_rss_mib"]["connector"])
            self.table.add("memory", case, "peak RSS workers", row["peak_rss_mib"]["workers"])
            targets[f"{case}<250MB"] = (median(total) or 1e9) * 1.048576 < 250
        return {"rows": rows, "targets": targets}

    # -- profile ------------------------------------------------------------------------------
    def profile(self, path: Path) -> dict[str, Any]:
        """One extra end-to-end drain under py-spy; the summary of where its CPU went."""
        assert self.bench is not None
        config = self._config(self.o.profile_build)
        topic = self.topic(self.o.records)
        try:
            run = self.bench.drain(config, topic, profile=path, native=self.o.profile_native)
        except RunFailed as exc:
            return {"error": str(exc)}
        if not path.exists():
            return {"error": "py-spy wrote nothing (is it installed? pip install -e '.[bench]')"}
        summary = summarise(path)
        return {
            "stacks": str(path),
            "build": self.o.profile_build,
            "run": {k: run.get(k) for k in ("records_per_s", "cpu_us_per_record", "ok")},
            **summary,
        }
