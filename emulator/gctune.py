"""Garbage-collector settings for a process whose job is serving the emulator.

A 1,000-event request parses into ~7,000 dicts and lists, all alive until the answer is sent and
then freed together. With CPython's default thresholds (700, 10, 10) that one request runs ~10
young collections, promotes its whole tree to the older generations and, every few requests,
makes a full collection walk every object of the process: ~15% of the emulator's CPU per event
in ``bench.emulator``. None of those collections ever finds garbage: the trees hold no
reference cycles. Freezing the start-up objects (so full collections skip them) and collecting
the young generation every 10,000 allocations instead of 700 removes most of that cost.

These are process-wide settings, so the library never applies them by itself: `tuned_for_serving`
is used by ``tiktok-capi emulate`` (and by the benchmark), and restores the previous settings
on exit, for callers that serve in-process (tests).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["YOUNG_THRESHOLD", "tuned_for_serving"]

YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def tuned_for_serving() -> Iterator[None]:
    """Within the block: start-up objects frozen and young collections every 10,000 allocations.

    The previous thresholds are restored and the frozen objects released on exit.
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
