"""Large buffers come from the heap, and a heap left mostly free by large records is given back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tiktok_capi.consumer.malloc import MMAP_THRESHOLD, HeapTrimmer, fix_mmap_threshold

# Frees 40 blocks of 400 KB after allocating them all, then reports how much of that the
# process still holds. Allocated with malloc through ctypes: the same path as a bytes object.
PROBE = """
import ctypes, sys
from tiktok_capi.consumer.malloc import HeapTrimmer, fix_mmap_threshold
trimmer = None
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
    trimmer = HeapTrimmer(limit=1 << 20, interval_s=0.0)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
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
    if trimmer is not None:
        assert trimmer.maybe_trim()  # 8 MB free: over its limit
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
def test_freed_large_blocks_leave_the_process_once_trimmed() -> None:
    half = 20 * 400_000
    assert _returned("default") < half // 2  # glibc's moving threshold keeps them
    assert _returned("fixed") > half * 0.9


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))
    assert fix_mmap_threshold() is False


def test_the_trimmer_looks_once_per_interval_and_trims_only_over_its_limit() -> None:
    now = [0.0]
    trimmer = HeapTrimmer(limit=1 << 60, interval_s=1.0, clock=lambda: now[0])
    if not trimmer.available:
        pytest.skip("glibc only")
    assert trimmer.maybe_trim() is False and trimmer.trims == 0  # too early
    now[0] = 1.5
    assert trimmer.maybe_trim() is False  # free heap under the limit
    eager = HeapTrimmer(limit=0, interval_s=1.0, clock=lambda: now[0])
    assert eager.maybe_trim() is False  # too early
    now[0] = 3.0
    assert eager.maybe_trim() is True and eager.trims == 1
    assert eager.maybe_trim() is False  # looked a moment ago


FAULTS = """
import ctypes, resource, sys
from tiktok_capi.consumer.malloc import fix_mmap_threshold
assert fix_mmap_threshold(int(sys.argv[1]))
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def body():  # a request body's life: allocated, written, freed
    b = libc.malloc(1_000_000)
    ctypes.memset(b, 1, 1_000_000)
    libc.free(b)
body()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    body()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
@pytest.mark.parametrize(("threshold", "mapped"), [(128 * 1024, True), (MMAP_THRESHOLD, False)])
def test_a_request_sized_buffer_is_reused_not_faulted_in_each_time(
    threshold: int, mapped: bool
) -> None:
    """At 128 KiB (the fixed threshold before) every ~1 MB request body and fetch buffer was
    a fresh mapping: 245 page faults each (docs/performance.md)."""
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, str(threshold)], capture_output=True, text=True, check=True
    )
    faults = int(out.stdout.split()[-1])
    assert (faults > 50 * 200) is mapped, faults
