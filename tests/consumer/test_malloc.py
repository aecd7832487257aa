"""glibc's mmap threshold is fixed so that freed record-sized buffers leave the process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tiktok_capi.consumer.malloc import MMAP_THRESHOLD, fix_mmap_threshold

# Frees 40 blocks of 400 KB after allocating them all, then reports how much of that the
# process still holds. Allocated with malloc through ctypes: the same path as a bytes object.
PROBE = """
import ctypes, sys
from tiktok_capi.consumer.malloc import fix_mmap_threshold, large_records_seen
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
if sys.argv[1] == "late":  # as the connector: glibc's default first, fixed at a large record
    libc.free(libc.malloc(4_000_000))  # glibc's moving threshold rises to 4 MB
    large_records_seen()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
block = 400_000
for _ in range(3):
    blocks = [libc.malloc(block) for _ in range(40)]
    for b in blocks:
        ctypes.memset(b, 1, block)
    before = rss()
    for b in blocks[::2]:  # every other one: the heap cannot shrink from its top
        libc.free(b)
    print(before - rss())
    for b in blocks[1::2]:
        libc.free(b)
"""


def _returned(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[-1])  # bytes given back by freeing half the blocks, in the last round


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_large_blocks_leave_the_process_once_the_threshold_is_fixed() -> None:
    half = 20 * 400_000
    assert _returned("default") < half // 2  # glibc's moving threshold keeps them
    assert _returned("fixed") > half * 0.9
    assert _returned("late") > half * 0.9


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))
    assert fix_mmap_threshold() is False
