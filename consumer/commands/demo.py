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
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from tiktok_capi.consumer.demo import DemoError
from tiktok_capi.consumer.demo.dataset import create_topic, load_dataset, produce
from tiktok_capi.consumer.demo.progress import Progress, wait_drained
from tiktok_capi.consumer.demo.services import (
    PARTITIONS,
    SOURCE_TOPIC,
    ConnectorThread,
    demo_settings,
    live_env,
    start_broker,
    start_destination,
    start_health,
)
from tiktok_capi.consumer.demo.storefront import rebase_timestamps
from tiktok_capi.consumer.demo.summary import render_summary, summarize, write_summary

__all__ = [
    "DemoError",
    "Progress",
    "rebase_timestamps",
    "register",
    "render_summary",
    "run_demo",
    "summarize",
]


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
    from tiktok_capi.consumer.telemetry import logs

    live = live_env(environ) if args.live else None
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    log_file = (output / "demo.log").open("w", encoding="utf-8")
    with contextlib.ExitStack() as stack:
        stack.callback(log_file.close)
        logs.configure(args.log_level, "json", stream=log_file)
        return _pipeline(args, out, output, live, stack)


def _pipeline(
    args: argparse.Namespace,
    out: IO[str],
    output: Path,
    live: Mapping[str, str] | None,
    stack: contextlib.ExitStack,
) -> int:
    from tiktok_capi.consumer.telemetry import logs

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    events = rebase_timestamps(load_dataset(args.events), datetime.now(UTC))

    say("Starting an embedded Kafka-protocol broker (Tansu, in memory)...")
    broker = start_broker(output, stack)
    destination = start_destination(live, output, stack, faults=args.faults)
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

    state, port = start_health(settings, stack)
    say(f"Running the connector (health and metrics on http://127.0.0.1:{port}/)...")

    runner = ConnectorThread(settings, state)
    stack.callback(runner.stop)
    runner.start()
    try:
        stats, seconds = wait_drained(
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
    summary_file = write_summary(output, summary)
    say("")
    say(render_summary(summary))
    say(f"\nLogs: {output / 'demo.log'}; numbers: {summary_file}")
    if args.keep:
        say(
            f"Keeping the broker ({broker.bootstrap}) and {summary['metrics_url']} up; Ctrl-C ends."
        )
        with contextlib.suppress(KeyboardInterrupt, _Interrupted):
            threading.Event().wait()  # Ctrl-C is the expected way out here: exit 0
    return 0
