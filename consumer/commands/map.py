"""`tiktok-capi map` — placeholder until its issue lands."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `map` sub-command."""
    parser = subparsers.add_parser("map", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("tiktok-capi map: not implemented yet")
    return 2
