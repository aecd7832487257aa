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

That policy costs ordinary records dearly, though: every buffer over 128 KiB is then a fresh
mapping whose pages the kernel faults in and zeroes — librdkafka's fetch buffers (megabytes, all
the consumed data) and the request bodies (~600 KB per 1,000 events). With ~1 KB records that
doubled the process's page faults and cost librdkafka's thread a third of its CPU
(docs/performance.md), for buffers that glibc's moving threshold would recycle. So the
connector keeps glibc's default until it consumes a record of :data:`LARGE_RECORD_BYTES` or
more, and fixes the threshold then (:func:`large_records_seen`): record-sized buffers are
mapped from that moment, before many of them can pile up in the heap.

A ``MALLOC_MMAP_THRESHOLD_`` environment variable (glibc's own tunable) is left to win (and
``MALLOC_TRIM_THRESHOLD_`` for the trim threshold); on other C libraries (musl, macOS) this does
nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from typing import Final

__all__ = ["LARGE_RECORD_BYTES", "MMAP_THRESHOLD", "fix_mmap_threshold", "large_records_seen"]

log = logging.getLogger(__name__)

MMAP_THRESHOLD: Final = 128 * 1024
"""glibc's default threshold, kept fixed: blocks this large or larger are mapped on their own."""
LARGE_RECORD_BYTES: Final = 64 * 1024
"""A consumed record value this large or larger fixes the threshold (:func:`large_records_seen`):
its decoded text and parsed event run to the threshold's size."""
_M_TRIM_THRESHOLD: Final = -1  # <malloc.h>
_M_MMAP_THRESHOLD: Final = -3


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; ``True`` when it was set.

    The trim threshold is set to ``threshold`` as well (glibc's default for both is 128 KiB): the
    moving threshold raises it along with the mmap threshold (to twice that), and up to that much
    of the heap's free top would otherwise stay with the process.
    """
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        mallopt(_M_TRIM_THRESHOLD, threshold)
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold) == 1)


def large_records_seen() -> None:
    """A record of :data:`LARGE_RECORD_BYTES` or more was consumed: fix the threshold now.

    The connector's intake calls this once, at the first such record.
    """
    if fix_mmap_threshold():
        log.info(
            "records of %d KiB or more: buffers of %d KiB or more are now returned to the system"
            " when freed (consumer/malloc.py)",
            LARGE_RECORD_BYTES // 1024,
            MMAP_THRESHOLD // 1024,
        )
