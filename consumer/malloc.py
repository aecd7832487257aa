"""The C allocator: large buffers served from the heap, free heap given back to the system.

glibc serves allocations above its mmap threshold (128 KiB by default) with ``mmap`` and unmaps
them when they are freed; the first such free *raises* the threshold to that block's size (up to
32 MiB). Two costs follow, and this module avoids both:

- **Mapping every large buffer** costs CPU: each request body (~1 MB for 1,000 events) and each
  of librdkafka's fetch buffers is a fresh mapping whose pages fault in one by one, and whose
  unmapping interrupts every core the process runs on (docs/performance.md has what it cost at
  128 KiB). The threshold is fixed at
  :data:`MMAP_THRESHOLD` (4 MiB; fixing it also turns glibc's moving threshold off), so those
  buffers come from the heap and are reused.
- **Keeping freed heap memory**: with large records the heap holds what it once needed. Catching
  up after an outage with 400 KB events, the connector reached 878 MiB resident although
  ``MAX_IN_FLIGHT_BYTES`` bounded its live data to 64 MiB. :class:`HeapTrimmer` (the poll loop
  asks it once per iteration; it looks once a second) gives the free heap back with
  ``malloc_trim`` when it holds more than :data:`TRIM_FREE_BYTES`, a bound that ~1 KB records
  and megabyte request bodies stay under, so what is reused is not faulted in again.

A ``MALLOC_MMAP_THRESHOLD_`` environment variable (glibc's own tunable) is left to win; on other
C libraries (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Final

__all__ = ["MMAP_THRESHOLD", "TRIM_FREE_BYTES", "HeapTrimmer", "fix_mmap_threshold"]

MMAP_THRESHOLD: Final = 4 * 1024 * 1024
"""Blocks this large or larger are mapped on their own; smaller ones come from the heap."""
TRIM_FREE_BYTES: Final = 32 * 1024 * 1024
"""Free heap memory the process keeps before :class:`HeapTrimmer` gives it back."""
_M_TRIM_THRESHOLD: Final = -1  # <malloc.h>
_M_MMAP_THRESHOLD: Final = -3


def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD, keep: int = TRIM_FREE_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; ``True`` when it was set.

    Its trim threshold too: the heap's top keeps up to ``keep`` free bytes (glibc's 128 KiB
    would hand a freed request body straight back, to fault it in again for the next one).
    """
    libc = _libc()
    if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = libc.mallopt
    except AttributeError:  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, keep) == 1)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class HeapTrimmer:
    """Gives free heap memory back to the system when glibc holds more than ``limit`` bytes.

    Args:
        limit: free heap bytes kept (``mallinfo2().fordblks``, every arena).
        interval_s: how often :meth:`maybe_trim` looks.
        clock: monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        limit: int = TRIM_FREE_BYTES,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._interval_s = interval_s
        self._clock = clock
        self._next = clock() + interval_s
        self.trims = 0
        libc = _libc()
        self._info: Any = getattr(libc, "mallinfo2", None)  # glibc >= 2.33
        self._trim: Any = getattr(libc, "malloc_trim", None)
        if self._info is None or self._trim is None:
            self._info = None
            return
        self._info.restype = _MallInfo2
        self._trim.argtypes = [ctypes.c_size_t]
        self._trim.restype = ctypes.c_int

    @property
    def available(self) -> bool:
        """Whether this C library can say how much heap is free and give it back."""
        return self._info is not None

    def free_bytes(self) -> int:
        """Free heap bytes glibc holds now (0 when unavailable)."""
        return int(self._info().fordblks) if self._info is not None else 0

    def maybe_trim(self) -> bool:
        """Trim when the interval has passed and the free heap is over the limit; whether it did."""
        if self._info is None:
            return False
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self._interval_s
        if self.free_bytes() <= self._limit:
            return False
        self._trim(0)
        self.trims += 1
        return True
