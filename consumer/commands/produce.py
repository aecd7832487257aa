"""`tiktok-capi produce` — placeholder until its issue lands."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `produce` sub-command."""
    parser = subparsers.add_parser("produce", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("tiktok-capi produce: not implemented yet")
    return 2
