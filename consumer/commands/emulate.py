"""`tiktok-capi emulate` — run the TikTok Events API emulator in the foreground.

A thin wrapper over the ``emulator`` package (imported only when the command runs, so
``tiktok-capi --help`` stays fast). See ``docs/emulator.md``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DESCRIPTION = """\
Serve an emulator of TikTok's Events API 2.0 (POST /open_api/v1.3/event/track/) that validates
requests as strictly as TikTok documents, records and deduplicates accepted events, and can
inject faults (5xx, throttling, latency, hangs, dropped connections, a revoked token, a QPS
limit), deterministically under --seed. The first line on stdout is the base URL. Control
endpoints: GET /_emulator/stats, GET /_emulator/events, POST /_emulator/faults (JSON),
POST /_emulator/reset. Stops cleanly on SIGTERM or Ctrl-C."""


def register(subparsers: Any) -> None:
    """Add the `emulate` sub-command."""
    parser = subparsers.add_parser(
        "emulate",
        help="run a local TikTok Events API emulator (strict validation, fault injection)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (default 0)"
    )
    parser.add_argument(
        "--token", default="test-token", help="the Access-Token accepted (default test-token)"
    )
    parser.add_argument(
        "--pixel-code",
        default="TESTPIXEL",
        help="the pixel code (event_source_id) accepted (default TESTPIXEL)",
    )
    parser.add_argument(
        "--record", metavar="FILE", help="append accepted events to FILE as JSON lines"
    )
    parser.add_argument(
        "--max-event-age",
        type=int,
        default=7 * 86400,
        metavar="SECONDS",
        help="oldest event_time accepted, in seconds before now (default 604800 = 7 days)",
    )
    parser.add_argument(
        "--keep-events",
        type=int,
        default=100_000,
        metavar="N",
        help="accepted events kept in memory for /_emulator/events (default 100000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    faults = parser.add_argument_group("faults (all off by default)")
    faults.add_argument(
        "--error-5xx-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of requests answered HTTP 5xx with an HTML body (0 to 1)",
    )
    faults.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of requests answered 40100 with HTTP 429 and Retry-After",
    )
    faults.add_argument(
        "--latency-ms", type=float, default=0.0, metavar="MS", help="delay added to every answer"
    )
    faults.add_argument(
        "--hang-rate", type=float, default=0.0, metavar="RATE", help="requests left unanswered"
    )
    faults.add_argument(
        "--hang-s",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long a hanging request hangs before its connection closes (default 5)",
    )
    faults.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="connections closed without an answer",
    )
    faults.add_argument(
        "--revoke-for-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="answer 40105 (token revoked) for this long after start",
    )
    faults.add_argument(
        "--qps-limit", type=float, default=None, metavar="QPS", help="throttle above this rate"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tiktok_capi.emulator.cli import serve
    from tiktok_capi.emulator.config import EmulatorConfig, InvalidFaults, faults_from_mapping

    try:
        faults = faults_from_mapping(
            {
                "error_5xx_rate": args.error_5xx_rate,
                "throttle_rate": args.throttle_rate,
                "latency_ms": args.latency_ms,
                "hang_rate": args.hang_rate,
                "hang_s": args.hang_s,
                "drop_rate": args.drop_rate,
                "revoke_for_s": args.revoke_for_s,
                "qps_limit": args.qps_limit,
            }
        )
        config = EmulatorConfig(
            host=args.host,
            port=args.port,
            token=args.token,
            pixel_code=args.pixel_code,
            record_path=args.record,
            max_event_age_s=args.max_event_age,
            max_events_in_memory=args.keep_events,
            seed=args.seed,
            faults=faults,
        )
    except (InvalidFaults, ValueError) as exc:
        print(f"tiktok-capi emulate: {exc}", file=sys.stderr)
        return 2
    return serve(config)
