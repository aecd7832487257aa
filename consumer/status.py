"""Exit statuses of every `tiktok-capi` command, defined once.

``run --help`` and the docs promise these numbers; commands return them from ``main``.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus"]


class ExitStatus(IntEnum):
    """What a command's exit status tells its supervisor."""

    OK = 0
    """Done, or stopped cleanly (SIGTERM, Ctrl-C after a drain)."""
    FAILED = 1
    """The work failed: setup could not complete (topics, broker), or some input was bad."""
    USAGE = 2
    """The command cannot run as asked: a missing or invalid setting or argument."""
    STOPPED = 3
    """The connector stopped its destination (dead-letter limit, fatal Kafka error)."""
    INTERRUPTED = 130
    """Interrupted before it could finish (Ctrl-C during a demo)."""
