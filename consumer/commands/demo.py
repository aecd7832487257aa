"""`tiktok-capi demo` — placeholder until its issue lands."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `demo` sub-command."""
    parser = subparsers.add_parser("demo", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("tiktok-capi demo: not implemented yet")
    return 2
