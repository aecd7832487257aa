"""What the benchmarks read from ``/proc`` (Linux): CPU seconds, memory, process trees, machine.

The connector is measured from outside, as an operator would: user + system CPU of the process
and of every descendant (decode workers, multiprocessing's helpers), peak resident memory
(``VmHWM``) per process, and the current resident memory (``VmRSS``) of the whole tree, sampled,
for the peak of the sum.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "cpu_seconds",
    "cpu_times",
    "descendants",
    "machine",
    "peak_rss_kib",
    "rss_kib",
    "thread_cpu_seconds",
    "tree",
    "tree_cpu_seconds",
]

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of a ``/proc/.../stat`` file; None when it is gone."""
    try:
        text = path.read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: split after the last ")".
    name, paren, rest = text.rpartition(")")
    if not paren:
        return None
    return name.partition("(")[2], rest.split()


def _stat_fields(pid: int) -> list[str] | None:
    stat = _stat(Path(f"/proc/{pid}/stat"))
    return None if stat is None else stat[1]


def _cpu(fields: list[str]) -> float:
    """User + system CPU seconds of a stat file's fields."""
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` (0 when it is gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else _cpu(fields)


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of ``pid``'s threads by role: ``poll_loop`` (the main thread), ``librdkafka``
    (threads librdkafka names ``rdk:*``) and ``other_threads`` (HTTP senders, health port, probe).

    Threads that ended are not counted (the connector's pools live as long as it does).
    """
    roles = {"poll_loop": 0.0, "librdkafka": 0.0, "other_threads": 0.0}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return roles
    for task in tasks:
        stat = _stat(task / "stat")
        if stat is None:
            continue  # ended meanwhile
        name, fields = stat
        seconds = _cpu(fields)
        if int(task.name) == pid:
            roles["poll_loop"] += seconds
        elif name.startswith("rdk:"):
            roles["librdkafka"] += seconds
        else:
            roles["other_threads"] += seconds
    return roles


def cpu_times() -> tuple[int, int]:
    """(steal, total) clock ticks of the whole machine so far, from ``/proc/stat``: the share of
    the CPU a hypervisor gave other guests, what makes a shared machine slower minute to minute.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (ticks[7] if len(ticks) == 8 else 0), sum(ticks)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(int(stat.parent.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree(pids: Iterable[int]) -> list[int]:
    """``pids`` and all their descendants."""
    out: list[int] = []
    for pid in pids:
        out.append(pid)
        out.extend(descendants(pid))
    return out


def tree_cpu_seconds(pids: Iterable[int], known: dict[int, float] | None = None) -> float:
    """CPU seconds of ``pids`` and their descendants.

    ``known`` (pid -> last CPU seen) is updated in place and keeps the CPU of processes that
    ended since (a worker that exited still did its work): pass the same dict at every sample.
    """
    seen = known if known is not None else {}
    for pid in tree(pids):
        value = cpu_seconds(pid)
        if value > 0 or pid not in seen:
            seen[pid] = max(value, seen.get(pid, 0.0))
    return sum(seen.values())


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_rss_kib(pid: int) -> int:
    """Peak resident memory of ``pid`` so far (``VmHWM``), KiB; 0 when it is gone."""
    return _status_kib(pid, "VmHWM:")


def rss_kib(pid: int) -> int:
    """Current resident memory of ``pid`` (``VmRSS``), KiB; 0 when it is gone."""
    return _status_kib(pid, "VmRSS:")


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, memory, load, interpreter."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    memory_mib = _meminfo_mib("MemTotal:")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model or platform.processor() or platform.machine(),
        "memory_mib": memory_mib,
        "load_average": load,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def _meminfo_mib(key: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
