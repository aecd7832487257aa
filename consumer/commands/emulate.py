"""`tiktok-capi emulate` — placeholder until its issue lands."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `emulate` sub-command."""
    parser = subparsers.add_parser("emulate", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("tiktok-capi emulate: not implemented yet")
    return 2
