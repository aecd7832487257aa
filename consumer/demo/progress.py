"""The demo's progress display, and waiting until every produced record is committed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tiktok_capi.consumer.demo import DemoError
from tiktok_capi.consumer.demo.services import SOURCE_TOPIC

if TYPE_CHECKING:
    from tiktok_capi.consumer.demo.services import ConnectorThread
    from tiktok_capi.consumer.telemetry.stats import ConnectorStats


@dataclass
class Progress:
    """Renders progress: one rewritten line on a terminal, a line every few seconds otherwise."""

    stream: IO[str]
    total: int
    interval_s: float = 2.0
    tty: bool = field(init=False)
    _last: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, stats: ConnectorStats, elapsed: float, *, force: bool = False) -> None:
        """Show ``stats``; on a non-terminal only every ``interval_s`` (or when forced)."""
        recent = self._last is not None and elapsed - self._last < self.interval_s
        if not self.tty and not force and recent:
            return
        self._last = elapsed
        if stats.consumed == 0:
            line = f"waiting for the consumer group to assign partitions...  {elapsed:5.1f}s"
            self.stream.write(("\r\x1b[2K" + line) if self.tty else line + "\n")
            self.stream.flush()
            return
        done = min(stats.consumed, self.total)
        width = 24
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"[{bar}] {done:,}/{self.total:,} consumed  "
            f"{stats.delivered_total:,} delivered  {stats.skipped_total:,} skipped  "
            f"{stats.retried_total:,} retried  {stats.dead_lettered_total:,} dead-lettered  "
            f"{stats.requests:,} requests  {elapsed:5.1f}s"
        )
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the updating line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _drained(stats: ConnectorStats, topic: str, ends: Mapping[int, int]) -> bool:
    committed = stats.committed
    return stats.in_flight == 0 and all(
        committed.get((topic, partition), -1) >= end for partition, end in ends.items()
    )


def wait_drained(
    runner: ConnectorThread,
    broker: Any,
    ends: Mapping[int, int],
    progress: Progress,
    timeout_s: float,
    output: Path,
) -> tuple[ConnectorStats, float]:
    """Show progress until every produced record is committed; returns the stats and how long
    it took from the first consumed record.

    Raises:
        DemoError: the broker or the connector stopped, or ``timeout_s`` passed, first.
    """
    started = time.monotonic()
    first_record: float | None = None
    while True:
        stats = runner.connector.stats()
        now = time.monotonic()
        if first_record is None and stats.consumed > 0:
            first_record = now
        progress.update(stats, now - started)
        problem = None
        if _drained(stats, SOURCE_TOPIC, ends):
            progress.update(stats, now - started, force=True)
            progress.finish()
            return stats, now - (first_record or started)
        if not broker.running:
            problem = f"the embedded broker exited; see {output / 'broker.log'}"
        elif runner.failure is not None or not runner.alive:
            reason = repr(runner.failure) if runner.failure else "it stopped"
            problem = f"the connector stopped before the stream was drained: {reason}"
        elif now - started > timeout_s:
            problem = f"the stream was not drained after {timeout_s:.0f}s; see {output}/demo.log"
        if problem is not None:
            progress.finish()
            raise DemoError(problem)
        time.sleep(0.1)
