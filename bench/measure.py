"""One measured run of the connector, in one of two shapes, and the context runs share.

- :meth:`Bench.drain`: a pre-filled topic read to the end. Time runs from the **first fetch**
  (the first scrape of the connector's ``records_consumed`` counter that is above zero) to the
  **last delivery** (the last change of the emulator's accepted-events counter), and the run
  ends when the group's committed offsets reach the end of every partition (**lag 0**, checked
  every 0.5 s; commits every ``COMMIT_INTERVAL=1s``, so lag 0 is seen at most ~1.5 s after the
  last record). Records counted: the topic's records minus those resolved at the first scrape.
- :meth:`Bench.window`: the steady state of a long topic. After the first fetch and a warm-up,
  the connector's resolved counter (delivered + skipped + dead-lettered + retried, from its
  ``/metrics``), the emulator's accepted events and the CPU of the processes are read at the
  start and the end of a fixed window. Used where reading to the end would take long (batches
  of 1, 1 s answers) or is beside the point (scaling, cost curves).

CPU per record is the user + system CPU of the connector's processes (the ``tiktok-capi run``
process and all its descendants, decode workers included, from ``/proc``) over the measured
interval, divided by the records resolved in it. The emulator's and broker's CPU are reported
beside it: on a small machine they share the cores.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import proc
from bench.cluster import Cluster, Topic
from bench.internals import compiled_environ, connector_defaults
from bench.processes import PIXEL, TOKEN, Connector, EmulatorProcess

__all__ = ["Bench", "ProcessTree", "RunConfig", "RunFailed", "Snapshot"]

_POLL_S = 0.05
_RSS_EVERY_S = 0.25
_LAG_EVERY_S = 0.5
_TREE_EVERY_S = 2.0
# Variables of a developer's shell that would change what is measured: never passed on.
_STRIPPED_PREFIXES = ("KAFKA_", "TIKTOK_", "SCHEMA_REGISTRY_", "OTEL_")
_STRIPPED = frozenset(
    {
        "SOURCE_TOPIC",
        "RETRY_TOPIC",
        "DLQ_TOPIC",
        "RETRY_DELAYS",
        "CREATE_TOPICS",
        "COMMIT_INTERVAL",
        "MAX_IN_FLIGHT_EVENTS",
        "DECODE_WORKERS",
        "BATCH_SIZE",
        "BATCH_LINGER",
        "MAX_IN_FLIGHT_REQUESTS",
        "SEND_RETRY_ATTEMPTS",
        "SEND_RETRY_BACKOFF",
        "SEND_RETRY_MAX_BACKOFF",
        "AUTH_PROBE_INTERVAL",
        "DLQ_MAX_PER_MINUTE",
        "EVENT_MAP_FILE",
        "PHONE_DEFAULT_REGION",
        "SHUTDOWN_GRACE",
        "HEALTH_HOST",
        "HEALTH_PORT",
        "LIVENESS_TIMEOUT",
        "METRICS_ENABLED",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "PYTHONPATH",
        "PYTHONSAFEPATH",
    }
)


class RunFailed(RuntimeError):
    """A run could not be measured (the connector exited, a timeout, the memory cap)."""


@dataclass(frozen=True)
class RunConfig:
    """What varies between runs: build, connector variables, members, answer latency."""

    build: str = "pure"
    settings: tuple[tuple[str, str], ...] = ()
    consumers: int = 1
    latency_ms: float = 0.0

    @classmethod
    def of(
        cls, build: str, consumers: int = 1, latency_ms: float = 0.0, **settings: object
    ) -> RunConfig:
        """``RunConfig.of("compiled", BATCH_SIZE=1)``: settings as connector variables.

        Settings equal to the connector's defaults are left out, so a configuration has one
        key however it is spelt (the default cell of the cost curves *is* the default run).
        """
        defaults = connector_defaults()
        chosen = {k: str(v) for k, v in settings.items() if defaults.get(k) != str(v)}
        return cls(build, tuple(sorted(chosen.items())), consumers, float(latency_ms))

    def describe(self) -> dict[str, Any]:
        """The configuration as it goes to results.json."""
        return {
            "build": self.build,
            "consumers": self.consumers,
            "latency_ms": self.latency_ms,
            "settings": dict(self.settings),
            "effective": {**connector_defaults(), **dict(self.settings)},
        }


@dataclass
class ProcessTree:
    """The processes of the connector(s) under test: CPU and memory, sampled cheaply."""

    roots: list[int]
    pids: list[int] = field(default_factory=list)
    cpu: dict[int, float] = field(default_factory=dict)
    peak_sum_kib: int = 0

    def refresh(self) -> None:
        self.pids = proc.tree(self.roots)

    def cpu_seconds(self) -> tuple[float, float]:
        """(CPU of the roots, CPU of their descendants), remembering processes that ended."""
        for pid in self.pids:
            value = proc.cpu_seconds(pid)
            if value > self.cpu.get(pid, 0.0):
                self.cpu[pid] = value
        main = sum(v for pid, v in self.cpu.items() if pid in self.roots)
        return main, sum(self.cpu.values()) - main

    def sample_rss(self) -> int:
        total = sum(proc.rss_kib(pid) for pid in self.pids)
        self.peak_sum_kib = max(self.peak_sum_kib, total)
        return total

    def peaks_mib(self) -> dict[str, float]:
        roots = sum(proc.peak_rss_kib(pid) for pid in self.roots)
        workers = sum(proc.peak_rss_kib(pid) for pid in self.pids if pid not in self.roots)
        return {
            "connector": round(roots / 1024, 1),
            "workers": round(workers / 1024, 1),
            "total": round((roots + workers) / 1024, 1),
            "sampled_total": round(self.peak_sum_kib / 1024, 1),
        }


@dataclass
class Snapshot:
    at: float
    resolved: int
    accepted: int
    main_cpu: float
    workers_cpu: float
    emulator_cpu: float
    broker_cpu: float
    threads_cpu: dict[str, float] = field(default_factory=dict)  # connectors' roles


class Bench:
    """What the runs of one suite share: the broker, the emulator, the builds' environments.

    Args:
        cluster: the broker holding the filled topics.
        emulator: the TikTok side (reset before every run).
        memory_cap_mib: a run whose connector processes together exceed this is stopped
            (large records could otherwise take the shared machine's memory).
        timeout_s: longest run.
        log: progress lines (to stderr).
    """

    def __init__(
        self,
        cluster: Cluster,
        emulator: EmulatorProcess,
        *,
        memory_cap_mib: float = 4096,
        timeout_s: float = 900,
        log: Any = None,
    ) -> None:
        self.cluster = cluster
        self.emulator = emulator
        self.memory_cap_mib = memory_cap_mib
        self.timeout_s = timeout_s
        self._log = log or (lambda message: None)
        self._groups = itertools.count(1)
        self._envs: dict[str, dict[str, str]] = {}

    # -- environments -------------------------------------------------------------------------
    def build_env(self, build: str) -> dict[str, str]:
        """The environment a child process of ``build`` (pure or compiled) starts with."""
        if build not in self._envs:
            base = {
                k: v
                for k, v in os.environ.items()
                if k not in _STRIPPED and not k.startswith(_STRIPPED_PREFIXES)
            }
            if build == "compiled":
                base = compiled_environ(base)
            elif build != "pure":
                raise ValueError(f"unknown build {build!r}")
            self._envs[build] = base
        return dict(self._envs[build])

    def connector_env(self, config: RunConfig, topic: Topic, group: str) -> dict[str, str]:
        """Every variable of one connector run (docs/configuration.md)."""
        env = self.build_env(config.build)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap,
                "KAFKA_GROUP_ID": group,
                "KAFKA_SESSION_TIMEOUT_MS": "6000",  # Tansu's join waits half of it
                "SOURCE_TOPIC": topic.name,
                "TIKTOK_ACCESS_TOKEN": TOKEN,
                "TIKTOK_PIXEL_CODE": PIXEL,
                "TIKTOK_API_URL": self.emulator.url,
                "COMMIT_INTERVAL": "1s",  # lag 0 is seen within ~1 s of the last record
                # A window ends with up to MAX_IN_FLIGHT_EVENTS records unresolved: do not wait
                # the default 20 s for them (the figures are taken before the stop).
                "SHUTDOWN_GRACE": "2s",
                "LOG_LEVEL": "warning",
                "LOG_FORMAT": "text",
            }
        )
        env.update(dict(config.settings))
        return env

    # -- runs ---------------------------------------------------------------------------------
    def drain(
        self,
        config: RunConfig,
        topic: Topic,
        *,
        profile: Path | None = None,
        native: bool = False,
    ) -> dict[str, Any]:
        """Read ``topic`` to the end (lag 0); the run's figures (see the module docstring)."""
        with self.connectors(config, topic) as (group, connectors, launched):
            tree, first = self._first_fetch(connectors, launched)
            profiler = _py_spy(connectors[0].pid, profile, native) if profile else None
            last = first
            lag0_at: float | None = None
            next_rss = next_lag = next_tree = first.at
            deadline = launched + self.timeout_s
            while True:
                now = time.monotonic()
                accepted = self.emulator.stats()["accepted_events"]
                if accepted != last.accepted:
                    last = self.snapshot(tree, connectors, accepted=accepted, scrape=False)
                if now >= next_tree:
                    tree.refresh()
                    next_tree = now + _TREE_EVERY_S
                if now >= next_rss:
                    self._check_memory(tree)
                    next_rss = now + _RSS_EVERY_S
                if now >= next_lag:
                    if self.cluster.at_end(group, topic):
                        lag0_at = time.monotonic()
                        break
                    next_lag = now + _LAG_EVERY_S
                _check_alive(connectors)
                if now > deadline:
                    raise RunFailed(f"no lag 0 after {self.timeout_s:.0f}s")
                time.sleep(_POLL_S)
            if profiler is not None:
                _stop_py_spy(profiler)
            counts = [c.counts() for c in connectors]
            resolved_end = sum(c[1] for c in counts if c is not None)
            memory = tree.peaks_mib()
            records = topic.records - first.resolved
            result = self.figures(first, last, records, memory)
            result.update(
                mode="drain",
                topic_records=topic.records,
                resolved_by_connector=resolved_end,
                seconds_to_lag0=round(lag0_at - first.at, 2),
                startup_seconds=round(first.at - launched, 2),
            )
        return self.finish(result, config, connectors)

    def window(
        self, config: RunConfig, topic: Topic, *, warmup_s: float, window_s: float
    ) -> dict[str, Any]:
        """Steady-state figures over ``window_s`` after the first fetch and ``warmup_s``."""
        with self.connectors(config, topic) as (_group, connectors, launched):
            tree, first = self._first_fetch(connectors, launched)
            self._idle(tree, connectors, first.at + warmup_s)
            start = self.snapshot(tree, connectors)
            self._idle(tree, connectors, start.at + window_s)
            end = self.snapshot(tree, connectors)
            memory = tree.peaks_mib()
            result = self.figures(start, end, end.resolved - start.resolved, memory)
            result.update(
                mode="window",
                warmup_s=warmup_s,
                window_s=round(end.at - start.at, 2),
                topic_records=topic.records,
                # Every record resolved before the window closed: the rate is a lower bound.
                drained_early=end.resolved >= topic.records,
                startup_seconds=round(first.at - launched, 2),
            )
        return self.finish(result, config, connectors)

    # -- pieces -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def connectors(
        self, config: RunConfig, topic: Topic
    ) -> Iterator[tuple[str, list[Connector], float]]:
        group = f"bench-{os.getpid()}-{next(self._groups)}"
        self.emulator.prepare(config.latency_ms)
        env = self.connector_env(config, topic, group)
        connectors = [Connector(env) for _ in range(config.consumers)]
        launched = time.monotonic()
        for connector in connectors:
            connector.start()
        try:
            yield group, connectors, launched
        except BaseException:
            for connector in connectors:
                connector.kill()
            raise
        finally:
            for connector in connectors:
                connector.stop()

    def _first_fetch(
        self, connectors: list[Connector], launched: float
    ) -> tuple[ProcessTree, Snapshot]:
        deadline = launched + min(self.timeout_s, 120)
        while True:
            counts = [c.counts() for c in connectors]
            if any(c is not None and c[0] > 0 for c in counts):
                break
            _check_alive(connectors)
            if time.monotonic() > deadline:
                raise RunFailed("no record consumed within 120 s of the start")
            time.sleep(_POLL_S)
        tree = self.process_tree(connectors)
        resolved = sum(c[1] for c in counts if c is not None)
        snapshot = self.snapshot(tree, connectors, resolved=resolved)
        return tree, snapshot

    def snapshot(
        self,
        tree: ProcessTree,
        connectors: list[Connector],
        *,
        accepted: int | None = None,
        resolved: int | None = None,
        scrape: bool = True,
    ) -> Snapshot:
        if resolved is None and scrape:
            counts = [c.counts() for c in connectors]
            resolved = sum(c[1] for c in counts if c is not None)
        if accepted is None:
            accepted = int(self.emulator.stats()["accepted_events"])
        at = time.monotonic()
        main, workers = tree.cpu_seconds()
        return Snapshot(
            at,
            resolved or 0,
            accepted,
            main,
            workers,
            proc.cpu_seconds(self.emulator.pid),
            proc.cpu_seconds(self.cluster.pid),
            _threads_cpu(connectors),
        )

    @staticmethod
    def process_tree(connectors: list[Connector]) -> ProcessTree:
        """The processes of ``connectors`` and their workers, for CPU and memory samples."""
        tree = ProcessTree([c.pid for c in connectors])
        tree.refresh()
        return tree

    def check(self, tree: ProcessTree, connectors: list[Connector]) -> None:
        """Raise :class:`RunFailed` when a connector exited or the memory cap is passed."""
        _check_alive(connectors)
        self._check_memory(tree)

    def _idle(self, tree: ProcessTree, connectors: list[Connector], until: float) -> None:
        next_tree = time.monotonic() + _TREE_EVERY_S
        while (now := time.monotonic()) < until:
            _check_alive(connectors)
            self._check_memory(tree)
            if now >= next_tree:
                tree.refresh()
                next_tree = now + _TREE_EVERY_S
            time.sleep(min(_RSS_EVERY_S, max(until - now, 0.0)))

    def _check_memory(self, tree: ProcessTree) -> None:
        total_mib = tree.sample_rss() / 1024
        if total_mib > self.memory_cap_mib:
            raise RunFailed(
                f"the connector's processes passed the memory cap ({total_mib:.0f} MiB > "
                f"{self.memory_cap_mib:.0f} MiB, --memory-cap-mib)"
            )

    @staticmethod
    def figures(
        start: Snapshot, end: Snapshot, records: int, memory: dict[str, float]
    ) -> dict[str, Any]:
        seconds = end.at - start.at
        cpu = (end.main_cpu - start.main_cpu) + (end.workers_cpu - start.workers_cpu)

        def per_record(seconds_cpu: float) -> float | None:
            return round(seconds_cpu / records * 1e6, 2) if records > 0 else None

        return {
            "records": records,
            "delivered_events": end.accepted - start.accepted,
            "seconds": round(seconds, 3),
            "records_per_s": round(records / seconds) if seconds > 0 else None,
            "events_per_s": round((end.accepted - start.accepted) / seconds)
            if seconds > 0
            else None,
            "cpu_us_per_record": per_record(cpu),
            "cpu_us_per_record_by_process": {
                "connector": per_record(end.main_cpu - start.main_cpu),
                "decode_workers": per_record(end.workers_cpu - start.workers_cpu),
                "emulator": per_record(end.emulator_cpu - start.emulator_cpu),
                "broker": per_record(end.broker_cpu - start.broker_cpu),
            },
            # Where the connector process's CPU goes, by thread (decode workers not included).
            "cpu_us_per_record_by_thread": {
                role: per_record(end.threads_cpu[role] - start.threads_cpu.get(role, 0.0))
                for role in end.threads_cpu
            },
            "cpu_cores_used": round(cpu / seconds, 2) if seconds > 0 else None,
            "peak_rss_mib": memory,
        }

    def finish(
        self, result: dict[str, Any], config: RunConfig, connectors: list[Connector]
    ) -> dict[str, Any]:
        statuses = [c.exit_status for c in connectors]
        stats = self.emulator.stats()
        result.update(
            config=config.describe(),
            exit_statuses=statuses,
            emulator={k: stats[k] for k in ("requests", "accepted_events", "unique_events")},
            rejected_requests=stats["rejected_requests"],
            ok=all(s == 0 for s in statuses) and stats["rejected_requests"] == 0,
        )
        if not result["ok"]:
            result["stderr_tail"] = connectors[0].stderr_tail(8000)  # stacks, if killed
        for connector in connectors:
            connector.close()
        return result


def _check_alive(connectors: list[Connector]) -> None:
    for connector in connectors:
        if not connector.alive():
            connector.stop()
            raise RunFailed(
                f"the connector exited with status {connector.exit_status}: "
                f"{connector.stderr_tail(1500)}"
            )


def _threads_cpu(connectors: list[Connector]) -> dict[str, float]:
    """The connectors' thread CPU by role, summed (:func:`bench.proc.thread_cpu_seconds`)."""
    total: dict[str, float] = {}
    for connector in connectors:
        for role, seconds in proc.thread_cpu_seconds(connector.pid).items():
            total[role] = total.get(role, 0.0) + seconds
    return total


def _py_spy(pid: int, out: Path, native: bool = False) -> subprocess.Popen[bytes]:
    """py-spy sampling the connector and its workers into ``out`` (collapsed stacks).

    ``--gil``: only threads holding their interpreter's lock, i.e. running Python. Without it a
    thread blocked in a C call that releases the lock (``SimpleQueue.get(timeout=...)`` on the
    poll loop, the process pool's ``select``) is sampled as busy. ``native``: C frames too
    (``--native``; mypyc-compiled functions then show under their own names), at a higher cost.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    binary = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(binary) if binary.exists() else "py-spy",
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            # --native cannot sample without pausing the process (slower, but needed for C frames)
            *(["--native"] if native else ["--nonblocking"]),
            "--gil",
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop_py_spy(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()
