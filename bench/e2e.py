"""End-to-end benchmark: a pre-filled topic -> `tiktok-capi run` -> the TikTok emulator.

    python -m bench.e2e [--events 200000] [--partitions 4] [--batch-size 1000] [--in-flight 4]

Starts an embedded Tansu broker, fills a topic with realistic storefront events
(``tiktok_capi.consumer.demo.storefront``, Avro-encoded), starts the emulator as its own process (so
it does not share the connector's GIL) and then the connector as a subprocess configured by
environment variables, exactly as a user runs it. Reports:

- records/s and events/s end to end: records resolved (delivered or skipped by the mapping) and
  events accepted by the emulator, divided by the time from the first to the last accepted
  request (steady state); events/s also over the wall time from the connector's start
  (including the group join);
- the connector's peak RSS (``VmHWM`` of the process, and of its decode workers) and the CPU
  seconds of the connector, its workers, the emulator and the broker;
- that every event arrived and the committed offsets reach the end of every partition.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tiktok_capi.consumer.decode.codec import encode_event
from tiktok_capi.consumer.demo.broker import EmbeddedBroker, free_port
from tiktok_capi.consumer.kafka.produce import produce_waiting
from tools import compile_mapping

TOKEN = "bench-token"  # noqa: S105 - the emulator's throwaway token
PIXEL = "BENCHPIXEL"


def _events(n: int, seed: int) -> list[dict[str, Any]]:
    """Realistic storefront events (the sample dataset generator when available)."""
    try:
        from tiktok_capi.consumer.demo.storefront import generate
    except ImportError:
        return _fallback_events(n, time.time())
    return list(generate(n, seed=seed, now=datetime.now(UTC)))


def _fallback_events(n: int, now: float) -> list[dict[str, Any]]:
    golden = Path(__file__).resolve().parent.parent / "tests" / "golden"
    inputs = [json.loads(p.read_text())["input"] for p in sorted(golden.glob("*.json"))]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    events = []
    for i in range(n):
        event = dict(inputs[i % len(inputs)])
        event["messageId"] = f"bench-{i}"
        event["timestamp"] = stamp
        events.append(event)
    return events


def _fill(bootstrap: str, topic: str, partitions: int, events: list[dict[str, Any]]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[
        topic
    ].result(30)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10000}
    )
    errors: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for i, event in enumerate(events):
        key = str(event.get("userId") or event.get("anonymousId") or i).encode()
        value = encode_event(event)
        produce_waiting(producer, topic, value, key=key, on_delivery=report)
    if producer.flush(120) or errors:
        raise SystemExit(f"filling the topic failed: {errors[:3]}")


def _ends(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Partition ends, learnt by reading (Tansu's ListOffsets(latest) is not trustworthy)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-ends", "enable.auto.commit": False}
    )
    ends: dict[int, int] = {}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 2.0:
            batch = consumer.consume(10000, 0.2)
            for msg in batch:
                if msg.error() is None:
                    ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)
            if batch:
                idle_since = time.monotonic()
    finally:
        consumer.close()
    return ends


def _committed(admin: AdminClient, group: str, topic: str, partitions: int) -> dict[int, int]:
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p) for p in range(partitions)]
    )
    try:
        result = admin.list_consumer_group_offsets([request])[group].result(10)
    except Exception:
        return {}
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0}


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def _emulator() -> Iterator[tuple[str, int]]:
    port = free_port()
    # As a user runs it (`tiktok-capi emulate`, which also tunes its garbage collector).
    command = [sys.executable, "-m", "consumer", "emulate", "--port", str(port),
               "--token", TOKEN, "--pixel-code", PIXEL]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _get_json(f"{base}/_emulator/health")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the emulator did not start") from None
                time.sleep(0.05)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_by_process(pid: int, emulator_pid: int, broker: EmbeddedBroker) -> dict[str, float]:
    return {
        "connector": _cpu_s(pid),
        "decode_workers": sum(_cpu_s(w) for w in _descendants(pid)),
        "emulator": _cpu_s(emulator_pid),
        "broker": _cpu_s(getattr(getattr(broker, "_process", None), "pid", 0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=4, help="MAX_IN_FLIGHT_REQUESTS")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="DECODE_WORKERS")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", help="write a py-spy flame graph (SVG) of the connector")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="run the connector with the mypyc-compiled mapping (built into .build/compiled "
        "first, as the Docker image ships it; docs/architecture.md)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run N times (fresh broker and emulator each) and print the median and range",
    )
    args = parser.parse_args(argv)
    if args.compiled and (missing := compile_mapping.compiler_missing()):
        parser.error(f"--compiled: cannot compile here ({missing}); run without it (pure Python)")

    print(f"generating {args.events:,} events ...", flush=True)
    events = _events(args.events, args.seed)
    results = []
    for run in range(args.repeat):
        if args.repeat > 1:
            print(f"run {run + 1} of {args.repeat}", flush=True)
        result = _run_once(args, events)
        print(json.dumps(result, indent=2), flush=True)
        results.append(result)
    if args.repeat > 1:
        print(json.dumps(_summary(results), indent=2))
    ok = all(r["committed_to_end"] and r["exit_status"] == 0 for r in results)
    return 0 if ok else 1


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range of the rates over several runs (the machine may be shared: look at both)."""
    summary: dict[str, Any] = {"runs": len(results)}
    for key in ("records_per_s_steady", "events_per_s_steady", "connector_peak_rss_mib"):
        values = sorted(r[key] for r in results)
        summary[key] = {
            "median": statistics.median(values),
            "min": values[0],
            "max": values[-1],
        }
    cpu = [sum(r["cpu_seconds_steady"].values()) / r["events"] * 1e6 for r in results]
    summary["cpu_us_per_record_steady_all_processes"] = round(statistics.median(cpu), 1)
    return summary


def _run_once(args: argparse.Namespace, events: list[dict[str, Any]]) -> dict[str, Any]:
    """One benchmark run: fresh broker, emulator and connector; the figures as a dict."""
    topic, group = "bench-events", "bench-group"
    with EmbeddedBroker() as broker, _emulator() as (emulator_url, emulator_pid):
        started = time.monotonic()
        _fill(broker.bootstrap, topic, args.partitions, events)
        fill_s = time.monotonic() - started
        print(f"filled {topic} ({args.partitions} partitions) in {fill_s:.1f}s", flush=True)
        ends = _ends(broker.bootstrap, topic, args.partitions)
        total = sum(ends.values())
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "KAFKA_GROUP_ID": group,
                "KAFKA_SESSION_TIMEOUT_MS": "6000",
                "SOURCE_TOPIC": topic,
                "TIKTOK_ACCESS_TOKEN": TOKEN,
                "TIKTOK_PIXEL_CODE": PIXEL,
                "TIKTOK_API_URL": emulator_url,
                "BATCH_SIZE": str(args.batch_size),
                "MAX_IN_FLIGHT_REQUESTS": str(args.in_flight),
                "COMMIT_INTERVAL": "1s",
                "HEALTH_PORT": "0",
                "HEALTH_HOST": "127.0.0.1",
                "LOG_LEVEL": "warning",
                "LOG_FORMAT": "text",
            }
        )
        if args.workers is not None:
            env["DECODE_WORKERS"] = str(args.workers)
        if args.compiled:
            env = compile_mapping.environ(compile_mapping.build(), env)
        command = [sys.executable, "-m", "consumer", "run"]
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        with tempfile.TemporaryFile() as stderr:
            launched = time.monotonic()
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=stderr)
            pid = process.pid
            profiler = None
            if args.profile:  # py-spy attached to the connector; raw collapsed stacks
                profiler = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--threads",
                     "--subprocesses", "--rate", "200", "-o", args.profile],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                )  # fmt: skip
            deadline = launched + args.timeout
            accepted = 0
            first_at: float | None = None
            last_change = launched
            committed: dict[int, int] = {}
            next_commit_check = launched
            cpu_at_first: dict[str, float] = {}
            while time.monotonic() < deadline and process.poll() is None:
                stats = _get_json(f"{emulator_url}/_emulator/stats")
                now = time.monotonic()
                if stats["accepted_events"] != accepted:
                    if first_at is None:
                        first_at = now
                        cpu_at_first = _cpu_by_process(pid, emulator_pid, broker)
                    accepted = stats["accepted_events"]
                    last_change = now
                if now >= next_commit_check:
                    committed = _committed(admin, group, topic, args.partitions)
                    if committed == ends:
                        break  # every record resolved (delivered or skipped by the mapping)
                    next_commit_check = now + 0.25
                time.sleep(0.02)
            delivered_at = last_change
            peak_kib = _peak_rss_kib(pid)
            connector_cpu = _cpu_s(pid)
            workers = _descendants(pid)
            workers_cpu = sum(_cpu_s(w) for w in workers)
            workers_peak_kib = sum(_peak_rss_kib(w) for w in workers)
            emulator_cpu = _cpu_s(emulator_pid)
            broker_cpu = _cpu_s(getattr(getattr(broker, "_process", None), "pid", 0))
            cpu_at_last = _cpu_by_process(pid, emulator_pid, broker)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            process.send_signal(signal.SIGTERM)
            try:
                status = process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                status = process.wait()
            stats = _get_json(f"{emulator_url}/_emulator/stats")
            if status != 0:
                stderr.seek(0)
                sys.stderr.write(stderr.read().decode(errors="replace")[-4000:])
    steady = (
        stats["accepted_events"] / (delivered_at - first_at)
        if first_at and delivered_at > first_at
        else 0.0
    )
    wall = stats["unique_events"] / (delivered_at - launched)
    return {
        "events": total,
        "accepted_events": stats["accepted_events"],
        "unique_events": stats["unique_events"],
        "requests": stats["requests"],
        "rejected_requests": stats["rejected_requests"],
        "records_per_s_steady": round(
            total / (delivered_at - first_at) if first_at and delivered_at > first_at else 0
        ),
        "events_per_s_steady": round(steady),
        "events_per_s_wall_incl_startup": round(wall),
        "seconds_first_to_last_delivery": round(delivered_at - (first_at or 0), 2),
        "seconds_from_launch": round(delivered_at - launched, 2),
        "connector_peak_rss_mib": round(peak_kib / 1024, 1),
        "decode_workers_peak_rss_mib": round(workers_peak_kib / 1024, 1),
        "cpu_seconds": {
            "connector": round(connector_cpu, 1),
            "decode_workers": round(workers_cpu, 1),
            "emulator": round(emulator_cpu, 1),
            "broker": round(broker_cpu, 1),
        },
        # Between the first and the last accepted request only (no start-up, no fill):
        # how the two cores were shared in the steady state.
        "cpu_seconds_steady": {
            name: round(cpu_at_last[name] - cpu_at_first.get(name, 0.0), 1) for name in cpu_at_last
        },
        "committed_to_end": committed == ends,
        "committed": committed,
        "ends": ends,
        "exit_status": status,
        "batch_size": args.batch_size,
        "max_in_flight_requests": args.in_flight,
        "partitions": args.partitions,
        "mapping": "compiled with mypyc" if args.compiled else "pure Python",
    }


if __name__ == "__main__":
    sys.exit(main())
