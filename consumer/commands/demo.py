"""`tiktok-capi demo` — the whole pipeline on one machine, with nothing to install (`make run`).

Starts an in-memory Kafka-protocol broker (Tansu) and the TikTok Events API emulator on loopback
ports, creates the source topic, produces the shipped storefront dataset (timestamps moved to
now, so TikTok's event-time window accepts them), runs the connector until every produced record
is resolved and committed, and prints a summary. The emulator records every accepted TikTok
event to ``{output}/tiktok-events.jsonl``; ``{output}/summary.json`` holds the summary's numbers.

With ``--live`` the events go to the real Events API in *test mode* instead of the emulator:
``TIKTOK_ACCESS_TOKEN``, ``TIKTOK_PIXEL_CODE`` and ``TIKTOK_TEST_EVENT_CODE`` must be set (the
demo never sends its data live without a test event code). Check TikTok's Test Events dashboard.

Everything it starts is stopped again on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consumer.settings import Settings
    from consumer.stats import ConnectorStats

SOURCE_TOPIC = "cdp-events"
PARTITIONS = 4
GROUP_ID = "tiktok-capi-demo"
DEMO_PIXEL = "CDEMOPIXEL0000000000"
RECORD_FILE = "tiktok-events.jsonl"
SUMMARY_FILE = "summary.json"
_LIVE_VARS = ("TIKTOK_ACCESS_TOKEN", "TIKTOK_PIXEL_CODE", "TIKTOK_TEST_EVENT_CODE")
# TikTok accepts events up to 7 days old; the dataset is squeezed into the last 6 if it spans more.
_MAX_SPAN = timedelta(days=6)
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


class DemoError(Exception):
    """The demo cannot run as asked; the message says what to do."""


class _Interrupted(Exception):
    """SIGTERM arrived (Ctrl-C arrives as KeyboardInterrupt)."""


def register(subparsers: Any) -> None:
    """Add the `demo` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline locally: embedded broker, TikTok emulator, connector",
        description=(
            "Start an embedded Kafka-protocol broker and the TikTok Events API emulator, produce "
            "the shipped storefront dataset, deliver it with the connector until the stream is "
            "drained, and print a summary. Nothing to install; everything stops on exit."
        ),
        epilog=(
            "examples:\n"
            "  tiktok-capi demo                       # the whole dataset, to the emulator\n"
            "  tiktok-capi demo --events 300          # a quick run\n"
            "  TIKTOK_ACCESS_TOKEN=... TIKTOK_PIXEL_CODE=... TIKTOK_TEST_EVENT_CODE=TEST123 \\\n"
            "    tiktok-capi demo --live --events 50  # to TikTok, in test mode\n"
            "\nexit status: 0 drained, 2 cannot run as asked, 130 interrupted"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events",
        type=_positive_int,
        default=None,
        metavar="N",
        help="how many events to produce (default: the whole dataset)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="send to the real TikTok Events API in test mode (needs TIKTOK_ACCESS_TOKEN, "
        "TIKTOK_PIXEL_CODE and TIKTOK_TEST_EVENT_CODE)",
    )
    parser.add_argument(
        "--output",
        default="demo-output",
        metavar="DIR",
        help="where the recorded TikTok events, logs and summary go (default: ./demo-output)",
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="make the emulator throttle 20%% of requests and fail 10%% with a 5xx, to watch "
        "the connector retry (every event still arrives)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="after the summary, keep the broker and the metrics port up until Ctrl-C "
        "(to look around /metrics and the topics)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="give up when the stream is not drained after this long (default: 300)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="connector log level; logs go to DIR/demo.log (default: warning)",
    )
    parser.set_defaults(func=run_demo)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --------------------------------------------------------------------------- dataset


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rebase_timestamps(events: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Move the events' times so the newest is ``now``, keeping their order and spacing.

    A dataset spanning more than six days is squeezed into the last six (TikTok rejects
    events older than seven days). Events without a parsable time are left as they are.
    """
    times = [t for e in events for t in (_parse_time(e.get(f)) for f in _TIME_FIELDS) if t]
    if not times:
        return [dict(e) for e in events]
    newest, oldest = max(times), min(times)
    span = newest - oldest
    scale = min(1.0, _MAX_SPAN / span) if span else 1.0
    out = []
    for event in events:
        copy = dict(event)
        for name in _TIME_FIELDS:
            moment = _parse_time(event.get(name))
            if moment is not None:
                moved = now - (newest - moment) * scale
                copy[name] = moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(copy)
    return out


def load_dataset(limit: int | None) -> list[dict[str, Any]]:
    """The shipped storefront dataset, or its first ``limit`` events.

    More events than it holds are generated with the same seeded generator (same mix of event
    types and shoppers, unique message ids).
    """
    from consumer import sample_data

    events = sample_data.load_events()
    if limit is None:
        return events
    if limit <= len(events):
        return events[:limit]
    return list(sample_data.generate(limit))


def _key(event: Mapping[str, Any]) -> bytes | None:
    for name in ("userId", "anonymousId"):
        value = event.get(name)
        if isinstance(value, str) and value:
            return value.encode()
    return None


# --------------------------------------------------------------------------- kafka


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 15.0) -> None:
    """Create ``topic`` and wait until its metadata shows ``partitions`` partitions."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
    )
    futures[topic].result(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        found = admin.list_topics(timeout=timeout).topics.get(topic)
        if found is not None and found.error is None and len(found.partitions) == partitions:
            return
        if time.monotonic() > deadline:
            raise DemoError(f"topic {topic} did not appear with {partitions} partitions")
        time.sleep(0.05)


def produce(bootstrap: str, topic: str, events: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Encode and produce ``events``; returns each partition's end offset (last + 1).

    Ends come from delivery reports: the broker's ListOffsets(latest) cannot be trusted.
    """
    from confluent_kafka import KafkaError, Message, Producer

    from consumer.codec import encode_event

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all", "log_level": 3}
    )
    ends: dict[int, int] = {}
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(str(err))
            return
        partition, offset = msg.partition(), msg.offset()
        if partition is not None and offset is not None:
            ends[partition] = max(ends.get(partition, 0), offset + 1)

    for event in events:
        value = encode_event(event)
        while True:
            try:
                producer.produce(topic, value, key=_key(event), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(30)
    if errors or left:
        raise DemoError(f"producing the dataset failed: {errors[:3] or f'{left} undelivered'}")
    return ends


# --------------------------------------------------------------------------- progress


@dataclass
class Progress:
    """Renders progress: one rewritten line on a terminal, a line every few seconds otherwise."""

    stream: IO[str]
    total: int
    interval_s: float = 2.0
    tty: bool = field(init=False)
    _last: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, stats: ConnectorStats, elapsed: float, *, force: bool = False) -> None:
        """Show ``stats``; on a non-terminal only every ``interval_s`` (or when forced)."""
        recent = self._last is not None and elapsed - self._last < self.interval_s
        if not self.tty and not force and recent:
            return
        self._last = elapsed
        if stats.consumed == 0:
            line = f"waiting for the consumer group to assign partitions...  {elapsed:5.1f}s"
            self.stream.write(("\r\x1b[2K" + line) if self.tty else line + "\n")
            self.stream.flush()
            return
        done = min(stats.consumed, self.total)
        width = 24
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"[{bar}] {done:,}/{self.total:,} consumed  "
            f"{stats.delivered_total:,} delivered  {stats.skipped_total:,} skipped  "
            f"{stats.retried_total:,} retried  {stats.dead_lettered_total:,} dead-lettered  "
            f"{stats.requests:,} requests  {elapsed:5.1f}s"
        )
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the updating line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- summary


def summarize(
    stats: ConnectorStats,
    *,
    produced: int,
    seconds: float,
    destination: str,
    record_file: Path | None,
    recorded: int | None,
    metrics_url: str | None,
    faults: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The summary's numbers (also written to ``summary.json``)."""
    return {
        "produced": produced,
        "consumed": stats.consumed,
        "mapped": stats.mapped,
        "delivered": stats.delivered_total,
        "delivered_by_event": dict(sorted(stats.delivered.items())),
        "skipped": stats.skipped_total,
        "skipped_by_reason": dict(sorted(stats.skipped.items())),
        "retried": stats.retried_total,
        "retried_by_tier": {str(k): v for k, v in sorted(stats.retried.items())},
        "dead_lettered": stats.dead_lettered_total,
        "dead_lettered_by_reason": dict(sorted(stats.dead_lettered.items())),
        "requests": stats.requests,
        "seconds": round(seconds, 3),
        "events_per_second": round(stats.consumed / seconds, 1) if seconds > 0 else None,
        "destination": destination,
        "record_file": str(record_file) if record_file is not None else None,
        "recorded_events": recorded,
        "emulator_faults": dict(sorted((faults or {}).items())),
        "metrics_url": metrics_url,
    }


def render_summary(summary: Mapping[str, Any]) -> str:
    """The summary as an aligned table."""
    rows: list[tuple[str, str]] = []

    def row(label: str, value: Any) -> None:
        rows.append((label, f"{value:,}" if isinstance(value, int) else str(value)))

    def breakdown(values: Mapping[str, int]) -> None:
        for name, count in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])):
            row(f"    {name}", count)

    row("events produced", summary["produced"])
    row("events consumed", summary["consumed"])
    row("delivered to TikTok", summary["delivered"])
    breakdown(summary["delivered_by_event"])
    row("skipped by the mapping", summary["skipped"])
    breakdown(summary["skipped_by_reason"])
    row("retried (retry topics)", summary["retried"])
    breakdown({f"tier {k}": v for k, v in summary["retried_by_tier"].items()})
    row("dead-lettered", summary["dead_lettered"])
    breakdown(summary["dead_lettered_by_reason"])
    row("TikTok requests", summary["requests"])
    faults = summary.get("emulator_faults") or {}
    if faults:
        row("faults injected", sum(faults.values()))
        breakdown(faults)
    row("elapsed", f"{summary['seconds']:.2f} s (first record to drained)")
    rate = summary["events_per_second"]
    row("throughput", f"{rate:,.0f} events/s" if rate is not None else "-")
    row("destination", summary["destination"])
    if summary["record_file"] is not None:
        row("TikTok payloads", f"{summary['record_file']} ({summary['recorded_events']:,} events)")
    if summary["metrics_url"] is not None:
        row("metrics", summary["metrics_url"])
    width = max(len(label) for label, _ in rows)
    numbers = [value for _, value in rows if value.replace(",", "").isdigit()]
    nwidth = max((len(value) for value in numbers), default=0)
    lines = ["tiktok-capi demo: summary", "-" * (width + nwidth + 4)]
    for label, value in rows:
        shown = value.rjust(nwidth) if value in numbers else value
        lines.append(f"  {label:<{width}}  {shown}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- run


def _drained(stats: ConnectorStats, topic: str, ends: Mapping[int, int]) -> bool:
    committed = stats.committed
    return stats.in_flight == 0 and all(
        committed.get((topic, partition), -1) >= end for partition, end in ends.items()
    )


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception in the main thread, so `finally` blocks clean up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _live_env(environ: Mapping[str, str]) -> dict[str, str]:
    missing = [name for name in _LIVE_VARS if not environ.get(name, "").strip()]
    if missing:
        raise DemoError(
            "--live sends the demo events to the real TikTok Events API, in test mode only: set "
            + ", ".join(missing)
            + " (the test event code is on the Test Events tab of TikTok Ads Manager > Assets > "
            "Events > Web Events)"
        )
    env = {name: environ[name].strip() for name in _LIVE_VARS}
    if environ.get("TIKTOK_API_URL", "").strip():
        env["TIKTOK_API_URL"] = environ["TIKTOK_API_URL"].strip()
    return env


def demo_settings(
    bootstrap: str, destination: Mapping[str, str], *, batch_size: int = 1000
) -> Settings:
    """Connector settings for the demo: fast commits and group joins, short retry delays."""
    from consumer.settings import load_settings

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_GROUP_ID": GROUP_ID,
        "SOURCE_TOPIC": SOURCE_TOPIC,
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "COMMIT_INTERVAL": "250ms",
        "BATCH_LINGER": "50ms",
        "BATCH_SIZE": str(batch_size),
        "RETRY_DELAYS": "2s,5s",
        "SEND_RETRY_BACKOFF": "100ms",
        "SEND_RETRY_MAX_BACKOFF": "2s",
        "SHUTDOWN_GRACE": "5s",
        "HEALTH_HOST": "127.0.0.1",
        "HEALTH_PORT": "0",
        "LOG_FORMAT": "json",
        **destination,
    }
    return load_settings(env)


def run_demo(args: argparse.Namespace) -> int:
    """Entry point of `tiktok-capi demo`; returns the exit status."""
    out = sys.stdout
    try:
        with _sigterm_raises():
            return _demo(args, out, os.environ)
    except DemoError as exc:
        print(f"tiktok-capi demo: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Interrupted):
        print("\ntiktok-capi demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


def _demo(args: argparse.Namespace, out: IO[str], environ: Mapping[str, str]) -> int:
    from consumer import logs

    live = _live_env(environ) if args.live else None
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    log_file = (output / "demo.log").open("w", encoding="utf-8")
    with contextlib.ExitStack() as stack:
        stack.callback(log_file.close)
        logs.configure(args.log_level, "json", stream=log_file)
        return _pipeline(args, out, output, live, stack)


@dataclass
class _Destination:
    """Where the demo delivers: the emulator (recording to a file) or TikTok in test mode."""

    env: dict[str, str]
    description: str
    emulator: Any = None
    record_file: Path | None = None

    def recorded(self) -> int | None:
        """Events the emulator accepted (stop it first: that flushes the record file)."""
        if self.emulator is None:
            return None
        return int(self.emulator.stats().get("accepted_events", 0))

    def faults(self) -> dict[str, int]:
        """Faults the emulator injected, by kind (requests)."""
        if self.emulator is None:
            return {}
        return {str(k): int(v) for k, v in self.emulator.stats().get("faults", {}).items()}


def _destination(
    live: Mapping[str, str] | None, output: Path, stack: contextlib.ExitStack, *, faults: bool
) -> _Destination:
    if live is not None:
        return _Destination(
            dict(live),
            "the real TikTok Events API in test mode (Ads Manager > Assets > Events > "
            "Web Events > Test Events)",
        )
    from emulator.config import EmulatorConfig, FaultConfig
    from emulator.service import Emulator

    token = secrets.token_urlsafe(24)
    record_file = output / RECORD_FILE
    record_file.unlink(missing_ok=True)
    chaos = FaultConfig(throttle_rate=0.2, error_5xx_rate=0.1, retry_after_s=0, seed=7)
    emulator = Emulator(
        EmulatorConfig(
            token=token,
            pixel_code=DEMO_PIXEL,
            record_path=str(record_file),
            faults=chaos if faults else FaultConfig(),
        )
    )
    emulator.start()
    stack.callback(emulator.stop)
    env = {
        "TIKTOK_ACCESS_TOKEN": token,
        "TIKTOK_PIXEL_CODE": DEMO_PIXEL,
        "TIKTOK_API_URL": emulator.base_url,
    }
    return _Destination(env, f"TikTok emulator at {emulator.base_url}", emulator, record_file)


class _ConnectorThread:
    """The connector running on a daemon thread, with its failure (if any) kept for the caller."""

    def __init__(self, settings: Settings, health: Any) -> None:
        from consumer.app import Connector

        self.connector = Connector(settings, health=health)
        self.failure: BaseException | None = None
        self.patience_s = 15.0  # how long stop() waits for a graceful shutdown
        self._thread = threading.Thread(target=self._run, name="demo-connector", daemon=True)

    def _run(self) -> None:
        try:
            self.connector.run()
        except BaseException as exc:  # reported by the main thread
            self.failure = exc

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Graceful stop; past ``patience_s`` the daemon thread ends with the process."""
        self.connector.stop()
        if self._thread.ident is not None:
            self._thread.join(self.patience_s)


def _wait_drained(
    runner: _ConnectorThread,
    broker: Any,
    ends: Mapping[int, int],
    progress: Progress,
    timeout_s: float,
    output: Path,
) -> tuple[ConnectorStats, float]:
    """Show progress until every produced record is committed; returns the stats and how long
    it took from the first consumed record."""
    started = time.monotonic()
    first_record: float | None = None
    while True:
        stats = runner.connector.stats()
        now = time.monotonic()
        if first_record is None and stats.consumed > 0:
            first_record = now
        progress.update(stats, now - started)
        problem = None
        if _drained(stats, SOURCE_TOPIC, ends):
            progress.update(stats, now - started, force=True)
            progress.finish()
            return stats, now - (first_record or started)
        if not broker.running:
            problem = f"the embedded broker exited; see {output / 'broker.log'}"
        elif runner.failure is not None or not runner.alive:
            reason = repr(runner.failure) if runner.failure else "it stopped"
            problem = f"the connector stopped before the stream was drained: {reason}"
        elif now - started > timeout_s:
            problem = f"the stream was not drained after {timeout_s:.0f}s; see {output}/demo.log"
        if problem is not None:
            progress.finish()
            raise DemoError(problem)
        time.sleep(0.1)


def _pipeline(
    args: argparse.Namespace,
    out: IO[str],
    output: Path,
    live: Mapping[str, str] | None,
    stack: contextlib.ExitStack,
) -> int:
    from consumer import logs, telemetry
    from consumer.embedded_broker import BrokerStartError, EmbeddedBroker
    from consumer.health import HealthServer
    from consumer.state import HealthState

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    events = rebase_timestamps(load_dataset(args.events), datetime.now(UTC))

    say("Starting an embedded Kafka-protocol broker (Tansu, in memory)...")
    broker = EmbeddedBroker(log_path=output / "broker.log")
    stack.callback(broker.stop)
    try:
        broker.start()
    except BrokerStartError as exc:
        raise DemoError(f"the embedded broker did not start: {exc}") from exc
    destination = _destination(live, output, stack, faults=args.faults)
    logs.register_secret(destination.env["TIKTOK_ACCESS_TOKEN"])
    say(f"Broker on {broker.bootstrap}; destination: {destination.description}")

    # With faults on, smaller requests make the retries visible.
    settings = demo_settings(
        broker.bootstrap, destination.env, batch_size=100 if args.faults else 1000
    )
    create_topic(broker.bootstrap, SOURCE_TOPIC, PARTITIONS)
    say(
        f"Producing {len(events):,} storefront events to '{SOURCE_TOPIC}' "
        f"({PARTITIONS} partitions)..."
    )
    ends = produce(broker.bootstrap, SOURCE_TOPIC, events)

    stack.callback(telemetry.setup(settings).shutdown)
    state = HealthState()
    health = HealthServer(
        settings.health_host, 0, state, settings.liveness_timeout_s, settings.metrics_enabled
    )
    port = health.start()
    stack.callback(health.stop)
    say(f"Running the connector (health and metrics on http://127.0.0.1:{port}/)...")

    runner = _ConnectorThread(settings, state)
    stack.callback(runner.stop)
    runner.start()
    try:
        stats, seconds = _wait_drained(
            runner, broker, ends, Progress(out, total=len(events)), args.timeout, output
        )
    except (KeyboardInterrupt, _Interrupted):
        runner.patience_s = 3.0  # the user wants out: don't wait long for a graceful stop
        raise
    runner.stop()
    stats = runner.connector.stats()
    if destination.emulator is not None:
        destination.emulator.stop()  # flushes the record file
    summary = summarize(
        stats,
        produced=len(events),
        seconds=seconds,
        destination="emulator" if live is None else "tiktok (test mode)",
        record_file=destination.record_file,
        recorded=destination.recorded(),
        faults=destination.faults(),
        metrics_url=f"http://127.0.0.1:{port}/metrics" if args.keep else None,
    )
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    say("")
    say(render_summary(summary))
    say(f"\nLogs: {output / 'demo.log'}; numbers: {output / SUMMARY_FILE}")
    if args.keep:
        say(
            f"Keeping the broker ({broker.bootstrap}) and {summary['metrics_url']} up; Ctrl-C ends."
        )
        with contextlib.suppress(KeyboardInterrupt, _Interrupted):
            threading.Event().wait()  # Ctrl-C is the expected way out here: exit 0
    return 0
