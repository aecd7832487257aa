"""The C allocator and large records: freed record buffers go back to the system.

glibc serves allocations above its mmap threshold (128 KiB) with ``mmap`` and unmaps them when
they are freed — but by default the first such free *raises* the threshold to that block's size
(up to 32 MiB), so from then on every record-sized buffer (a 400 KB value, its decoded text, the
event parsed from it) comes from the heap, where freed memory mostly stays with the process.
With large records the connector's resident size then climbs far past what it holds: 878 MiB
while catching up after an outage with 400 KB events, over the chart's 768 MiB limit, although
``MAX_IN_FLIGHT_BYTES`` bounded the live data to 64 MiB. Fixing the threshold (``mallopt``
``M_MMAP_THRESHOLD``, which also turns the dynamic adjustment off) keeps large blocks mapped and
returned on free. Small objects are unaffected (Python's own allocator serves them).

A ``MALLOC_MMAP_THRESHOLD_`` environment variable (glibc's own tunable) is left to win; on other
C libraries (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Final

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

MMAP_THRESHOLD: Final = 128 * 1024
"""glibc's default threshold, kept fixed: blocks this large or larger are mapped on their own."""
_M_MMAP_THRESHOLD: Final = -3  # <malloc.h>


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; ``True`` when it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold) == 1)
