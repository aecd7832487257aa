"""The `tiktok-capi` command line: one sub-command per module in `tiktok_capi.consumer.commands`.

Each command module exposes ``register(subparsers) -> None`` which adds its parser and sets
``func`` (``Callable[[argparse.Namespace], int]``) as the parser's default. The exit status is
what ``func`` returns.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order shown in --help.
COMMANDS: tuple[str, ...] = ("run", "produce", "map", "emulate", "demo", "dlq")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="tiktok-capi",
        description=(
            "Deliver Avro-encoded CDP (Segment-spec) events from Kafka "
            "to the TikTok Events API 2.0."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"tiktok_capi.consumer.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    status: int = func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
