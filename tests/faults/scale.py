"""How long the faults last: short in `make test`, the issue's own durations in `make soak`.

``make test`` runs the matrix within its time budget, with every fault shortened only where the
behaviour under test is the same (each constant says why it may be shorter). ``make soak`` sets
``TIKTOK_CAPI_SOAK=1``: the outage lasts 60 s, the token stays revoked 30 s, the broker is cut
for 20 s and stalled for 20 s, and the connector is killed and the group churned more often.
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["SOAK", "scaled"]

SOAK = os.environ.get("TIKTOK_CAPI_SOAK", "").strip() == "1"

T = TypeVar("T")


def scaled(quick: T, soak: T) -> T:
    """``soak`` under `make soak`, else ``quick``."""
    return soak if SOAK else quick
